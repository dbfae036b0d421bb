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
    # 4 d_emb values: observed points, fitted curve, its continuation past the edge each
    assert len(lines) == 12
    assert sum(l.get_linestyle() == "--" for l in lines) == 4
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
    points, curve, past = ax.get_lines()
    np.testing.assert_array_equal(points.get_xdata(), d)
    assert past.get_linestyle() == "--" and past.get_xdata().max() == 1024
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


def test_fit_plot_draws_the_interval_and_marks_the_trained_edge(fitter):
    """The band is the fitter's own interval, and it continues one doubling past the
    largest trained size, on a strip that starts at that size."""
    ax = plot_fitter(fitter).axes[0]
    bands = [c for c in ax.collections if c.get_label() != "past the trained edge"]
    assert len(bands) == 4  # one band per d_emb
    top = ax.get_lines()[1]  # the first d_emb's fitted curve
    d = float(ax.get_lines()[0].get_label().split("=")[1])
    x = top.get_xdata()
    want = fitter.predict(pd.DataFrame({"layers": x, "d_emb": d}), interval=True, warn=False)
    verts = bands[0].get_paths()[0].vertices
    inside = verts[(verts[:, 0] >= x.min()) & (verts[:, 0] <= x.max())]
    assert inside[:, 1].min() == pytest.approx(want["lower"].min(), rel=1e-9)
    assert inside[:, 1].max() <= want["upper"].max() * (1 + 1e-9) or np.isclose(
        inside[:, 1].max(), want["upper"].max()
    )
    hi = fitter.ranges_["layers"][1]
    edge = [p for p in ax.patches if p.get_label() == "past the trained edge"]
    if not edge:  # matplotlib >= 3.9 draws axvspan as a Rectangle patch, older as a Polygon
        edge = [c for c in ax.collections if c.get_label() == "past the trained edge"]
    assert edge, "the region past the trained edge is not marked"
    past = ax.get_lines()[2]
    assert past.get_linestyle() == "--"
    assert past.get_xdata().min() == pytest.approx(hi) and past.get_xdata().max() == 2 * hi
    labels = ax.get_legend_handles_labels()[1]
    assert "95% interval" in labels and "past the trained edge" in labels


def test_backtest_plot_is_one_line_per_form_through_mean_errors():
    from perflaw import backtest
    from perflaw.plot import plot_backtest

    g = pd.read_csv(BUNDLED).query("panel == 0")
    result = backtest(g[["layers", "d_emb"]], g["hr@10"], metric="hr@10", forms=["p2", "carry"])
    ax = plot_backtest(result).axes[0]
    lines = {l.get_label().split(":")[0]: l for l in ax.get_lines()}
    assert set(lines) == {"p2", "carry (baseline)"}
    p = result.points[result.points.form == "p2"]
    ape = 100 * np.abs(p.predicted - p.observed) / np.abs(p.observed)
    want = ape.groupby(p.horizon.round(3).to_numpy()).mean()
    line = lines["p2"]
    # x increases monotonically (no zig-zag) and each point is the mean at that distance
    assert np.all(np.diff(line.get_xdata()) > 0)
    np.testing.assert_allclose(line.get_ydata(), want.to_numpy())
    np.testing.assert_allclose(line.get_xdata(), want.index.to_numpy())
    assert lines["carry (baseline)"].get_linestyle() == "--"


def test_apen_plot_histograms_with_the_no_repeat_users_marked():
    import polars as pl

    from perflaw.plot import plot_apen
    from perflaw.quality.summary import QualityReport

    per_user = pl.DataFrame(
        {
            "apen": [0.1, 0.2, 0.3, 0.05, 0.02],
            "length": [10, 20, 40, 80, 160],
            "no_repeat_window": [False, False, True, True, True],
        }
    )
    report = QualityReport(
        summary={"no_repeat_share": 0.6, "file": "log.parquet"}, per_user=per_user
    )
    fig = plot_apen(report)
    a, b = fig.axes
    # stacked: the two layers' bar heights add up to the users in each bin
    heights = [sum(r.get_height() for r in c) for c in a.containers]
    assert heights == [2, 3]
    assert "no-repeat share 60%" in fig._suptitle.get_text()
    assert b.get_xscale() == "log"
    import matplotlib.pyplot as plt

    fig2, ax = plt.subplots()
    assert plot_apen(report, ax=ax) is fig2 and len(fig2.axes) == 1
    plt.close("all")


def test_apen_cli_plot_draws_one_row_per_log(tmp_path):
    from click.testing import CliRunner

    from perflaw.cli import main

    rng = np.random.default_rng(0)
    rows = []
    for u in range(60):
        n = rng.integers(5, 40)
        rows += [(u, int(i), t) for t, i in enumerate(rng.integers(0, 8, n))]
    log = tmp_path / "log.parquet"
    pd.DataFrame(rows, columns=["user_id", "item_id", "timestamp"]).to_parquet(log)
    other = tmp_path / "other.parquet"
    pd.read_parquet(log).head(300).to_parquet(other)
    out = tmp_path / "apen.png"
    res = CliRunner().invoke(main, ["apen", str(log), str(other), "--plot", str(out), "-q"])
    assert res.exit_code == 0, res.output
    import matplotlib.image

    h, w = matplotlib.image.imread(out).shape[:2]
    assert w > 800 and h > 600  # two rows of two panels
    bad = CliRunner().invoke(main, ["apen", str(log), "--plot", str(tmp_path / "a.xyz")])
    assert bad.exit_code != 0 and "unknown figure format" in bad.output
