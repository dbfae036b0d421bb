"""The runs layer says what a runs table cannot identify (one run, one value of an axis)
and refuses metric sizes a fit cannot handle; the fitter and the CLI call these."""

from __future__ import annotations

import io
import json

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


# --- the fitter's entry and `perflaw fit` (every output format) call the check ---------


def _grid(layers, widths):
    N, d = np.meshgrid(layers, widths)
    y = 0.1 + 0.01 * np.log(N) + 0.02 * np.log(d) - 0.0003 * d
    return pd.DataFrame({"layers": N.ravel(), "d_emb": d.ravel(), "ndcg@10": y.ravel()})


def test_the_fitter_refuses_one_configuration_and_warns_on_one_value():
    from perflaw.fitting.fitter import LawFitter

    X = pd.DataFrame({"layers": [2.0, 2.0], "d_emb": [8.0, 8.0]})
    with pytest.raises(DataError, match=r"one configuration \(layers 2, d_emb 8\)"):
        LawFitter(seed=0).fit(X, [0.1, 0.11])
    t = _grid([2], [8, 16, 32, 64, 128, 256])
    with pytest.warns(RunsTableWarning, match=r"layers has one value \(2\)"):
        f = LawFitter(seed=0).fit(t[["layers", "d_emb"]], t["ndcg@10"].to_numpy())
    assert any("layers has one value" in w for w in f.warnings_)
    assert "layers has one value" in f.summary_text()


def _cli(*args):
    from click.testing import CliRunner

    from perflaw.cli import main

    return CliRunner().invoke(main, ["fit", *map(str, args), "--no-save"])


@pytest.mark.parametrize("fmt", [[], ["--json"], ["--csv"]])
def test_fit_refuses_a_single_run_in_one_line(tmp_path, fmt):
    p = _table(tmp_path, [2, 2], [8, 8], [0.1, 0.1])  # one run, recorded twice
    r = _cli(p, *fmt)
    assert r.exit_code != 0
    assert "a law needs runs at two configurations" in r.output
    assert "Traceback" not in r.output


def test_fit_refuses_a_group_with_one_configuration(tmp_path):
    t = _grid([1, 2, 4], [16, 32])
    t["dataset"] = "a"
    t = pd.concat(
        [t, pd.DataFrame({"layers": [2], "d_emb": [16], "ndcg@10": [0.2], "dataset": ["b"]})]
    )
    p = tmp_path / "g.csv"
    t.to_csv(p, index=False)
    r = _cli(p, "--group-by", "dataset")
    assert r.exit_code != 0 and "group dataset=b" in r.output
    assert "one run (layers 2, d_emb 16)" in r.output


@pytest.mark.parametrize("fmt", ["table", "json", "csv"])
def test_one_value_of_an_axis_and_repeated_rows_reach_every_format(tmp_path, fmt):
    t = _grid([2], [8, 16, 32, 64, 128, 256])
    t = pd.concat([t, t.iloc[:1]])  # one row recorded twice
    p = tmp_path / "one_depth.csv"
    t.to_csv(p, index=False)
    r = _cli(p, "--form", "p2", *([] if fmt == "table" else [f"--{fmt}"]))
    assert r.exit_code == 0, r.output
    out = r.stdout
    if fmt == "json":
        found = json.loads(out)["warnings"]
    elif fmt == "csv":
        found = [pd.read_csv(io.StringIO(out))["warnings"].iloc[0]]
    else:
        found = [out]
    text = " | ".join(found)
    assert "layers has one value (2)" in text
    assert "repeat an earlier row exactly" in text


def test_fit_names_seed_replicates_of_one_configuration_as_such(tmp_path):
    p = tmp_path / "seeds.csv"
    pd.DataFrame(
        {"layers": [2] * 3, "d_emb": [8] * 3, "seed": [0, 1, 2], "ndcg@10": [0.1, 0.11, 0.12]}
    ).to_csv(p, index=False)
    r = _cli(p, "--json")
    assert r.exit_code != 0
    assert "every run is at one configuration (layers 2, d_emb 8)" in r.output


def test_power_law_fits_refuse_one_run_and_carry_repeats_in_json(tmp_path):
    one = tmp_path / "one.csv"
    pd.DataFrame({"x": [1e6], "loss": [3.0]}).to_csv(one, index=False)
    r = _cli(one, "--law", "power", "--x-col", "x", "--metric", "loss")
    assert r.exit_code != 0 and "one run (x 1e+06)" in r.output
    rep = tmp_path / "rep.csv"
    pd.DataFrame(
        {"x": [1e6, 2e6, 4e6, 8e6, 1.6e7, 1.6e7], "loss": [3.0, 2.8, 2.65, 2.55, 2.5, 2.5]}
    ).to_csv(rep, index=False)
    r = _cli(rep, "--law", "power", "--x-col", "x", "--metric", "loss", "--json")
    assert r.exit_code == 0, r.output
    assert any("repeat an earlier row exactly" in w for w in json.loads(r.stdout)["warnings"])
