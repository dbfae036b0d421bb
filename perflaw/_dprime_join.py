"""D′ joined to a runs table by dataset name, from the JSON ``perflaw apen --json`` prints
(:func:`perflaw.runs.runs_from_frame`'s ``apen_json``)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd

from perflaw.errors import DataError


def apen_dprime(path: str | Path) -> dict[str, float]:
    """``{dataset name: D′}`` from the JSON that ``perflaw apen --json`` writes.

    The dataset name is the file name without directory and extension
    (``data/ml-1m.parquet`` → ``ml-1m``).
    """
    path = Path(path)
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise DataError(f"apen output {str(path)!r} not found") from None
    except json.JSONDecodeError as exc:
        raise DataError(f"apen output {str(path)!r} is not JSON ({exc.msg})") from None
    if isinstance(data, dict):
        data = data.get("files") or data.get("results") or [data]
    out = {}
    for obj in data if isinstance(data, list) else []:
        if isinstance(obj, dict) and "file" in obj and obj.get("d_prime") is not None:
            name = Path(str(obj["file"])).name
            for suffix in (".parquet", ".csv", ".tsv", ".inter", ".txt", ".json"):
                if name.lower().endswith(suffix):
                    name = name[: -len(suffix)]
            out[name] = float(obj["d_prime"])
    if not out:
        raise DataError(f"apen output {str(path)!r} has no objects with 'file' and 'd_prime'")
    return out


def dprime_per_row(table: dict[str, float], names: pd.Series, source: str | Path) -> np.ndarray:
    """Each row's D′ from its dataset name (``table`` from :func:`apen_dprime` of
    ``source``); an error naming the datasets the table lacks."""
    names = names.astype(str)
    missing = sorted(set(names) - set(table))
    if missing:
        raise DataError(
            f"no D′ in {str(source)!r} for dataset(s) {', '.join(missing)}; "
            f"it has {', '.join(sorted(table))}"
        )
    return names.map(table).to_numpy(float)
