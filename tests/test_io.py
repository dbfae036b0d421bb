"""Reading logs: formats, column detection, and one-line errors for bad input."""

import polars as pl
import pytest

from perflaw import DataError
from perflaw.io import read_log


def test_bundled_parquet():
    frame = read_log("data/ml-latest-small.parquet")
    assert frame.columns == ["user", "item", "time"]
    assert frame.height == 100_004


def test_csv_tsv_inter_text_agree(tmp_path):
    base = pl.DataFrame(
        {"user_id": [1, 1, 2, 2, 2], "item_id": [10, 11, 10, 12, 10], "timestamp": [1, 2, 1, 2, 3]}
    )
    base.write_csv(tmp_path / "a.csv")
    base.write_csv(tmp_path / "a.tsv", separator="\t")
    (tmp_path / "a.inter").write_text(
        "user_id:token\titem_id:token\ttimestamp:float\n"
        + "".join(f"{u}\t{i}\t{t}.0\n" for u, i, t in base.iter_rows())
    )
    (tmp_path / "pairs.txt").write_text("".join(f"{u} {i}\n" for u, i, _ in base.iter_rows()))
    (tmp_path / "seqs.txt").write_text("1 10 11\n2 10 12 10\n")
    ref = read_log(tmp_path / "a.csv")
    for name in ("a.tsv", "a.inter"):
        other = read_log(tmp_path / name)
        assert other["user"].to_list() == ref["user"].to_list()
        assert other["item"].to_list() == ref["item"].to_list()
        assert other["time"].cast(pl.Int64).to_list() == ref["time"].to_list()
    for name in ("pairs.txt", "seqs.txt"):
        other = read_log(tmp_path / name)
        assert other.columns == ["user", "item"]
        assert other["item"].to_list() == ref["item"].to_list()


def test_explicit_columns_and_string_ids(tmp_path):
    pl.DataFrame(
        {"who": ["a", "a", "b"], "what": ["x", "y", "x"], "when": [3, 1, 2]}
    ).write_parquet(tmp_path / "s.parquet")
    frame = read_log(tmp_path / "s.parquet", user_col="who", item_col="what", time_col="when")
    assert frame["item"].to_list() == ["x", "y", "x"]


def test_datetime_time_column(tmp_path):
    from datetime import datetime

    pl.DataFrame(
        {"user": [1, 1], "item": [1, 2], "time": [datetime(2020, 1, 2), datetime(2020, 1, 1)]}
    ).write_parquet(tmp_path / "d.parquet")
    frame = read_log(tmp_path / "d.parquet")
    assert frame["time"].dtype.is_integer()
    assert frame["time"][0] > frame["time"][1]


def _write(tmp_path, name, text):
    p = tmp_path / name
    p.write_text(text)
    return p


@pytest.mark.parametrize(
    "name,text,match",
    [
        ("e.csv", "", "empty file|no rows"),
        ("h.csv", "user_id,item_id,timestamp\n", "no rows"),
        ("x.csv", "a,b\n1,2\n", "no user column found"),
        ("amb.csv", "user,user_id,item_id\n1,1,1\n", "ambiguous user column"),
        ("n.csv", "user_id,item_id\n1,\n2,3\n", "1 null/NaN item"),
        ("t.csv", "user_id,item_id,timestamp\n1,2,abc\n", "not numeric"),
        ("nan.csv", "user_id,item_id,timestamp\n1,2,NaN\n1,3,1.0\n", "missing value"),
        ("f.xlsx", "whatever", "unknown log format"),
    ],
)
def test_bad_files(tmp_path, name, text, match):
    p = _write(tmp_path, name, text)
    with pytest.raises(DataError, match=match) as info:
        read_log(p)
    assert "\n" not in str(info.value)
    assert str(p) in str(info.value)


def test_missing_file_and_directory(tmp_path):
    with pytest.raises(DataError, match="no such file"):
        read_log(tmp_path / "nope.parquet")
    with pytest.raises(DataError, match="is a directory"):
        read_log(tmp_path)


def test_truncated_parquet(tmp_path):
    good = tmp_path / "g.parquet"
    pl.DataFrame({"user_id": range(1000), "item_id": range(1000)}).write_parquet(good)
    bad = tmp_path / "bad.parquet"
    bad.write_bytes(good.read_bytes()[:200])
    with pytest.raises(DataError, match="cannot read as parquet"):
        read_log(bad)


def test_unknown_explicit_column(tmp_path):
    p = _write(tmp_path, "a.csv", "user_id,item_id\n1,2\n")
    with pytest.raises(DataError, match="no column 'uid'"):
        read_log(p, user_col="uid")


def test_shared_logs_columns(shared_data):
    frame = read_log(shared_data / "amazon-beauty.parquet")
    assert frame.columns == ["user", "item", "time"]  # 'position' column used as order


# --- ids taken as they are (issue 11) -------------------------------------------------


def _reference_counts(users, items):
    """Plain reference: distinct ids by Python equality on the exact values."""
    return len(set(users)), len(set(items))


def test_nan_and_null_ids_are_refused_with_column_and_count(tmp_path):
    p = tmp_path / "nan.parquet"
    pl.DataFrame(
        {"uid": [1.0, float("nan"), 3.0, None], "item_id": [1, 2, 3, 4], "timestamp": [1, 2, 3, 4]}
    ).write_parquet(p)
    with pytest.raises(
        DataError,
        match=r"column 'uid' has 2 null/NaN user id\(s\).*"
        r"--drop-null-ids",
    ) as info:
        read_log(p, user_col="uid")
    assert str(p) in str(info.value)
    notes = []
    frame = read_log(p, user_col="uid", drop_null_ids=True, notes=notes)
    assert frame["user"].to_list() == [1, 3] and frame["user"].dtype == pl.Int64
    assert notes == ["dropped 2 row(s) with a null/NaN id (user: 2, item: 0)"]


def test_dropping_every_row_is_an_error(tmp_path):
    p = tmp_path / "all.parquet"
    pl.DataFrame(
        {"user_id": [None, None], "item_id": [1, 2]},
        schema={"user_id": pl.Int64, "item_id": pl.Int64},
    ).write_parquet(p)
    with pytest.raises(DataError, match="no rows left"):
        read_log(p, drop_null_ids=True)


@pytest.mark.parametrize(
    "values, match",
    [
        ([1.5, 2.0], r"fractional part \(e.g. 1.5\)"),
        ([2.0**53 + 2, 2.0**53 + 4], "2\\^53 or more"),
        ([float("inf"), 1.0], "fractional part"),
    ],
)
def test_inexact_float_ids_are_refused(tmp_path, values, match):
    p = tmp_path / "f.parquet"
    pl.DataFrame({"user_id": values, "item_id": [1, 2]}).write_parquet(p)
    with pytest.raises(DataError, match=match) as info:
        read_log(p)
    assert "'user_id'" in str(info.value) and "\n" not in str(info.value)


def test_whole_float_ids_become_exact_integers(tmp_path):
    p = tmp_path / "f.csv"
    p.write_text("user_id,item_id\n1.0,9007199254740991.0\n2.0,3.0\n")
    frame = read_log(p)
    assert frame["user"].to_list() == [1, 2]
    assert frame["item"].to_list() == [2**53 - 1, 3]


def test_float_ids_that_merge_when_read_are_refused(tmp_path):
    # ...993.0 is read as the float ...992.0 = 2^53: two users would become one
    p = tmp_path / "f.csv"
    p.write_text("user_id,item_id\n9007199254740993.0,1\n9007199254740992.0,2\n")
    with pytest.raises(DataError, match="2\\^53 or more"):
        read_log(p)


@pytest.mark.parametrize("engine", ["memory", "bounded"])
def test_wide_integer_ids_stay_exact_in_every_local_engine(tmp_path, engine):
    import numpy as np

    from perflaw.quality.report import measure

    rng = np.random.default_rng(0)
    n = 4000
    # neighbouring ids just above 2^63 and near 2^64 - 1: a float64 or int64 detour
    # would merge or wrap them
    users = np.uint64(2**64 - 1) - rng.integers(0, 60, n).astype(np.uint64)
    items = np.uint64(2**63) + rng.integers(0, 50, n).astype(np.uint64)
    p = tmp_path / "u64.parquet"
    pl.DataFrame(
        {
            "user_id": pl.Series(users, dtype=pl.UInt64),
            "item_id": pl.Series(items, dtype=pl.UInt64),
            "timestamp": np.arange(n),
        }
    ).write_parquet(p)
    if engine == "memory":
        rep = measure(p)
    else:
        from perflaw.quality.bounded import measure_bounded

        rep = measure_bounded(p, chunk_rows=700)
    n_users, n_items = _reference_counts(users.tolist(), items.tolist())
    assert (rep.summary["users"], rep.summary["items"]) == (n_users, n_items)
    assert sorted(rep.per_user["user_id"].to_list()) == sorted(set(users.tolist()))
    # same per-user numbers as the ids relabelled to small integers (the plain case)
    small = pl.DataFrame(
        {
            "user_id": pl.Series(users).rank("dense").cast(pl.Int64),
            "item_id": pl.Series(items).rank("dense").cast(pl.Int64),
            "timestamp": np.arange(n),
        }
    )
    ref = measure(small)
    assert rep.per_user["apen"].to_list() == ref.per_user["apen"].to_list()


def test_int128_ids_from_csv_stay_exact(tmp_path):
    p = tmp_path / "big.csv"
    p.write_text(
        "user_id,item_id,timestamp\n18446744073709551615,1,1\n"
        "18446744073709551614,2,2\n9007199254740993,3,3\n9007199254740992,3,4\n"
    )
    from perflaw.quality.report import measure

    rep = measure(p)
    assert rep.summary["users"] == 4 and rep.summary["items"] == 3


@pytest.mark.parametrize(
    "column, match",
    [
        (pl.Series("user_id", [[1, 2], [3]]), "holds lists"),
        (pl.Series("user_id", [{"a": 1}, {"a": 2}]), "holds structs"),
    ],
)
def test_nested_id_columns_are_one_line_errors(tmp_path, column, match):
    p = tmp_path / "nested.parquet"
    pl.DataFrame([column, pl.Series("item_id", [1, 2])]).write_parquet(p)
    with pytest.raises(DataError, match=match) as info:
        read_log(p)
    assert "'user_id'" in str(info.value) and "\n" not in str(info.value)


def test_time_of_day_column_is_refused(tmp_path):
    from datetime import time

    p = tmp_path / "tod.parquet"
    pl.DataFrame(
        {"user_id": [1, 1], "item_id": [1, 2], "time": [time(10, 0), time(9, 0)]}
    ).write_parquet(p)
    with pytest.raises(DataError, match="times of day"):
        read_log(p)


def test_sasrec_text_splits_on_runs_of_whitespace(tmp_path):
    p = tmp_path / "seqs.txt"
    p.write_text("1 10  11 \n2\t10\t12   10\n\n3 \t 7\n")
    frame = read_log(p)
    assert frame["item"].to_list() == [10, 11, 10, 12, 10, 7]
    assert frame["user"].to_list() == [1, 1, 2, 2, 2, 3]
    bad = tmp_path / "bad.txt"
    bad.write_text("1 2\n3\n")
    with pytest.raises(DataError, match="line 2 has one token"):
        read_log(bad)


@pytest.mark.parametrize(
    "encoding, name",
    [("utf-16", "UTF-16"), ("utf-32", "UTF-32"), ("utf-16-be", "UTF-16 without a byte-order")],
)
def test_non_utf8_text_names_the_encoding(tmp_path, encoding, name):
    p = tmp_path / "log.csv"
    p.write_bytes("user_id,item_id\n1,2\n3,4\n".encode(encoding))
    with pytest.raises(DataError, match=name) as info:
        read_log(p)
    assert str(p) in str(info.value) and "UTF-8" in str(info.value)


def test_utf8_bom_is_fine(tmp_path):
    p = tmp_path / "log.csv"
    p.write_bytes(b"\xef\xbb\xbfuser_id,item_id\n1,2\n3,4\n")
    assert read_log(p)["user"].to_list() == [1, 3]
