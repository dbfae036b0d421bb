"""One way to render results for every command: ``--table`` (default), ``--json``, ``--csv``."""

from __future__ import annotations

import functools
import json
import math
from collections.abc import Callable
from typing import Any

import click

# numpy and pandas are imported where used: `perflaw COMMAND --help` must not load them.


def output_options(func: Callable) -> Callable:
    """Add mutually exclusive ``--json/--csv/--table`` flags; the command gets ``fmt``."""

    @click.option("--json", "fmt", flag_value="json", help="Print JSON.")
    @click.option("--csv", "fmt", flag_value="csv", help="Print CSV.")
    @click.option(
        "--table", "fmt", flag_value="table", default=True, help="Print a table (default)."
    )
    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        return func(*args, **kwargs)

    return wrapper


def _plain(value: Any) -> Any:
    """Turn numpy / pandas scalars and non-finite floats into JSON-safe Python values."""
    import numpy as np

    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if isinstance(value, np.ndarray):
        return [_plain(v) for v in value.tolist()]
    if isinstance(value, (np.integer,)):
        return int(value)
    if isinstance(value, (np.floating, float)):
        value = float(value)
        return value if math.isfinite(value) else None
    if isinstance(value, np.bool_):
        return bool(value)
    return value


def to_json(obj: Any) -> str:
    return json.dumps(_plain(obj), indent=2, ensure_ascii=False)


def _format_cell(value: Any) -> str:
    import numpy as np

    if isinstance(value, (float, np.floating)):
        if not math.isfinite(float(value)):
            return str(value)
        v = float(value)
        if v != 0 and (abs(v) >= 1e6 or abs(v) < 1e-3):
            return f"{v:.4g}"
        return f"{v:.6g}"
    return str(value)


def human_number(value: Any, *, percent: bool = False, digits: int = 4) -> str:
    """A number as a person reads it: thousands separators, ``digits`` significant
    figures without an exponent where possible, ``—`` for missing or not-a-number.

    Examples
    --------
    >>> human_number(1279373.4), human_number(0.026549), human_number(100004)
    ('1,279,373', '0.02655', '100,004')
    >>> human_number(None), human_number(float("nan")), human_number(0.973, percent=True)
    ('—', '—', '97.3%')
    >>> human_number(41.617), human_number(3.2e-7), human_number(True)
    ('41.62', '3.2e-07', 'yes')
    """
    if value is None:
        return "—"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, str):
        return value
    try:
        v = float(value)
    except (TypeError, ValueError):
        return str(value)
    if not math.isfinite(v):
        return "—" if math.isnan(v) else ("∞" if v > 0 else "−∞")
    if percent:
        return f"{100 * v:.3g}%"
    if float(v).is_integer() and abs(v) < 1e15:
        return f"{int(v):,}"
    if abs(v) >= 1000:
        return f"{v:,.0f}"
    if v != 0 and abs(v) < 1e-4:
        return f"{v:.2g}"
    return f"{v:.{digits}g}"


def table_string(records: list[dict]) -> str:
    """A plain aligned text table (no dependency: the columns are few and short)."""
    if not records:
        return "(no rows)"
    cols: list[str] = []
    for rec in records:
        for key in rec:
            if key not in cols:
                cols.append(key)
    cells = [[_format_cell(rec.get(c, "")) for c in cols] for rec in records]
    widths = [max(len(c), *(len(row[i]) for row in cells)) for i, c in enumerate(cols)]
    lines = ["  ".join(c.ljust(w) for c, w in zip(cols, widths))]
    lines.append("  ".join("-" * w for w in widths))
    for row in cells:
        lines.append("  ".join(v.rjust(w) for v, w in zip(row, widths)))
    return "\n".join(lines)


#: First characters that make a spreadsheet read a CSV cell as a formula.
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def csv_safe(value: Any) -> Any:
    """A text cell that a spreadsheet would run as a formula (``=HYPERLINK(...)``,
    ``@SUM(...)``, ``+``, ``-``) with a leading ``'``, which spreadsheets show as text;
    numbers and other text unchanged.

    >>> csv_safe("=1+1"), csv_safe("-x"), csv_safe(-1.5), csv_safe("user7")
    ("'=1+1", "'-x", -1.5, 'user7')
    """
    if isinstance(value, str) and value.startswith(FORMULA_STARTS):
        return "'" + value
    return value


def render(records: list[dict], fmt: str, *, json_obj: Any = None) -> str:
    """Render a list of flat records; ``json_obj`` overrides what ``--json`` prints."""
    if fmt == "json":
        return to_json(records if json_obj is None else json_obj)
    if fmt == "csv":
        import pandas as pd

        rows = [{k: csv_safe(v) for k, v in _plain(r).items()} for r in records]
        return pd.DataFrame(rows).to_csv(index=False).rstrip("\n")
    return table_string(records)
