"""The loop: seed design, surrogate (against sklearn's GP), acquisition, stop, ledger, CLI."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner

from perflaw.cli import main
from perflaw.decide import surrogate as S
from perflaw.decide.acquire import grid_cost, next_runs, seed_design
from perflaw.decide.loop import ledger_path, score_ledger
from perflaw.decide.simulate import World, compute_to_reach, run_greedy, simulate

LAYERS = [4, 8, 12, 16, 24, 32]
WIDTHS = [25, 50, 75, 100]


def hill(layers, d_emb, peak=(16.0, 75.0)):
    """A rise-then-fall in log size, the published grids' shape, with a depth x width twist."""
    a = np.log2(np.asarray(layers, float) / peak[0])
    b = np.log2(np.asarray(d_emb, float) / peak[1])
    return 0.30 - 0.004 * a**2 - 0.02 * b**2 + 0.002 * a * b


def grid_frame(fn=hill):
    l_, d_ = np.meshgrid(LAYERS, WIDTHS, indexing="ij")
    return pd.DataFrame({"layers": l_.ravel(), "d_emb": d_.ravel(), "hr@10": fn(l_, d_).ravel()})


def test_seed_design_is_the_issue_L_and_cheap():
    design = seed_design(LAYERS, WIDTHS)
    assert design == [(4, 25), (8, 25), (12, 25), (4, 50), (4, 75), (4, 100)]
    l_, d_ = np.meshgrid(LAYERS, WIDTHS, indexing="ij")
    share = grid_cost(*zip(*design)).sum() / grid_cost(l_, d_).sum()
    assert share == pytest.approx(0.0486, abs=1e-3)
    # never more than six runs, whatever the grid
    assert len(seed_design(range(1, 20), range(16, 400, 16))) == 6


def test_surrogate_matches_sklearn_gp_for_one_form(monkeypatch):
    from sklearn.gaussian_process import GaussianProcessRegressor
    from sklearn.gaussian_process.kernels import ConstantKernel, Matern, WhiteKernel

    monkeypatch.setattr(S, "LENGTH_SCALES", (0.5,))
    monkeypatch.setattr(S, "NOISE_SHARES", (0.01,))
    monkeypatch.setattr(S, "TREND_WEIGHTS", (0.0,))
    monkeypatch.setattr(S, "ADDITIVE_SHARES", (0.0,))
    rng = np.random.default_rng(1)
    x = rng.uniform(size=(9, 2))
    y = np.sin(3 * x[:, 0]) + x[:, 1] ** 2
    q = rng.uniform(size=(5, 2))
    post = S.fit_posterior(x, y, q)
    z = (y - y.mean()) / y.std()
    kernel = Matern(0.5, nu=2.5) + ConstantKernel(1.0, "fixed") + WhiteKernel(0.01, "fixed")
    gp = GaussianProcessRegressor(kernel, optimizer=None, alpha=1e-9).fit(x, z)
    mean, sd = gp.predict(q, return_std=True)
    assert np.allclose(post.mean[0], y.mean() + y.std() * mean, atol=1e-7)
    # the variance differs only by the profiled signal variance (and the noise, excluded)
    s2 = post.noise_sd[0] ** 2 / 0.01 / y.std() ** 2
    latent = np.diagonal(post.cov[0]) / y.std() ** 2 / s2
    assert np.allclose(latent, sd**2 - 0.01, atol=1e-7)


def test_proposals_stay_on_the_grid_spread_and_fit_the_budget():
    f = grid_frame()
    seed = seed_design(LAYERS, WIDTHS)
    rows = f.set_index(["layers", "d_emb"]).loc[seed].reset_index()
    d = next_runs(LAYERS, WIDTHS, rows.layers, rows.d_emb, rows["hr@10"], batch=4)
    cells = [(p.layers, p.d_emb) for p in d.proposals]
    assert len(set(cells)) == 4 and not set(cells) & set(seed)
    assert all(a in LAYERS and b in WIDTHS for a, b in cells)
    spent = grid_cost(rows.layers, rows.d_emb).sum()
    tight = next_runs(
        LAYERS, WIDTHS, rows.layers, rows.d_emb, rows["hr@10"], batch=3, budget=spent + 30_000
    )
    assert all(p.cost <= 30_000 for p in tight.proposals)
    for p in d.proposals:
        assert p.lower <= p.predicted <= p.upper and 0 <= p.p_beat <= 1


def test_stopping_rule_is_a_probability():
    f = grid_frame()
    # everything trained but the far corner, which the hill makes clearly worse: stop
    rest = f[~((f.layers == 32) & (f.d_emb == 25))]
    d = next_runs(LAYERS, WIDTHS, rest.layers, rest.d_emb, rest["hr@10"])
    assert d.stop and d.chance_better_left < 0.05
    # a surface still rising towards the untried corner: go on
    up = grid_frame(lambda a, b: 0.2 + 0.01 * np.log2(a) + 0.02 * np.log2(b))
    rest = up[~((up.layers == 32) & (up.d_emb == 100))]
    d = next_runs(LAYERS, WIDTHS, rest.layers, rest.d_emb, rest["hr@10"])
    assert not d.stop and d.chance_better_left > 0.5
    assert (d.proposals[0].layers, d.proposals[0].d_emb) == (32, 100)


def test_loop_finds_the_best_cheaply_on_a_hill():
    w = World.from_frame(grid_frame(), "hr@10", True)
    r = simulate(w, methods=("perflaw", "greedy", "cheapest"), random_orders=1)
    assert r.at_budget()["perflaw"] <= 0.01
    assert r.to_reach["perflaw"] <= 0.25
    # at the whole grid's compute every method has seen the best
    assert all(v[-1] == 0 for v in r.regret.values())


def test_greedy_is_the_cheapest_untried_neighbour_of_the_best():
    w = World.from_frame(grid_frame(), "hr@10", True)
    t = run_greedy(w, w.value)
    seed = w.seed()
    assert list(t.order[: len(seed)]) == seed
    # the seed's best is (4, 75); its untried neighbours: (8, 75) only
    nxt = t.order[len(seed)]
    assert (w.layers[nxt], w.d_emb[nxt]) == (8, 75)
    assert 0 < compute_to_reach(w, t) < 1


def test_next_cli_json_shape_and_ledger(tmp_path):
    f = grid_frame()
    runs = tmp_path / "runs.csv"
    grid = ["--layers", "4,8,12,16,24,32", "--d-emb", "25:100:25"]
    r = CliRunner().invoke(main, ["next", str(runs), "-m", "hr@10", *grid, "--json"])
    assert r.exit_code == 0, r.output
    out = json.loads(r.output)
    assert set(out) == {"stop", "reason", "best_trained", "proposals", "spent", "grid_cost"}
    assert "seed design" in out["reason"] and out["best_trained"] is None
    seed = seed_design(LAYERS, WIDTHS)
    f.set_index(["layers", "d_emb"]).loc[seed].reset_index().to_csv(runs, index=False)
    ledger_path(runs).unlink()
    r = CliRunner().invoke(
        main, ["next", str(runs), "-m", "hr@10", *grid, "--batch", "2", "--json"]
    )
    assert r.exit_code == 0, r.output
    out = json.loads(r.output)
    assert set(out["best_trained"]) == {"layers", "d_emb", "value"}
    assert len(out["proposals"]) == 2
    assert set(out["proposals"][0]) == {
        "layers",
        "d_emb",
        "predicted",
        "lower",
        "upper",
        "p_beat",
        "gain_per_cost",
    }
    assert len(ledger_path(runs).read_text().splitlines()) == 2
    # train the proposals (look them up) and score the track record
    cells = seed + [(p["layers"], p["d_emb"]) for p in out["proposals"]]
    f.set_index(["layers", "d_emb"]).loc[cells].reset_index().to_csv(runs, index=False)
    s = score_ledger(runs)
    assert s["scored"] == 2 and set(s) >= {"loop", "carry_forward", "constant", "width_over_sd"}
    r = CliRunner().invoke(main, ["ledger", str(runs)])
    assert r.exit_code == 0 and "carry_forward" in r.output


def test_next_cli_bad_input_is_one_line(tmp_path):
    runs = tmp_path / "runs.csv"
    grid_frame().head(8).to_csv(runs, index=False)
    r = CliRunner().invoke(
        main, ["next", str(runs), "-m", "mrr@5", "--layers", "4,8", "--d-emb", "25"]
    )
    assert r.exit_code != 0 and "mrr@5" in r.output and "Traceback" not in r.output
    r = CliRunner().invoke(
        main,
        ["next", str(runs), "-m", "hr@10", "--layers", "4,8", "--d-emb", "25", "--budget", "lots"],
    )
    assert r.exit_code != 0 and "lots" in r.output


def test_simulate_cli(tmp_path):
    path = tmp_path / "grid.csv"
    grid_frame().to_csv(path, index=False)
    r = CliRunner().invoke(
        main,
        ["simulate", str(path), "-m", "hr@10", "--methods", "perflaw,greedy,cheapest", "--json"],
    )
    assert r.exit_code == 0, r.output
    out = json.loads(r.output)
    assert set(out["regret_at_budget"]) == {"perflaw", "perflaw_measured", "greedy", "cheapest"}
    assert out["seed_share"] == pytest.approx(0.0486, abs=1e-3)


def test_adaptive_sweep_runs_the_loop_and_resumes(tmp_path):
    from perflaw.decide.adaptive import adaptive_sweep

    out = tmp_path / "runs.csv"
    truth = grid_frame().set_index(["layers", "d_emb"])["hr@10"]
    trained: list[tuple[int, int]] = []

    def train(n, d):
        if len(trained) == 8:
            raise KeyboardInterrupt  # a crash in the middle of the loop
        trained.append((n, d))
        new = not out.exists()
        row = pd.DataFrame({"layers": [n], "d_emb": [d], "hr@10": [truth[(n, d)]]})
        row.to_csv(out, mode="a", header=new, index=False)

    with pytest.raises(KeyboardInterrupt):
        adaptive_sweep(train, out, layers=LAYERS, d_emb=WIDTHS, metric="hr@10", progress=False)
    assert trained[:6] == seed_design(LAYERS, WIDTHS)
    trained_before = len(pd.read_csv(out))
    trained.append((0, 0))  # let the trainer work again, then resume from the table
    d = adaptive_sweep(
        train, out, layers=LAYERS, d_emb=WIDTHS, metric="hr@10", budget="50%", progress=False
    )
    table = pd.read_csv(out)
    assert trained_before == 8 and len(table) > 8
    assert not table.duplicated(["layers", "d_emb"]).any()  # resumed, nothing trained twice
    assert d.stop and d.spent <= 0.5 * d.grid_cost
    assert d.best_trained["value"] >= truth.max() * 0.99


def test_one_noise_across_fit_recommend_config_and_next(tmp_path, monkeypatch):
    """With seed replicates, the loop's stopping rule, `fit` and `recommend-config` quote
    the same run-to-run noise: the pooled sd of the replicates on the metric's scale."""
    from perflaw.replicates import run_noise

    rng = np.random.default_rng(3)
    f = grid_frame()
    f = f[(f.layers <= 16) & (f.d_emb <= 75)]
    reps = pd.concat([f.assign(seed=s) for s in range(3)], ignore_index=True)
    reps["hr@10"] += rng.normal(0, 0.004, len(reps))
    runs = tmp_path / "runs.csv"
    reps.to_csv(runs, index=False)
    pooled = run_noise(g.to_numpy() for _, g in reps.groupby(["layers", "d_emb"])["hr@10"])
    assert 0.002 < pooled < 0.006  # the noise put in, not a spread across configurations

    d = next_runs(LAYERS, WIDTHS, reps.layers, reps.d_emb, reps["hr@10"])
    assert d.noise == pytest.approx(pooled, rel=1e-12)
    assert f"{pooled:.3g}, the pooled sd of seed replicates" in d.reason
    one_seed = reps[reps.seed == 0]
    d1 = next_runs(LAYERS, WIDTHS, one_seed.layers, one_seed.d_emb, one_seed["hr@10"])
    assert "estimated by the mixture" in d1.reason

    monkeypatch.chdir(tmp_path)
    r = CliRunner().invoke(main, ["fit", str(runs), "-m", "hr@10"])
    assert r.exit_code == 0, r.output
    assert f"run-to-run noise (one run) = {pooled:.3g}" in r.output
    r = CliRunner().invoke(main, ["recommend-config", "--law", "perflaw-law.json"])
    assert r.exit_code == 0, r.output
    assert f"noise (±{pooled:.2g})" in r.output or f"noise ±{pooled:.2g}" in r.output


def test_a_budget_below_every_run_with_nothing_trained_stops_and_says_why():
    d = next_runs([1, 2], [16, 32], [], [], [], budget=1.0)
    assert d.stop and not d.proposals and d.best_trained is None
    assert "no configuration of the grid fits in the budget" in d.reason
    r = CliRunner().invoke(
        main, ["next", "absent.csv", "-m", "hr@10", "--layers", "1,2", "--d-emb", "16,32",
               "--budget", "1", "--no-ledger", "--json"],
    )  # fmt: skip
    assert r.exit_code == 0, r.output
    assert json.loads(r.output)["stop"] is True
