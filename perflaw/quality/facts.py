"""What the decision commands need to know about the training data, from one file.

``recommend-config`` and ``fit`` need the catalogue size, the maximum sequence length and
the data's D′.  :func:`data_facts` reads them from the log itself (measuring it) or from
``perflaw apen --json`` output, so the main job is chained: nothing is retyped.
"""

from __future__ import annotations

import os
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from perflaw.errors import DataError


@dataclass(frozen=True)
class DataFacts:
    """The numbers of a log that the decision commands use.

    Attributes
    ----------
    n_items : int
        Distinct items (the item table of the model).
    max_len : int or None
        Events kept per user when D′ was measured (None: all of them).
    d_prime : float
        Quality-adjusted data size D′ (per-user sum unless measured otherwise).
    users, interactions, tokens : int
        Users, rows of the log, events measured (after ``max_len``).
    source : str
        The file the facts come from.
    """

    n_items: int
    max_len: int | None
    d_prime: float
    users: int
    interactions: int
    tokens: int
    source: str

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def _from_summary(summary: dict, source: str) -> DataFacts:
    missing = [
        k for k in ("items", "users", "interactions", "tokens", "d_prime") if k not in summary
    ]
    if missing:
        raise DataError(
            f"{source}: not `perflaw apen --json` output (missing {', '.join(missing)})"
        )
    if summary["d_prime"] is None or summary["d_prime"] != summary["d_prime"]:
        raise DataError(
            f"{source}: D′ is undefined for this log (no user has ApEn > 0); give D′ yourself"
        )
    d_prime = float(summary["d_prime"])
    max_len = summary.get("max_len")
    return DataFacts(
        n_items=int(summary["items"]),
        max_len=None if max_len is None else int(max_len),
        d_prime=d_prime,
        users=int(summary["users"]),
        interactions=int(summary["interactions"]),
        tokens=int(summary["tokens"]),
        source=source,
    )


def data_facts(
    source: str | os.PathLike, *, max_len: int | None = None, m: int = 2, file: str | None = None
) -> DataFacts:
    """Catalogue size, sequence length and D′ of a log, or of ``perflaw apen --json``.

    Parameters
    ----------
    source : path
        A ``.json`` file written by ``perflaw apen --json`` (one log, or several with
        ``file`` choosing), or the log itself (any format :func:`perflaw.read_log` reads;
        a folder of parquet files is measured by the bounded engine), which is measured.
    max_len : int, optional
        When measuring a log: keep each user's last ``max_len`` events (the model's
        maximum sequence length).  Ignored for JSON, which says what it was measured with.
    m : int
        ApEn window length when measuring a log.
    file : str, optional
        With a JSON of several logs: the one to use (its path, or the end of it).

    Returns
    -------
    DataFacts

    Examples
    --------
    >>> facts = data_facts("data/ml-latest-small.parquet", max_len=50)
    >>> facts.n_items, facts.max_len, facts.users
    (9066, 50, 671)
    """
    path = Path(source)
    if not path.exists():
        raise DataError(f"{path}: no such file (give a log or `perflaw apen --json` output)")
    if path.suffix.lower() == ".json":
        from perflaw.limits import loads_json  # deep nesting, huge numbers: one line

        try:
            raw = path.read_bytes()
        except OSError as exc:
            raise DataError(f"{path}: not readable as JSON ({exc})") from None
        data = loads_json(raw, str(path))
        summaries = data if isinstance(data, list) else [data]
        if not all(isinstance(s, dict) for s in summaries) or not summaries:
            raise DataError(f"{path}: not `perflaw apen --json` output")
        if file is not None:
            summaries = [s for s in summaries if str(s.get("file", "")).endswith(file)]
        if len(summaries) != 1:
            logs = ", ".join(str(s.get("file")) for s in summaries) or "none"
            raise DataError(f"{path}: {len(summaries)} logs match ({logs}); choose one (file=…)")
        return _from_summary(summaries[0], str(path))
    from perflaw.quality import measure

    engine = "bounded" if path.is_dir() else "memory"
    report = measure(path, engine=engine, m=m, max_len=max_len, companions=False)
    return _from_summary(report.summary, str(path))
