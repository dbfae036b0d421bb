"""Ids are taken as they are in every engine (issue 11), checked against a plain reference.

The reference is the same log with ids relabelled to small integers by Python equality
on the exact values (and, for null ids, with those rows removed by hand): every engine
must give it the same users, items and per-user ApEn.
"""

import numpy as np
import polars as pl
import pytest

from perflaw.errors import DataError
from perflaw.quality import measure

N = 3000
pytestmark = [
    pytest.mark.filterwarnings("ignore:PySpark does not yet fully support pandas"),
    pytest.mark.filterwarnings("ignore::DeprecationWarning"),
    pytest.mark.filterwarnings("ignore:The copy keyword is deprecated"),
]


ENGINES = ["memory", "bounded", pytest.param("spark", marks=pytest.mark.slow)]


def _run(engine, path, request, **options):
    if engine == "memory":
        return measure(path, **options)
    if engine == "bounded":
        return measure(path, "bounded", chunk_rows=700, **options)
    session = request.getfixturevalue("spark")
    rep = measure(str(path), "spark", spark=session, partitions=2, **options)
    rep.per_user = pl.from_pandas(rep.per_user.toPandas()).sort("user_id")
    return rep


def _reference(users, items, times):
    """Measure the log with ids relabelled by exact Python equality."""
    ucode = {v: k for k, v in enumerate(sorted(set(users)))}
    icode = {v: k for k, v in enumerate(sorted(set(items)))}
    frame = pl.DataFrame(
        {
            "user_id": [ucode[u] for u in users],
            "item_id": [icode[i] for i in items],
            "timestamp": times,
        }
    )
    return measure(frame), ucode


def _check(rep, ref, ucode):
    assert rep.summary["users"] == ref.summary["users"]
    assert rep.summary["items"] == ref.summary["items"]
    assert rep.summary["interactions"] == ref.summary["interactions"]
    got = rep.per_user.select("user_id", "apen").to_dicts()
    by_code = dict(zip(ref.per_user["user_id"].to_list(), ref.per_user["apen"].to_list()))
    assert len(got) == len(by_code)
    for row in got:
        assert row["apen"] == pytest.approx(by_code[ucode[int(row["user_id"])]], abs=1e-12)


@pytest.mark.parametrize("engine", ENGINES)
def test_unsigned_64_bit_ids_stay_exact(tmp_path, engine, request):
    rng = np.random.default_rng(0)
    users = (np.uint64(2**64 - 1) - rng.integers(0, 40, N).astype(np.uint64)).tolist()
    items = (np.uint64(2**63) + rng.integers(0, 30, N).astype(np.uint64)).tolist()
    times = list(range(N))
    path = tmp_path / "u64.parquet"
    pl.DataFrame(
        {
            "user_id": pl.Series(users, dtype=pl.UInt64),
            "item_id": pl.Series(items, dtype=pl.UInt64),
            "timestamp": times,
        }
    ).write_parquet(path)
    ref, ucode = _reference(users, items, times)
    _check(_run(engine, path, request, companions=False), ref, ucode)


@pytest.mark.parametrize("engine", ENGINES)
def test_whole_float_ids_are_the_integers(tmp_path, engine, request):
    rng = np.random.default_rng(1)
    users = rng.integers(0, 50, N).tolist()
    items = (2**53 - rng.integers(1, 31, N)).tolist()  # the largest exact floats
    times = list(range(N))
    path = tmp_path / "float.parquet"
    pl.DataFrame(
        {
            "user_id": pl.Series(users, dtype=pl.Float64),
            "item_id": pl.Series(items, dtype=pl.Float64),
            "timestamp": times,
        }
    ).write_parquet(path)
    ref, ucode = _reference(users, items, times)
    _check(_run(engine, path, request, companions=False), ref, ucode)


@pytest.mark.parametrize("engine", ENGINES)
def test_nan_and_null_ids_refused_or_dropped_and_counted(tmp_path, engine, request):
    rng = np.random.default_rng(2)
    users = rng.integers(0, 50, N).astype(float)
    items = rng.integers(0, 30, N).astype(float)
    nan_rows = rng.choice(N, 25, replace=False)
    null_rows = rng.choice(np.setdiff1d(np.arange(N), nan_rows), 5, replace=False)
    users[nan_rows] = np.nan
    times = np.arange(N)
    path = tmp_path / "nan.parquet"
    item_col = pl.Series(items).scatter(null_rows, None)
    pl.DataFrame({"user_id": users, "item_id": item_col, "timestamp": times}).write_parquet(path)
    with pytest.raises(DataError, match=r"column 'user_id' has 25 null/NaN user id\(s\)"):
        _run(engine, path, request, companions=False)
    rep = _run(engine, path, request, companions=False, drop_null_ids=True)
    assert rep.notes[0] == "dropped 30 row(s) with a null/NaN id (user: 25, item: 5)"
    keep = np.setdiff1d(np.arange(N), np.r_[nan_rows, null_rows])
    ref, ucode = _reference(
        users[keep].astype(int).tolist(), items[keep].astype(int).tolist(), times[keep].tolist()
    )
    _check(rep, ref, ucode)


@pytest.mark.parametrize("engine", ENGINES)
@pytest.mark.parametrize(
    "bad, match",
    [
        (1.5, "fractional part"),
        (2.0**53 + 2, "2\\^53 or more"),
        (2.0**53, "2\\^53 or more"),  # also what 2^53 + 1 is read as: two ids, one float
    ],
)
def test_inexact_float_ids_are_refused(tmp_path, engine, request, bad, match):
    path = tmp_path / "bad.parquet"
    pl.DataFrame(
        {"user_id": [1.0, bad, 3.0], "item_id": [1, 2, 3], "timestamp": [1, 2, 3]}
    ).write_parquet(path)
    with pytest.raises(DataError, match=match):
        _run(engine, path, request)


@pytest.mark.parametrize("engine", ENGINES)
def test_list_ids_are_refused(tmp_path, engine, request):
    path = tmp_path / "list.parquet"
    pl.DataFrame({"user_id": [1, 2], "item_id": [[1, 2], [3]], "timestamp": [1, 2]}).write_parquet(
        path
    )
    with pytest.raises(DataError, match="item column 'item_id' holds"):
        _run(engine, path, request)
