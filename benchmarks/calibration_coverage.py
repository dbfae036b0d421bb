"""Do backtest-calibrated intervals cover what they claim?  By how many origins the
calibration rests on (issue 12).

A form's prediction interval is calibrated by its own rolling-origin backtest on the runs
it was fitted on (perflaw.backtest, "Calibration"): the spread of its errors, Student-t.
Predictions made from one origin share one fit, so their errors are not independent; a
fitted form's t has one degree of freedom per origin plus one (carry-forward, which fits
nothing: one per predicted run).  This script measures the coverage that rule achieves,
and the rules beside it: on each runs table, for each form and each outer origin, the
form is fitted (and calibrated, as ``perflaw fit --form F`` does) on the runs at or below
the origin, and predicts the larger runs with a 95 % interval for a new run.  Coverage is
tallied by the number of origins the calibration rested on, and within / beyond the
backtest's reach (the farthest it predicted: ``predict`` warns beyond it and
``recommend-config`` does not go there).

Tables (seed means where there are seeds): the published ml-1m panels (along layers, per
panel), amazon-beauty's 1-2-layer width scan (along d_emb), and the bundled ml-latest-small
sweep at fraction 1 (along layers and along d_emb).  Last, the same for the form ``perflaw
fit`` would choose at each origin: the intervals a user acts on.  About a minute.

    python benchmarks/calibration_coverage.py
"""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import pandas as pd
from scipy import stats

from perflaw.errors import ConvergenceError, DataError
from perflaw.fitting import FormSelector, LawFitter
from perflaw.fitting.intervals import calibration_df, edge_decline, horizon
from perflaw.laws.forms import form_law
from perflaw.laws.scales import from_scale as transform_inverse
from perflaw.laws.scales import to_scale as transform_forward
from perflaw.train.runs_table import read_runs_file, seed_means

ROOT = Path(__file__).resolve().parents[1]
XY = ["layers", "d_emb"]
FORMS = ("carry", "saturating", "loglinear", "p2", "free")


def tables():
    """(name, frame of layers, d_emb and metrics, axis) per table and group."""
    ml1m = pd.read_csv(ROOT / "data" / "performance_law_ml1m_runs.csv")
    for panel, g in ml1m.groupby("panel"):
        yield f"ml-1m panel {panel}", g.reset_index(drop=True), "layers"
    ab = seed_means(read_runs_file(ROOT / "benchmarks/data/amazon-beauty-sweep.csv"))
    yield "amazon-beauty 1-2 layers", ab[ab.layers <= 2].reset_index(drop=True), "d_emb"
    ml = seed_means(read_runs_file(ROOT / "data" / "ml-latest-small-sweep.csv"))
    ml = ml[ml.data_fraction == 1].reset_index(drop=True)
    yield "ml-latest-small f=1", ml, "layers"
    yield "ml-latest-small f=1", ml, "d_emb"


def splits(frame: pd.DataFrame, axis: str):
    """Each outer origin: its size, the runs at or below it, the larger runs."""
    for v in np.sort(frame[axis].unique())[:-1]:
        train = frame[axis] <= v
        yield v, frame[train], frame[~train]


def _sides(f: LawFitter, p: pd.DataFrame, te: pd.DataFrame) -> dict:
    """``predict``'s frame on the logit scale, with the law's own value and its level at
    the trained edge: past the edge, where the law falls, the prediction is half-way
    between the two and the interval spans them (``zlaw - hw`` to ``zedge + hw``); the
    metrics here are better higher, so ``hw`` is the lower side's distance from ``zlaw``."""
    Xp = f.inputs(te[XY])
    zlaw = np.asarray(f.law_.formula(f.theta_, Xp), float)
    zedge, falls = edge_decline(f.law_, f.theta_, Xp, f.edge_ or f.calibration_, f.metric_, zlaw)
    z, zl, zu = (
        transform_forward(p[c].to_numpy(float), "logit") for c in ("prediction", "lower", "upper")
    )
    return dict(z=z, zl=zl, zu=zu, zlaw=zlaw, zedge=zedge, falls=falls, hw=zlaw - zl)


def _plain_upper(s: dict) -> np.ndarray:
    """The upper bound of the law's own interval, before it reached to the edge's level
    (its lower side is unchanged)."""
    return transform_inverse(s["zlaw"] + s["hw"], "logit")


def _falls_widths(s: dict, falls: np.ndarray, obs: np.ndarray) -> dict:
    """Summed widths (logit scale) of the spanning intervals and of the law's own, and the
    summed absolute % errors of three points there: the law's value, its level at the
    edge, and half-way between (what ``predict`` gives since the twenty-second session)."""
    out = {
        "falls_width": float((s["zu"] - s["zl"])[falls].sum()),
        "falls_width_plain": float((2 * s["hw"])[falls].sum()),
    }
    for name, point in (
        ("law", s["zlaw"]),
        ("edge", s["zedge"]),
        ("mid", (s["zlaw"] + s["zedge"]) / 2),
    ):
        ape = np.abs(transform_inverse(point, "logit") / obs - 1)
        out[f"falls_ape_{name}"] = float(100 * ape[falls].sum())
    return out


def fitted_at(form: str, axis: str, tr: pd.DataFrame, metric: str) -> LawFitter | None:
    """``form`` fitted and calibrated (as ``perflaw fit --form`` does) on the runs at or
    below an origin; None where it cannot be, or has no term along ``axis``."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            f = (
                FormSelector(
                    LawFitter(form_law(form, axis), scale="logit", backtest_axis=axis), form=form
                )
                .fit(tr[XY], tr[metric], metric=metric)
                .best_
            )
    except (ConvergenceError, DataError, np.linalg.LinAlgError):
        return None
    return f if f.law_.varies_with(axis) else None


def rows():
    out = []
    for name, frame, axis in tables():
        for metric in ("hr@10", "ndcg@10"):
            for form in FORMS:
                for v, tr, te in splits(frame, axis):
                    f = fitted_at(form, axis, tr, metric)
                    if f is None:
                        continue
                    try:
                        p = f.predict(te[XY], interval=True, warn=False, kind="observation")
                    except (DataError, np.linalg.LinAlgError):
                        continue
                    cal = f.calibration_
                    if cal is None:
                        continue
                    obs = te[metric].to_numpy(float)
                    inside = (obs >= p["lower"].to_numpy()) & (obs <= p["upper"].to_numpy())
                    # past the trained edge where the law falls, predict's interval spans
                    # the law's value and its level at the edge; the plain one is the
                    # law's own, symmetric on the logit scale about its value
                    sides = _sides(f, p, te)
                    falls = sides["falls"]
                    plain = inside & (~falls | (obs <= _plain_upper(sides)))
                    # the same interval with other degrees of freedom for its t quantile:
                    # perflaw's, one per predicted run (an earlier rule), one
                    # per origin (the predictions of one origin share one fit); within
                    # and beyond the farthest horizon the backtest predicted.  The reach
                    # to the edge's level above is kept: it is added to the upper side
                    signed = transform_forward(obs, "logit") - sides["zlaw"]
                    extra = np.where(falls, sides["zedge"] - sides["zlaw"], 0.0)
                    h = horizon(te[axis].to_numpy(float), cal["axis_max"])
                    reach = h <= cal["max_horizon"] + 1e-9
                    base = cal["sd"] * np.sqrt((1 + 1 / cal["n"]) * (1 + h))
                    alt = {"n_within": int(reach.sum())}
                    for k, df in (
                        ("perflaw", calibration_df(cal)),
                        ("runs", cal["n"]),
                        ("origins", cal["n_origins"]),
                    ):
                        half = stats.t.ppf(0.975, max(df, 1)) * base
                        ok = (signed >= -half) & (signed <= half + extra)
                        alt[f"covered_df_{k}"] = int(ok.sum())
                        alt[f"within_df_{k}"] = int(ok[reach].sum())
                        alt[f"halfwidth_df_{k}"] = float(half.sum())
                    out.append(
                        dict(
                            table=name,
                            axis=axis,
                            metric=metric,
                            form=form,
                            origin=v,
                            cal_origins=cal["n_origins"],
                            cal_n=cal["n"],
                            n=len(obs),
                            covered=int(inside.sum()),
                            covered_plain=int(plain.sum()),
                            n_falls=int(falls.sum()),
                            falls_covered=int((inside & falls).sum()),
                            falls_covered_plain=int((plain & falls).sum()),
                            **_falls_widths(sides, falls, obs),
                            **alt,
                        )
                    )
    return pd.DataFrame(out)


def chosen_rows():
    """The intervals a user acts on: at each origin, the form ``perflaw fit`` chooses
    (``form="auto"``: its own inner backtest against carry-forward) predicts the larger
    runs, 95 % for a new run as ``predict --kind observation`` gives them; within reach
    is what ``predict`` does not flag "(unchecked)"."""
    out = []
    for name, frame, axis in tables():
        for metric in ("hr@10", "ndcg@10"):
            for v, tr, te in splits(frame, axis):
                try:
                    with warnings.catch_warnings():
                        warnings.simplefilter("ignore")
                        f = (
                            FormSelector(LawFitter(scale="logit", backtest_axis=axis), form="auto")
                            .fit(tr[XY], tr[metric], metric=metric)
                            .best_
                        )
                        p = f.predict(te[XY], interval=True, warn=False, kind="observation")
                except (ConvergenceError, DataError, np.linalg.LinAlgError):
                    continue
                obs = te[metric].to_numpy(float)
                lo, hi = p["lower"].to_numpy(float), p["upper"].to_numpy(float)
                ok = np.isfinite(lo) & np.isfinite(hi)
                inside = ok & (obs >= lo) & (obs <= hi)
                reach = ~p["interval"].astype(str).str.contains("unchecked").to_numpy()
                sides = _sides(f, p, te)
                falls = sides["falls"]
                plain = inside & (~falls | (obs <= _plain_upper(sides)))
                out.append(
                    dict(
                        table=name,
                        metric=metric,
                        origin=v,
                        form=f.form_,
                        n=int(ok.sum()),
                        covered=int(inside.sum()),
                        n_within=int((ok & reach).sum()),
                        within=int((inside & reach).sum()),
                        covered_plain=int(plain.sum()),
                        within_plain=int((plain & reach).sum()),
                        n_falls=int((ok & falls).sum()),
                        falls_covered=int((inside & falls).sum()),
                        falls_covered_plain=int((plain & falls).sum()),
                        **_falls_widths(sides, ok & falls, obs),
                    )
                )
    return pd.DataFrame(out)


def main() -> None:
    r = rows()
    r["bucket"] = np.where(r.cal_origins >= 3, "3+", r.cal_origins.astype(str))
    print("95 % intervals for a new run, calibrated by the form's own backtest")
    print("coverage by the number of origins the calibration rests on (all tables, forms):")
    g = r.groupby("bucket").agg(fits=("n", "size"), runs=("n", "sum"), covered=("covered", "sum"))
    g["coverage"] = g.covered / g.runs
    print(g.to_string(float_format=lambda x: f"{x:.3f}"))
    print("\nby table (all forms):")
    t = r.groupby(["table", "axis", "bucket"]).agg(runs=("n", "sum"), covered=("covered", "sum"))
    t["coverage"] = t.covered / t.runs
    print(t.to_string(float_format=lambda x: f"{x:.3f}"))
    print("\nby form:")
    f = r.groupby(["form", "bucket"]).agg(runs=("n", "sum"), covered=("covered", "sum"))
    f["coverage"] = f.covered / f.runs
    print(f.to_string(float_format=lambda x: f"{x:.3f}"))
    print(
        "\nthe same intervals (seed noise left out here) with the t quantile's degrees of "
        "freedom = perflaw's rule (fitted forms: origins + 1; carry-forward: predicted "
        "runs), predicted runs (an earlier rule), origins; all predictions, "
        "then those within the backtest's reach:"
    )
    rules = ("perflaw", "runs", "origins")
    r["fitted"] = np.where(r.form == "carry", "carry-forward", "fitted forms")
    for title, col, n in (("all", "covered", "n"), ("within reach", "within", "n_within")):
        a = r.groupby("form")[[n, *(f"{col}_df_{k}" for k in rules)]].sum()
        b = r.groupby("fitted")[[n, *(f"{col}_df_{k}" for k in rules)]].sum()
        a = pd.concat([a, b])
        a.loc["all"] = r[[n, *(f"{col}_df_{k}" for k in rules)]].sum()
        out = pd.DataFrame({f"df_{k}": a[f"{col}_df_{k}"] / a[n] for k in rules})
        out.insert(0, "runs", a[n])
        print(f"\n{title}:")
        print(out.to_string(float_format=lambda x: f"{x:.3f}"))
    w = r[[f"halfwidth_df_{k}" for k in rules]].sum()
    wf = r.loc[r.form != "carry", [f"halfwidth_df_{k}" for k in rules]].sum()
    print(
        "\nmean interval width relative to one degree of freedom per predicted run: "
        + ", ".join(f"{k} {w[f'halfwidth_df_{k}'] / w['halfwidth_df_runs']:.2f}x" for k in rules)
        + "; fitted forms only: "
        + ", ".join(f"{k} {wf[f'halfwidth_df_{k}'] / wf['halfwidth_df_runs']:.2f}x" for k in rules)
    )
    c = chosen_rows()
    print(
        "\nthe intervals a user acts on: the form fit chooses at each origin (auto), its 95 % "
        "interval for a new run (seed noise included), all predictions and within reach:"
    )
    cols = ["n", "covered", "n_within", "within", "covered_plain", "within_plain"]
    for by in ("form", "table"):
        g = c.groupby(by)[cols].sum()
        g.loc["all"] = c[cols].sum()
        g["coverage"] = g.covered / g.n
        g["coverage_within"] = g.within / g.n_within
        g["plain_within"] = g.within_plain / g.n_within
        print(g.to_string(float_format=lambda x: f"{x:.3f}"))
    print(
        "\npast the trained edge where the law predicts worse than at it (interval reaching "
        "to the law's level at the edge, as perflaw does), against the plain interval; and "
        "the % error there of the law's point, of its level at the edge, and half-way:"
    )
    _falls(r, "every form")
    _falls(c, "the chosen form")


def _falls(r: pd.DataFrame, what: str) -> None:
    cols = ["n", "n_falls", "falls_covered", "falls_covered_plain", "falls_width"]
    apes = [f"falls_ape_{k}" for k in ("law", "edge", "mid")]
    g = r.groupby("form")[[*cols, "falls_width_plain", *apes]].sum()
    g.loc["all"] = g.sum()
    g["coverage"] = g.falls_covered / g.n_falls
    g["plain"] = g.falls_covered_plain / g.n_falls
    # how much wider the widened intervals are (logit scale) than the plain ones
    g["width_ratio"] = g.falls_width / g.falls_width_plain
    for name in ("law", "edge", "mid"):
        g[f"mape_{name}"] = g[f"falls_ape_{name}"] / g.n_falls
    g = g.drop(columns=["falls_width", "falls_width_plain", *apes])
    print(f"{what}:")
    print(g.to_string(float_format=lambda x: f"{x:.3f}"))


if __name__ == "__main__":
    main()
