"""Interaction logs as per-user item sequences; training users; D′ of the training data."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from perflaw.errors import DataError

__all__ = ["SequenceData", "d_prime", "load_sequences", "training_users"]


@dataclass
class SequenceData:
    """Users' item sequences in time order, items coded ``1 … n_items`` (0 = padding).

    Attributes
    ----------
    sequences : list of numpy.ndarray
        One int64 array per user (users with at least 3 interactions), in time order.
    n_items : int
        Number of distinct items in the whole log (the size of every model's item table
        is ``n_items + 1``).
    name : str
        Dataset name written to the runs table (the file stem).
    """

    sequences: list
    n_items: int
    name: str = "log"

    @property
    def n_users(self) -> int:
        return len(self.sequences)


def load_sequences(log, *, name: str | None = None, drop_null_ids: bool = False) -> SequenceData:
    """Read an interaction log into per-user item sequences.

    Parameters
    ----------
    log : str, pathlib.Path or pandas.DataFrame
        A log file in any format :func:`perflaw.io.read_log` reads (parquet, CSV/TSV,
        RecBole ``.inter``, SASRec text; columns found by name), or a frame with columns
        ``user_id``, ``item_id`` and optionally ``timestamp`` (without it, row order is
        the sequence order).
    name : str, optional
        Dataset name for the runs table; defaults to the file stem (``"log"`` for a frame).
    drop_null_ids : bool
        Drop rows whose user or item id is null/NaN (default: refuse them, naming the
        column and the count; see :func:`perflaw.io.check_ids`).

    Returns
    -------
    SequenceData

    Examples
    --------
    >>> df = pd.DataFrame({"user_id": [1, 1, 1, 2, 2, 2, 3],
    ...                    "item_id": [10, 11, 12, 11, 13, 10, 10],
    ...                    "timestamp": [3, 1, 2, 1, 1, 2, 1]})
    >>> data = load_sequences(df)
    >>> data.n_users, data.n_items          # user 3 has < 3 interactions: dropped
    (2, 4)
    >>> [s.tolist() for s in data.sequences]
    [[2, 3, 1], [2, 4, 1]]
    """
    import polars as pl

    from perflaw.io import canonical_frame, read_log

    if isinstance(log, pd.DataFrame):
        name = name or "log"
        try:
            frame = canonical_frame(pl.from_pandas(log), name, drop_null_ids=drop_null_ids)
        except DataError as exc:
            raise DataError(
                f"log {name!r}: {exc}; it needs user_id, item_id and optionally timestamp columns"
            ) from None
    else:
        path = Path(log)
        frame = read_log(path, drop_null_ids=drop_null_ids)
        name = name or path.stem
    df = frame.to_pandas()
    df = df.rename(columns={"user": "user_id", "item": "item_id", "time": "timestamp"})
    users = pd.factorize(df["user_id"])[0]
    item_codes, uniques = pd.factorize(df["item_id"])
    items = item_codes.astype(np.int64) + 1
    if "timestamp" in df.columns:
        ts = df["timestamp"].to_numpy()
        order = np.lexsort((np.arange(len(df)), ts, users))
    else:
        order = np.lexsort((np.arange(len(df)), users))
    users, items = users[order], items[order]
    cuts = np.flatnonzero(np.diff(users)) + 1
    sequences = [s for s in np.split(items, cuts) if len(s) >= 3]
    if not sequences:
        raise DataError(f"log {name!r}: no user has the 3 interactions leave-one-out needs")
    return SequenceData(sequences, int(len(uniques)), name)


def training_users(n_users: int, fraction: float, seed: int) -> np.ndarray:
    """Indices of the users kept at ``fraction`` (nested across fractions for one seed)."""
    perm = np.random.default_rng(seed).permutation(n_users)
    k = max(1, int(round(fraction * n_users)))
    return np.sort(perm[:k])


def left_pad(rows: Iterable[np.ndarray], width: int) -> np.ndarray:
    rows = list(rows)
    out = np.zeros((len(rows), width), dtype=np.int64)
    for i, r in enumerate(rows):
        r = r[-width:]
        if len(r):
            out[i, width - len(r) :] = r
    return out


def d_prime(train_sequences: Sequence[np.ndarray], max_len: int, m: int = 2) -> float:
    """D′ = Σ_u |S_u|·ApEn′(S_u) of the training sequences truncated to their last ``max_len``.

    Computed by :func:`perflaw.quality.measure` (docs/science.md §2–3: the authors' ``|·|`` form,
    r = 0, per-user D′, sequences with ApEn = 0 left out of the sum).

    Examples
    --------
    >>> round(d_prime([np.array([1, 2, 1, 2, 3])], max_len=50), 4)
    84.9019
    """
    from perflaw.quality.report import measure

    users = np.repeat(np.arange(len(train_sequences)), [len(s) for s in train_sequences])
    frame = pd.DataFrame({"user_id": users, "item_id": np.concatenate(list(train_sequences))})
    report = measure(frame, m=m, max_len=max_len, dprime="per-user", companions=False)
    return float(report.summary["d_prime"])


def training_samples(sequences: Sequence[np.ndarray], max_len: int, kind: str = "windows"):
    """Training inputs and next-item targets covering every prefix of every sequence.

    Parameters
    ----------
    sequences : sequence of numpy.ndarray
        Training sequences (item codes ≥ 1).
    max_len : int
        Model input length.
    kind : {"windows", "prefixes"}
        ``"windows"``: each sequence is cut, from its end, into windows of ``max_len + 1``
        items that overlap by one, so every item after the first is a target exactly once
        (full-sequence loss: inputs ``(n, max_len)`` and targets ``(n, max_len)``, 0 where
        there is no target).  ``"prefixes"``: RecBole's augmentation, one sample per
        prefix (inputs ``(n, max_len)`` = the last ``max_len`` items before the target,
        targets ``(n,)``).  Either way no target is predicted from an all-padding input
        (the first item of a sequence is never a target).

    Returns
    -------
    inputs, targets : numpy.ndarray

    Examples
    --------
    >>> x, y = training_samples([np.array([1, 2, 3, 4, 5])], max_len=2)
    >>> x.tolist(), y.tolist()
    ([[3, 4], [1, 2]], [[4, 5], [2, 3]])
    >>> x, y = training_samples([np.array([7, 8, 9])], max_len=3, kind="prefixes")
    >>> x.tolist(), y.tolist()
    ([[0, 0, 7], [0, 7, 8]], [8, 9])
    """
    if kind == "windows":
        rows = []
        for s in sequences:
            end = len(s)
            while end > 1:
                rows.append(s[max(0, end - max_len - 1) : end])
                end -= max_len
        if not rows:
            return np.zeros((0, max_len), np.int64), np.zeros((0, max_len), np.int64)
        w = left_pad(rows, max_len + 1)
        inputs, targets = w[:, :-1].copy(), w[:, 1:].copy()
        targets[inputs == 0] = 0  # a target needs at least one real item before it
        return inputs, targets
    if kind == "prefixes":
        lengths = np.array([len(s) for s in sequences], dtype=np.int64)
        n = int(np.clip(lengths - 1, 0, None).sum())
        if n == 0:
            return np.zeros((0, max_len), np.int64), np.zeros(0, np.int64)
        # Left-pad each sequence with max_len zeros, concatenate, take sliding windows.
        padded = np.concatenate(
            [np.concatenate([np.zeros(max_len, np.int64), s]) for s in sequences]
        )
        starts = np.concatenate([[0], np.cumsum(lengths + max_len)[:-1]])
        view = np.lib.stride_tricks.sliding_window_view(padded, max_len)
        # Target at position i (1 ≤ i < len) of a sequence starting at `st` in padded:
        # its input is padded[st + i : st + i + max_len], the target padded[st + max_len + i].
        idx = np.concatenate([st + np.arange(1, ln) for st, ln in zip(starts, lengths)])
        return view[idx].copy(), padded[idx + max_len].copy()
    raise DataError(f"unknown training samples {kind!r}: use 'windows' or 'prefixes'")
