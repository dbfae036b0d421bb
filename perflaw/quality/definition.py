"""How a D′ was measured, in one line: ``"per-user m=2 whole"`` (perflaw sweep's
``d_prime`` column) or ``"per-user m=2 last 50"`` (cut to each user's last 50 events).

D′ values measured two ways differ by far more than any law's error (whole training
sequences against the last 50 events: 39x on ml-latest-small), so the runs table records
the definition beside the number, a law file keeps it beside its fitted D′ range, and
``recommend-config --data`` measures a log the law's way.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

from perflaw.errors import DataError

#: How perflaw sweep measures its ``d_prime`` column, and how a runs table without a
#: ``d_prime_def`` column is read: D′ of each user's whole training sequence (the model
#: trains on every prefix of it), per-user sum, m = 2, ``|·|`` ApEn, r = 0.
DPRIME_DEF = "per-user m=2 whole"
_DPRIME_DEF = re.compile(r"^(per-user|dataset) m=(\d+) (whole|last (\d+))( signed)?$")


def dprime_definition(
    *, mode: str = "per-user", m: int = 2, max_len: int | None = None, signed: bool = False
) -> str:
    """The one-line name of how a D′ was measured (the runs table's ``d_prime_def``).

    >>> dprime_definition(), dprime_definition(max_len=50)
    ('per-user m=2 whole', 'per-user m=2 last 50')
    """
    cut = "whole" if max_len is None else f"last {int(max_len)}"
    return f"{mode} m={int(m)} {cut}" + (" signed" if signed else "")


def parse_dprime_definition(text: str, source: str = "D′ definition") -> dict:
    """The measuring options of a :func:`dprime_definition` line: ``mode``, ``m``,
    ``max_len`` (None: whole sequences) and ``signed``; one-line :class:`DataError` else.

    >>> parse_dprime_definition("per-user m=2 last 50")
    {'mode': 'per-user', 'm': 2, 'max_len': 50, 'signed': False}
    """
    match = _DPRIME_DEF.match(str(text).strip())
    if not match:
        raise DataError(
            f"{source}: {str(text)[:80]!r} is not a D′ definition (like {DPRIME_DEF!r} or "
            "'per-user m=2 last 50')"
        )
    mode, m, _, last, signed = match.groups()
    return {
        "mode": mode,
        "m": int(m),
        "max_len": None if last is None else int(last),
        "signed": bool(signed),
    }


def apen_definition(path: str | Path) -> str:
    """How ``perflaw apen --json`` output measured its D′ (its ``m``, ``max_len``,
    ``d_prime_mode``, ``signed``); one line when its logs were measured differently."""
    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise DataError(f"apen output {str(path)!r} is not readable JSON ({exc})") from None
    if isinstance(data, dict):
        data = data.get("files") or data.get("results") or [data]
    defs = {
        dprime_definition(
            mode=str(o.get("d_prime_mode") or "per-user"),
            m=int(o.get("m") or 2),
            max_len=o.get("max_len"),
            signed=bool(o.get("signed")),
        )
        for o in (data if isinstance(data, list) else [])
        if isinstance(o, dict) and o.get("d_prime") is not None
    }
    if len(defs) > 1:
        raise DataError(
            f"apen output {str(path)!r} measured D′ {len(defs)} ways ({'; '.join(sorted(defs))})"
            ": measure every log the same way"
        )
    return defs.pop() if defs else DPRIME_DEF
