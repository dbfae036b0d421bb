"""`perflaw fit`, `predict`, `recommend-config`, `plot` through click's CliRunner."""

import json
import shutil
from pathlib import Path

import pandas as pd
import pytest
from click.testing import CliRunner

from perflaw.cli import main

BUNDLED = Path(__file__).resolve().parents[1] / "data" / "performance_law_ml1m_runs.csv"


@pytest.fixture
def cwd(tmp_path, monkeypatch):
    shutil.copy(BUNDLED, tmp_path / "runs.csv")
    monkeypatch.chdir(tmp_path)
    return tmp_path


def run(*args):
    return CliRunner().invoke(main, list(args))


def test_fit_warns_when_groups_are_mixed(cwd):
    res = run("fit", "-m", "hr@10", "--no-save")
    assert res.exit_code == 0, res.output
    assert "warning: column(s) panel, max_seq_len vary in runs.csv" in res.output
    res = run("fit", "-m", "hr@10", "--no-save", "--where", "panel==1")
    assert "warning" not in res.stderr


def test_fit_defaults_read_runs_csv_and_write_law(cwd):
    res = run("fit", "--metric", "NDCG@10", "--where", "panel==0", "--json", "--form", "free")
    assert res.exit_code == 0, res.output
    obj = json.loads(res.stdout)
    assert obj["law"] == "performance" and obj["metric"] == "ndcg@10" and obj["n_points"] == 24
    assert obj["form"] == "free" and isinstance(obj["warnings"], list)
    assert set(obj["params"]) == {
        "alpha_N",
        "beta_N",
        "gamma_N",
        "alpha_d",
        "beta_d",
        "gamma_d",
        "b",
    }
    assert obj["r2"] > 0.85 and "ci" not in obj
    assert obj["saved_to"] == "perflaw-law.json"
    assert (cwd / "perflaw-law.json").exists()
    assert "saved the law to perflaw-law.json" in res.stderr
    # predict and recommend-config default to that file
    res = run("predict", "--layers", "8,16", "--d-emb", "64", "--json")
    assert res.exit_code == 0, res.output
    rows = json.loads(res.stdout)
    assert [(r["layers"], r["d_emb"]) for r in rows] == [(8, 64), (16, 64)]
    assert all(r["lower"] <= r["prediction"] <= r["upper"] for r in rows)
    res = run("recommend-config", "--budget", "20M")
    assert res.exit_code == 0, res.output
    assert "rank" in res.stdout and "does not bind" in res.stdout
    # a total budget without the item table says what it leaves out
    assert "note: the total count has no item table (n_items 0)" in res.stdout
    res = run("recommend-config", "--budget", "20M", "--n-items", "3416")
    assert res.exit_code == 0, res.output
    assert "no item table" not in res.stdout
    res = run("recommend-config", "--budget", "20M", "--count", "non-embedding")
    assert res.exit_code == 0 and "no item table" not in res.stdout


def test_fit_group_by_json_and_bootstrap(cwd):
    res = run(
        "fit",
        "-m",
        "hr@10",
        "--group-by",
        "panel",
        "--bootstrap",
        "20",
        "--json",
        "--out",
        "law.json",
        "--form",
        "free",
        "--transform",
        "none",
    )
    assert res.exit_code == 0, res.output
    obj = json.loads(res.stdout)
    assert [g["panel"] for g in obj["groups"]] == [0, 1, 2]
    for g in obj["groups"]:
        assert set(g["ci"]) == set(g["params"])
        lo, hi = g["ci"]["b"]
        assert lo <= hi
    res = run(
        "predict",
        "--law",
        "law.json",
        "--layers",
        "12",
        "--d-emb",
        "64",
        "--group",
        "panel=1",
        "--json",
    )
    assert res.exit_code == 0, res.output
    rows = json.loads(res.stdout)
    assert len(rows) == 1 and rows[0]["panel"] == 1 and rows[0]["interval"] == "backtest-calibrated"
    res = run(
        "recommend-config",
        "--law",
        "law.json",
        "--budget",
        "300k",
        "--n-items",
        "3416",
        "--max-len",
        "100",
        "--group",
        "panel=0",
        "--json",
    )
    assert res.exit_code == 0, res.output
    rec = json.loads(res.stdout)
    assert all(t["params"] <= 300_000 for t in rec["top"])
    assert rec["budget_binds"] is True and rec["top"][0]["p_best"] is not None


def test_fit_table_holdout_and_csv(cwd):
    res = run(
        "fit", "-m", "hr@10", "--where", "panel==2", "--holdout", "layers>=24", "--loo", "--no-save"
    )
    assert res.exit_code == 0, res.output
    assert "holdout 'layers>=24': 8 runs" in res.stdout and "leave-one-out" in res.stdout
    assert not (cwd / "perflaw-law.json").exists()
    res = run("fit", "-m", "hr@10", "--group-by", "panel", "--csv", "--no-save")
    df = pd.read_csv(pd.io.common.StringIO(res.stdout))
    assert df.panel.tolist() == [0, 1, 2] and (df.r2 > 0.85).all()


def test_joint_fit_free(cwd):
    res = run("fit", "-m", "ndcg@10", "--group-by", "panel", "--joint", "free", "--json")
    assert res.exit_code == 0, res.output
    obj = json.loads(res.stdout)
    assert obj["n_points"] == 72 and "b[panel=2]" in obj["params"]
    # backtested as it is, against carry-forward within each panel
    assert obj["form"] == "joint" and obj["selection"]["fixed"]
    assert obj["selection"]["reason"].startswith("joint: the joint fit asked for (data_term=free")
    assert {r["form"] for r in obj["selection"]["scores"]} == {"joint", "carry"}
    assert obj["calibration"]["axis"] == "layers"
    res = run("predict", "--layers", "8", "--d-emb", "64", "--json")
    rows = json.loads(res.stdout)
    assert [r["group"] for r in rows] == ["panel=0", "panel=1", "panel=2"]
    assert {r["interval"] for r in rows} == {"backtest-calibrated"}
    res = run("fit", "-m", "ndcg@10", "--group-by", "panel", "--joint", "free", "--no-save")
    assert "chosen: joint: the joint fit asked for" in res.stdout
    assert "vs carry-forward on the same runs: joint" in res.stdout


def test_fit_plot_and_plot_command(cwd):
    res = run("fit", "-m", "hr@10", "--group-by", "panel", "--plot", "fit.png")
    assert res.exit_code == 0, res.output
    assert (cwd / "fit.png").stat().st_size > 10_000
    for kind in ("fit", "residuals"):
        res = run("plot", "--kind", kind, "--group", "panel=0", "--out", f"{kind}.png")
        assert res.exit_code == 0, res.output
        assert (cwd / f"{kind}.png").exists()
    res = run("recommend-config", "--budget", "1M", "--group", "panel=0", "--plot", "front.png")
    assert res.exit_code == 0, res.output
    assert (cwd / "front.png").exists()


def test_fit_backtest_axis_chooses_and_calibrates_along_d_emb(cwd):
    # --backtest-axis: the form is chosen (and the intervals calibrated) by fitting the
    # narrower widths and predicting the wider ones, not the shallower depths
    panel = pd.read_csv("runs.csv").query("panel == 0")
    by_axis = {}
    for axis in ("layers", "d_emb"):
        res = run(
            "fit",
            "-m",
            "ndcg@10",
            "--where",
            "panel==0",
            "--json",
            "--no-save",
            "--backtest-axis",
            axis,
        )
        assert res.exit_code == 0, res.output
        by_axis[axis] = json.loads(res.stdout)["calibration"]
        assert by_axis[axis]["axis"] == axis
        assert by_axis[axis]["axis_max"] == panel[axis].max()
    assert by_axis["layers"]["n"] != by_axis["d_emb"]["n"]  # other origins, other runs
    res = run(
        "fit", "-m", "ndcg@10", "--where", "panel==0", "--no-save", "--backtest-axis", "d_emb"
    )
    assert f"widen with the doublings past d_emb {panel['d_emb'].max():g}" in res.stdout
    res = run("fit", "-m", "ndcg@10", "--backtest-axis", "width")
    assert res.exit_code == 2 and "'width' is not one of 'auto', 'layers', 'd_emb'" in res.output


def _one_line_error(res, pattern):
    assert res.exit_code == 1, res.output
    lines = [l for l in res.output.strip().splitlines() if l]
    assert len(lines) == 1, res.output
    assert lines[0].startswith("Error: ")
    import re

    assert re.search(pattern, lines[0]), lines[0]


def test_errors_are_one_line(cwd):
    pd.read_csv(BUNDLED).head(1).to_csv("one.csv", index=False)
    _one_line_error(
        run("fit", "one.csv", "-m", "hr@10", "--form", "free"),
        "runs table 'one.csv': one run \\(layers 4, d_emb 25\\): a law needs runs at two "
        "configurations at least",
    )
    df = pd.read_csv(BUNDLED)
    df.loc[3, "hr@10"] = None
    df.to_csv("nan.csv", index=False)
    _one_line_error(run("fit", "nan.csv", "-m", "hr@10"), "'hr@10' has 1 missing value")
    _one_line_error(run("fit", "-m", "hr@10", "--law", "gompertz"), "unknown law 'gompertz'")
    _one_line_error(run("fit", "-m", "mrr@10"), "metric 'mrr@10' not found")
    _one_line_error(run("fit"), "choose a metric with --metric")
    _one_line_error(run("fit", "missing.csv", "-m", "hr@10"), "not found")
    _one_line_error(
        run("predict", "--layers", "8", "--d-emb", "64"), "law file 'perflaw-law.json' not found"
    )
    assert run("fit", "-m", "hr@10", "--where", "panel==0").exit_code == 0
    doc = json.loads(Path("perflaw-law.json").read_text())
    doc["perflaw_version"] = "9.0.0"
    Path("old.json").write_text(json.dumps(doc))
    _one_line_error(
        run("predict", "--law", "old.json", "--layers", "8", "--d-emb", "64"),
        "written by perflaw 9.0.0",
    )
    _one_line_error(
        run("recommend-config", "--budget", "10k", "--n-items", "3416"),
        "budget 10,000 is below every configuration",
    )
    _one_line_error(run("recommend-config", "--budget", "lots"), "cannot parse budget 'lots'")
    _one_line_error(run("predict", "--layers", "8,x", "--d-emb", "64"), "cannot parse --layers")
    _one_line_error(
        run("fit", "-m", "hr@10", "--joint", "dprime", "--group-by", "panel"), "needs D′"
    )


def test_extrapolation_warning_on_stderr(cwd):
    assert run("fit", "-m", "hr@10", "--where", "panel==0").exit_code == 0
    res = run("predict", "--layers", "64", "--d-emb", "64")
    assert res.exit_code == 0
    assert "warning: predicting outside the fitted range of layers (4 to 32): 64" in res.stderr


def test_joint_dprime_and_group_bootstrap(cwd):
    df = pd.read_csv(BUNDLED)
    # a synthetic D′ per panel (sequence length): five levels needed to identify the factor
    extra = df[df.panel == 0].assign(panel=3, max_seq_len=50)
    extra2 = df[df.panel == 1].assign(panel=4, max_seq_len=25)
    df = pd.concat([df, extra, extra2], ignore_index=True)
    df["d_prime"] = df.max_seq_len * 1e4
    df.to_csv("runs_dp.csv", index=False)
    res = run(
        "fit",
        "runs_dp.csv",
        "-m",
        "hr@10",
        "--group-by",
        "panel",
        "--joint",
        "dprime",
        "--d-prime-col",
        "d_prime",
        "--json",
        "--out",
        "dp.json",
    )
    assert res.exit_code == 0, res.output
    assert "gamma_D" in json.loads(res.stdout)["params"]
    _one_line_error(
        run("predict", "--law", "dp.json", "--layers", "8", "--d-emb", "64"),
        "has a D′ term: give --d-prime",
    )
    res = run(
        "predict",
        "--law",
        "dp.json",
        "--layers",
        "8",
        "--d-emb",
        "64",
        "--d-prime",
        "1e6,2e6",
        "--json",
    )
    assert res.exit_code == 0, res.output
    assert [r["d_prime"] for r in json.loads(res.stdout)] == [1e6, 2e6]
    res = run(
        "fit",
        "-m",
        "hr@10",
        "--group-by",
        "panel",
        "--joint",
        "free",
        "--bootstrap",
        "8",
        "--bootstrap-by",
        "group",
        "--json",
        "--no-save",
    )
    assert res.exit_code == 0, res.output
    assert "b[panel=1]" in json.loads(res.stdout)["ci"]
    _one_line_error(
        run("fit", "-m", "hr@10", "--bootstrap", "5", "--bootstrap-by", "group"), "needs --group-by"
    )


def test_recommend_config_accepts_every_counted_architecture(tmp_path):
    from click.testing import CliRunner

    from perflaw.cli import main
    from perflaw.decide.params import ARCHITECTURES

    runner = CliRunner()
    law = tmp_path / "law.json"
    res = runner.invoke(
        main,
        [
            "fit",
            "data/performance_law_ml1m_runs.csv",
            "--metric",
            "ndcg@10",
            "--where",
            "max_seq_len==100",
            "--out",
            str(law),
        ],
    )
    assert res.exit_code == 0, res.output
    for arch in ARCHITECTURES:
        res = runner.invoke(
            main,
            [
                "recommend-config",
                "--law",
                str(law),
                "--budget",
                "2M",
                "--arch",
                arch,
                "--n-items",
                "3416",
                "--max-len",
                "100",
                "--json",
            ],
        )
        assert res.exit_code == 0, (arch, res.output)


def test_a_scan_in_width_only_gets_a_one_factor_law(tmp_path, monkeypatch):
    # one depth, six widths, three seeds: before, no form but carry-forward could be
    # fitted ("layers has 1 distinct value"); now the law keeps the d factor alone
    import numpy as np

    monkeypatch.chdir(tmp_path)
    rng = np.random.default_rng(4)
    d = np.repeat([16.0, 32, 64, 128, 256, 512], 3)
    w4 = -np.log(2.0) / np.log(160.0)
    z = 0.5 * (-(d ** (-w4)) / 2 - w4 * np.log(d)) - 1.2 + rng.normal(0, 0.002, len(d))
    runs = pd.DataFrame(
        {"layers": 2, "d_emb": d, "seed": np.tile([0, 1, 2], 6), "ndcg@10": 1 / (1 + np.exp(-z))}
    )
    runs.to_csv("scan.csv", index=False)
    res = run("fit", "scan.csv", "-m", "ndcg@10", "--no-save")
    assert res.exit_code == 0, res.output
    assert "in the backtest along d_emb" in res.stdout  # auto axis: the one that varies
    res = run("fit", "scan.csv", "-m", "ndcg@10", "--form", "p2", "--json")
    assert res.exit_code == 0, res.output
    obj = json.loads(res.stdout)
    assert set(obj["params"]) == {"w2", "w4", "b"}
    assert any("held at 2" in n for n in obj["notes"])
    res = run("recommend-config", "--layers", "1,2,4", "--json")
    assert res.exit_code == 0, res.output
    rec = json.loads(res.stdout)
    assert rec["recommendation"]["layers"] == 2  # depth was never varied: never changed
    assert not any(c["supported"] for c in rec["top"] if c["layers"] != 2)


def test_a_scan_at_two_depths_pools_the_widths_with_a_depth_offset(tmp_path, monkeypatch):
    # two depths at six widths, two seeds: the N factor cannot be identified from two
    # values (p2 and free were "not fitted").  The law fits one width curve with an
    # intercept per depth instead, backtested like any form; --group-by layers (which
    # crashed averaging the seeds: layers was both a group key and an input) still fits
    # one width law per depth.
    import numpy as np

    monkeypatch.chdir(tmp_path)
    rng = np.random.default_rng(5)
    d = np.tile(np.repeat([16.0, 32, 64, 128, 256, 512], 2), 2)
    layers = np.repeat([1.0, 2.0], 12)
    w4 = -np.log(2.0) / np.log(160.0)
    z = 0.5 * (-(d ** (-w4)) / 2 - w4 * np.log(d)) - 1.2 - 0.02 * (layers - 1)
    z = z + rng.normal(0, 0.002, len(d))
    runs = pd.DataFrame(
        {"layers": layers, "d_emb": d, "seed": np.tile([0, 1], 12), "ndcg@10": 1 / (1 + np.exp(-z))}
    )
    runs.to_csv("scan.csv", index=False)
    res = run("fit", "scan.csv", "-m", "ndcg@10", "--no-save")
    assert res.exit_code == 0, res.output
    assert not any("not fitted:" in x and "p2" in x for x in res.stdout.splitlines())
    obj = json.loads(run("fit", "scan.csv", "-m", "ndcg@10", "--no-save", "--json").stdout)
    assert not {"p2", "free"} & set(obj["selection"].get("not_fitted") or {})
    judged = {r["form"]: r for r in obj["selection"]["scores"]}
    assert judged["p2"]["n_common"] >= 2  # compared with carry-forward in the backtest
    res = run("fit", "scan.csv", "-m", "ndcg@10", "--no-save", "--form", "p2", "--json")
    obj = json.loads(res.stdout)
    assert set(obj["params"]) == {"w2", "w4", "b[layers=1]", "b[layers=2]"}
    offset = obj["params"]["b[layers=2]"] - obj["params"]["b[layers=1]"]
    assert offset == pytest.approx(-0.02, abs=0.006)  # the true depth offset
    res = run("fit", "scan.csv", "-m", "ndcg@10", "--no-save", "--form", "p2")
    assert "layers: an intercept per value (1, 2) on one shared curve" in res.output
    res = run("fit", "scan.csv", "-m", "ndcg@10", "--form", "p2", "--out", "pooled.json")
    res = run("predict", "--law", "pooled.json", "--layers", "1,2,3", "--d-emb", "100")
    assert res.exit_code == 0, res.output
    assert "layers 3 not predicted: the law has a term per layers value" in res.output
    res = run("predict", "--law", "pooled.json", "--layers", "3", "--d-emb", "100")
    assert res.exit_code != 0 and "for layers 1, 2 only" in res.output
    res = run("recommend-config", "--law", "pooled.json", "--json")
    assert res.exit_code == 0, res.output
    assert {r["layers"] for r in json.loads(res.stdout)["top"]} <= {1, 2}
    # --group names one depth's term
    res = run(
        "predict", "--law", "pooled.json", "--group", "layers=2", "--layers", "1,2",
        "--d-emb", "100", "--json",
    )  # fmt: skip
    assert res.exit_code == 0, res.output
    assert [(r["group"], r["layers"]) for r in json.loads(res.stdout)] == [("layers=2", 2)]
    res = run("recommend-config", "--law", "pooled.json", "--group", "layers=2", "--json")
    assert res.exit_code == 0, res.output
    assert {r["layers"] for r in json.loads(res.stdout)["top"]} == {2}
    res = run("predict", "--law", "pooled.json", "--group", "layers=4", "--layers", "4")
    assert res.exit_code != 0 and "it has layers=1, layers=2" in res.output
    res = run("fit", "scan.csv", "-m", "ndcg@10", "--group-by", "layers", "--form", "p2", "--json")
    assert res.exit_code == 0, res.output
    recs = json.loads(res.stdout)["groups"]
    assert [r["layers"] for r in recs] == [1, 2]
    for r in recs:
        assert set(r["params"]) == {"w2", "w4", "b"}  # each depth: the d factor alone
        assert r["noise_sd"] is not None
    # predict answers each depth by that depth's own fit (it printed every fit at every
    # depth, the same (layers, d_emb) twice with two predictions)
    res = run("predict", "--layers", "1,2", "--d-emb", "100,200", "--json")
    assert res.exit_code == 0, res.output
    rows = json.loads(res.stdout)
    assert sorted((r["layers"], r["d_emb"]) for r in rows) == [
        (1, 100),
        (1, 200),
        (2, 100),
        (2, 200),
    ]
    res = run("predict", "--layers", "4", "--d-emb", "100")
    assert res.exit_code != 0 and "one fit per layers (layers=1, layers=2)" in res.output


def test_too_few_widths_to_judge_the_law_names_the_run_that_would(tmp_path, monkeypatch):
    # five widths: p2 gets one backtest prediction, too few to be compared; fit says so
    # and recommend-config names the width that would let the law be judged
    import numpy as np

    monkeypatch.chdir(tmp_path)
    rng = np.random.default_rng(6)
    d = np.repeat([16.0, 32, 64, 128, 256], 3)
    z = -3.4 + 0.1 * np.log2(d) + rng.normal(0, 0.01, len(d))  # still rising
    runs = pd.DataFrame(
        {"layers": 1, "d_emb": d, "seed": np.tile([0, 1, 2], 5), "ndcg@10": 1 / (1 + np.exp(-z))}
    )
    runs.to_csv("scan.csv", index=False)
    res = run("fit", "scan.csv", "-m", "ndcg@10", "--json")
    assert res.exit_code == 0, res.output
    sel = json.loads(res.stdout)["selection"]
    assert sel["form"] == "carry" and sel["not_judged"]["p2"] == 1
    res = run("recommend-config", "--json")
    assert res.exit_code == 0, res.output
    out = json.loads(res.stdout)
    decision = out["decision"]
    assert "too few d_emb values to judge a fitted trend" in decision
    assert "next: train layers 1 × d_emb 512, one doubling past the widest" in decision
    nxt = out["next"]
    assert (nxt["action"], nxt["purpose"], nxt["layers"], nxt["d_emb"]) == (
        "train",
        "judge",
        1,
        512,
    )


def _two_depth_runs(path, offset=-0.15):
    """Two depths at five widths: one width curve (a known p = 2 factor on the logit
    scale), depth 2 lower by ``offset`` there, plus a little noise."""
    import numpy as np

    rng = np.random.default_rng(3)
    rows = []
    for layers in (1, 2):
        for d in (16, 32, 64, 128, 256):
            w2, w4 = 0.6, 0.5
            z = w2 * (-1 / (2 * d**w4) - w4 * np.log(d)) * -1 - 4.5  # rises with d
            z += offset * (layers == 2) + rng.normal(0, 0.005)
            rows.append({"layers": layers, "d_emb": d, "ndcg@10": 1 / (1 + np.exp(-z))})
    pd.DataFrame(rows).to_csv(path, index=False)


def test_joint_fit_grouped_by_depth_is_a_width_law_with_a_depth_offset(cwd):
    # --group-by layers --joint free: the N factor is carried whole by the per-depth
    # intercepts, so it is left out (fitting it too left a flat direction: alpha_N,
    # beta_N, gamma_N and the intercepts "not identified")
    _two_depth_runs(cwd / "two.csv")
    args = ("fit", "two.csv", "-m", "ndcg@10", "--group-by", "layers", "--joint", "free")
    res = run(*args, "--json", "--out", "two.json")
    assert res.exit_code == 0, res.output
    obj = json.loads(res.stdout)
    assert set(obj["params"]) == {
        "alpha_d",
        "beta_d",
        "gamma_d",
        "b[layers=1]",
        "b[layers=2]",
    }
    assert not any("not identified" in w for w in obj["warnings"])
    shift = obj["params"]["b[layers=2]"] - obj["params"]["b[layers=1]"]
    assert shift == pytest.approx(-0.15, abs=0.02)  # the depth offset, recovered
    res = run(*args, "--no-save")
    assert "layers: one value per group, carried by the group intercepts" in res.output

    # predict: each depth by its own intercept (not every group at every depth)
    res = run("predict", "--law", "two.json", "--layers", "1,2,3", "--d-emb", "64", "--json")
    assert res.exit_code == 0, res.output
    rows = json.loads(res.stdout)
    assert [(r["group"], r["layers"]) for r in rows] == [("layers=1", 1), ("layers=2", 2)]
    assert rows[1]["prediction"] < rows[0]["prediction"]
    res = run("predict", "--law", "two.json", "--layers", "3", "--d-emb", "64")
    assert res.exit_code != 0
    assert "has a term per layers value, for layers 1, 2 only" in res.output
    res = run("predict", "--law", "two.json", "--group", "layers=2", "--layers", "1,2")
    assert res.exit_code != 0  # --d-emb missing: the group itself was found
    res = run(
        "predict", "--law", "two.json", "--group", "layers=2", "--layers", "1,2",
        "--d-emb", "64", "--json",
    )  # fmt: skip
    assert res.exit_code == 0, res.output
    assert [r["layers"] for r in json.loads(res.stdout)] == [2]
    res = run("predict", "--law", "two.json", "--group", "layers=3", "--layers", "3")
    assert res.exit_code != 0 and "it has layers=1, layers=2" in res.output

    # recommend-config: one list over both depths, each at its own intercept
    res = run("recommend-config", "--law", "two.json", "--json")
    assert res.exit_code == 0, res.output
    rec = json.loads(res.stdout)  # one object: one recommendation, not one per group
    assert {r["layers"] for r in rec["top"]} <= {1, 2}
    assert rec["recommendation"]["layers"] == 1  # depth 2 is lower at every width
    res = run("recommend-config", "--law", "two.json", "--group", "layers=2", "--json")
    assert res.exit_code == 0, res.output
    rec = json.loads(res.stdout)
    assert {r["layers"] for r in rec["top"]} == {2}
    res = run("recommend-config", "--law", "two.json", "--layers", "1:3", "--json")
    rec = json.loads(res.stdout)
    assert any("layers values without a term in the law are left out" in w for w in rec["warnings"])
