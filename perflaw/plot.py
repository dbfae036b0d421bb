"""Matplotlib figures (headless; matplotlib is imported only when a plot is asked for)."""

from __future__ import annotations

import numpy as np


def _plt():
    import matplotlib

    if matplotlib.get_backend().lower() not in ("agg", "pdf", "svg", "ps", "cairo"):
        try:
            matplotlib.use("Agg")
        except Exception:  # noqa: BLE001 - a backend already in use is fine
            pass
    import matplotlib.pyplot as plt

    return plt


def check_figure_path(path, inputs=(), option: str | None = "--plot"):
    """Refuse a figure path before any work: unknown extension, an input, missing folder."""
    from pathlib import Path

    from perflaw.errors import FileError
    from perflaw.files import check_output

    plt = _plt()
    fig = plt.figure()
    try:
        known = fig.canvas.get_supported_filetypes()
    finally:
        plt.close(fig)
    ext = Path(str(path)).suffix.lower().lstrip(".")
    if ext not in known:
        label = f"{option} {path}" if option else str(path)
        names = ", ".join("." + k for k in sorted(known))
        raise FileError(f"{label}: unknown figure format {ext or 'none'!r}; end the name "
                        f"with one of {names}")
    return check_output(path, inputs, option=option)


def save_figure(fig, path, inputs=(), option: str | None = "--plot", dpi: int = 110):
    """Save ``fig`` atomically (:mod:`perflaw.files`) after :func:`check_figure_path`."""
    from pathlib import Path

    from perflaw.files import atomic_path

    check_figure_path(path, inputs, option)
    ext = Path(str(path)).suffix.lower().lstrip(".")
    with atomic_path(path, inputs, option=option) as tmp:
        fig.savefig(tmp, dpi=dpi, format=ext)
    return path


def save_fit_grid(fits, path, draw, inputs=(), option: str | None = "--plot") -> None:
    """One panel per ``(key, fitter)`` in a grid of up to 3 columns, saved to ``path``.

    ``draw(ax, label, fitter)`` fills a panel; ``label`` is the fit's group key as text.
    """
    plt = _plt()
    n = len(fits)
    cols = min(n, 3)
    rows = (n + cols - 1) // cols
    fig, axes = plt.subplots(rows, cols, figsize=(5.5 * cols, 4.2 * rows), squeeze=False)
    for ax, (key, f) in zip(axes.ravel(), fits):
        draw(ax, ", ".join(f"{k}={v}" for k, v in key.items()), f)
    for ax in axes.ravel()[n:]:
        ax.set_visible(False)
    fig.tight_layout()
    try:
        save_figure(fig, path, inputs, option)
    finally:
        plt.close(fig)


def plot_fitter(fitter, kind: str = "fit", ax=None, title: str | None = None):
    """Observed vs fitted (metric against layers, one line per d_emb) or residuals.

    Returns the matplotlib Figure.
    """
    from perflaw.errors import DataError

    plt = _plt()
    if kind not in ("fit", "residuals"):
        raise DataError(f"unknown plot kind {kind!r}: use 'fit' or 'residuals'")
    if ax is None:
        fig, ax = plt.subplots(figsize=(6.4, 4.4))
    else:
        fig = ax.figure
    X, y = fitter.X_, fitter.y_
    metric = fitter.metric_ or "metric"
    if kind == "residuals":
        ax.axhline(0, color="0.6", lw=1)
        sc = ax.scatter(fitter.fitted_, fitter.residuals_, c=np.log2(X["layers"]), cmap="viridis")
        fig.colorbar(sc, ax=ax, label="log2 layers")
        ax.set_xlabel(f"fitted {metric}")
        ax.set_ylabel("observed − fitted")
    else:
        cmap = plt.get_cmap("viridis")
        extra = {c: v for c, v in X.items() if c not in ("layers", "d_emb")}
        # one panel's worth: hold extra inputs (group, d_prime) at the first row's value
        keep = np.ones(len(y), dtype=bool)
        for c, v in extra.items():
            keep &= v == v[0]
        dvals = np.unique(X["d_emb"][keep])
        lo, hi = fitter.ranges_["layers"]
        grid = np.geomspace(lo, hi, 200)
        for i, d in enumerate(dvals):
            color = cmap(i / max(len(dvals) - 1, 1))
            m = keep & (X["d_emb"] == d)
            ax.plot(X["layers"][m], y[m], "o", color=color, label=f"d_emb={d:g}")
            Xc = {"layers": grid, "d_emb": np.full_like(grid, d)}
            Xc.update({c: np.full_like(grid, v[0]) for c, v in extra.items()})
            ax.plot(grid, fitter.law_.formula(fitter.theta_, Xc), "-", color=color)
        ax.set_xscale("log", base=2)
        ax.set_xlabel("layers")
        ax.set_ylabel(metric)
        ax.legend(fontsize="small")
    r2 = fitter.diagnostics_.get("r2", np.nan)
    ax.set_title(title or f"{fitter.law_.name} law, {metric} (R² = {r2:.3f})")
    fig.tight_layout()
    return fig


def plot_recommendation(rec, ax=None, title: str | None = None):
    """Predicted metric against parameter count, the budget line and the frontier."""
    plt = _plt()
    if ax is None:
        fig, ax = plt.subplots(figsize=(6.4, 4.4))
    else:
        fig = ax.figure
    c = rec.candidates.sort_values("params")
    ax.scatter(c["params"], c["prediction"], s=6, c=np.where(c["feasible"], "tab:blue", "0.75"),
               label="configurations")
    frontier = np.maximum.accumulate(c["prediction"].to_numpy())
    ax.plot(c["params"], frontier, "-", color="tab:orange", label="best up to this size")
    ax.axvline(rec.budget, color="tab:red", ls="--", label=f"budget {rec.budget:,.0f}")
    best = rec.top.iloc[0]
    ax.plot([best["params"]], [best["prediction"]], "*", ms=14, color="tab:red",
            label=f"pick: {int(best['layers'])} layers, d={int(best['d_emb'])}")
    ax.set_xscale("log")
    ax.set_xlabel(f"{rec.count} parameters")
    ax.set_ylabel("predicted metric")
    ax.legend(fontsize="small")
    ax.set_title(title or "recommendation over the budget frontier")
    fig.tight_layout()
    return fig
