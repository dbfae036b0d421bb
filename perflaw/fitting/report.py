"""The one record of a fit every output format prints: the parameter table, the summary
text (the headline first) and the record JSON and CSV carry."""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy import stats

from perflaw.fitting.intervals import calibration_df


def summary_frame(f) -> pd.DataFrame:
    """Estimate, standard error and interval of every parameter and derived quantity
    (bootstrap percentile, or Wald from the covariance)."""
    alpha = 1 - f.level
    names = list(f.law_.param_names)
    est = f.theta_
    se = np.sqrt(np.clip(np.diag(f.cov_), 0, None))
    dof = max(len(f.y_) - len(names), 1)
    rows = []
    boot = f.bootstrap_params_
    if boot is not None:
        lo_q, hi_q = np.percentile(boot, [100 * alpha / 2, 100 * (1 - alpha / 2)], axis=0)
        bse = boot.std(axis=0, ddof=1) if len(boot) > 1 else np.full(len(names), np.nan)
    t = stats.t.ppf(1 - alpha / 2, dof)
    hidden = set(getattr(f, "unidentified_", [])) | set(getattr(f, "inert_", []))
    for i, name in enumerate(names):
        if f.law_.nonparametric or name in hidden:
            rows.append((name, "param", est[i], np.nan, np.nan, np.nan))
        elif boot is not None:
            rows.append((name, "param", est[i], bse[i], lo_q[i], hi_q[i]))
        else:
            rows.append((name, "param", est[i], se[i], est[i] - t * se[i], est[i] + t * se[i]))
    if f.derived_:
        dnames = list(f.derived_)
        if boot is not None:
            D = np.array([[f.law_.derived(b, f.ranges_)[d] for d in dnames] for b in boot])
            f.bootstrap_derived_ = pd.DataFrame(D, columns=dnames)
        for j, name in enumerate(dnames):
            value = f.derived_[name]
            if boot is not None:
                col = D[:, j]
                col = col[np.isfinite(col)]
                if len(col) >= max(10, 0.5 * len(D)):
                    lo, hi = np.percentile(col, [100 * alpha / 2, 100 * (1 - alpha / 2)])
                    rows.append((name, "derived", value, float(col.std(ddof=1)), lo, hi))
                    continue
            rows.append((name, "derived", value, np.nan, np.nan, np.nan))
    frame = pd.DataFrame(
        rows, columns=["name", "kind", "estimate", "std_err", "lower", "upper"]
    ).set_index("name")
    frame.attrs["level"] = f.level
    frame.attrs["interval"] = "bootstrap percentile" if boot is not None else "Wald (delta)"
    return frame


def _selection_lines(sel: dict) -> list[str]:
    """How the form was chosen: the reason, the backtest errors beside carry-forward's,
    and the forms these runs could not fit."""
    lines = [f"  chosen: {sel['reason']}"]
    sc = pd.DataFrame(sel.get("scores") or [])
    if len(sc) and sc["n_points"].sum():
        sc = sc[sc.n_points > 0]
        carry = sc[sc.form == "carry"]
        if len(carry):
            lines.append(
                f"  backtest MAPE: carry-forward (the baseline) "
                f"{carry.mape.iloc[0]:.2f} % over {carry.n_points.iloc[0]} "
                "predicted runs"
            )
        if "n_common" in sc:
            parts = [
                f"{r.form} {r.mape_common:.2f} % vs {r.carry_mape_common:.2f} % "
                f"({r.n_common} run{'s' if r.n_common != 1 else ''})"
                for r in sc.itertuples()
                if r.form != "carry" and r.n_common
            ]
            if parts:
                lines.append("  vs carry-forward on the same runs: " + ", ".join(parts))
    by_reason: dict[str, list[str]] = {}
    for f, why in (sel.get("not_fitted") or {}).items():
        by_reason.setdefault(why, []).append(f)
    if by_reason:
        lines.append(
            "  not fitted: "
            + "; ".join(f"{', '.join(fs)} ({why})" for why, fs in by_reason.items())
        )
    return lines


def _calibration_line(cal: dict, level: float) -> str:
    """How the prediction intervals were calibrated by the backtest."""
    k = cal.get("n_origins")  # absent from older law files
    return (
        f"  intervals: {100 * level:g} % prediction intervals calibrated "
        f"by the backtest ({cal['n']} predicted runs"
        + (f" from {k} origin{'' if k == 1 else 's'}" if k else "")
        + (
            f", at most {cal['max_horizon']:.2g} doublings ahead"
            if cal.get("max_horizon") is not None
            else ""
        )
        + f"; Student t with {calibration_df(cal)} degrees of freedom"
        + f"; widen with the doublings past {cal['axis']} {cal['axis_max']:g})"
    )


def _parameter_lines(fitter, law, d: dict, scale: str) -> list[str]:
    """The ``--verbose`` part: loss, starts and bootstrap, fit statistics, parameters."""
    lines = ["---"]
    lines.append(
        f"loss = {law.objective_text or fitter.loss}"
        + (
            f" (delta={fitter.huber_delta_:.3g})"
            if fitter.loss == "huber" and fitter.huber_delta_
            else ""
        )
        + f"; starts: {fitter.n_best_starts_} of {fitter.n_starts_} reached the best loss; "
        f"bootstrap: {0 if fitter.bootstrap_params_ is None else len(fitter.bootstrap_params_)}"
        f" refits (by {fitter.bootstrap_by})"
        + (f", {fitter.n_bootstrap_failed_} failed" if fitter.n_bootstrap_failed_ else "")
    )
    if d.get("adj_r2") is not None:
        lines.append(
            f"adj. R² = {d['adj_r2']:.4f}, RMSE = {d['rmse']:.4g}, MAPE = {d['mape']:.3g} %, "
            f"AIC = {d['aic']:.2f}, BIC = {d['bic']:.2f}"
        )
    table = fitter.summary_.rename(
        columns={
            "lower": f"lower {100 * fitter.level:g}%",
            "upper": f"upper {100 * fitter.level:g}%",
        }
    )
    lines.append(
        f"parameters ({scale} scale); intervals: "
        f"{fitter.summary_.attrs.get('interval', '')}; blank = not identified"
    )
    with pd.option_context("display.width", 120, "display.max_columns", 20):
        lines.append(table.to_string(float_format=lambda v: f"{v:.5g}", na_rep=""))
    return lines


def summary_text(fitter, verbose: bool = True) -> str:
    """The text :meth:`print_summary` prints: the headline first (metric, form and why,
    backtest error beside the baseline's, R², points, the best trained run), then
    notes and warnings, then (``verbose``) the parameter table."""
    d = fitter.diagnostics_
    law = fitter.law_
    metric = fitter.metric_ or "y"
    form = getattr(fitter, "form_", None)
    named = form if form != "joint" else None  # a joint fit shows its options
    head = f"{metric}: " + (f"form {named}" if named else f"law {law.name}")
    opts = {
        k: v
        for k, v in law.options().items()
        if v is not None and k not in ("widths", "layers", "exponent_bounds")
    }
    if opts and not named:
        head += " (" + ", ".join(f"{k}={v}" for k, v in opts.items()) + ")"
    head += f" — {law.description}" if law.description else ""
    lines = [head]
    sel = getattr(fitter, "selection_", None)
    if sel:
        lines += _selection_lines(sel)
    scale = getattr(fitter, "transform_", "none")
    r2 = d.get("r2", np.nan)
    r2_text = "n/a" if r2 is None or not np.isfinite(r2) else f"{r2:.4f}"
    lines.append(
        f"  R² = {r2_text} in sample"
        + (" (a lookup of the trained runs: judge it by the backtest)" if law.nonparametric else "")
        + f", {d['n_points']} runs, {d['n_params']} parameters"
        + (f", fitted on the {scale} scale" if scale != "none" else "")
    )
    best = getattr(fitter, "best_observed_", None)
    if best:
        where = " × ".join(
            f"{c} {best[c]}"
            if c in ("layers", "d_emb")
            else f"{law.input_labels.get(c, c)} {best[c]:.4g}"
            for c in best
            if c not in ("observed", "group")
        ) + (f" ({best['group']})" if "group" in best else "")
        lines.append(f"  best trained run: {where or 'row'} = {best['observed']:.4g}")
    cal = getattr(fitter, "calibration_", None)
    if cal:
        lines.append(_calibration_line(cal, fitter.level))
    lines.append(
        "  ranges: " + ", ".join(f"{c} {lo:g}-{hi:g}" for c, (lo, hi) in fitter.ranges_.items())
    )
    if fitter.holdout_metrics_:
        h = fitter.holdout_metrics_
        lines.append(
            f"  holdout {fitter.holdout_condition_!r}: {h['n_points']} runs, "
            f"MAPE = {h['mape']:.3g} %, max APE = {h['max_ape']:.3g} %, MAE = "
            f"{h['mae']:.4g}"
        )
    if fitter.loo_metrics_:
        m = fitter.loo_metrics_
        lines.append(f"  leave-one-out: MAE = {m['mae']:.4g}, MAPE = {m['mape']:.3g} %")
    for note in fitter.notes_:
        lines.append(f"  note: {note}")
    for w in getattr(fitter, "warnings_", []):
        lines.append(f"warning: {w}")
    if getattr(fitter, "exclude_", None):
        lines.append(f"  excluded {fitter.n_excluded_} row(s) matching {fitter.exclude_!r}")
    if not verbose:
        lines.append("  (parameters: --verbose)")
        return "\n".join(lines)
    lines += _parameter_lines(fitter, law, d, scale)
    return "\n".join(lines)


def fit_record(key: dict, fitter, *, with_ci: bool) -> dict:
    """The one record of a fit that every output format prints (JSON as is, CSV flattened,
    the table through :func:`summary_text`): ``key`` is the fit's group."""
    d = fitter.to_dict()
    rec = dict(key)
    rec.update(
        {
            "law": d["law"],
            "metric": d["metric"],
            "n_points": d["n_points"],
            "r2": d["r2"],
            "adj_r2": d["diagnostics"]["adj_r2"],
            "rmse": d["diagnostics"]["rmse"],
            "mape": d["diagnostics"]["mape"],
            "aic": d["diagnostics"]["aic"],
            "bic": d["diagnostics"]["bic"],
            "params": d["params"],
            "derived": d["derived"],
            "starts": d["starts"],
            "notes": d["notes"],
            "options": d["law_options"],
            "form": d.get("form") or d["law"],
            "scale": d.get("scale", "none"),
            "warnings": d["warnings"],
            "best_observed": d.get("best_observed"),
            # one run's noise on the metric's own scale (the pooled spread of seed
            # replicates), null without replicates; the law file keeps the fit-scale value
            "noise_sd": getattr(fitter, "noise_sd", None),
        }
    )
    if d.get("selection"):
        rec["selection"] = d["selection"]
    if d.get("calibration"):
        rec["calibration"] = d["calibration"]
    if with_ci:
        rec["ci"] = d["ci"]
        rec["derived_ci"] = d["derived_ci"]
        rec["level"] = d["level"]
    if d["holdout"]:
        keep = [
            c
            for c in (
                "layers",
                "d_emb",
                "d_prime",
                "x",
                "N",
                "D",
                "observed",
                "predicted",
                "lower",
                "upper",
                "error",
                "pct_error",
            )
            if c in fitter.holdout_.columns
        ]
        rec["holdout"] = dict(
            d["holdout"],
            condition=d["fit_options"]["holdout"],
            points=fitter.holdout_[keep].to_dict(orient="records"),
        )
    if d["loo"]:
        rec["loo"] = d["loo"]
    return rec
