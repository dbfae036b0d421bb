"""Figures: observed vs fitted, residuals, budget frontier (headless)."""

from pathlib import Path

import matplotlib
import numpy as np
import pandas as pd
import pytest

matplotlib.use("Agg")

from perflaw import DataError  # noqa: E402
from perflaw.decide.budget import recommend  # noqa: E402
from perflaw.fitting.fitter import LawFitter  # noqa: E402
from perflaw.plot import plot_fitter, plot_recommendation  # noqa: E402

BUNDLED = Path(__file__).resolve().parents[1] / "data" / "performance_law_ml1m_runs.csv"


@pytest.fixture(scope="module")
def fitter():
    g = pd.read_csv(BUNDLED).query("panel == 0")
    return LawFitter(seed=0).fit(g[["layers", "d_emb"]], g["hr@10"], metric="hr@10")


def test_fit_plot_has_points_and_curves_per_d_emb(fitter):
    fig = plot_fitter(fitter)
    ax = fig.axes[0]
    lines = ax.get_lines()
    assert len(lines) == 8  # 4 d_emb values: observed points + fitted curve each
    points = [l for l in lines if l.get_linestyle() == "None"]
    assert sorted(len(l.get_xdata()) for l in points) == [6, 6, 6, 6]
    curve = [l for l in lines if l.get_linestyle() == "-"][0]
    x, y = curve.get_xdata(), curve.get_ydata()
    d = float(points[0].get_label().split("=")[1])
    np.testing.assert_allclose(
        y, fitter.predict(pd.DataFrame({"layers": x, "d_emb": d}), warn=False)
    )
    assert "R² = 0.899" in ax.get_title()


def test_a_width_scan_is_drawn_along_width():
    # one depth: layers on the x axis would be one column of points and no curve
    d = np.array([16.0, 32, 64, 128, 256, 512])
    y = np.array([0.030, 0.037, 0.039, 0.041, 0.042, 0.038])
    f = LawFitter("performance", p=2, scale="logit").fit(
        pd.DataFrame({"layers": 1.0, "d_emb": d}), y, metric="ndcg@10"
    )
    ax = plot_fitter(f).axes[0]
    assert ax.get_xlabel() == "embedding dim"
    points, curve = ax.get_lines()
    np.testing.assert_array_equal(points.get_xdata(), d)
    x = curve.get_xdata()
    assert x.min() == 16 and x.max() == 512
    np.testing.assert_allclose(
        curve.get_ydata(), f.predict(pd.DataFrame({"layers": 1.0, "d_emb": x}), warn=False)
    )


def test_a_depth_offset_law_is_drawn_along_width_one_curve_per_depth():
    # two depths: the law has an intercept per depth, no curve along layers (drawn along
    # layers it evaluated depths between the two, which have no intercept)
    d = np.tile([16.0, 32, 64, 128, 256, 512], 2)
    layers = np.repeat([1.0, 2.0], 6)
    y = np.array([0.030, 0.037, 0.039, 0.041, 0.042, 0.038] * 2) - 0.002 * (layers - 1)
    f = LawFitter("performance", p=2, scale="logit").fit(
        pd.DataFrame({"layers": layers, "d_emb": d}), y, metric="ndcg@10"
    )
    assert f.law_.offset_by == "layers"
    ax = plot_fitter(f).axes[0]
    assert ax.get_xlabel() == "embedding dim"
    curves = [l for l in ax.get_lines() if l.get_linestyle() == "-"]
    assert len(curves) == 2
    for depth, curve in zip((1.0, 2.0), curves):
        x = curve.get_xdata()
        np.testing.assert_allclose(
            curve.get_ydata(), f.predict(pd.DataFrame({"layers": depth, "d_emb": x}), warn=False)
        )


def test_residual_plot(fitter):
    ax = plot_fitter(fitter, "residuals").axes[0]
    offsets = ax.collections[0].get_offsets()
    np.testing.assert_allclose(offsets[:, 1], fitter.residuals_)
    with pytest.raises(DataError, match="unknown plot kind"):
        plot_fitter(fitter, "violin")


def test_frontier_plot(fitter):
    rec = recommend(fitter, "300k", n_items=3416, max_len=100)
    ax = plot_recommendation(rec).axes[0]
    budget_line = [l for l in ax.get_lines() if l.get_linestyle() == "--"][0]
    assert budget_line.get_xdata()[0] == 300_000
    star = [l for l in ax.get_lines() if l.get_marker() == "*"][0]
    assert star.get_ydata()[0] == pytest.approx(rec.top.prediction.iloc[0])


def test_a_joint_fit_is_drawn_per_group_with_that_groups_runs(tmp_path):
    from click.testing import CliRunner

    from perflaw.cli import main
    from perflaw.plot import plot_fitter

    df = pd.read_csv(BUNDLED)
    labels = ("panel=" + df.panel.astype(str)).to_numpy()
    f = LawFitter(seed=0, scale="logit", data_term="free", backtest_axis=None).fit(
        df[["layers", "d_emb"]], df["ndcg@10"], groups=labels, metric="ndcg@10"
    )
    for panel in (1, 2):
        fig = plot_fitter(f, group=f"panel={panel}")
        drawn = np.sort(
            np.concatenate([ln.get_ydata() for ln in fig.axes[0].lines if ln.get_marker() == "o"])
        )
        # the points are that panel's runs (it used to draw the first row's panel, 0)
        np.testing.assert_allclose(drawn, np.sort(df[df.panel == panel]["ndcg@10"]))
    with pytest.raises(DataError, match="no run of group"):
        plot_fitter(f, group="panel=9")
    f.save(tmp_path / "j.json")
    res = CliRunner().invoke(
        main, ["plot", "--law", str(tmp_path / "j.json"), "--out", str(tmp_path / "j.png")]
    )
    assert res.exit_code == 0, res.output
    import matplotlib.pyplot as plt

    assert (tmp_path / "j.png").stat().st_size > 10_000
    plt.close("all")
