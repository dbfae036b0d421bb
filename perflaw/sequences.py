"""Ragged user sequences: one int64 array of item codes plus offsets.

A log of (user, item, time) rows becomes one sequence per user: the user's items in
time order, ties in time kept in file order (a stable sort).  Item ids are labels, so
only equality matters: integer ids that fit in int64 are used as they are, wider
integers and any other type are mapped to dense integer codes (:func:`item_codes`), so
distinct ids always stay distinct.  ``max_len`` keeps each user's last ``max_len`` items,
which is what a model with that maximum sequence length sees (docs/science.md §1).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import polars as pl

from perflaw.errors import DataError


@dataclass(frozen=True)
class Sequences:
    """Sequences stored back to back.

    Attributes
    ----------
    values : np.ndarray (int64)
        Item codes of every sequence, concatenated.
    offsets : np.ndarray (int64)
        ``len(users) + 1`` boundaries: sequence ``s`` is ``values[offsets[s]:offsets[s+1]]``.
    users : pl.Series
        The user id of each sequence (original type).
    n_items : int
        Number of distinct items in the log.
    duplicate_rows : int
        Number of rows that repeat an earlier (user, item, time) row exactly.
    """

    values: np.ndarray
    offsets: np.ndarray
    users: pl.Series
    n_items: int
    duplicate_rows: int = 0

    def __len__(self) -> int:
        return len(self.offsets) - 1

    @property
    def lengths(self) -> np.ndarray:
        return np.diff(self.offsets)

    def window(self, max_len: int | None = None) -> tuple[np.ndarray, np.ndarray]:
        """Start and end of each sequence, keeping only the last ``max_len`` items."""
        starts = self.offsets[:-1]
        ends = self.offsets[1:]
        if max_len is not None:
            if max_len < 1:
                raise DataError(f"--max-len must be a positive integer, got {max_len}")
            # a window longer than any int64 offset keeps everything (no C-long overflow)
            starts = np.maximum(starts, ends - min(int(max_len), 2**62))
        return np.ascontiguousarray(starts), np.ascontiguousarray(ends)

    @classmethod
    def from_lists(cls, seqs: list, users: list | None = None) -> Sequences:
        """Build from a list of sequences of hashable ids (convenient in tests and docs)."""
        frame = pl.DataFrame(
            {
                "user": [u for u, s in enumerate(seqs) for _ in s]
                if users is None
                else [u for u, s in zip(users, seqs) for _ in s],
                "item": [str(v) for s in seqs for v in s],
            },
            schema={"user": pl.Int64 if users is None else None, "item": pl.String},
        )
        out = cls.from_frame(frame, sort=False)
        if any(len(s) == 0 for s in seqs):
            # empty sequences have no rows; keep them as empty entries, in order
            lengths = np.array([len(s) for s in seqs], np.int64)
            offsets = np.concatenate([[0], np.cumsum(lengths)])
            ulabels = pl.Series("user", list(range(len(seqs))) if users is None else users)
            out = cls(out.values, offsets, ulabels, out.n_items, 0)
        return out

    @classmethod
    def from_frame(cls, frame: pl.DataFrame, *, sort: bool = True) -> Sequences:
        """Group a canonical frame (columns ``user``, ``item`` and optional ``time``).

        With ``sort=True`` rows are ordered by user, then time, keeping file order
        inside ties; a frame that is already in that order is not sorted again.
        """
        has_time = "time" in frame.columns
        if sort and frame.height:
            by = ["user", "time"] if has_time else ["user"]
            if not _is_grouped_and_ordered(frame, has_time):
                # two stable single-key sorts (time, then user) give the order of one
                # stable (user, time) sort, ties in file order, ~5x faster in polars
                for key in reversed(by):
                    frame = frame.sort(key, maintain_order=True)
        duplicates = _count_duplicate_rows(frame) if has_time and frame.height else 0
        values = item_codes(frame.get_column("item"))
        n_items = len(item_counts(values))
        runs = frame.select(pl.col("user").rle()).unnest("user")
        lengths = runs.get_column("len").to_numpy().astype(np.int64)
        offsets = np.zeros(len(lengths) + 1, np.int64)
        np.cumsum(lengths, out=offsets[1:])
        users = runs.get_column("value")
        if sort and users.n_unique() != len(users):
            raise DataError("internal: users are not contiguous after sorting")
        return cls(
            np.ascontiguousarray(values, dtype=np.int64),
            offsets,
            users,
            int(n_items),
            int(duplicates),
        )


def item_codes(items: pl.Series) -> np.ndarray:
    """Exact int64 codes of item ids: equal ids get equal codes, distinct ids distinct.

    Integer ids that fit in int64 are used as they are; wider integers (unsigned 64-bit
    above 2^63, 128-bit) get their dense rank, which keeps them distinct; any other type
    gets the dense rank of its text.

    Examples
    --------
    >>> item_codes(pl.Series([2**64 - 1, 7, 2**63 + 1, 7], dtype=pl.UInt64)).tolist()
    [3, 1, 2, 1]
    """
    if items.dtype.is_integer():
        if items.len() == 0 or items.dtype in (
            pl.Int8,
            pl.Int16,
            pl.Int32,
            pl.Int64,
            pl.UInt8,
            pl.UInt16,
            pl.UInt32,
        ):
            return items.cast(pl.Int64).to_numpy()
        lo, hi = int(items.min()), int(items.max())  # type: ignore[arg-type]
        if -(2**63) <= lo and hi < 2**63:
            return items.cast(pl.Int64).to_numpy()
        return items.rank("dense").cast(pl.Int64).to_numpy()
    return items.cast(pl.String).rank("dense").cast(pl.Int64).to_numpy()


def item_counts(values: np.ndarray) -> np.ndarray:
    """Occurrence count of each distinct value (order unspecified).

    Dense non-negative ids (the usual case, and always for string ids, which are
    dense-ranked) are counted with ``np.bincount``, an order of magnitude faster than
    hashing; other ids go through polars' hash-based ``value_counts``.

    Examples
    --------
    >>> sorted(item_counts(np.array([3, 1, 3, 3])).tolist())
    [1, 3]
    """
    values = np.asarray(values)
    if values.size == 0:
        return np.zeros(0, np.int64)
    lo, hi = int(values.min()), int(values.max())
    if lo >= 0 and hi < max(1 << 24, 4 * values.size):
        counts = np.bincount(values, minlength=0)
        return counts[counts > 0]
    return pl.Series(values).value_counts().get_column("count").to_numpy().astype(np.int64)


def _is_grouped_and_ordered(frame: pl.DataFrame, has_time: bool) -> bool:
    """True when users are sorted and time never decreases inside a user."""
    user = pl.col("user")
    try:
        checks = [(user >= user.shift(1)).all(ignore_nulls=True).alias("u")]
    except Exception:  # noqa: BLE001 - non-orderable user type: just sort
        return False
    if has_time:
        t = pl.col("time")
        checks.append(
            ((user != user.shift(1)) | (t >= t.shift(1))).all(ignore_nulls=True).alias("t")
        )
    row = frame.select(checks).row(0)
    return all(bool(v) for v in row)


def _count_duplicate_rows(frame: pl.DataFrame) -> int:
    """Rows repeating an earlier (user, item, time) row, on a frame ordered by user, time.

    Exact duplicates can only sit inside a run of equal (user, time), so only those runs
    are hashed: a log without ties in time costs one vectorised comparison.
    """
    user, t = pl.col("user"), pl.col("time")
    same_as_prev = (user == user.shift(1)) & (t == t.shift(1))
    in_tie = same_as_prev | same_as_prev.shift(-1)
    ties = frame.filter(in_tie.fill_null(False))
    if ties.height == 0:
        return 0
    return ties.height - ties.select(pl.struct("user", "item", "time").n_unique()).item()
