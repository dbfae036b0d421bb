"""Dataset-level report: D′ policies, truncation, companions — against the references."""

import math

import numpy as np
import pandas as pd
import polars as pl
import pytest

from perflaw import DataError
from perflaw.quality.report import log_compression_ratio, measure
from tests.reference import measures as ref


def _log(seqs):
    return pl.DataFrame(
        {
            "user_id": [u for u, s in enumerate(seqs) for _ in s],
            "item_id": [v for s in seqs for v in s],
            "timestamp": [t for s in seqs for t in range(len(s))],
        }
    )


SEQS = [[1, 2, 1, 2, 3], [4, 4, 4, 4], [5, 6, 7, 8, 9, 10, 11], [9], [1, 2, 1, 2, 1, 2, 7]]


@pytest.mark.parametrize("max_len", [None, 3, 5])
@pytest.mark.parametrize("m", [1, 2])
def test_per_user_and_dprime_against_reference(m, max_len):
    rep = measure(_log(SEQS), m=m, max_len=max_len)
    cut = [s if max_len is None else s[-max_len:] for s in SEQS]
    apens = [ref.apen(s, m) for s in cut]
    np.testing.assert_allclose(rep.per_user["apen"].to_numpy(), apens, atol=1e-12)
    d_user = sum(len(s) / a for s, a in zip(cut, apens) if a > 0)
    assert rep.summary["d_prime"] == pytest.approx(d_user, rel=1e-12)
    tokens = sum(len(s) for s in cut)
    assert rep.summary["tokens"] == tokens
    assert rep.summary["d_prime_dataset"] == pytest.approx(tokens / np.mean(apens), rel=1e-12)
    assert rep.summary["zero_apen_users"] == sum(a == 0 for a in apens)
    assert rep.summary["zero_apen_tokens"] == sum(len(s) for s, a in zip(cut, apens) if a == 0)
    np.testing.assert_allclose(
        rep.per_user["actual_entropy"].to_numpy(), [ref.actual_entropy(s) for s in cut], atol=1e-12
    )
    np.testing.assert_allclose(
        rep.per_user["shannon_entropy"].to_numpy(), [ref.shannon_bits(s) for s in cut], atol=1e-12
    )
    flat = [v for s in cut for v in s]
    assert rep.summary["shannon_entropy"] == pytest.approx(ref.shannon_bits(flat), abs=1e-12)
    assert rep.summary["interactions"] == sum(len(s) for s in SEQS)


def test_zero_apen_never_inf_or_nan():
    rep = measure(_log([[3, 3, 3], [1], [4, 4, 4, 4, 4]]))
    assert rep.summary["zero_apen_users"] == 3
    assert rep.summary["d_prime"] == 0.0
    assert rep.per_user["apen_prime"].null_count() == 3
    assert math.isnan(rep.summary["d_prime_dataset"])
    assert any("excluded from D′" in n for n in rep.notes)


def test_dataset_mode_selects_dataset_value():
    rep = measure(_log(SEQS), dprime="dataset")
    assert rep.summary["d_prime"] == rep.summary["d_prime_dataset"]
    assert rep.summary["d_prime_mode"] == "dataset"


def test_signed_mode_excludes_negative():
    rep = measure(_log(SEQS), signed=True)
    signed = [ref.apen(s, 2, signed=True) for s in SEQS]
    np.testing.assert_allclose(rep.per_user["apen"].to_numpy(), signed, atol=1e-12)
    assert rep.summary["excluded_users"] == sum(a <= 0 for a in signed)
    assert rep.summary["d_prime"] == pytest.approx(
        sum(len(s) / a for s, a in zip(SEQS, signed) if a > 0)
    )


def test_no_repeat_note_and_share():
    rep = measure(_log([list(range(i, i + 10)) for i in range(5)]))
    assert rep.summary["no_repeat_share"] == 1.0
    assert any("function of length alone" in n for n in rep.notes)
    rep = measure(_log([[1, 1, 1, 1]] * 3))
    assert rep.summary["no_repeat_share"] == 0.0
    assert not any("length alone" in n for n in rep.notes)


def test_pandas_input_and_string_ids_equal_int_ids():
    seqs = [[1, 2, 1, 3], [4, 5, 4, 5, 4]]
    as_int = measure(_log(seqs))
    as_str = _log(seqs).with_columns(pl.col("item_id").cast(pl.String).str.replace("^", "i"))
    as_str = measure(as_str.to_pandas())
    for key in ("apen_mean", "d_prime", "shannon_entropy", "actual_entropy"):
        assert as_str.summary[key] == pytest.approx(as_int.summary[key], abs=1e-12)


def test_duplicated_rows_counted_and_dropped():
    log = pl.DataFrame(
        {"user_id": [1, 1, 1, 1], "item_id": [1, 1, 2, 3], "timestamp": [1, 1, 2, 3]}
    )
    assert measure(log).summary["duplicate_rows"] == 1
    assert measure(log).summary["tokens"] == 4
    assert measure(log, drop_duplicates=True).summary["tokens"] == 3


def test_log_compression_ratio_chunks():
    tokens = np.arange(25_000)
    expected = np.mean([ref.compression_ratio(tokens[i : i + 10_000]) for i in (0, 10_000)])
    ratio, se, used, total = log_compression_ratio(tokens)
    assert ratio == pytest.approx(expected) and se == 0 and (used, total) == (2, 2)
    short = np.arange(50)
    assert log_compression_ratio(short)[0] == pytest.approx(ref.compression_ratio(short))


def test_log_compression_ratio_sampled():
    rng = np.random.default_rng(0)
    tokens = rng.integers(0, 500, 10_000 * 30)
    exact = log_compression_ratio(tokens)
    est, se, used, total = log_compression_ratio(tokens, max_chunks=10)
    assert (used, total) == (10, 30) and se > 0
    assert abs(est - exact[0]) < 5 * se + 1e-9
    rep = measure(
        pl.DataFrame({"user_id": np.repeat(np.arange(300), 1000), "item_id": tokens}),
        compression_chunks=10,
    )
    assert rep.summary["compression_chunks"] == "10/30"
    assert any("estimated from 10 of 30 chunks" in n for n in rep.notes)


def test_per_user_compression_ratio():
    assert "compression_ratio" not in measure(_log(SEQS)).per_user.columns
    rep = measure(_log(SEQS), per_user_compression=True)
    expected = [ref.compression_ratio(s) for s in SEQS]
    np.testing.assert_allclose(rep.per_user["compression_ratio"].to_numpy(), expected)


@pytest.mark.parametrize(
    "kwargs,match",
    [
        ({"m": 0}, "m \\(window length\\)"),
        ({"max_len": 0}, "max_len"),
        ({"dprime": "global"}, "dprime"),
    ],
)
def test_bad_arguments(kwargs, match):
    with pytest.raises(DataError, match=match):
        measure(_log(SEQS), **kwargs)


def test_bad_source_type():
    with pytest.raises(DataError, match="cannot measure a list"):
        measure([1, 2, 3])
    with pytest.raises(DataError, match="no rows"):
        measure(pd.DataFrame({"user_id": [], "item_id": []}))


@pytest.mark.parametrize("name", ["ml-100k.parquet", "lastfm-hetrec.parquet"])
def test_real_logs_against_reference(shared_data, name):
    """Every user of two real logs at max-len 50, against the plain reference."""
    from perflaw.io import read_log

    frame = read_log(shared_data / name)
    rep = measure(frame, max_len=50)
    seqs = (
        frame.with_row_index("row")
        .sort(["user", "time", "row"])
        .group_by("user", maintain_order=True)
        .agg(pl.col("item").tail(50))
    )
    assert seqs["user"].to_list() == rep.per_user["user_id"].to_list()
    expected = [ref.apen(s, 2) for s in seqs["item"].to_list()]
    np.testing.assert_allclose(rep.per_user["apen"].to_numpy(), expected, atol=1e-12)
    tokens = sum(len(s) for s in seqs["item"].to_list())
    assert rep.summary["tokens"] == tokens
    assert rep.summary["d_prime"] == pytest.approx(
        sum(len(s) / a for s, a in zip(seqs["item"].to_list(), expected) if a > 0), rel=1e-12
    )


@pytest.mark.parametrize("m", [1, 2, 3])
def test_users_too_short_for_a_window_are_not_flagged_as_repeating(m):
    # a sequence with no m-window repeats none; it used to be flagged as repeating
    seqs = [[7], [1, 2][:m], [3, 3, 3, 3, 3], [4, 5, 6, 7, 8]]
    rep = measure(_log(seqs), m=m)
    flags = dict(zip(rep.per_user["user_id"].to_list(), rep.per_user["no_repeat_window"]))
    assert flags[0] is True
    assert flags[1] is True  # [1] or [1, 2]: no repeated window at any m
    assert flags[2] is False
    assert flags[3] is True
    assert rep.summary["repeat_users"] == 1
