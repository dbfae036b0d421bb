"""The runs layer says what a runs table cannot identify (one run, one value of an axis)
and refuses metric sizes a fit cannot handle; the fitter and the CLI call these."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from perflaw.errors import DataError
from perflaw.runs import (
    RunsTableWarning,
    check_identified,
    identification_problems,
    read_runs,
)


def _table(tmp_path, layers, d_emb, y, name="runs.csv"):
    p = tmp_path / name
    pd.DataFrame({"layers": layers, "d_emb": d_emb, "ndcg@10": y}).to_csv(p, index=False)
    return p


def test_one_value_of_an_axis_is_warned(tmp_path):
    p = _table(tmp_path, [2, 2, 2, 2], [8, 16, 32, 64], [0.1, 0.12, 0.13, 0.135])
    runs = read_runs(p, metric="ndcg@10")
    with pytest.warns(RunsTableWarning, match=r"layers has one value \(2\)"):
        check_identified(runs, ["layers", "d_emb"])
    refusals, notes = identification_problems(runs, ["d_emb"])
    assert refusals == [] and notes == []  # a law of d_emb alone is identified


@pytest.mark.parametrize(
    "layers, d_emb, y",
    [([2], [8], [0.1]), ([2, 2], [8, 8], [0.1, 0.11])],  # one run; two seeds of one config
)
def test_one_run_or_one_configuration_is_refused(tmp_path, layers, d_emb, y):
    runs = read_runs(_table(tmp_path, layers, d_emb, y), metric="ndcg@10")
    with pytest.raises(DataError, match="a law needs runs at two configurations"):
        check_identified(runs, ["layers", "d_emb"])


def test_every_group_is_checked(tmp_path):
    p = tmp_path / "g.csv"
    pd.DataFrame(
        {
            "dataset": ["a"] * 3 + ["b"],
            "layers": [1, 2, 4, 1],
            "d_emb": [8, 16, 32, 8],
            "ndcg@10": [0.1, 0.2, 0.3, 0.2],
        }
    ).to_csv(p, index=False)
    runs = read_runs(p, metric="ndcg@10", group_by="dataset")
    refusals, _ = identification_problems(runs, ["layers", "d_emb"])
    assert len(refusals) == 1 and "group dataset=b" in refusals[0]


@pytest.mark.parametrize("bad", [1e-311, 1e307, -1e200])
def test_metric_sizes_a_fit_cannot_handle_are_refused(tmp_path, bad):
    p = _table(tmp_path, [1, 2, 4], [8, 16, 32], [0.1, bad, 0.3])
    with pytest.raises(DataError, match=r"row 2\): values must be 0 or between"):
        read_runs(p, metric="ndcg@10")
    ok = _table(tmp_path, [1, 2, 4], [8, 16, 32], [0.0, 1e-12, 3e5], name="ok.csv")
    assert np.allclose(read_runs(ok, metric="ndcg@10").y, [0.0, 1e-12, 3e5])
