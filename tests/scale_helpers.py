"""Shared helpers for the bounded-memory and Spark engine tests."""

from __future__ import annotations

import math
import os
import shutil
import subprocess
from pathlib import Path

import numpy as np
import polars as pl

#: Summary keys that differ by construction between engines.
NOT_COMPARED = {"seconds", "file", "notes", "engine", "chunks", "chunk_rows", "partitions"}


def assert_summaries_equal(local: dict, other: dict, *, rel=1e-12, skip=()):
    skip = NOT_COMPARED | set(skip)
    missing = set(local) - set(other) - skip
    assert not missing, f"keys missing: {missing}"
    for key, want in local.items():
        if key in skip:
            continue
        got = other[key]
        if isinstance(want, float) and math.isnan(want):
            assert isinstance(got, float) and math.isnan(got), (key, want, got)
        elif isinstance(want, float):
            assert math.isclose(got, want, rel_tol=rel, abs_tol=1e-300), (key, want, got)
        else:
            assert got == want, (key, want, got)


def assert_per_user_equal(local: pl.DataFrame, other: pl.DataFrame, *, rel=1e-12):
    """Same users, same values (floats to ``rel``; in practice bit for bit)."""
    other = other.sort("user_id")
    local = local.sort("user_id")
    assert other.columns == local.columns
    assert other.height == local.height
    assert other.get_column("user_id").to_list() == local.get_column("user_id").to_list()
    for col in local.columns[1:]:
        a, b = local.get_column(col), other.get_column(col)
        assert a.null_count() == b.null_count(), col
        if a.dtype.is_float():
            x = a.fill_null(0.0).to_numpy()
            y = b.fill_null(0.0).to_numpy()
            assert np.allclose(y, x, rtol=rel, atol=0, equal_nan=True), col
        else:
            assert a.to_list() == b.to_list(), col


def edge_log(seed: int = 0, n_users: int = 60, string_ids: bool = True) -> pl.DataFrame:
    """A log with the awkward cases: string user and item ids, many ties in time,
    exact duplicate rows, constant users, one-event users, one long user."""
    rng = np.random.default_rng(seed)
    rows = []
    for u in range(n_users):
        kind = u % 6
        n = {0: 1, 1: 2, 2: 5}.get(kind, int(rng.integers(3, 40)))
        if u == 7:
            n = 400  # longer than the smallest chunk
        pool = 3 if kind == 3 else 25
        items = rng.integers(0, pool, n)
        if kind == 4:
            items[:] = 9  # constant sequence: ApEn = 0
        times = np.sort(rng.integers(0, max(n // 3, 1), n))  # many ties
        for it, t in zip(items, times):
            rows.append((u, int(it), int(t)))
    rows += rows[5:9]  # exact duplicates, at the end of the file
    order = rng.permutation(len(rows))  # users scattered through the file
    rows = [rows[k] for k in order]
    frame = pl.DataFrame(
        rows, schema={"user_id": pl.Int64, "item_id": pl.Int64, "timestamp": pl.Int64}, orient="row"
    )
    if string_ids:
        frame = frame.with_columns(
            pl.format("u{}-é", pl.col("user_id")).alias("user_id"),
            pl.format("item-{}", pl.col("item_id")).alias("item_id"),
        )
    return frame


def split_files(frame: pl.DataFrame, folder: Path, n_files: int) -> list[Path]:
    """Write ``frame`` as ``n_files`` parquet files of consecutive rows (every user
    spread over several files); file names sort in row order."""
    folder.mkdir(parents=True, exist_ok=True)
    bounds = np.linspace(0, frame.height, n_files + 1).astype(int)
    paths = []
    for k in range(n_files):
        p = folder / f"part-{k:03d}.parquet"
        frame.slice(int(bounds[k]), int(bounds[k + 1] - bounds[k])).write_parquet(p)
        paths.append(p)
    return paths


def spark_unavailable() -> str | None:
    """Why Spark cannot run here (no pyspark, no Java), or None."""
    try:
        import pyspark  # noqa: F401
    except ImportError:
        return "pyspark is not installed (pip install -e '.[dev]' or '.[spark]')"
    java = shutil.which("java")
    if java is None:
        return "no Java runtime on PATH (apt-get install -y openjdk-17-jre-headless)"
    try:
        subprocess.run([java, "-version"], check=True, capture_output=True, timeout=60)
    except (subprocess.SubprocessError, OSError) as exc:
        return f"'java -version' fails ({exc})"
    return None


def require_spark(what: str = "SPARK TESTS") -> None:
    """Skip with the reason when Spark cannot run, or fail when CI requires Spark
    (PERFLAW_REQUIRE_SPARK, set by .ci/run whenever Java is there)."""
    import pytest

    reason = spark_unavailable()
    if reason:
        if os.environ.get("PERFLAW_REQUIRE_SPARK"):
            pytest.fail(f"Spark tests required (PERFLAW_REQUIRE_SPARK) but {reason}")
        pytest.skip(f"{what} SKIPPED: {reason}")
