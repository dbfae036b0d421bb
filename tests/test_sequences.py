"""Grouping rows into ordered sequences."""

import numpy as np
import polars as pl
import pytest

from perflaw import DataError
from perflaw.sequences import Sequences


def _seqs(s):
    return [s.values[a:b].tolist() for a, b in zip(s.offsets[:-1], s.offsets[1:])]


def test_unsorted_time_and_ties_keep_file_order():
    frame = pl.DataFrame(
        {"user": [2, 1, 1, 1, 2, 1], "item": [20, 13, 11, 12, 21, 10], "time": [5, 3, 2, 2, 4, 1]}
    )
    s = Sequences.from_frame(frame)
    assert s.users.to_list() == [1, 2]
    # user 1: t=1 ->10, t=2 tie -> 11 then 12 (file order), t=3 -> 13
    assert _seqs(s) == [[10, 11, 12, 13], [21, 20]]


def test_without_time_file_order_is_sequence_order():
    frame = pl.DataFrame({"user": ["b", "a", "b"], "item": ["x", "y", "z"]})
    s = Sequences.from_frame(frame)
    assert s.users.to_list() == ["a", "b"]
    assert len(s) == 2 and s.lengths.tolist() == [1, 2]
    assert s.n_items == 3


def test_duplicates_counted():
    frame = pl.DataFrame({"user": [1, 1, 1, 1], "item": [5, 5, 6, 5], "time": [1, 1, 1, 2]})
    assert Sequences.from_frame(frame).duplicate_rows == 1


def test_window_max_len():
    s = Sequences.from_lists([[1, 2, 3, 4], [5], []])
    starts, ends = s.window(2)
    assert (ends - starts).tolist() == [2, 1, 0]
    assert s.values[starts[0] : ends[0]].tolist() == s.values[2:4].tolist()
    with pytest.raises(DataError, match="max-len"):
        s.window(0)


def test_already_sorted_input_is_not_reordered():
    rng = np.random.default_rng(0)
    frame = pl.DataFrame(
        {
            "user": np.repeat(np.arange(50), 20),
            "item": rng.integers(0, 30, 1000),
            "time": np.tile(np.arange(20), 50),
        }
    )
    s = Sequences.from_frame(frame)
    assert s.values.tolist() == frame["item"].to_list()
