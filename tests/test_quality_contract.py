"""The engine contract: one options dataclass, one summary, perflaw.measure chooses."""

import math

import polars as pl
import pytest

import perflaw
from perflaw.errors import DataError
from perflaw.quality import _kernels
from perflaw.quality.summary import SUMMARY_KEYS, MeasureOptions, QualityReport

BUNDLED = "data/ml-latest-small.parquet"


def test_summary_keys_are_the_contract():
    mem = perflaw.measure(BUNDLED, max_len=30)
    bnd = perflaw.measure(BUNDLED, engine="bounded", chunk_rows=20_000, max_len=30)
    for rep, extra in ((mem, ["engine"]), (bnd, ["engine", "chunks", "chunk_rows"])):
        assert isinstance(rep, QualityReport)
        assert list(rep.summary) == [*SUMMARY_KEYS, *extra]
    for key in SUMMARY_KEYS:
        if key in ("seconds", "notes"):
            continue
        a, b = mem.summary[key], bnd.summary[key]
        assert a == b or (isinstance(a, float) and math.isnan(a) and math.isnan(b)), key


def test_units_of_entropies_are_named():
    for key in ("apen_mean", "apen_median", "actual_entropy"):
        assert SUMMARY_KEYS[key][0] == "nats"
    for key in ("shannon_entropy", "shannon_entropy_user_mean"):
        assert SUMMARY_KEYS[key][0] == "bits"


def test_memory_limit_chooses_bounded():
    rep = perflaw.measure(BUNDLED, memory_limit="8GB", m=1)
    assert rep.summary["engine"] == "local-bounded" and rep.summary["m"] == 1


def test_options_object_and_keywords_agree():
    opt = MeasureOptions(m=1, max_len=20, companions=False)
    a = perflaw.measure(BUNDLED, options=opt).summary
    b = perflaw.measure(BUNDLED, m=1, max_len=20, companions=False).summary
    assert a["d_prime"] == b["d_prime"] and math.isnan(a["compression_ratio"])
    c = perflaw.measure(BUNDLED, options=opt, max_len=10).summary
    assert c["max_len"] == 10 and c["m"] == 1


@pytest.mark.parametrize(
    "kwargs,match",
    [
        ({"engine": "gpu"}, "engine must be one of memory, bounded, spark"),
        ({"partitions": 4}, "partitions not used by engine 'memory'"),
        ({"engine": "bounded", "spark_master": "local[2]"}, "spark_master not used by engine"),
        ({"spill_dir": "/tmp"}, "spill_dir needs memory_limit"),
        ({"compression_chunks": 0}, "compression_chunks must be a positive integer or None"),
        ({"max_len": True}, "max_len must be a positive integer"),
    ],
)
def test_bad_engine_arguments(kwargs, match):
    with pytest.raises(DataError, match=match):
        perflaw.measure(BUNDLED, **kwargs)


def test_unknown_option_is_a_type_error():
    with pytest.raises(TypeError, match="unknown measure option.*mx_len"):
        perflaw.measure(BUNDLED, mx_len=5)


def test_kernel_result_is_named():
    import numpy as np

    res = _kernels.sequence_measures(
        np.array([1, 2, 1, 2, 3]), np.zeros(1, np.int64), np.full(1, 5), 2
    )
    assert res._fields == ("phi_m", "phi_m1", "shannon", "distinct", "no_repeat", "lz")
    assert res.distinct[0] == 3 and not res.no_repeat[0]


def test_in_memory_frame_through_the_dispatcher():
    log = pl.DataFrame({"user_id": [1, 1, 1, 1], "item_id": [5, 6, 5, 6]})
    assert perflaw.measure(log, m=1).summary["users"] == 1


def test_per_user_columns_are_the_contract():
    from perflaw.quality.summary import PER_USER_COLUMNS

    rep = perflaw.measure(BUNDLED, max_len=20)
    assert rep.per_user.columns == ["user_id", *PER_USER_COLUMNS]
    with_ratio = perflaw.measure(BUNDLED, max_len=20, per_user_compression=True)
    assert with_ratio.per_user.columns == ["user_id", *PER_USER_COLUMNS, "compression_ratio"]
