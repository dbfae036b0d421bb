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
    base = pl.DataFrame({"user_id": [1, 1, 2, 2, 2], "item_id": [10, 11, 10, 12, 10],
                         "timestamp": [1, 2, 1, 2, 3]})
    base.write_csv(tmp_path / "a.csv")
    base.write_csv(tmp_path / "a.tsv", separator="\t")
    (tmp_path / "a.inter").write_text(
        "user_id:token\titem_id:token\ttimestamp:float\n"
        + "".join(f"{u}\t{i}\t{t}.0\n" for u, i, t in base.iter_rows()))
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
    pl.DataFrame({"who": ["a", "a", "b"], "what": ["x", "y", "x"], "when": [3, 1, 2]}) \
        .write_parquet(tmp_path / "s.parquet")
    frame = read_log(tmp_path / "s.parquet", user_col="who", item_col="what", time_col="when")
    assert frame["item"].to_list() == ["x", "y", "x"]


def test_datetime_time_column(tmp_path):
    from datetime import datetime

    pl.DataFrame({"user": [1, 1], "item": [1, 2],
                  "time": [datetime(2020, 1, 2), datetime(2020, 1, 1)]}) \
        .write_parquet(tmp_path / "d.parquet")
    frame = read_log(tmp_path / "d.parquet")
    assert frame["time"].dtype.is_integer()
    assert frame["time"][0] > frame["time"][1]


def _write(tmp_path, name, text):
    p = tmp_path / name
    p.write_text(text)
    return p


@pytest.mark.parametrize("name,text,match", [
    ("e.csv", "", "empty file|no rows"),
    ("h.csv", "user_id,item_id,timestamp\n", "no rows"),
    ("x.csv", "a,b\n1,2\n", "no user column found"),
    ("amb.csv", "user,user_id,item_id\n1,1,1\n", "ambiguous user column"),
    ("n.csv", "user_id,item_id\n1,\n2,3\n", "null item"),
    ("t.csv", "user_id,item_id,timestamp\n1,2,abc\n", "not numeric"),
    ("nan.csv", "user_id,item_id,timestamp\n1,2,NaN\n1,3,1.0\n", "missing value"),
    ("f.xlsx", "whatever", "unknown log format"),
])
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
