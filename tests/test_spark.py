"""The Spark engine (local[2]) equals the local engine (perflaw.quality.spark).

Needs pyspark (the ``spark`` extra, in ``dev``) and a Java 17+ runtime.  Without them
the module is skipped with a loud reason; with ``PERFLAW_REQUIRE_SPARK=1`` (set it in CI)
it fails instead, so a CI machine cannot silently skip the Spark tests.
"""

from __future__ import annotations

import json

import polars as pl
import pytest
from click.testing import CliRunner
from scale_helpers import assert_per_user_equal, assert_summaries_equal, edge_log, split_files

from perflaw.cli import main
from perflaw.errors import DataError
from perflaw.quality.report import measure

# pyspark warns that it does not fully support pandas 3 yet; the paths used here work
pytestmark = pytest.mark.filterwarnings("ignore:PySpark does not yet fully support pandas")


def _per_user(rep) -> pl.DataFrame:
    return pl.from_arrow(rep.per_user.toArrow())


def _same(local, rep):
    assert_per_user_equal(local.per_user, _per_user(rep))
    assert_summaries_equal(local.summary, rep.summary)
    # user-range partitions: the log-level compression ratio is reproduced bit for bit
    want = local.summary["compression_ratio"]
    assert rep.summary["compression_ratio"] == want or want != want
    rep.unpersist()


@pytest.mark.parametrize(
    "name,options",
    [
        ("ml-100k.parquet", {"per_user_compression": True}),
        ("ml-100k.parquet", {"max_len": 50, "compression_chunks": 3}),
        ("amazon-beauty.parquet", {"compression_chunks": None}),
        ("amazon-beauty.parquet", {"m": 1, "signed": True, "max_len": 20, "compression_chunks": 4}),
    ],
)
def test_shared_logs(spark, shared_data, name, options):
    from perflaw.quality.spark import measure_spark_path

    path = shared_data / name
    _same(measure(path, **options), measure_spark_path(path, spark=spark, partitions=3, **options))


@pytest.mark.parametrize(
    "options",
    [
        {"per_user_compression": True},
        {"max_len": 7, "drop_duplicates": True, "dprime": "dataset"},
        {"m": 1, "signed": True, "companions": False},
    ],
)
def test_edge_cases_split_over_files(spark, tmp_path, options):
    from perflaw.quality.spark import measure_spark_path

    frame = edge_log(seed=5)  # string ids, ties in time, duplicates
    split_files(frame, tmp_path / "log", n_files=9)
    rep = measure_spark_path(tmp_path / "log", spark=spark, partitions=4, **options)
    _same(measure(frame, **options), rep)


def test_dataframe_api_with_timestamps_and_64_bit_ids(spark):
    from perflaw.quality.spark import measure_spark

    frame = (
        edge_log(seed=6, string_ids=False)
        .unique(subset=["user_id", "timestamp"], keep="first", maintain_order=True)
        .with_columns(
            pl.from_epoch(pl.col("timestamp"), time_unit="s"),
            (pl.col("item_id") * 10**12 - 7).alias("item_id"),
        )
    )
    df = spark.createDataFrame(frame.to_pandas())
    rep = measure_spark(df, user_col="user_id", partitions=3, label="df", per_user_compression=True)
    _same(measure(frame, per_user_compression=True), rep)


def test_cli_engine_spark(spark, tmp_path, shared_data):
    path = shared_data / "ml-100k.parquet"
    runner = CliRunner()
    res = runner.invoke(
        main,
        [
            "apen",
            str(path),
            "--engine",
            "spark",
            "--json",
            "-q",
            "--per-user",
            str(tmp_path / "pu"),
            "--max-len",
            "30",
        ],
    )
    assert res.exit_code == 0, res.output
    got = json.loads(res.stdout)[0]
    local = measure(path, max_len=30, per_user_compression=True)
    assert got["engine"] == "spark"
    assert_summaries_equal({k: v for k, v in local.summary.items() if v == v}, got)
    written = pl.read_parquet(tmp_path / "pu" / "*.parquet")
    assert written.height == local.summary["users"]
    assert_per_user_equal(local.per_user, written.drop("file"))


def test_errors(spark, tmp_path):
    from perflaw.quality.spark import measure_spark, measure_spark_path

    pl.DataFrame({"user_id": [1, 1], "item_id": [1, None]}).write_parquet(tmp_path / "n.parquet")
    with pytest.raises(DataError, match="null/NaN item"):
        measure_spark_path(tmp_path / "n.parquet", spark=spark)
    df = spark.createDataFrame([(1, 2)], "user_id long, item_id long")
    with pytest.raises(DataError, match="no column 'visitor'"):
        measure_spark(df, user_col="visitor")
    res = CliRunner().invoke(
        main, ["apen", "data/ml-latest-small.parquet", "--engine", "spark", "--memory-limit", "1GB"]
    )
    assert res.exit_code == 1 and "--memory-limit is for the local engine" in res.output


@pytest.mark.parametrize("spec", ["popularity:3", "cluster:4"])
def test_token_map_equals_local_and_reference(spark, tmp_path, spec):
    # the one map, built once, translated by Spark as by the local engines
    from perflaw.quality.spark import measure_spark_path
    from perflaw.quality.tokens import build_token_map
    from tests.test_tokens import _canonical, as_dict, check_engine, reference, small_log

    frame = small_log(2)
    split_files(frame, tmp_path / "log", n_files=3)
    tm = build_token_map(_canonical(frame), spec)
    rep = measure_spark_path(tmp_path / "log", spark=spark, partitions=3, token_map=tm, m=1)
    apens, d = reference(frame, as_dict(tm), m=1)
    check_engine(measure(frame, token_map=tm, m=1), apens, d)
    local = _per_user(rep)
    got = dict(zip(local["user_id"].to_list(), local["apen"].to_list()))
    assert all(abs(got[u] - a) <= 1e-12 for u, a in apens.items()) and len(got) == len(apens)
    assert rep.summary["d_prime"] == pytest.approx(d, rel=1e-12)
    _same(measure(frame, token_map=tm, m=1), rep)
