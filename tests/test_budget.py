"""Budgets and recommend-config."""

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from perflaw import DataError, count_parameters
from perflaw.decide.budget import parse_budget, parse_range, recommend
from perflaw.fitting import FormSelector, LawFitter

BUNDLED = Path(__file__).resolve().parents[1] / "data" / "performance_law_ml1m_runs.csv"


@pytest.fixture(scope="module")
def fitter():
    df = pd.read_csv(BUNDLED)
    g = df[df.panel == 0]
    return LawFitter(seed=0, bootstrap=30).fit(
        g[["layers", "d_emb"]], g["ndcg@10"], metric="ndcg@10"
    )


@pytest.mark.parametrize(
    "text,value",
    [
        ("20M", 2e7),
        ("1.5e9", 1.5e9),
        ("300k", 3e5),
        ("2B", 2e9),
        ("0.5G", 5e8),
        (" 7 ", 7.0),
        ("1e3k", 1e6),
    ],
)
def test_parse_budget(text, value):
    assert parse_budget(text) == value


@pytest.mark.parametrize("bad", ["", "20MB", "-5M", "0", "1.5.3", "M"])
def test_parse_budget_rejects(bad):
    with pytest.raises(DataError):
        parse_budget(bad)


def test_parse_range():
    assert parse_range("16:64:16", "d").tolist() == [16, 32, 48, 64]
    with pytest.raises(DataError, match="cannot parse layers"):
        parse_range("8:4", "layers")


def test_recommend_respects_budget_and_orders(fitter):
    budget = 400_000
    rec = recommend(fitter, budget, n_items=3416, max_len=100, heads=2)
    top = rec.top
    assert len(top) == 5
    assert (top.params <= budget).all()
    # the decision's rows first (the pick, the run it names next), then the rest by prediction
    head = top[top.role != ""]
    assert head.role.iloc[0].startswith("pick")
    assert head[["layers", "d_emb"]].iloc[0].tolist() == [rec.pick["layers"], rec.pick["d_emb"]]
    assert (np.diff(top[top.role == ""].prediction) <= 0).all()
    assert (top.d_emb % 2 == 0).all()
    for r in top.itertuples():
        assert r.params == count_parameters(r.layers, r.d_emb, n_items=3416, max_len=100).total
    feas = rec.candidates[rec.candidates.feasible]
    assert top.prediction.iloc[0] == pytest.approx(feas.prediction.max())
    assert rec.budget_binds  # the unconstrained best (about 16 layers x 64) needs more
    assert rec.unconstrained["params"] > budget
    assert 0 < rec.candidates.p_best.sum() <= 1 + 1e-9


def test_budget_not_binding(fitter):
    rec = recommend(fitter, "1e9")
    assert not rec.budget_binds
    best = rec.top.loc[rec.top.prediction.idxmax()]  # row 1 is the pick, which may keep a run
    assert best[["layers", "d_emb"]].tolist() == [
        rec.unconstrained["layers"],
        rec.unconstrained["d_emb"],
    ]


def test_non_embedding_count_and_llama(fitter):
    rec = recommend(fitter, "2M", arch="llama", count="non-embedding", n_items=10**6)
    r = rec.top.iloc[0]
    assert r.params == count_parameters(int(r.layers), int(r.d_emb), arch="llama").non_embedding


def test_budget_too_small(fitter):
    with pytest.raises(DataError, match="budget 1,000 is below every configuration"):
        recommend(fitter, "1k", n_items=3416)


def test_heads_must_divide(fitter):
    with pytest.raises(DataError, match="divisible by 7 heads"):
        recommend(fitter, "10M", d_emb=[25, 50], heads=7)


@pytest.mark.parametrize("budget", [150_000, 250_000, 400_000, 700_000, 2_000_000])
def test_pick_and_comparator_fit_the_budget(fitter, budget):
    """The best trained run of panel 0 is out of the smaller budgets: the decision must
    compare with, and at worst keep, the best trained run that fits (never the other)."""
    rec = recommend(fitter, budget, n_items=3416, max_len=100, heads=2)
    count = lambda r: count_parameters(r["layers"], r["d_emb"], n_items=3416, max_len=100).total  # noqa: E731
    assert count(rec.pick) <= budget
    X, y = fitter.X_, np.asarray(fitter.y_)
    fits = np.array(
        [count({"layers": a, "d_emb": b}) <= budget for a, b in zip(X["layers"], X["d_emb"])]
    )
    if not fits.any():
        assert rec.best_observed is None
        return
    assert rec.best_observed["observed"] == pytest.approx(y[fits].max())
    assert count(rec.best_observed) <= budget
    if not rec.beats_noise:
        assert count(rec.pick) <= budget


def test_the_unconstrained_best_trained_run_is_the_comparator_without_a_budget(fitter):
    rec = recommend(fitter, None, n_items=3416, max_len=100, heads=2)
    assert rec.best_observed == fitter.best_observed_


def test_a_carry_forward_law_names_no_untried_run_to_beat_the_best():
    """Carry-forward copies the trained run below an untried configuration, so its
    predictions tie that run: the "next" advice must not read a chance to beat it off
    the tie (it printed "chance to beat it 50 %" for a deeper untried run)."""
    df = pd.read_csv(BUNDLED)
    g = df[df.panel == 0]
    carry = (
        FormSelector(LawFitter(seed=0, bootstrap=30), form="carry")
        .fit(g[["layers", "d_emb"]], g["ndcg@10"], metric="ndcg@10")
        .best_
    )
    rec = recommend(carry, None, n_items=3416, max_len=100, heads=2)
    assert not rec.beats_noise and rec.pick["trained"]
    # heads=2 leaves the best run's d_emb 75 off the enumerated grid: still the one kept
    assert (
        (rec.pick["layers"], rec.pick["d_emb"])
        == (16, 75)
        == (
            rec.best_observed["layers"],
            rec.best_observed["d_emb"],
        )
    )
    assert rec.pick["prediction"] == pytest.approx(rec.best_observed["observed"])
    assert "chance to beat" not in rec.message
    assert "carry-forward" in rec.message and "another seed" in rec.message
    assert rec.next_run == {
        "action": "rerun",
        "purpose": "replicate",
        "layers": 16,
        "d_emb": 75,
        "prediction": None,
        "lower": None,
        "upper": None,
        "chance_to_beat": None,
    }
    # a fitted trend still names the untried run most likely to beat the best one
    fitted = (
        FormSelector(LawFitter(seed=0, bootstrap=30), form="saturating")
        .fit(g[["layers", "d_emb"]], g["ndcg@10"], metric="ndcg@10")
        .best_
    )
    named = recommend(fitted, None, n_items=3416, max_len=100, heads=2)
    msg = named.message
    assert "chance to beat" in msg and "the law kept is carry-forward" not in msg
    # the same run, as fields a program can act on: the one the message names, with the
    # prediction and chance printed there
    nxt = named.next_run
    assert nxt["action"] == "train" and nxt["purpose"] == "beat"
    assert f"next: train layers {nxt['layers']} × d_emb {nxt['d_emb']} " in msg
    assert f"(predicted {nxt['prediction']:.4g}; chance to beat it " in msg
    assert f"{100 * nxt['chance_to_beat']:.0f} %" in msg
    row = named.candidates[
        (named.candidates.layers == nxt["layers"]) & (named.candidates.d_emb == nxt["d_emb"])
    ].iloc[0]
    assert not row.trained and nxt["lower"] == row.lower < nxt["prediction"] < row.upper
    # ... and, since the form was given and lost to carry-forward in its backtest, says so
    assert "caution: this law (saturating) was given, not chosen by the backtest, and in " in msg
    assert "it lost to carry-forward (t = -" in msg


def test_a_law_not_judged_names_the_run_that_would_judge_it_within_the_budget():
    # five widths, still rising: p2 gets one backtest prediction and is not judged;
    # carry-forward is kept "only because", and the next run is one doubling wider --
    # unless the budget excludes it, then more widths within the budget
    d = np.array([16.0, 32, 64, 128, 256])
    z = -3.4 + 0.1 * np.log2(d) + np.array([0.003, -0.002, 0.001, -0.003, 0.002])
    X = pd.DataFrame({"layers": 1.0, "d_emb": d})
    f = (
        FormSelector(LawFitter(scale="auto", backtest_axis="d_emb"), form="auto")
        .fit(X, 1 / (1 + np.exp(-z)), metric="ndcg@10")
        .best_
    )
    assert f.form_ == "carry" and f.selection_["not_judged"] == {"p2": 1, "free": 0}
    free = recommend(f)
    assert "but only because the runs have too few d_emb values" in free.message
    assert "next: train layers 1 × d_emb 512, one doubling past the widest" in free.message
    assert free.next_run["action"] == "train" and free.next_run["purpose"] == "judge"
    assert (free.next_run["layers"], free.next_run["d_emb"]) == (1, 512)
    assert free.next_run["prediction"] is None  # carry-forward would only copy d_emb 256
    at_512 = count_parameters(1, 512, arch="sasrec").total
    tight = recommend(f, budget=at_512 - 1)
    assert "layers 1 × d_emb 512 would let it be judged but is over the budget" in tight.message
    assert "train more d_emb values within the budget" in tight.message
    assert tight.next_run["action"] == "rerun" and tight.next_run["d_emb"] == 256


def test_a_given_joint_law_that_lost_to_carry_forward_says_so_beside_its_decision():
    from test_backtest import _grouped

    X, y, g = _grouped(trend=False)
    lost = (
        FormSelector(LawFitter(seed=0, scale="logit", data_term="free"), form="joint")
        .fit(X, y, groups=g, metric="ndcg@10")
        .best_
    )
    rec = recommend(lost, None, layers=[4, 8, 16], d_emb=[64, 128], group="f=1")
    assert "caution: this law (joint) was given, not chosen by the backtest, and in the " in (
        rec.message
    )
    assert "it lost to carry-forward" in rec.message
    X, y, g = _grouped(trend=True)
    won = (
        FormSelector(LawFitter(seed=0, scale="logit", data_term="free"), form="joint")
        .fit(X, y, groups=g, metric="ndcg@10")
        .best_
    )
    rec = recommend(won, None, layers=[4, 8, 16], d_emb=[64, 128], group="f=1")
    assert rec.message and "caution" not in rec.message


def test_a_joint_fits_recommendation_compares_with_the_best_run_of_its_own_group():
    # panel 2 reads higher than panel 1: ranked for panel 1, the pick must be compared
    # with panel 1's best run, and "trained" must mean trained in panel 1
    df = pd.read_csv(Path(__file__).resolve().parents[1] / "data" / "performance_law_ml1m_runs.csv")
    df = df[~((df.panel == 1) & (df.layers == 12))]  # 12 layers: trained in panels 0, 2 only
    labels = ("panel=" + df.panel.astype(str)).to_numpy()
    f = (
        FormSelector(LawFitter(seed=0, scale="logit", data_term="free"), form="joint")
        .fit(df[["layers", "d_emb"]], df["ndcg@10"], groups=labels, metric="ndcg@10")
        .best_
    )
    one = df[df.panel == 1]
    best = one.loc[one["ndcg@10"].idxmax()]
    assert df["ndcg@10"].max() > best["ndcg@10"]  # the table's best is another panel's
    rec = recommend(f, None, layers=[8, 12, 16], d_emb=[50, 75, 100], group="panel=1")
    assert rec.best_observed["observed"] == pytest.approx(best["ndcg@10"])
    assert rec.best_observed["group"] == "panel=1"
    # the fit's own best run names its group
    assert f.best_observed_["group"] != "panel=1"
    assert f"({f.best_observed_['group']}) = " in f.summary_text(verbose=False)
    trained = rec.candidates.set_index(["layers", "d_emb"])["trained"]
    assert not trained.loc[(12, 50)] and trained.loc[(16, 50)]


def test_a_d_prime_without_trained_runs_says_there_is_nothing_to_compare_with():
    rng = np.random.default_rng(0)
    N = np.tile(np.repeat([2.0, 4, 8, 16], 4), 5)
    d = np.tile([32.0, 64, 128, 256], 20)  # four widths: p free identifies the d factor
    D = np.repeat([1e5, 2e5, 5e5, 1e6, 3e6], 16)
    y = 0.02 * np.log(N) - 0.004 * N**0.6 + 0.03 * np.log(d) - 0.002 * d**0.7
    y = y + 0.01 * np.log(D) - 0.5 * D**-0.4 + 0.1 + rng.normal(0, 1e-4, 80)
    X = pd.DataFrame({"layers": N, "d_emb": d, "d_prime": D})
    f = (
        FormSelector(LawFitter(seed=0, data_term="dprime", groups=None), form="joint")
        .fit(X, y, groups=np.repeat([f"D={v:g}" for v in (1e5, 2e5, 5e5, 1e6, 3e6)], 16))
        .best_
    )
    at = recommend(f, None, layers=[4, 8], d_emb=[64], extra_inputs={"d_prime": 1e6})
    assert at.best_observed["observed"] == pytest.approx(y[(D == 1e6)].max())
    new = recommend(f, None, layers=[4, 8], d_emb=[64], extra_inputs={"d_prime": 2e6})
    assert new.best_observed is None
    assert any("no trained run at d_prime 2e+06" in n for n in new.notes)


def test_a_form_with_an_intercept_per_depth_does_not_stop_the_ranking_of_other_depths():
    # three depths at many widths: p free binds to one width curve with an intercept per
    # depth (no term for layers 3); carry-forward is kept, and p_best mixes the forms
    # that can predict the grid instead of failing on the one that cannot
    N, d = np.meshgrid([1.0, 2.0, 4.0], [16.0, 32, 48, 64, 96, 128, 192, 256], indexing="ij")
    X = pd.DataFrame({"layers": N.ravel(), "d_emb": d.ravel()})
    rng = np.random.default_rng(0)
    y = 0.05 + 0.002 * np.log(X.d_emb) + rng.normal(0, 0.002, len(X))
    f = (
        FormSelector(LawFitter(seed=0, backtest_axis="d_emb"), form="auto")
        .fit(X, y, metric="ndcg@10")
        .best_
    )
    assert f.form_ == "carry", f.selection_.reason
    offsets = [
        a for a in f.alternatives_ if (a.get("law_options") or {}).get("offset_by") == "layers"
    ]
    assert offsets, [a["form"] for a in f.alternatives_]  # the case this test is about
    for a in f.alternatives_:  # whatever weight its backtest earned, it is drawn
        a["weight"] = 1.0 / len(f.alternatives_)
    rec = recommend(f, None, layers=[1, 2, 3, 4], d_emb=[64, 128])
    c = rec.candidates
    assert 3 in set(c.layers)
    # under carry-forward p_best ranks the trained runs only (an untried one is a copy)
    assert c.p_best[c.trained].notna().all() and c.p_best[~c.trained].isna().all()
    draws = f.predict_draws(c[["layers", "d_emb"]], n_draws=200)  # depth 3 included
    assert draws is not None and np.isfinite(draws).all()
