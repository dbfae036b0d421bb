"""The shared fitter: acceptance on the published panels, determinism, validation,
uncertainty, saving, failures."""

import json
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from conftest import SHARED_DATA
from perflaw import ConvergenceError, DataError, LawFileError, NotFittedError
from perflaw._version import __version__
from perflaw.conditions import parse_condition
from perflaw.fitting import FormSelector
from perflaw.fitting.fitter import ExtrapolationWarning, LawFitter, load_fits, load_fitter
from perflaw.fitting.lawfile import save_fits
from perflaw.laws.base import Law, register

# the team's run tables live next to the repository (../shared/data/runs); they may not be
# copied into it (only the ml-1m panels are, as data/performance_law_ml1m_runs.csv)
SHARED = SHARED_DATA / "runs"  # one place finds the team data: tests/conftest.py
GRID = SHARED / "performance_law_grid.csv"
PUBLISHED = SHARED / "performance_law_grid_published_r2.csv"
BUNDLED = Path(__file__).resolve().parents[1] / "data" / "performance_law_ml1m_runs.csv"
needs_shared = pytest.mark.skipif(not GRID.exists(), reason=f"{GRID} not available")


@pytest.fixture(scope="module")
def panel0():
    df = pd.read_csv(BUNDLED)
    return df[df.panel == 0].reset_index(drop=True)


def _published():
    pub = pd.read_csv(PUBLISHED)
    pub = pub[pub.law == "PerformanceLaw"]
    return [(int(r.panel), r.metric.lower(), float(r.published_r2)) for r in pub.itertuples()]


@needs_shared
@pytest.mark.parametrize("panel,metric,published", _published() if GRID.exists() else [])
def test_per_panel_fit_reaches_published_r2(panel, metric, published):
    df = pd.read_csv(GRID)
    g = df[df.panel == panel]
    f = LawFitter(seed=0).fit(g[["layers", "d_emb"]], g[metric], metric=metric)
    assert f.diagnostics_["r2"] >= published - 0.005
    again = LawFitter(seed=0).fit(g[["layers", "d_emb"]], g[metric], metric=metric)
    np.testing.assert_array_equal(f.theta_, again.theta_)  # deterministic under a seed


def _authors_single_start_r2(frame, metric):
    """The released script: p = 2 pinned, one start at [1, ..., 1]."""
    from scipy.optimize import least_squares

    N, d, y = frame.layers.to_numpy(float), frame.d_emb.to_numpy(float), frame[metric].to_numpy()

    def authors(t):
        w1, w2, w3, w4, b = t
        return (
            w1 * (-1 / (2 * N**w3) - w3 * np.log(N))
            + w2 * (-1 / (2 * d**w4) - w4 * np.log(d))
            + b
            - y
        )

    single = least_squares(authors, np.ones(5))
    return 1 - 2 * single.cost / ((y - y.mean()) ** 2).sum()


@needs_shared
@pytest.mark.parametrize("metric", ["hr@10", "ndcg@10"])
def test_search_never_loses_to_the_authors_single_start(metric):
    df = pd.read_csv(GRID)
    for panel, g in df.groupby("panel"):
        single = _authors_single_start_r2(g, metric)
        pinned = LawFitter(p=2, seed=0).fit(g[["layers", "d_emb"]], g[metric])
        free = LawFitter(seed=0).fit(g[["layers", "d_emb"]], g[metric])
        assert pinned.diagnostics_["r2"] >= single - 1e-6, panel
        assert free.diagnostics_["r2"] >= pinned.diagnostics_["r2"] - 1e-6, panel


def test_single_start_lands_in_a_poor_optimum():
    df = pd.read_csv(BUNDLED)
    g = df[df.panel == 2]  # panel 2: the single start gives R² 0.80 (HR) and 0.25 (NDCG)
    for metric in ("hr@10", "ndcg@10"):
        f = LawFitter(p=2, seed=0).fit(g[["layers", "d_emb"]], g[metric])
        assert f.diagnostics_["r2"] > _authors_single_start_r2(g, metric) + 0.05
        assert f.n_best_starts_ >= 2 and f.n_starts_ >= 5


def test_variable_projection_beats_generic_multistart(panel0):
    X, y = panel0[["layers", "d_emb"]], panel0["ndcg@10"]
    # with p pinned the loss is a narrow valley in the exponents: the generic multi-start
    # (bounded trf from a coarse grid) lands in a worse optimum; variable projection over
    # a fine grid does not.  (The free-p comparison agrees to 1e-3 in R² but takes ~10 s.)
    vp = LawFitter(seed=0, p=2).fit(X, y)
    gen = LawFitter(seed=0, p=2, solver="generic", n_random_starts=2).fit(X, y)
    assert gen.n_starts_ == 16 + 2
    assert 0 < gen.diagnostics_["r2"] < vp.diagnostics_["r2"] - 0.1


def test_diagnostics_by_hand(panel0):
    X, y = panel0[["layers", "d_emb"]], panel0["hr@10"].to_numpy()
    f = LawFitter(seed=0).fit(X, y)
    r = y - f.predict(X)
    n, k = len(y), 7
    sse = r @ r
    assert f.diagnostics_["r2"] == pytest.approx(1 - sse / ((y - y.mean()) ** 2).sum())
    assert f.diagnostics_["adj_r2"] == pytest.approx(
        1 - (1 - f.diagnostics_["r2"]) * (n - 1) / (n - k)
    )
    assert f.diagnostics_["rmse"] == pytest.approx(np.sqrt(sse / n))
    assert f.diagnostics_["bic"] - f.diagnostics_["aic"] == pytest.approx(k * np.log(n) - 2 * k)
    np.testing.assert_allclose(f.residuals_, r)


def test_holdout_fits_the_rest_and_scores_the_held_out(panel0):
    X, y = panel0[["layers", "d_emb"]], panel0["hr@10"]
    f = LawFitter(seed=0).fit(X, y, holdout="layers>=24")
    assert f.diagnostics_["n_points"] == 16
    assert f.ranges_["layers"] == (4.0, 16.0)
    small = panel0.layers <= 16
    ref = LawFitter(seed=0).fit(X[small], y[small])
    np.testing.assert_allclose(f.theta_, ref.theta_)
    pred = ref.predict(X[~small], warn=False)
    obs = y[~small].to_numpy()
    assert f.holdout_metrics_["mape"] == pytest.approx(np.mean(np.abs((obs - pred) / obs)) * 100)
    assert list(f.holdout_.layers.unique()) == [24, 32]
    with pytest.raises(DataError, match="must leave rows on both sides"):
        LawFitter().fit(X, y, holdout="layers>=1")
    with pytest.raises(DataError, match="unknown column 'depth'"):
        LawFitter().fit(X, y, holdout="depth>=1")


def test_leave_one_out_matches_manual_refit(panel0):
    X, y = panel0[["layers", "d_emb"]], panel0["hr@10"]
    f = LawFitter(seed=0).fit(X, y, loo=True)
    i = 5
    keep = np.arange(len(y)) != i
    manual = LawFitter(seed=0).fit(X[keep], y[keep]).predict(X.iloc[[i]], warn=False)[0]
    assert f.loo_.predicted[i] == pytest.approx(manual, abs=1e-6)
    assert f.loo_metrics_["n_points"] == 24


def test_bootstrap_is_seeded_and_intervals_cover(panel0):
    X, y = panel0[["layers", "d_emb"]], panel0["ndcg@10"]
    a = LawFitter(seed=3, bootstrap=40).fit(X, y)
    b = LawFitter(seed=3, bootstrap=40).fit(X, y)
    np.testing.assert_array_equal(a.bootstrap_params_, b.bootstrap_params_)
    assert a.bootstrap_params_.shape == (40, 7)
    s = a.summary_
    lo, hi = "lower", "upper"
    assert s.loc["d_opt", lo] <= a.derived_["d_opt"] <= s.loc["d_opt", hi]
    p = a.predict(X, interval=True)
    assert (p.interval == "bootstrap").all()
    assert ((p.lower <= p.prediction + 1e-12) & (p.prediction <= p.upper + 1e-12)).mean() > 0.9
    c = LawFitter(seed=4, bootstrap=40).fit(X, y)
    assert not np.array_equal(a.bootstrap_params_, c.bootstrap_params_)


def test_bootstrap_by_group_needs_groups(panel0):
    with pytest.raises(DataError, match="needs group labels"):
        LawFitter(bootstrap=5, bootstrap_by="group").fit(
            panel0[["layers", "d_emb"]], panel0["hr@10"]
        )


def test_delta_intervals_and_extrapolation_warning(panel0):
    X, y = panel0[["layers", "d_emb"]], panel0["hr@10"]
    f = LawFitter(seed=0).fit(X, y)
    p = f.predict(X, interval=True)
    assert (p.interval == "delta").all()
    assert ((p.lower < p.prediction) & (p.prediction < p.upper)).all()
    obs = f.predict(X, interval=True, kind="observation")
    assert ((obs.upper - obs.lower) > (p.upper - p.lower)).all()
    with pytest.warns(ExtrapolationWarning, match="layers .4 to 32.: 64"):
        f.predict(pd.DataFrame({"layers": [64], "d_emb": [50]}))


def test_huber_resists_an_outlier(panel0):
    X = panel0[["layers", "d_emb"]]
    clean = LawFitter(seed=0).fit(X, panel0["hr@10"])
    y = panel0["hr@10"].to_numpy().copy()
    y[10] += 0.05
    l2 = LawFitter(seed=0).fit(X, y)
    hub = LawFitter(seed=0, loss="huber").fit(X, y)
    err_l2 = np.abs(l2.predict(X) - clean.predict(X)).mean()
    err_hub = np.abs(hub.predict(X) - clean.predict(X)).mean()
    assert err_hub < 0.5 * err_l2
    assert hub.huber_delta_ > 0


def test_joint_fit_free_term_per_group():
    df = pd.read_csv(BUNDLED)
    labels = ("panel=" + df.panel.astype(str)).to_numpy()
    f = (
        FormSelector(LawFitter(seed=0, data_term="free"), form="joint")
        .fit(df[["layers", "d_emb"]], df["hr@10"], groups=labels)
        .best_
    )
    assert f.law_.param_names[-3:] == ("b[panel=0]", "b[panel=1]", "b[panel=2]")
    assert f.diagnostics_["n_points"] == 72
    # shared N and d factors: predictions of two groups differ by a constant
    grid = pd.DataFrame({"layers": [4, 8, 16], "d_emb": [50, 50, 50]})
    diff = f.predict(grid, groups="panel=1") - f.predict(grid, groups="panel=0")
    assert np.ptp(diff) < 1e-12
    with pytest.raises(DataError, match="unknown group"):
        f.predict(grid, groups="panel=7")


def test_joint_fit_with_dprime_recovers_a_synthetic_law():
    rng = np.random.default_rng(0)
    # four widths and depths: a factor with p free needs four values (three parameters
    # besides the intercept)
    N = np.tile(np.repeat([2.0, 4, 8, 16], 4), 5)
    d = np.tile([32.0, 64, 128, 256], 20)
    D = np.repeat([1e5, 2e5, 5e5, 1e6, 3e6], 16)
    y = (
        0.02 * np.log(N)
        - 0.004 * N**0.6
        + 0.03 * np.log(d)
        - 0.002 * d**0.7
        + 0.01 * np.log(D)
        - 0.5 * D**-0.4
        + 0.1
        + rng.normal(0, 1e-5, 80)
    )
    X = pd.DataFrame({"layers": N, "d_emb": d, "d_prime": D})
    f = LawFitter(seed=0, data_term="dprime").fit(X, y)
    assert f.diagnostics_["r2"] > 0.999
    new = pd.DataFrame({"layers": [8.0], "d_emb": [64.0], "d_prime": [2e6]})
    truth = (
        0.02 * np.log(8)
        - 0.004 * 8**0.6
        + 0.03 * np.log(64)
        - 0.002 * 64**0.7
        + 0.01 * np.log(2e6)
        - 0.5 * 2e6**-0.4
        + 0.1
    )
    assert f.predict(new)[0] == pytest.approx(truth, abs=1e-4)
    keep = np.isin(D, [1e5, 5e5, 3e6])
    with pytest.warns(UserWarning, match="only 3 distinct D′ values"):
        LawFitter(seed=0, data_term="dprime").fit(X[keep], y[keep])
    # with p pinned the factor has two parameters besides the intercept: three D′ identify
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        LawFitter(seed=0, data_term="dprime", p=2.0).fit(X[keep], y[keep])
    assert not [w for w in caught if "distinct D′" in str(w.message)]


def test_save_load_round_trip(tmp_path, panel0):
    X, y = panel0[["layers", "d_emb"]], panel0["ndcg@10"]
    f = LawFitter(seed=0, bootstrap=20).fit(X, y, metric="ndcg@10")
    path = f.save(tmp_path / "law.json")
    doc = json.loads(path.read_text())
    assert doc["perflaw_version"] == __version__
    assert doc["fits"][0]["data_ranges"] == {"layers": [4.0, 32.0], "d_emb": [25.0, 100.0]}
    g = load_fitter(path)
    np.testing.assert_allclose(g.predict(X), f.predict(X))
    pd.testing.assert_frame_equal(g.predict(X, interval=True), f.predict(X, interval=True))
    pd.testing.assert_frame_equal(g.summary_, f.summary_)
    assert g.metric_ == "ndcg@10"


def test_law_file_errors(tmp_path, panel0):
    f = LawFitter(seed=0).fit(panel0[["layers", "d_emb"]], panel0["hr@10"])
    path = f.save(tmp_path / "law.json")
    doc = json.loads(path.read_text())
    doc["perflaw_version"] = "0.0.1"
    old = tmp_path / "old.json"
    old.write_text(json.dumps(doc))
    with pytest.raises(LawFileError, match="written by perflaw 0.0.1; this is perflaw"):
        load_fits(old)
    with pytest.raises(LawFileError, match="not found"):
        load_fits(tmp_path / "nope.json")
    bad = tmp_path / "bad.json"
    bad.write_text("{not json")
    with pytest.raises(LawFileError, match="not valid JSON"):
        load_fits(bad)
    doc["perflaw_version"] = __version__
    doc["fits"][0]["law"] = "gompertz"
    other = tmp_path / "other.json"
    other.write_text(json.dumps(doc))
    with pytest.raises(LawFileError, match="unknown law 'gompertz'"):
        load_fits(other)
    save_fits([({"panel": 0}, f), ({"panel": 1}, f)], tmp_path / "two.json")
    with pytest.raises(LawFileError, match="holds 2 group fits"):
        load_fitter(tmp_path / "two.json")


def test_bad_inputs(panel0):
    X, y = panel0[["layers", "d_emb"]], panel0["hr@10"].to_numpy().copy()
    with pytest.raises(DataError, match=r"one run \(layers 4, d_emb 25\): a law needs runs at two"):
        LawFitter().fit(X.iloc[:1], y[:1])
    y[2] = np.nan
    with pytest.raises(DataError, match="1 missing or non-numeric"):
        LawFitter().fit(X, y, metric="hr@10")
    with pytest.raises(DataError, match="unknown law"):
        LawFitter("gompertz").fit(X, panel0["hr@10"])
    with pytest.raises(DataError, match="unknown loss"):
        LawFitter(loss="l1").fit(X, panel0["hr@10"])
    with pytest.raises(NotFittedError, match="not fitted"):
        LawFitter().predict(X)
    with pytest.raises(DataError, match="input column 'd_emb' is missing"):
        LawFitter().fit(X[["layers"]], panel0["hr@10"])


class _Saturating(Law):
    """y = E + A x^(-alpha): a three-parameter law declared in a few lines."""

    name = "test-saturating"
    inputs = ("layers",)
    param_names = ("E", "A", "alpha")
    default_bounds = {"A": (0, np.inf), "alpha": (0, 3)}

    def formula(self, theta, X):
        E, A, alpha = theta
        return E + A * X["layers"] ** (-alpha)

    def start_grid(self, X, y):
        return np.array([[y.min(), 1.0, a] for a in (0.2, 1.0, 2.0)])


def test_a_new_law_is_a_small_declaration():
    register(_Saturating)
    x = np.array([1.0, 2, 4, 8, 16, 32, 64])
    y = 2.0 + 3.0 * x**-0.7
    f = LawFitter("test-saturating", seed=0).fit({"layers": x}, y)
    np.testing.assert_allclose(f.theta_, [2.0, 3.0, 0.7], rtol=1e-5)
    assert f.n_best_starts_ >= 2
    assert f.summary_.loc["alpha", "std_err"] < 1e-3


class _Broken(_Saturating):
    name = "test-broken"

    def formula(self, theta, X):
        return np.full(len(X["layers"]), np.nan)


def test_convergence_error_instead_of_parameters():
    register(_Broken)
    x = np.array([1.0, 2, 4, 8, 16, 32, 64])
    with pytest.raises(ConvergenceError, match="none of .* starts converged"):
        LawFitter("test-broken", seed=0).fit({"layers": x}, 2 + x**-0.5)


def test_print_summary(capsys, panel0):
    f = LawFitter(seed=0).fit(
        panel0[["layers", "d_emb"]], panel0["hr@10"], metric="hr@10", holdout="layers>=24"
    )
    f.print_summary()
    out = capsys.readouterr().out
    assert (
        out.startswith("hr@10: law performance")
        and "LawFitter" not in out
        and "R² = " in out
        and "holdout 'layers>=24'" in out
    )
    assert "alpha_N" in out and "N_opt" in out


def test_parse_condition_errors():
    df = pd.DataFrame({"layers": [1, 2]})
    with pytest.raises(DataError, match="cannot parse condition"):
        parse_condition("layers >> 2", df)
