"""Figures: observed vs fitted, residuals, budget frontier (headless)."""

from pathlib import Path

import matplotlib
import numpy as np
import pandas as pd
import pytest

matplotlib.use("Agg")

from perflaw import DataError  # noqa: E402
from perflaw.decide.budget import recommend  # noqa: E402
from perflaw.fit import LawFitter  # noqa: E402
from perflaw.plot import plot_recommendation  # noqa: E402

BUNDLED = Path(__file__).resolve().parents[1] / "data" / "performance_law_ml1m_runs.csv"


@pytest.fixture(scope="module")
def fitter():
    g = pd.read_csv(BUNDLED).query("panel == 0")
    return LawFitter(seed=0).fit(g[["layers", "d_emb"]], g["hr@10"], metric="hr@10")


def test_fit_plot_has_points_and_curves_per_d_emb(fitter):
    fig = fitter.plot()
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


def test_residual_plot(fitter):
    ax = fitter.plot("residuals").axes[0]
    offsets = ax.collections[0].get_offsets()
    np.testing.assert_allclose(offsets[:, 1], fitter.residuals_)
    with pytest.raises(DataError, match="unknown plot kind"):
        fitter.plot("violin")


def test_frontier_plot(fitter):
    rec = recommend(fitter, "300k", n_items=3416, max_len=100)
    ax = plot_recommendation(rec).axes[0]
    budget_line = [l for l in ax.get_lines() if l.get_linestyle() == "--"][0]
    assert budget_line.get_xdata()[0] == 300_000
    star = [l for l in ax.get_lines() if l.get_marker() == "*"][0]
    assert star.get_ydata()[0] == pytest.approx(rec.top.prediction.iloc[0])
