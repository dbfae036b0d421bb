"""The verdict of the selection rule (:mod:`perflaw.fitting.selection`'s docstring): each
form's backtest scored against carry-forward on the same runs, the form the rule
chooses and why, and whether that verdict rests on one origin."""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np
import pandas as pd

from perflaw.fitting.evidence import T_MIN, hinge, paired_gain, versus_carry


def _mape(p: pd.DataFrame) -> float:
    return (
        float(np.mean(np.abs(p.predicted - p.observed) / np.abs(p.observed)) * 100)
        if len(p)
        else np.nan
    )


def score_forms(
    pts: pd.DataFrame, forms: Iterable[str], keys: list[str]
) -> tuple[pd.DataFrame, dict[str, np.ndarray], dict[str, np.ndarray]]:
    """Each form's backtest record (points, MAPE, and against carry-forward on the same
    predictions), with the paired differences of their errors and the origin of each."""
    rows = []
    carry_pts = pts[pts.form == "carry"].set_index(keys) if len(pts) else None
    paired: dict[str, np.ndarray] = {}  # carry-forward's |error| minus each form's
    paired_origins: dict[str, np.ndarray] = {}
    for f in dict.fromkeys(forms):
        p = pts[pts.form == f]
        rec = {
            "form": f,
            "n_points": len(p),
            "mape": _mape(p),
            "rmse_fit_scale": float(np.sqrt(np.mean(p.z_error**2))) if len(p) else np.nan,
            "t_vs_carry": np.nan,
            "n_common": 0,
            "n_origins_common": 0,
            "mape_common": np.nan,
            "carry_mape_common": np.nan,
        }
        if carry_pts is not None and len(p) and len(carry_pts):
            q = p.set_index(keys)
            common = q.index.intersection(carry_pts.index)
            mine, base = q.loc[common], carry_pts.loc[common]
            paired[f] = paired_gain(base.z_error.to_numpy(float), mine.z_error.to_numpy(float))
            # (from the rows paired, not the keys: a table with repeated configurations
            # has several rows per key)
            paired_origins[f] = mine.index.get_level_values("origin").to_numpy(float)
            rec.update(
                n_common=len(common),
                n_origins_common=len(set(common.get_level_values("origin"))),
                mape_common=_mape(mine),
                carry_mape_common=_mape(base),
            )
        rows.append(rec)
    scores = pd.DataFrame(rows)
    return scores, paired, paired_origins


def verdict(scores, pts, comparable, scored, eligible, cands, fixed, joint, axis, n_values):
    """The rule's verdict: ``(chosen form, reason, forms left unjudged)`` (the module
    docstring)."""
    n_origins = int(pts.origin.nunique()) if len(pts) else 0
    unjudged: dict[str, int] = {}  # set when carry-forward is kept: see below
    if fixed:
        chosen = cands[0]
        reason = (
            f"joint: the joint fit asked for ({', '.join(f'{k}={v}' for k, v in joint.items())})"
            if joint is not None
            else f"{chosen}: chosen with --form"
        )
        if chosen != "carry" and n_origins >= 1:
            reason += "; " + versus_carry(scores[scores.form == chosen].iloc[0].to_dict(), axis)
        elif chosen != "carry":
            reason += f"; too few {axis} values to backtest it"
    elif n_origins < 2 or "carry" not in scored:
        chosen = next(f for f in cands if f in eligible)
        reason = (
            f"{chosen}: only {n_values} distinct {axis} value(s), too few to backtest "
            "a trend; the simplest identified form"
        )
    else:
        best, best_t = "carry", T_MIN
        for f in scored:
            if f in comparable and scores.loc[scores.form == f, "t_vs_carry"].iloc[0] > best_t:
                best, best_t = f, float(scores.loc[scores.form == f, "t_vs_carry"].iloc[0])
        chosen = best
        n_pts = int((pts.form == "carry").sum())
        if best == "carry":
            unjudged = {
                f: int(n)
                for f, n in zip(scores.form, scores.n_common)
                if f != "carry" and f not in comparable
            }
            others = scores[scores.form != "carry"].dropna(subset=["t_vs_carry"])
            top = (
                (
                    f"; best challenger {others.loc[others.t_vs_carry.idxmax(), 'form']} at "
                    f"t = {others.t_vs_carry.max():.2f}"
                )
                if len(others)
                else ""
            )
            judged = len(others) or not unjudged
            reason = (
                f"carry: no form beat carry-forward by more than one standard error in "
                f"the backtest along {axis} ({n_origins} origins, {n_pts} predicted runs{top})"
                if judged
                else f"carry: no fitted form could be compared with carry-forward in the "
                f"backtest along {axis} ({n_origins} origins, {n_pts} predicted runs)"
            )
            # a law fitted at too few origins to be compared is not a law that lost: say
            # so, and what would let it be judged (benchmarks/selection_rule_sim.py)
            if unjudged:
                listed = ", ".join(
                    (
                        f"{f} ({n} predicted run{'' if n == 1 else 's'}"
                        + (", from 1 origin" if n >= 2 else "")
                        + ")"
                    )
                    if n
                    else f"{f} (none)"
                    for f, n in unjudged.items()
                )
                reason += (
                    f"; too few backtest predictions to judge {listed}, 2 from 2 origins "
                    f"needed: train more {axis} values"
                )
        else:
            reason = (
                f"{best}: beat carry-forward in the backtest along {axis} by {best_t:.2f} "
                f"standard errors ({n_origins} origins, {n_pts} predicted runs)"
            )
    return chosen, reason, unjudged


def hinge_note(
    scores, paired, paired_origins, comparable, scored_forms, chosen, fixed, axis
) -> str:
    """What to add to the reason when the verdict hangs on one origin (amazon-beauty
    HR@10: p free at t = 0.39 on 38 runs, 3.96 without the 9 predicted from d_emb <= 72,
    a fit with one residual degree of freedom); records the decisive origin in
    ``scores``.  Examined for the form adopted, or given, and for every challenger of a
    carry-forward kept; no refit, only the predictions already made."""
    hinges = {}
    for f in scored_forms if (fixed or chosen == "carry") else [chosen]:
        if f != "carry" and f in paired and f in comparable:
            h = hinge(paired[f], paired_origins[f])
            if h is not None:
                hinges[f] = h
                scores.loc[scores.form == f, "decisive_origin"] = h[0]
                scores.loc[scores.form == f, "t_without_decisive_origin"] = h[1]
    if hinges and (fixed or chosen != "carry"):  # only the chosen form was examined
        o, tw = hinges[chosen]
        return (
            f"; the verdict rests on one origin: without the predictions from {axis} <= "
            f"{o:g} the t would be {tw:.2f}"
        )
    if hinges:
        f, (o, tw) = max(hinges.items(), key=lambda kv: kv[1][1])
        return (
            f"; the verdict rests on one origin: without the predictions from {axis} <= "
            f"{o:g}, {f} would beat carry-forward at t = {tw:.2f}"
        )
    return ""
