"""Job arrays without coordination: split a sweep's grid into shards, merge their tables.

Each task of a job array (``perflaw sweep --shard I/N``, or SLURM's
``SLURM_ARRAY_TASK_ID`` / ``SLURM_ARRAY_TASK_COUNT``) trains its own part of the grid into
its own table, so no two tasks share a file (no locks, no claims across machines).  The
split is a function of the grid alone: the configurations sorted by their key, and every
``N``-th one from position ``I`` -- the same in every task, however the lists were
written on the command line, and balanced within one configuration.  The tables are then
merged by :func:`merge_tables` (``perflaw runs merge``), which refuses two different rows
for one configuration.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from pathlib import Path

import pandas as pd

from perflaw.errors import DataError
from perflaw.train import runs_table as rt

__all__ = [
    "check_shard",
    "merge_tables",
    "parse_shard",
    "shard_from_env",
    "shard_out",
    "shard_rows",
]


def check_shard(shard) -> tuple[int, int]:
    """``(i, n)`` as two ints with ``0 <= i < n``, else DataError."""
    try:
        i, n = shard
        ok = all(isinstance(v, int) and not isinstance(v, bool) for v in (i, n))
    except (TypeError, ValueError):
        ok = False
    if not ok or not 0 <= i < n:
        raise DataError(f"shard {shard!r}: give I/N with 0 <= I < N (I counts from 0)")
    return int(i), int(n)


def parse_shard(text: str) -> tuple[int, int]:
    """``"I/N"`` -> ``(I, N)``.

    >>> parse_shard("2/4")
    (2, 4)
    """
    parts = str(text).strip().split("/")
    if len(parts) != 2 or not all(p.strip().isdigit() and len(p.strip()) < 10 for p in parts):
        raise DataError(f"--shard {text!r}: give I/N, e.g. 0/4 (I counts from 0)")
    return check_shard((int(parts[0]), int(parts[1])))


def shard_from_env(env: Mapping[str, str] | None = None) -> tuple[int, int] | None:
    """The shard of a SLURM array task: ``SLURM_ARRAY_TASK_ID`` less
    ``SLURM_ARRAY_TASK_MIN`` (arrays may start at 1) of ``SLURM_ARRAY_TASK_COUNT``;
    None outside an array.

    >>> shard_from_env({"SLURM_ARRAY_TASK_ID": "3", "SLURM_ARRAY_TASK_MIN": "1",
    ...                 "SLURM_ARRAY_TASK_COUNT": "4"})
    (2, 4)
    """
    env = os.environ if env is None else env
    task, count = env.get("SLURM_ARRAY_TASK_ID"), env.get("SLURM_ARRAY_TASK_COUNT")
    if task is None or count is None:
        return None
    low = env.get("SLURM_ARRAY_TASK_MIN", "0")
    try:
        i, n, lo = int(task), int(count), int(low)
    except ValueError:
        raise DataError(
            f"SLURM_ARRAY_TASK_ID={task!r}, SLURM_ARRAY_TASK_COUNT={count!r}: not integers; "
            "give --shard I/N"
        ) from None
    if i - lo >= n:
        # a stepped or sparse array (--array=0-15:4, --array=1,5,9): ids are not 0..N-1
        raise DataError(
            f"SLURM array task {i} (first {lo}) of {n}: the array's ids are not consecutive; "
            "give --shard I/N explicitly"
        )
    return check_shard((i - lo, n))


def shard_rows(grid: Sequence[dict], i: int, n: int) -> list[dict]:
    """Shard ``i`` of ``n`` of ``grid`` (rows with the key columns): every ``n``-th
    configuration in key order, from the ``i``-th.  The shards are disjoint and together
    the grid.

    >>> grid = [dict(dataset="d", backbone="sasrec", layers=l, d_emb=8, data_fraction=1.0,
    ...              max_len=50, seed=0) for l in (3, 1, 2)]
    >>> [r["layers"] for r in shard_rows(grid, 0, 2)], [r["layers"] for r in shard_rows(grid, 1, 2)]
    ([1, 3], [2])
    """
    i, n = check_shard((i, n))
    ordered = sorted(grid, key=rt.key)
    return ordered[i::n]


def shard_out(out: str | os.PathLike, i: int, n: int) -> Path:
    """The table of shard ``i`` of ``n``: ``runs.csv`` -> ``runs.shard-2-of-4.csv``."""
    out = Path(out)
    return out.with_name(f"{out.stem}.shard-{i}-of-{n}{out.suffix}")


def merge_tables(paths: Sequence[str | os.PathLike]) -> tuple[pd.DataFrame, int]:
    """The rows of several sweep tables as one table, and how many exact duplicates were
    dropped.

    A configuration present in two tables with the same row (the same run read twice) is
    kept once; with different rows (trained twice, or by different settings) the merge is
    refused, naming the configuration and the files: which run is right is not ours to
    guess.  Tables made with different settings, evaluations or losses are refused too.
    """
    if not paths:
        raise DataError("runs merge: give at least one runs table")
    frames = []
    for p in paths:
        t = rt.read_runs_file(p)
        t = t.assign(_file=str(p), _line=range(2, len(t) + 2))
        frames.append(t)
    table = pd.concat(frames, ignore_index=True)
    if table.empty:
        return table.drop(columns=["_file", "_line"]), 0
    for col in ("eval", "objective"):
        kinds = table[col].astype(str).unique()
        if len(kinds) > 1:
            raise DataError(
                f"runs merge: the tables mix {col} {sorted(kinds)[:2]}: merge like with like"
            )
    rules = table["settings"].map(rt.training_rule).unique()
    if len(rules) > 1:
        raise DataError(
            f"runs merge: the tables hold runs made with other settings ({rules[0]!r} and "
            f"{rules[1]!r}): merge like with like"
        )
    keys = table.apply(rt.key, axis=1)
    data = table[rt.RUNS_COLUMNS].astype(str)
    dropped = 0
    keep = []
    seen: dict = {}
    for idx, k in keys.items():
        if k not in seen:
            seen[k] = idx
            keep.append(idx)
            continue
        first = seen[k]
        if not data.loc[first].equals(data.loc[idx]):
            a, b = table.loc[first], table.loc[idx]
            raise DataError(
                f"runs merge: configuration layers={k[2]} d_emb={k[3]} fraction={k[4]:g} "
                f"seed={k[6]} ({k[1]}, {k[0]}) has two different rows: {a['_file']} line "
                f"{a['_line']} and {b['_file']} line {b['_line']}; keep one of them"
            )
        dropped += 1
    return table.loc[keep, rt.RUNS_COLUMNS].reset_index(drop=True), dropped
