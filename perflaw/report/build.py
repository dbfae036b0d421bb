"""What the report says: every number and figure, computed through the public API."""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

#: columns whose values split runs into groups a single law should not mix
_GROUPISH = ("dataset", "backbone", "data_fraction", "max_len", "eval", "objective")


@dataclass
class Figure:
    """One figure: its title, a one-line reading, and the PNG bytes."""

    title: str
    reading: str
    png: bytes
    alt: str = ""


@dataclass
class Report:
    """Everything :func:`render_html` lays out.

    ``decision`` is the one line to read first; ``sections`` maps a heading to its
    paragraphs, ``tables`` a heading to a small DataFrame, ``figures`` a heading to its
    figures; ``warnings`` collects every warning the work raised (one line each).
    """

    title: str
    source: str
    metric: str
    decision: str
    facts: list[tuple[str, str]] = field(default_factory=list)
    sections: dict[str, list[str]] = field(default_factory=dict)
    tables: dict[str, pd.DataFrame] = field(default_factory=dict)
    figures: dict[str, list[Figure]] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)


def _png(fig, dpi: int = 110) -> bytes:
    import io

    import matplotlib.pyplot as plt

    buf = io.BytesIO()
    try:
        fig.savefig(buf, format="png", dpi=dpi, bbox_inches="tight")
    finally:
        plt.close(fig)
    return buf.getvalue()


def _pct(x) -> str:
    return "n/a" if x is None or not np.isfinite(x) else f"{x:.1f} %"


def build_report(
    runs,
    *,
    metric: str,
    log=None,
    where: str | None = None,
    budget=None,
    n_items: int | None = None,
    max_len: int | None = None,
    tracking_uri: str | None = None,
    storage: str | None = None,
    seed: int = 0,
    title: str | None = None,
) -> Report:
    """Fit, backtest and decide on a runs table (a file or a tracker source) and gather
    the figures; ``log`` (an interaction log) adds its quality.  See the module."""
    from perflaw import FormSelector, LawFitter, backtest, recommend
    from perflaw.plot import plot_apen, plot_backtest, plot_fitter, plot_surface
    from perflaw.replicates import average_replicates
    from perflaw.runs import read_table, runs_from_frame

    caught: list[str] = []
    with warnings.catch_warnings(record=True) as record:
        warnings.simplefilter("always")
        frame = read_table(runs, tracking_uri=tracking_uri, storage=storage)
        table = runs_from_frame(frame, metric=metric, where=where, source=f"runs {runs}")
        sub = frame
        if where:
            from perflaw.conditions import parse_condition

            sub = frame[parse_condition(where, frame)]
        mixed = [c for c in _GROUPISH if c in sub.columns and sub[c].nunique() > 1]
        if mixed:
            caught.append(
                f"column(s) {', '.join(mixed)} vary: one law is fitted across them "
                "(narrow the runs with --where)"
            )
        n_runs = len(table.y)
        noise, n_rep = None, 0
        if table.seeds is not None:
            table, noise, n_rep = average_replicates(table, table.seeds)
        X = table.X.drop(columns=[c for c in table.X if c not in ("layers", "d_emb")])
        fitter = (
            FormSelector(LawFitter(scale="auto", noise_sd=noise, seed=seed), form="auto")
            .fit(X, table.y, metric=table.metric)
            .best_
        )
        result = backtest(X, table.y, metric=table.metric, seed=seed)
        if max_len is None and "max_len" in sub.columns and sub["max_len"].nunique() == 1:
            max_len = int(sub["max_len"].iloc[0])
        quality = None
        if log is not None:
            from perflaw import measure

            quality = measure(log)
            if n_items is None:
                n_items = int(quality.summary["items"])
        rec = recommend(fitter, budget, n_items=n_items or 0, max_len=max_len or 0)
    for w in record:
        text = str(w.message)
        if text not in caught:
            caught.append(text)

    m = table.metric
    report = Report(
        title=title or f"perflaw report: {m} of {Path(str(runs)).name}",
        source=str(runs),
        metric=m,
        decision=rec.message,
        warnings=caught,
    )
    best = rec.best_observed or {}
    report.facts = [
        (
            "runs",
            f"{n_runs} ({len(table.y)} configurations"
            + (f", {n_rep} with seed replicates" if n_rep else "")
            + ")",
        ),
        ("metric", m),
        (
            "law kept",
            f"{fitter.form_} ({fitter.law_.name} law, fitted on the "
            f"{getattr(fitter, 'transform_', 'none')} scale)",
        ),
        (
            "best trained run",
            f"layers {best.get('layers')} x d_emb {best.get('d_emb')}: "
            f"{best.get('observed', float('nan')):.4g}"
            if best
            else "none",
        ),
        (
            "run-to-run noise",
            f"{noise:.3g} (pooled sd of one run over the seed replicates)"
            if noise
            else "no seed replicates",
        ),
    ]

    # ---------------------------------------------------------------- the decision
    pick = rec.pick
    nxt = rec.next_run or {}
    lines = [_headline(nxt, pick), rec.message[:1].upper() + rec.message[1:] + "."]
    if pick:
        lines.append(
            f"Best configuration by the law: layers {pick['layers']} x d_emb {pick['d_emb']}"
            f" ({pick['params']:,.0f} parameters), predicted {pick['prediction']:.4g} "
            f"[{pick['lower']:.4g}, {pick['upper']:.4g}]"
            + (
                f", best of the grid in {pick['p_best']:.0%} of the predictive draws."
                if np.isfinite(pick.get("p_best", np.nan))
                else "."
            )
        )
    lines.append(
        "Track record of the loop: none yet (no pre-registered predictions were checked "
        "against runs trained after them in this table)."
    )
    report.sections["Decision"] = lines
    top = rec.top.copy()
    if "p_best" in top:  # a share of draws reads best as a percentage
        top["p_best"] = top["p_best"].map(lambda v: f"{v:.0%}" if np.isfinite(v) else "")
    report.tables["Best configurations by the law"] = top[
        [
            c
            for c in (
                "layers",
                "d_emb",
                "params",
                "prediction",
                "lower",
                "upper",
                "p_best",
                "trained",
                "supported",
            )
            if c in top
        ]
    ]

    # ---------------------------------------------------------------- the law
    sel = fitter.selection_ or {}
    report.sections["Law"] = [
        f"Form {fitter.form_}: {sel.get('reason', 'given, not chosen')}",
        f"R² = {fitter.diagnostics_.get('r2', float('nan')):.3f} on {len(table.y)} "
        f"configurations; intervals at {fitter.level:.0%}, calibrated by the backtest.",
    ]
    report.figures["Law"] = [
        Figure(
            "Fitted law",
            _fit_reading(fitter),
            _png(plot_fitter(fitter)),
            alt=f"{m} against layers, fitted curves with intervals",
        ),
        Figure(
            "Prediction surface",
            "Each cell: the predicted metric and its interval; framed cells were trained, "
            "hatched ones lie one doubling past the trained edge, where nothing was measured.",
            _png(plot_surface(fitter)),
            alt="predicted metric over layers and d_emb",
        ),
    ]

    # ---------------------------------------------------------------- the backtest
    s = result.summary.copy()
    report.tables["Backtest (rolling origin)"] = s
    report.figures["Backtest"] = [
        Figure(
            "Backtest error by distance",
            _backtest_reading(s),
            _png(plot_backtest(result)),
            alt="absolute percentage error against doublings ahead, one line per form",
        )
    ]

    # ---------------------------------------------------------------- the data
    if quality is not None:
        q = quality.summary
        share = q.get("no_repeat_share", float("nan"))
        report.sections["Data quality"] = [
            f"{q['users']:,} users, {q['items']:,} items, {q['interactions']:,} interactions; "
            f"median length {q['length_median']:g}.",
            f"ApEn (r = 0) per user: mean {q['apen_mean']:.4g}, median {q['apen_median']:.4g};"
            f" D′ = {q['d_prime']:.4g}.",
            *quality.notes,
        ]
        report.figures["Data quality"] = [
            Figure(
                "Per-user ApEn and length",
                (
                    f"{share:.0%} of users repeat no window: their ApEn is set by their length "
                    "alone, so D′ here measures length more than regularity."
                    if share == share and share > 0.5
                    else f"{share:.0%} of users repeat no window; ApEn mostly measures "
                    "how regular the sequences are."
                ),
                _png(plot_apen(quality)),
                alt="histograms of per-user ApEn and sequence length",
            )
        ]
    return report


def _headline(nxt: dict, pick: dict) -> str:
    """The decision in a few words: what to train next."""
    if not nxt:
        if pick:
            return f"Train layers {pick['layers']} x d_emb {pick['d_emb']} next."
        return "No decision: the law has no configuration to compare with a trained run."
    shape = f"layers {nxt['layers']} x d_emb {nxt['d_emb']}"
    if nxt["action"] == "rerun":
        return f"Next: rerun {shape} with another seed."
    why = {"beat": "to beat the best trained run", "judge": "to test the law"}.get(
        str(nxt.get("purpose")), ""
    )
    chance = nxt.get("chance_to_beat")
    extra = f" ({chance:.0%} chance to beat the best run)" if chance is not None else ""
    return f"Next: train {shape} {why}{extra}.".replace("  ", " ")


def _fit_reading(fitter) -> str:
    sel = fitter.selection_ or {}
    if fitter.form_ == "carry":
        return (
            "No trend beat carry-forward out of sample: the curves join the trained runs, "
            "and past the trained edge (shaded) they only carry the last value forward."
        )
    return (
        f"The {fitter.form_} form, chosen along {sel.get('axis', 'layers')}; dashed: one "
        "doubling past the largest trained size, where the band is what the backtest "
        "measured, not a run."
    )


def _backtest_reading(s: pd.DataFrame) -> str:
    s = s[s["n_points"] > 0]
    if s.empty:
        return "Too few sizes to backtest."
    best = s.loc[s["mape"].idxmin()]
    base = s[s["kind"] == "baseline"]
    if base.empty:
        return f"Lowest error: {best['form']} ({_pct(best['mape'])})."
    b = base.loc[base["mape"].idxmin()]
    if best["kind"] == "baseline":
        return (
            f"A plain baseline wins: {best['form']} errs {_pct(best['mape'])} on average; "
            "no law beats it out of sample on these runs."
        )
    return (
        f"{best['form']} errs {_pct(best['mape'])} on average against {_pct(b['mape'])} for "
        f"the best baseline ({b['form']}); errors grow with the distance extrapolated."
    )
