"""The decision of a recommendation: the pick against the best trained run, the noise a
gain must beat, the one line that says what to train next and why, and the run it names
(with the cautions a law given rather than chosen, or a verdict resting on one origin,
call for)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import stats

from perflaw.decide.grid import as_pick, predicted
from perflaw.fitting.evidence import T_MIN, versus_carry


def next_run_of(
    action: str, purpose: str, layers, d_emb, row=None, chance: float | None = None
) -> dict | None:
    """The structured form of the run a decision names (:attr:`Recommendation.next_run`);
    None when the run has no (layers, d_emb) to name."""
    if layers is None or d_emb is None:
        return None

    def val(k):
        return None if row is None else float(row[k])

    return {
        "action": action,
        "purpose": purpose,
        "layers": int(layers),
        "d_emb": int(d_emb),
        "prediction": val("prediction"),
        "lower": val("lower"),
        "upper": val("upper"),
        "chance_to_beat": None if chance is None else float(chance),
    }


def keep_if_nothing_beats(fitter, pick, best_obs, cand, extra_inputs, group, size, sign):
    """The pick, or the best trained run when nothing is predicted above it (the
    decision is then to keep it)."""
    obs = float(best_obs["observed"])
    if sign * (pick["prediction"] - obs) > 0:
        return pick
    at = cand[(cand.layers == best_obs.get("layers")) & (cand.d_emb == best_obs.get("d_emb"))]
    if not len(at):
        # the best run is off the enumerated grid (a d_emb the heads do not divide, or a
        # grid the user gave): it is still a choice the user has, so keep it
        at = predicted(
            fitter, [best_obs["layers"]], [best_obs["d_emb"]], extra_inputs, group, **size
        ).assign(p_best=float("nan"))
    return as_pick(at.iloc[0], trained=True)


@dataclass
class Decision:
    gain: dict | None = None
    noise: float = float("nan")
    beats: bool = False
    message: str = ""
    next_run: dict | None = None


def decide(fitter, pick, best_obs, order, budget, extra_inputs, group, size, sign) -> Decision:
    """The pick against the best trained run: the gain, the noise it must beat, and the
    decision in one line with the run it names."""
    obs = float(best_obs["observed"])

    def _clean(v: float) -> float:  # an exact tie prints as 0, not 7e-18
        return 0.0 if abs(v) <= 1e-12 * max(1.0, abs(obs)) else float(v)

    kept = pick["layers"] == best_obs.get("layers") and pick["d_emb"] == best_obs.get("d_emb")
    gain = {
        "value": _clean(sign * (pick["prediction"] - obs)),
        "lower": _clean(sign * ((pick["lower"] if sign > 0 else pick["upper"]) - obs)),
        "upper": _clean(sign * ((pick["upper"] if sign > 0 else pick["lower"]) - obs)),
    }
    if kept:
        gain = {"value": 0.0, "lower": 0.0, "upper": 0.0}  # keeping it gains nothing
    noise = noise_near(fitter, obs)
    beats = bool(gain["value"] > noise) and not kept
    here = f"layers {best_obs.get('layers')} × d_emb {best_obs.get('d_emb')}"
    rerun = next_run_of("rerun", "replicate", best_obs.get("layers"), best_obs.get("d_emb"))
    if beats:
        next_run = next_run_of("train", "beat", pick["layers"], pick["d_emb"], pick)
        message = (
            f"train layers {pick['layers']} × d_emb {pick['d_emb']}: predicted "
            f"{pick['prediction']:.4g}, {gain['value']:+.4g} over the best trained run "
            f"{here} ({obs:.4g}; gain interval {gain['lower']:+.4g} to "
            f"{gain['upper']:+.4g}, noise ±{noise:.2g})"
        )
    elif fitter.law_.nonparametric and (unjudged := not_judged(fitter)):
        why, next_run = judge_next(
            fitter, unjudged, best_obs, here, budget, extra_inputs, group, size
        )
        message = (
            f"nothing is predicted to beat the best trained run {here} ({obs:.4g}) by "
            f"more than the noise (±{noise:.2g}); the law kept is carry-forward, but only "
            "because " + why
        )
    elif fitter.law_.nonparametric:
        # carry-forward predicts an untried configuration by the trained run below it,
        # so every such prediction ties the run it copies: a "chance to beat" read off
        # that tie (50 %) would say nothing
        message = (
            f"nothing is predicted to beat the best trained run {here} ({obs:.4g}) by "
            f"more than the noise (±{noise:.2g}); the law kept is carry-forward (no fitted "
            f"trend beat it out of sample), which cannot tell whether an untried "
            f"configuration would do better; next: rerun {here} with another seed, or "
            f"train configurations around it so that a trend can be backtested "
            f"(`perflaw next` ranks the untried configurations of your grid without a "
            f"fitted law, and says when to stop)"
        )
        next_run = rerun
    else:
        nxt, next_run = untried_next(fitter, order, obs, sign, here, rerun)
        message = (
            f"nothing is predicted to beat the best trained run {here} ({obs:.4g}) by "
            f"more than the noise (±{noise:.2g}); next: {nxt}"
        )
    if caution := unbacked(fitter):
        message += (
            f"; caution: this law ({fitter.form_}) was given, not chosen by the backtest, "
            f"and {caution}"
        )
    if caution := fragile(fitter):
        message += f"; caution: {caution}"
    return Decision(gain, noise, beats, message, next_run)


def untried_next(fitter, order, obs: float, sign: float, here: str, rerun):
    """The untried configuration with the highest chance to beat the best trained run
    (``obs``), named when that chance is 5 % or more (a normal reading of its interval's
    better side, which past the trained edge reaches further than the other), else the
    rerun: ``(clause, next run)``."""
    untried = order[~order["trained"].to_numpy()]
    q = stats.norm.ppf(1 - (1 - fitter.level) / 2)
    better = untried["upper"] if sign > 0 else untried["lower"]
    half = np.abs(better - untried["prediction"]).to_numpy(float) / q
    with np.errstate(divide="ignore", invalid="ignore"):
        chance = stats.norm.sf(
            (obs - untried["prediction"].to_numpy(float)) * sign / np.where(half > 0, half, np.nan)
        )
    ok = np.isfinite(chance) & (chance >= 0.05)
    if not ok.any():
        return (
            f"no untried configuration of this grid has a 5 % chance to beat it; rerun {here} "
            "with another seed, or widen the grid"
        ), rerun
    j = int(np.nanargmax(np.where(ok, chance, -1)))
    best_try = untried.iloc[j]
    return (
        f"train layers {int(best_try.layers)} × d_emb {int(best_try.d_emb)} (predicted "
        f"{best_try.prediction:.4g}; chance to beat it {100 * chance[j]:.0f} %, the best of "
        f"the untried runs), or rerun {here} with another seed"
    ), next_run_of("train", "beat", best_try.layers, best_try.d_emb, best_try, chance[j])


def unbacked(fitter) -> str:
    """For a law the user fixed (``--form``, a joint fit) that the backtest did not show
    better than carry-forward, how it did (one clause); empty otherwise.  Such a law can
    rank untried configurations, but its ranking has no out-of-sample evidence behind it."""
    sel = getattr(fitter, "selection_", None) or {}
    if not sel.get("fixed") or fitter.law_.nonparametric:
        return ""
    row = next((r for r in sel.get("scores") or [] if r.get("form") == fitter.form_), None)
    if row is None:
        return ""
    t = row.get("t_vs_carry")
    if t is not None and np.isfinite(t) and t > T_MIN:
        return ""
    return versus_carry(row, sel.get("axis", "layers"))


def fragile(fitter) -> str:
    """When the backtest's verdict for the law used (or, for a carry-forward kept, for a
    challenger) turns on the predictions of one origin, what leaving them out would do
    (one clause, from the selection record: ``decisive_origin``); empty otherwise."""
    sel = getattr(fitter, "selection_", None) or {}
    axis = sel.get("axis", "layers")
    rows = [
        r
        for r in sel.get("scores") or []
        if r.get("form") != "carry"
        and r.get("decisive_origin") is not None
        and np.isfinite(r["decisive_origin"])
    ]
    if not rows:
        return ""
    form = getattr(fitter, "form_", None)
    mine = next((r for r in rows if r["form"] == form), None)
    if mine is not None:
        return (
            f"the backtest's verdict on this law ({form}) rests on one origin: without its "
            f"predictions from {axis} <= {mine['decisive_origin']:g} the t against "
            f"carry-forward would be {mine['t_without_decisive_origin']:.2f}"
        )
    if form != "carry":
        return ""
    r = max(rows, key=lambda r: r["t_without_decisive_origin"])
    return (
        f"carry-forward was kept on the strength of one origin: without the predictions "
        f"from {axis} <= {r['decisive_origin']:g}, {r['form']} would have beaten it "
        f"(t = {r['t_without_decisive_origin']:.2f})"
    )


def not_judged(fitter) -> dict:
    """Forms the selection fitted but could not compare with carry-forward (too few
    predictions in its backtest), from the fit's selection record; empty when some other
    form was compared and lost (then carry-forward was kept on evidence)."""
    sel = getattr(fitter, "selection_", None) or {}
    judged = [
        r
        for r in sel.get("scores") or []
        if r.get("form") != "carry"
        and (r.get("n_common") or 0) >= 2
        and (r.get("n_origins_common") or 2) >= 2  # older law files lack the count
    ]
    return {} if judged else dict(sel.get("not_judged") or {})


def judge_next(
    fitter, unjudged, best_obs, here, budget, extra_inputs, group, size
) -> tuple[str, dict | None]:
    """Why carry-forward was kept when a law could not be judged, and the run that would
    let it be: one doubling past the largest trained size along the backtest's axis, at
    the best run's other size (six sizes give p2 three backtest predictions; see
    benchmarks/selection_rule_sim.py).  Returns the clause and the structured next run."""
    cal = getattr(fitter, "calibration_", None) or {}
    axis = cal.get("axis") or "layers"
    forms = ", ".join(unjudged)
    layers, d_emb = int(best_obs["layers"]), int(best_obs["d_emb"])
    top = int(round(2 * float(np.max(np.asarray(fitter.X_[axis], float)))))
    if axis == "d_emb":
        d_emb, past = top, "widest"
    else:
        layers, past = top, "deepest"
    why = (
        f"the runs have too few {axis} values to judge a fitted trend ({forms}: fewer than "
        "2 predictions, from 2 origins, in the backtest)"
    )
    step = f"layers {layers} × d_emb {d_emb}"
    params = float(predicted(fitter, [layers], [d_emb], extra_inputs, group, **size).params[0])
    if budget is not None and params > budget:
        return (
            f"{why}; {step} would let it be judged but is over the budget; next: train "
            f"more {axis} values within the budget, or rerun {here} with another seed"
        ), next_run_of("rerun", "replicate", best_obs.get("layers"), best_obs.get("d_emb"))
    # carry-forward's prediction there would only copy a trained run: none is given
    return (
        f"{why}; next: train {step}, one doubling past the {past} trained size, so that "
        f"the law can be judged, or rerun {here} with another seed"
    ), next_run_of("train", "judge", layers, d_emb)


def noise_near(fitter, level: float) -> float:
    """Run-to-run noise on the metric's scale near ``level``.

    With seed replicates it is their pooled spread on the metric's own scale
    (:func:`perflaw.replicates.run_noise`: the number ``fit`` prints and ``perflaw next``
    uses); without, the law's out-of-sample error (or residual spread) brought back from
    the fitting scale at ``level``."""
    run_noise = getattr(fitter, "noise_sd", None)
    if run_noise:
        return float(run_noise)
    noise = getattr(fitter, "noise_sd_", None)
    cal = getattr(fitter, "calibration_", None)
    sd = (
        noise
        if noise
        else (
            cal["sd"]
            if cal
            else float(np.sqrt(np.mean(np.asarray(getattr(fitter, "zresiduals_", [np.nan])) ** 2)))
        )
    )
    if getattr(fitter, "transform_", "none") == "logit":
        return float(sd * level * (1 - level))
    return float(sd)
