"""Kernel results against the plain reference implementation and the spec's values."""

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from perflaw import DataError
from perflaw.quality import _kernels
from perflaw.quality.entropy import (
    actual_entropy,
    approximate_entropy,
    compression_ratio,
    shannon_entropy,
)
from tests.reference import measures as ref

# docs/science.md §2: (sequence, ApEn m=1, ApEn m=2), |.| form, r = 0
SPEC_APEN = [
    ([1, 2, 1, 2, 3], 0.0151993971, 0.0588915178),
    ([1, 1, 1, 1, 1, 1], 0.0, 0.0),
    ([1, 2, 3, 4, 5, 6], 0.1823215568, 0.2231435513),
    ([1, 2, 1, 2, 1, 2, 1, 2], 0.0102390759, 0.0102390759),
    ([5, 3, 5, 3, 9, 5, 3, 7, 5, 3], 0.3875441461, 0.4983477915),
    ([7], 0.0, 0.0),
    ([7, 8], 0.6931471806, 0.0),
    ([7, 8, 9], 0.4054651081, 0.6931471806),
]


@pytest.mark.parametrize("seq,m1,m2", SPEC_APEN)
def test_spec_reference_values(seq, m1, m2):
    assert approximate_entropy(seq, m=1) == pytest.approx(m1, abs=1e-10)
    assert approximate_entropy(seq, m=2) == pytest.approx(m2, abs=1e-10)


# docs/science.md §3 actual-entropy reference values that the Kontoyiannis definition reproduces.
# The spec also lists [1,2,1,2,3] -> 1.1495985089; no reading of the definition gives
# both that and the constant-sequence value (see docs/science.md §3), so the test
# pins the definition (below, against the brute-force reference) instead.
@pytest.mark.parametrize(
    "seq,value",
    [
        ([1, 1, 1, 1, 1, 1], 0.7167037877),
        ([1, 2, 3, 4, 5, 6], 1.7917594692),
        ([7], 0.0),
        ([7, 8], 0.6931471806),
    ],
)
def test_spec_actual_entropy(seq, value):
    assert actual_entropy(seq) == pytest.approx(value, abs=1e-10)


def test_actual_entropy_of_spec_disputed_sequence_follows_definition():
    # Lambda = [1, 1, 3, 2, 1]: [1,2] at i=2 occurs in x[:2], [1,2,3] does not
    assert actual_entropy([1, 2, 1, 2, 3]) == pytest.approx(math.log(5) / (8 / 5), abs=1e-12)


def test_no_repeat_closed_form():
    # no repeated window: |ApEn| = ln((N-m+1)/(N-m))
    for n in (3, 10, 57):
        for m in (1, 2, 3):
            if n > m:
                x = list(range(n))
                assert approximate_entropy(x, m) == pytest.approx(
                    math.log((n - m + 1) / (n - m)), abs=1e-13
                )


sequences = st.one_of(
    st.lists(st.integers(0, 3), max_size=60),  # small alphabet: many repeats
    st.lists(st.integers(-(2**62), 2**62), max_size=40),  # huge ids, negatives
    st.lists(st.integers(0, 1000), max_size=80),  # mostly distinct
    st.builds(
        lambda p, k: (p * k)[:70],
        st.lists(st.integers(0, 5), min_size=1, max_size=6),
        st.integers(1, 20),
    ),  # periodic
    st.integers(0, 30).map(lambda n: [4] * n),  # constant
)


@settings(max_examples=300, deadline=None)
@given(seq=sequences, m=st.integers(1, 4), signed=st.booleans())
def test_apen_matches_reference(seq, m, signed):
    assert approximate_entropy(seq, m, signed) == pytest.approx(ref.apen(seq, m, signed), abs=1e-12)


@settings(max_examples=100, deadline=None)
@given(
    seq=st.lists(st.text(alphabet="abc", min_size=1, max_size=2), max_size=40), m=st.integers(1, 3)
)
def test_apen_string_ids(seq, m):
    assert approximate_entropy(seq, m) == pytest.approx(ref.apen(seq, m), abs=1e-12)


@settings(max_examples=300, deadline=None)
@given(seq=sequences)
def test_shannon_and_lz_match_reference(seq):
    assert shannon_entropy(seq) == pytest.approx(ref.shannon_bits(seq), abs=1e-12)
    assert actual_entropy(seq) == pytest.approx(ref.actual_entropy(seq), abs=1e-12)


def test_lz_quadratic_branch_matches_reference():
    # long highly repetitive sequences take the O(n^2) branch
    rng = np.random.default_rng(0)
    for seq in ([3] * 150, list(rng.integers(0, 2, 200)), [1, 2, 3] * 60):
        assert actual_entropy(seq) == pytest.approx(ref.actual_entropy(list(seq)), abs=1e-12)


def test_batch_kernel_equals_single_calls():
    rng = np.random.default_rng(1)
    seqs = [
        list(rng.integers(0, k, n))
        for k, n in [(2, 50), (100, 0), (5, 1), (3, 2), (50, 300), (1, 40), (7, 7)] * 5
    ]
    values = np.concatenate([np.asarray(s, np.int64) for s in seqs])
    lengths = np.array([len(s) for s in seqs])
    ends = np.cumsum(lengths)
    starts = ends - lengths
    for n_chunks in (1, 3, len(seqs)):
        pm, pm1, sh, distinct, norep, lz = _kernels.sequence_measures(
            values, starts, ends, 2, want_lz=True, n_chunks=n_chunks
        )
        for s, seq in enumerate(seqs):
            assert abs(pm[s] - pm1[s]) == pytest.approx(ref.apen(seq, 2), abs=1e-12)
            assert sh[s] == pytest.approx(ref.shannon_bits(seq), abs=1e-12)
            assert lz[s] == pytest.approx(ref.actual_entropy(seq), abs=1e-12)
            assert distinct[s] == len(set(seq))


@settings(max_examples=60, deadline=None)
@given(seq=st.lists(st.integers(0, 30), min_size=8, max_size=60), m=st.integers(2, 4))
def test_signed_matches_antropy(seq, m):
    antropy = pytest.importorskip("antropy")
    ours = approximate_entropy(seq, m, signed=True)
    # (antropy needs order >= 2) antropy's app_entropy(order=m, tolerance=0) is Pincus'
    # Phi^m - Phi^{m+1} with
    # Chebyshev distance <= r: identical windows at r = 0
    theirs = antropy.app_entropy(np.asarray(seq, float), order=m, tolerance=0)
    assert ours == pytest.approx(theirs, abs=1e-12)


def test_compression_ratio_matches_reference():
    seq = [5, 3, 5, 3, 9, 5, 3, 7, 5, 3] * 20
    assert compression_ratio(seq) == pytest.approx(ref.compression_ratio(seq))
    assert math.isnan(compression_ratio([]))


@pytest.mark.parametrize("m", [0, -1, 1.5, True, "2"])
def test_bad_m(m):
    with pytest.raises(DataError, match="m \\(window length\\)"):
        approximate_entropy([1, 2, 3], m=m)


def test_nan_ids_rejected():
    with pytest.raises(DataError, match="NaN"):
        approximate_entropy([1.0, float("nan"), 2.0])


def test_empty_and_short():
    assert approximate_entropy([]) == 0.0
    assert approximate_entropy([1, 2], m=2) == 0.0
    assert actual_entropy([]) == 0.0
