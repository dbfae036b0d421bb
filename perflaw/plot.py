"""Matplotlib figures (headless; matplotlib is imported only when a plot is asked for)."""

from __future__ import annotations

import numpy as np

from perflaw.laws.scales import from_scale


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
        raise FileError(
            f"{label}: unknown figure format {ext or 'none'!r}; end the name with one of {names}"
        )
    return check_output(path, inputs, option=option)


def save_figure(fig, path, inputs=(), option: str | None = "--plot", dpi: int = 110) -> None:
    """Save a figure atomically (:mod:`perflaw.files`; format by the extension, checked
    first by :func:`check_figure_path`) and close it."""
    from pathlib import Path

    from perflaw.files import atomic_path

    plt = _plt()
    try:
        check_figure_path(path, inputs, option)
        ext = Path(str(path)).suffix.lower().lstrip(".")
        with atomic_path(path, inputs, option=option) as tmp:
            fig.savefig(tmp, dpi=dpi, format=ext)
    finally:
        plt.close(fig)


def save_fit_grid(fits, path, draw, inputs=(), option: str | None = "--plot") -> None:
    """One panel per ``(key, item)`` in a grid of up to 3 columns, saved to ``path``.

    ``draw(ax, label, item)`` fills a panel; ``label`` is the key as text, ``item``
    whatever the panel draws (a fitter, or a fitter and a group).
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
    save_figure(fig, path, inputs, option)


def _curve(fitter, xname: str, grid: np.ndarray, fixed: dict, group):
    """The law's prediction along ``xname`` (other inputs ``fixed``) and its interval:
    ``(prediction, lower, upper)``, the bounds None when the fit has no interval."""
    import pandas as pd

    X = pd.DataFrame({xname: grid, **{c: np.full_like(grid, v) for c, v in fixed.items()}})
    try:
        p = fitter.predict(X, groups=group, interval=True, warn=False)
        return p["prediction"].to_numpy(), p["lower"].to_numpy(), p["upper"].to_numpy()
    except Exception:  # noqa: BLE001 - a law without intervals: the curve alone
        z = fitter.law_.formula(fitter.theta_, {c: X[c].to_numpy() for c in X})
        return from_scale(z, getattr(fitter, "transform_", "none")), None, None


def plot_fitter(
    fitter, kind: str = "fit", ax=None, title: str | None = None, group: str | None = None
):
    """Observed and fitted metric for any law, or its residuals.

    ``kind="fit"`` draws each curve with its interval (the fitter's level, 95 % by
    default) and continues it, dashed, one doubling past the largest trained size on a
    shaded strip (the region past the trained edge).  The law declares its axes
    (``Law.plot_x``, ``Law.plot_series``): the metric against
    ``plot_x`` (log scale) with one fitted curve per value of ``plot_series`` (other
    inputs held at the first run's value; the two swap when the runs held ``plot_x``
    fixed); a law without ``plot_x`` is drawn as observed against fitted.  ``group``
    draws one group of a joint fit (its runs, its term); without it a joint fit's first
    group is drawn.  Returns the matplotlib Figure.
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
    law = fitter.law_
    metric = fitter.metric_ or "metric"
    xname = law.plot_x if law.plot_x in X else None
    sname = law.plot_series if law.plot_series in X else None
    if xname and sname and len(np.unique(X[xname])) == 1 < len(np.unique(X[sname])):
        # a scan that held the x input fixed (a width scan at one depth): one column of
        # points on an empty axis says nothing; draw along the input that varied
        xname, sname = sname, xname
    keyed = law.grouped_input()
    if xname and sname and keyed is not None and keyed[0] == xname:
        # a term per value of x (a depth offset): the law has no curve along x, only
        # one along the other input per value
        xname, sname = sname, xname
    if kind == "residuals":
        ax.axhline(0, color="0.6", lw=1)
        if xname:
            sc = ax.scatter(fitter.fitted_, fitter.residuals_, c=np.log2(X[xname]), cmap="viridis")
            fig.colorbar(sc, ax=ax, label=f"log2 {law.input_labels.get(xname, xname)}")
        else:
            ax.scatter(fitter.fitted_, fitter.residuals_)
        ax.set_xlabel(f"fitted {metric}")
        ax.set_ylabel("observed − fitted")
    elif xname is None:
        ax.plot(fitter.fitted_, y, "o", alpha=0.7)
        lo = float(min(fitter.fitted_.min(), y.min()))
        hi = float(max(fitter.fitted_.max(), y.max()))
        ax.plot([lo, hi], [lo, hi], "-", color="0.5")
        ax.set_xlabel(f"fitted {metric}")
        ax.set_ylabel(f"observed {metric}")
    else:
        cmap = plt.get_cmap("viridis")
        others = {c: v for c, v in X.items() if c not in (xname, sname)}
        keep = np.ones(len(y), dtype=bool)
        labels = getattr(fitter, "groups_", None)
        if group is not None and labels is not None:
            keep = np.asarray(labels).astype(str) == str(group)
            if not keep.any():
                raise DataError(f"no run of group {group!r} in this law")
        first = int(np.flatnonzero(keep)[0])
        for v in others.values():  # one panel's worth: hold other inputs at the first row
            keep &= v == v[first]
        series = np.unique(X[sname][keep]) if sname else [None]
        lo, hi = fitter.ranges_[xname]
        grid = np.geomspace(lo, hi, 200)
        # one doubling past the largest trained size: where a decision is made, drawn
        # dashed on a shaded strip so no one reads it as measured
        beyond = np.geomspace(hi, 2 * hi, 60)
        level = getattr(fitter, "level", 0.95)
        banded = False
        for i, sv in enumerate(series):
            color = cmap(i / max(len(series) - 1, 1))
            m = keep & (X[sname] == sv) if sname else keep
            label = f"{sname}={sv:g}" if sname else "observed"
            ax.plot(X[xname][m], y[m], "o", color=color, label=label)
            fixed = {c: v[first] for c, v in others.items()}
            if sname:
                fixed[sname] = sv
            inside = _curve(fitter, xname, grid, fixed, group)
            outside = _curve(fitter, xname, beyond, fixed, group)
            ax.plot(grid, inside[0], "-", color=color)
            ax.plot(beyond, outside[0], "--", color=color)
            if inside[1] is not None and outside[1] is not None:
                ax.fill_between(
                    np.r_[grid, beyond],
                    np.r_[inside[1], outside[1]],
                    np.r_[inside[2], outside[2]],
                    color=color,
                    alpha=0.13,
                    lw=0,
                    label=None if banded else f"{level:.0%} interval",
                )
                banded = True
        ax.axvspan(hi, beyond[-1], color="0.92", zorder=0, lw=0, label="past the trained edge")
        if xname in ("layers", "d_emb"):  # sizes come in doublings: label them plainly
            from matplotlib.ticker import FuncFormatter, NullFormatter

            ax.set_xscale("log", base=2)
            ax.xaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:g}"))
            ax.xaxis.set_minor_formatter(NullFormatter())
        else:
            ax.set_xscale("log", base=10)
        ax.set_xlabel(law.input_labels.get(xname, xname))
        ax.set_ylabel(metric)
        ax.legend(fontsize="small")
    r2 = fitter.diagnostics_.get("r2", np.nan)
    name = getattr(fitter, "form_", None) or law.name
    # a nonparametric law (carry-forward) passes through every run: its R² says nothing
    fit_note = "" if getattr(law, "nonparametric", False) else f" (R² = {r2:.3f})"
    ax.set_title(title or f"{name}, {metric}{fit_note}")
    fig.tight_layout()
    return fig


def plot_backtest(result, ax=None, title: str | None = None):
    """Backtest error of every form against how far it extrapolated.

    One line per form through its mean absolute % error at each distance (doublings of
    the backtest's axis past the largest size it was fitted on), the band spanning the
    smallest and largest error at that distance; baselines dashed.  The legend gives each
    form's mean error over all its predictions.
    """
    plt = _plt()
    if ax is None:
        fig, ax = plt.subplots(figsize=(6.4, 4.4))
    else:
        fig = ax.figure
    pts = result.points
    kinds = {}
    if "kind" in result.summary:
        kinds = dict(zip(result.summary["form"], result.summary["kind"]))
    for form, p in pts.groupby("form", sort=False):
        ape = 100 * np.abs(p.predicted - p.observed) / np.abs(p.observed)
        # horizons are log2 ratios: round so that equal distances group together
        by = ape.groupby(p.horizon.astype(float).round(3).to_numpy())
        stats = by.agg(["mean", "min", "max"])
        baseline = kinds.get(form) == "baseline" or form in ("carry", "loglinear")
        (line,) = ax.plot(
            stats.index,
            stats["mean"],
            "s--" if baseline else "o-",
            ms=4,
            lw=1.4 if baseline else 2,
            label=f"{form}{' (baseline)' if baseline else ''}: mean {ape.mean():.1f} %",
        )
        ax.fill_between(
            stats.index, stats["min"], stats["max"], color=line.get_color(), alpha=0.1, lw=0
        )
    ax.set_xlabel(f"doublings of {result.axis} past the largest fitted size")
    ax.set_ylabel("absolute % error (mean; band: min to max)")
    ax.set_ylim(bottom=0)
    ax.legend(fontsize="small")
    ax.set_title(title or f"rolling-origin backtest, {result.metric or 'metric'}")
    fig.tight_layout()
    return fig


def plot_apen(report, ax=None, title: str | None = None):
    """Per-user ApEn and sequence length of a measured log, the no-repeat users marked.

    ``report`` is a :class:`~perflaw.quality.summary.QualityReport` (``perflaw.measure``).
    Two histograms: ApEn (r = 0) and length (log scale), each stacked as users who repeat
    some m-window and users who repeat none, whose ApEn is set by their length alone (the
    no-repeat share, in the title, says how much of D′ measures length rather than
    regularity).  ``ax``: one Axes (the ApEn histogram alone) or two; default a new
    figure with both.  Returns the Figure.
    """
    plt = _plt()
    if ax is None:
        fig, axes = plt.subplots(1, 2, figsize=(10, 3.8))
    elif isinstance(ax, (list, tuple, np.ndarray)):
        axes = list(np.ravel(ax))
        fig = axes[0].figure
    else:
        axes, fig = [ax], ax.figure
    per_user = report.per_user
    if hasattr(per_user, "to_pandas"):
        per_user = per_user.to_pandas()
    apen = per_user["apen"].to_numpy(float)
    length = per_user["length"].to_numpy(float)
    norep = per_user["no_repeat_window"].to_numpy(bool)
    share = report.summary.get("no_repeat_share", float(norep.mean()))
    colors = ["tab:blue", "0.6"]
    labels = ["repeat some window", "repeat no window (ApEn = f(length))"]
    bins = np.histogram_bin_edges(apen[np.isfinite(apen)], bins=40)
    axes[0].hist([apen[~norep], apen[norep]], bins=bins, stacked=True, color=colors, label=labels)
    axes[0].axvline(np.nanmedian(apen), color="tab:red", lw=1, label="median")
    axes[0].set_xlabel("per-user ApEn (r = 0, nats)")
    axes[0].set_ylabel("users")
    axes[0].legend(fontsize="small")
    if len(axes) > 1:
        lbins = np.geomspace(max(length.min(), 1), length.max() + 1, 40)
        axes[1].hist([length[~norep], length[norep]], bins=lbins, stacked=True, color=colors)
        axes[1].set_xscale("log")
        from matplotlib.ticker import FuncFormatter, NullFormatter

        plain = FuncFormatter(lambda v, _: f"{v:g}")
        axes[1].xaxis.set_major_formatter(plain)
        # within a decade and a half the minor ticks are the only ones: label them too
        narrow = lbins[-1] / lbins[0] < 10**1.5
        axes[1].xaxis.set_minor_formatter(plain if narrow else NullFormatter())
        axes[1].set_xlabel("sequence length (events)")
        axes[1].set_ylabel("users")
    name = report.summary.get("file")
    text = f"{len(apen):,} users, no-repeat share {share:.0%}"
    if ax is None:
        fig.suptitle(title or f"{name + ': ' if name else ''}{text}", fontsize="medium")
    else:  # a panel of the caller's figure: the title on the panel, not the figure
        axes[0].set_title(title or text, fontsize="medium")
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
    ax.scatter(
        c["params"],
        c["prediction"],
        s=6,
        c=np.where(c["feasible"], "tab:blue", "0.75"),
        label="configurations",
    )
    frontier = np.maximum.accumulate(c["prediction"].to_numpy())
    ax.plot(c["params"], frontier, "-", color="tab:orange", label="best up to this size")
    if rec.budget is not None:
        ax.axvline(rec.budget, color="tab:red", ls="--", label=f"budget {rec.budget:,.0f}")
    best = rec.pick or rec.top.iloc[0]  # the decision's pick (row 1 of its table)
    ax.plot(
        [best["params"]],
        [best["prediction"]],
        "*",
        ms=14,
        color="tab:red",
        label=f"pick: {int(best['layers'])} layers, d={int(best['d_emb'])}",
    )
    ax.set_xscale("log")
    ax.set_xlabel(f"{rec.count} parameters")
    ax.set_ylabel("predicted metric")
    ax.legend(fontsize="small")
    ax.set_title(title or "recommendation over the budget frontier")
    fig.tight_layout()
    return fig


def plot_surface(fitter, ax=None, title: str | None = None, group: str | None = None):
    """The prediction surface over depth × width, with its intervals and the trained edge.

    One cell per combination of the trained layer counts and widths plus one doubling of
    each past the largest trained: the colour is the predicted metric, the text the
    prediction and its interval (the fitter's level); a trained configuration is framed,
    and the cells past the trained edge are hatched.  Needs a law in ``layers`` and
    ``d_emb``.  Returns the Figure.
    """
    import pandas as pd
    from matplotlib.patches import Rectangle

    from perflaw.errors import DataError

    plt = _plt()
    X = fitter.X_
    if not {"layers", "d_emb"} <= set(X):
        raise DataError("a prediction surface needs a law in layers and d_emb")
    if ax is None:
        fig, ax = plt.subplots(figsize=(7.2, 4.8))
    else:
        fig = ax.figure
    layers = np.unique(X["layers"])
    widths = np.unique(X["d_emb"])
    layers = np.r_[layers, 2 * layers.max()]
    widths = np.r_[widths, 2 * widths.max()]
    L, D = np.meshgrid(layers, widths, indexing="ij")
    grid = pd.DataFrame({"layers": L.ravel(), "d_emb": D.ravel()})
    for c in X:
        if c not in grid:  # other inputs (D′) held at the first run's value
            grid[c] = np.asarray(X[c])[0]
    try:
        p = fitter.predict(grid, groups=group, interval=True, warn=False)
        pred, lo, hi = (p[c].to_numpy().reshape(L.shape) for c in ("prediction", "lower", "upper"))
    except Exception:  # noqa: BLE001 - a law without intervals: the prediction alone
        pred = np.asarray(fitter.predict(grid, groups=group, warn=False)).reshape(L.shape)
        lo = hi = None
    im = ax.imshow(pred.T, origin="lower", cmap="viridis", aspect="auto")
    fig.colorbar(im, ax=ax, label=f"predicted {fitter.metric_ or 'metric'}")
    trained = {(float(a), float(b)) for a, b in zip(X["layers"], X["d_emb"])}
    vmid = np.nanmean(pred)
    for i, a in enumerate(layers):
        for j, b in enumerate(widths):
            text = f"{pred[i, j]:.3g}"
            if lo is not None and hi is not None:
                text += f"\n[{lo[i, j]:.3g}, {hi[i, j]:.3g}]"
            ax.text(
                i,
                j,
                text,
                ha="center",
                va="center",
                fontsize=6.5,
                color="white" if pred[i, j] < vmid else "black",
            )
            if (float(a), float(b)) in trained:
                ax.add_patch(Rectangle((i - 0.5, j - 0.5), 1, 1, fill=False, lw=1.6, ec="white"))
            elif i == len(layers) - 1 or j == len(widths) - 1:
                ax.add_patch(
                    Rectangle((i - 0.5, j - 0.5), 1, 1, fill=False, hatch="///", lw=0, ec="0.85")
                )
    ax.set_xticks(range(len(layers)), [f"{v:g}" for v in layers])
    ax.set_yticks(range(len(widths)), [f"{v:g}" for v in widths])
    ax.set_xlabel("layers (last column: one doubling past the trained edge)")
    ax.set_ylabel("d_emb (top row: past the edge)")
    name = getattr(fitter, "form_", None) or fitter.law_.name
    ax.set_title(title or f"predicted {fitter.metric_ or 'metric'} ({name}); framed: trained")
    fig.tight_layout()
    return fig
