"""Budgets and ``recommend-config``: the best (layers, d_emb) under a parameter budget.

Parameters are counted with :func:`perflaw.decide.params.count_parameters`
(docs/science.md §6).  The enumeration is a grid of ``layers`` × ``d_emb`` (``d_emb``
divisible by ``heads``); each configuration within the budget is scored by the fitted
law, with an interval and, when the law was fitted with a bootstrap, the probability
that it is the best feasible configuration (the share of
bootstrap refits in which it has the highest prediction).
"""

from __future__ import annotations

import math
import re
import warnings
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from perflaw.decide.params import ARCHITECTURES, count_parameters
from perflaw.errors import DataError
from perflaw.fitting.evidence import T_MIN, versus_carry
from perflaw.fitting.intervals import horizon
from perflaw.laws.scales import higher_is_better

_SUFFIX = {"": 1.0, "k": 1e3, "m": 1e6, "g": 1e9, "b": 1e9, "t": 1e12}
_BUDGET = re.compile(r"^\s*([0-9]*\.?[0-9]+(?:[eE][-+]?[0-9]+)?)\s*([kKmMgGbBtT]?)\s*$")


def parse_budget(text: str | float | int) -> float:
    """Parse a budget such as ``"20M"``, ``"1.5e9"``, ``"300k"`` or ``"2B"``.

    Examples
    --------
    >>> parse_budget("20M"), parse_budget("1.5e9"), parse_budget("300k"), parse_budget(5000)
    (20000000.0, 1500000000.0, 300000.0, 5000.0)
    >>> parse_budget("lots")
    Traceback (most recent call last):
    ...
    perflaw.errors.DataError: cannot parse budget 'lots': use a number with an optional k, M, ...
    """
    if isinstance(text, (int, float)) and not isinstance(text, bool):
        value = float(text)
    else:
        m = _BUDGET.match(str(text))
        if not m:
            raise DataError(
                f"cannot parse budget {text!r}: use a number with an optional k, M, "
                "G/B or T suffix, e.g. 20M, 1.5e9, 300k"
            )
        value = float(m.group(1)) * _SUFFIX[m.group(2).lower()]
    if not math.isfinite(value) or value <= 0:
        raise DataError(f"budget must be positive, got {text!r}")
    return value


def parse_range(text: str, what: str) -> np.ndarray:
    """Values from ``"8,16,32"`` or an inclusive range ``"4:32"`` / ``"16:1024:16"``.

    >>> parse_range("4:12:4", "layers").tolist(), parse_range("8,16", "layers").tolist()
    ([4, 8, 12], [8, 16])
    """
    from perflaw.io import parse_list  # the one list syntax of every option

    return np.asarray(parse_list(text, int, what=what, positive=True))


@dataclass
class Recommendation:
    """Result of :func:`recommend`: a decision first, then the table behind it.

    Attributes
    ----------
    pick : dict
        The recommended configuration: ``layers``, ``d_emb``, ``params``,
        ``prediction``, ``lower``, ``upper``, ``p_best``.
    best_observed : dict or None
        The best run of the law's training table (``layers``, ``d_emb``, ``observed``).
    gain : dict or None
        Predicted gain of the pick over that run: ``value``, ``lower``, ``upper``.
    noise : float
        Run-to-run noise on the metric's scale near the best run (seed replicates when
        the table had them, else the backtest error at zero extrapolation).
    beats_noise : bool
        Whether the predicted gain exceeds ``noise``.
    message : str
        The decision in one line (what to train next, and how sure).
    next_run : dict or None
        The run the decision names, for a program to act on: ``action`` (``"train"`` an
        untried configuration or ``"rerun"`` a trained one with another seed),
        ``purpose`` (``"beat"`` the best trained run, ``"judge"`` a law the runs cannot
        yet test, or ``"replicate"`` the best run), ``layers``, ``d_emb``, and for a
        configuration the law predicts, ``prediction``, ``lower``, ``upper`` and
        ``chance_to_beat`` (None where not defined).  None when there is no trained run
        to compare with.
    top : pandas.DataFrame
        The best configurations: ``layers``, ``d_emb``, ``params``, ``prediction``,
        ``lower``, ``upper``, ``p_best``, ``trained``, ``supported``.
    candidates : pandas.DataFrame
        Every enumerated configuration with its count, prediction, ``feasible`` (within
        the budget) and ``supported`` (inside the range the backtest supports).
    unconstrained : dict
        Best enumerated configuration ignoring the budget.
    budget : float or None
    budget_binds : bool
        Whether the budget excludes the unconstrained best.
    """

    top: pd.DataFrame
    candidates: pd.DataFrame
    unconstrained: dict
    budget: float | None
    budget_binds: bool
    count: str
    notes: list[str] = field(default_factory=list)
    pick: dict = field(default_factory=dict)
    best_observed: dict | None = None
    gain: dict | None = None
    noise: float = float("nan")
    beats_noise: bool = False
    message: str = ""
    warnings: list[str] = field(default_factory=list)
    next_run: dict | None = None


def _next_run(
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


def recommend(
    fitter,
    budget: float | str | None = None,
    *,
    layers=None,
    d_emb=None,
    heads: int = 1,
    arch: str = "sasrec",
    n_items: int = 0,
    max_len: int = 0,
    count: str = "total",
    top: int = 5,
    extra_inputs: dict | None = None,
    group: str | None = None,
    n_draws: int = 4000,
) -> Recommendation:
    """What to train next: the best configuration of a grid by a fitted law, compared
    with the best run already trained.

    Parameters
    ----------
    fitter : LawFitter
        A fitted law in ``layers`` and ``d_emb`` (any form).
    budget : float or str, optional
        Maximum parameter count (``"20M"`` ...); ``None`` ranks the whole grid.
    layers, d_emb : array-like, optional
        Candidate values (default: every integer number of layers and every multiple of
        ``lcm(8, heads)`` for ``d_emb`` inside the fitted ranges).
    heads : int
        Attention heads; only ``d_emb`` divisible by ``heads`` are enumerated.
    arch, n_items, max_len, count
        Parameter counting (:func:`perflaw.decide.params.count_parameters`); ``count`` is
        ``"total"`` or ``"non-embedding"``.
    top : int
        Number of configurations listed (>= 1).
    extra_inputs : dict, optional
        Further law inputs held fixed (``{"d_prime": 1.2e6}``).
    group : str, optional
        Group label for joint fits with a term per group.  For a law with a term per
        depth (or width) -- :meth:`~perflaw.laws.base.Law.grouped_input` -- every
        configuration takes its own depth's term, the default grid is those depths, other
        depths are left out (a note says so), and ``group`` keeps one depth.

    Notes
    -----
    Configurations larger than the trained ones along the axis of the law's backtest
    (``calibration_["axis"]``: deeper for ``layers``, wider for ``d_emb``) are considered
    only as far as that backtest extrapolated (``calibration_["max_horizon"]``
    doublings); beyond the trained range on the other axis, or below it on either, not
    at all (no backtest covers them).  They stay
    in ``candidates`` with ``supported = False``.  Ties go to the run already trained,
    then to fewer parameters.  ``p_best`` is the share of predictive draws (mixing the
    backtested forms by weight: :meth:`~perflaw.fitting.LawFitter.predict_draws`) in
    which a configuration is the best supported one.
    """
    budget = None if budget is None else parse_budget(budget)
    _check_request(fitter, arch, heads, top)
    layers, d_emb = _grid_axes(fitter, layers, d_emb, heads)
    keyed = fitter.law_.grouped_input()
    # the trained runs of the situation being ranked (a joint fit's group, the D′ held):
    # a run of another group or data size is not a choice the user has here
    here_rows, here_what = _rows_of(fitter, None if keyed is not None else group, extra_inputs)
    L, D, notes, group = _configurations(fitter, layers, d_emb, group)
    size = {"arch": arch, "n_items": n_items, "max_len": max_len, "count": count}
    cand = _predicted(fitter, L, D, extra_inputs, group, **size)
    sign = 1.0 if higher_is_better(fitter.metric_) else -1.0
    usable = _mark_candidates(fitter, cand, budget, count, n_items, here_rows, notes)
    cand["score"] = sign * cand["prediction"]
    order_all = cand.sort_values(["score", "trained", "params"], ascending=[False, False, True])
    order = order_all[usable.loc[order_all.index]]
    inputs = ["layers", "d_emb", *(extra_inputs or {})]
    _add_p_best(fitter, cand, usable, inputs, _group_labels(fitter, L, D, group), n_draws, sign)
    order = cand.loc[order.index]
    best_all = cand.sort_values(["score", "params"], ascending=[False, True]).iloc[0]
    unconstrained = {
        "layers": int(best_all.layers),
        "d_emb": int(best_all.d_emb),
        "params": int(best_all.params),
        "prediction": float(best_all.prediction),
    }
    for key in ("N_opt", "d_opt"):
        if key in fitter.derived_ and np.isfinite(fitter.derived_[key]):
            unconstrained[f"closed_form_{key}"] = float(fitter.derived_[key])
    binds = budget is not None and not bool(best_all.feasible)
    (lo_l, hi_l), (lo_d, hi_d) = fitter.ranges_["layers"], fitter.ranges_["d_emb"]
    if layers.min() < lo_l or layers.max() > hi_l or d_emb.min() < lo_d or d_emb.max() > hi_d:
        notes.append("the grid leaves the fitted range: predictions there are extrapolations")
    cols = [c for c in (*inputs, *_TABLE) if c in cand.columns]
    pick = _as_pick(cand.loc[order.index[0]])
    best_obs = _comparator(fitter, budget, size, here_rows, here_what, notes)
    decision = _Decision()
    if best_obs:
        pick = _keep_if_nothing_beats(fitter, pick, best_obs, cand, extra_inputs, group, size, sign)
        decision = _decide(fitter, pick, best_obs, order, budget, extra_inputs, group, size, sign)
    return Recommendation(
        order[cols].head(int(top)).reset_index(drop=True),
        cand,
        unconstrained,
        budget,
        binds,
        count,
        notes,
        pick,
        best_obs,
        decision.gain,
        decision.noise,
        decision.beats,
        decision.message,
        list(getattr(fitter, "warnings_", [])),
        decision.next_run,
    )


#: the columns of the table ``recommend`` lists, after the inputs
_TABLE = ("params", "prediction", "lower", "upper", "p_best", "trained", "supported")


def _check_request(fitter, arch: str, heads: int, top: int) -> None:
    """A one-line :class:`DataError` for a law or request ``recommend`` cannot serve."""
    if not {"layers", "d_emb"} <= set(fitter.law_.inputs):
        raise DataError(
            f"recommend-config ranks (layers, d_emb) and needs a law in them; "
            f"this law is {fitter.law_.name!r} (for a chinchilla law use "
            "--budget-kind flops)"
        )
    if arch not in ARCHITECTURES:
        raise DataError(f"unknown architecture {arch!r}: use one of {', '.join(ARCHITECTURES)}")
    if int(heads) != heads or heads < 1:
        raise DataError(f"heads must be a positive integer, got {heads!r}")
    if int(top) != top or top < 1:
        raise DataError(f"top must be a positive integer, got {top!r}")


def _grid_axes(fitter, layers, d_emb, heads: int) -> tuple[np.ndarray, np.ndarray]:
    """The layer counts and widths to rank: those given, else the depths (widths) the law
    has a term for, else every integer depth and every multiple of ``lcm(8, heads)`` in
    the fitted ranges; widths the heads do not divide are left out."""
    ranges = fitter.ranges_
    keyed = fitter.law_.grouped_input()
    if keyed is not None and keyed[0] == "layers" and layers is None:
        layers = np.array(sorted(keyed[1]))  # the depths the law has an offset for
    if keyed is not None and keyed[0] == "d_emb" and d_emb is None:
        d_emb = np.array(sorted(keyed[1]))
    if layers is None:
        lo, hi = ranges["layers"]
        layers = np.arange(int(math.ceil(lo)), int(math.floor(hi)) + 1)
    if d_emb is None:  # multiples of lcm(8, heads) inside the fitted range
        lo, hi = ranges["d_emb"]
        step = math.lcm(8, int(heads))
        d_emb = np.arange(int(math.ceil(lo / step)) * step, int(math.floor(hi)) + 1, step)
        if d_emb.size == 0:
            d_emb = np.arange(int(math.ceil(lo)), int(math.floor(hi)) + 1)
    layers = np.unique(np.asarray(layers, dtype=int))
    d_emb = np.unique(np.asarray(d_emb, dtype=int))
    d_emb = d_emb[d_emb % heads == 0]
    if d_emb.size == 0:
        raise DataError(f"no embedding dimension in the range is divisible by {heads} heads")
    return layers, d_emb


def _configurations(fitter, layers, d_emb, group):
    """Every (layers, d_emb) of the grid the law can speak for: ``(L, D, notes, group)``.

    A law with one intercept per value of an input (a depth offset) gives a configuration
    its own value's, and a value the law was not fitted at has none (left out, said in
    the notes); ``group`` then only keeps one value, and is spent."""
    L, D = np.meshgrid(layers, d_emb, indexing="ij")
    L, D = L.ravel(), D.ravel()
    notes: list[str] = []
    keyed = fitter.law_.grouped_input()
    if keyed is None:
        return L, D, notes, group
    col, labels = keyed
    vals = (L if col == "layers" else D).astype(float)
    wanted = [v for v, g in labels.items() if group is None or g == group]
    keep = np.isin(vals, wanted)
    have = ", ".join(f"{v:g}" for v in sorted(wanted))
    if not keep.any():
        raise DataError(
            f"no {col} value of the grid has a term in the law: it has one for {col} {have} only"
        )
    if not keep.all():
        notes.append(
            f"{col} values without a term in the law are left out (it has one for "
            f"{col} {have} only)"
        )
    L, D = L[keep], D[keep]
    return L[keep], D[keep], notes, None


def _mark_candidates(fitter, cand, budget, count, n_items, here_rows, notes) -> pd.Series:
    """Mark each configuration ``feasible`` (within the budget), ``trained`` (a run of
    the situation ranked) and ``supported`` (inside what the backtest checked: larger
    along its axis only as far as it extrapolated, inside the fitted range otherwise);
    return which may be picked, adding to ``notes`` what was left out and why."""
    L, D = cand["layers"].to_numpy(), cand["d_emb"].to_numpy()
    counts = cand["params"].to_numpy(float)
    cand["feasible"] = True if budget is None else counts <= budget
    trained = set(
        zip(
            np.asarray(fitter.X_["layers"], float)[here_rows],
            np.asarray(fitter.X_["d_emb"], float)[here_rows],
        )
    )
    cand["trained"] = [(float(a), float(b)) in trained for a, b in zip(L, D)]
    cal = getattr(fitter, "calibration_", None) or {}
    lo_l, hi_l = fitter.ranges_["layers"]
    lo_d, hi_d = fitter.ranges_["d_emb"]
    max_h = float(cal.get("max_horizon", 0.0))
    h_l = max_h if cal.get("axis") == "layers" else 0.0
    h_d = max_h if cal.get("axis") == "d_emb" else 0.0
    cand["supported"] = (
        (L >= lo_l)
        & (horizon(L, hi_l) <= h_l + 1e-9)
        & (D >= lo_d)
        & (horizon(D, hi_d) <= h_d + 1e-9)
    )
    if budget is not None and count == "total" and not n_items:
        # the item table (n_items × d_emb) is most of a recommender's parameters: a total
        # budget without it lets through models many times the size the user meant
        notes.append(
            "the total count has no item table (n_items 0), usually most of a "
            "recommender's parameters: give the catalogue size (--n-items, or --data LOG)"
        )
    if not cand["feasible"].any():
        small = cand.loc[cand["params"].idxmin()]
        raise DataError(
            f"budget {budget:,.0f} is below every configuration enumerated: the smallest "
            f"(layers={small.layers}, d_emb={small.d_emb}) has {small.params:,} {count} parameters"
        )
    n_out = int((~cand["supported"]).sum())
    if n_out:
        notes.append(
            f"{n_out} configuration(s) lie outside what the backtest supports (layers "
            f"{lo_l:g}-{hi_l * 2**h_l:g}, d_emb {lo_d:g}-{hi_d * 2**h_d:g}): listed, never picked"
        )
    usable = cand["feasible"] & cand["supported"]
    if not usable.any():
        usable = cand["feasible"].copy()
        notes.append("no configuration inside the supported range: ranking extrapolations")
    return usable


def _add_p_best(fitter, cand, usable, inputs, groups, n_draws: int, sign: float) -> None:
    """``p_best`` of each usable configuration: the share of the fitter's predictive
    draws (:meth:`~perflaw.fitting.LawFitter.predict_draws`) in which it is the best."""
    cand["p_best"] = np.nan
    idx = np.flatnonzero(usable.to_numpy())
    draws = fitter.predict_draws(
        cand.iloc[idx][inputs], groups=None if groups is None else groups[idx], n_draws=n_draws
    )
    if draws is not None:
        wins = np.bincount(np.argmax(sign * draws, axis=1), minlength=len(idx))
        cand.loc[cand.index[idx], "p_best"] = wins / len(draws)


def _as_pick(row, trained: bool | None = None) -> dict:
    """A configuration of the candidates table as :attr:`Recommendation.pick`."""
    return {
        "layers": int(row.layers),
        "d_emb": int(row.d_emb),
        "params": int(row.params),
        "prediction": float(row.prediction),
        "lower": float(row.lower),
        "upper": float(row.upper),
        "p_best": float(row.p_best),
        "trained": bool(row.trained) if trained is None else trained,
    }


def _comparator(fitter, budget, size, here_rows, here_what, notes) -> dict | None:
    """The best trained run the pick is compared with: of the situation ranked, and
    within the budget (a better run that does not fit is not a choice the user has)."""
    best_obs = getattr(fitter, "best_observed_", None)
    if best_obs and not here_rows.all():
        best_obs = fitter.best_observed(among=here_rows)
        if best_obs is None:
            notes.append(f"no trained run at {here_what}: nothing to compare the pick with")
    if budget is not None and best_obs:
        best_obs = _best_trained_within(fitter, budget, **size, among=here_rows)
        if best_obs is None:
            notes.append(
                f"no trained run fits the budget of {budget:,.0f} {size['count']} parameters"
            )
    return best_obs


def _keep_if_nothing_beats(fitter, pick, best_obs, cand, extra_inputs, group, size, sign):
    """The pick, or the best trained run when nothing is predicted above it (the
    decision is then to keep it)."""
    obs = float(best_obs["observed"])
    if sign * (pick["prediction"] - obs) > 0:
        return pick
    at = cand[(cand.layers == best_obs.get("layers")) & (cand.d_emb == best_obs.get("d_emb"))]
    if not len(at):
        # the best run is off the enumerated grid (a d_emb the heads do not divide, or a
        # grid the user gave): it is still a choice the user has, so keep it
        at = _predicted(
            fitter, [best_obs["layers"]], [best_obs["d_emb"]], extra_inputs, group, **size
        ).assign(p_best=float("nan"))
    return _as_pick(at.iloc[0], trained=True)


@dataclass
class _Decision:
    gain: dict | None = None
    noise: float = float("nan")
    beats: bool = False
    message: str = ""
    next_run: dict | None = None


def _decide(fitter, pick, best_obs, order, budget, extra_inputs, group, size, sign) -> _Decision:
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
    noise = _noise(fitter, obs)
    beats = bool(gain["value"] > noise) and not kept
    here = f"layers {best_obs.get('layers')} × d_emb {best_obs.get('d_emb')}"
    rerun = _next_run("rerun", "replicate", best_obs.get("layers"), best_obs.get("d_emb"))
    if beats:
        next_run = _next_run("train", "beat", pick["layers"], pick["d_emb"], pick)
        message = (
            f"train layers {pick['layers']} × d_emb {pick['d_emb']}: predicted "
            f"{pick['prediction']:.4g}, {gain['value']:+.4g} over the best trained run "
            f"{here} ({obs:.4g}; gain interval {gain['lower']:+.4g} to "
            f"{gain['upper']:+.4g}, noise ±{noise:.2g})"
        )
    elif fitter.law_.nonparametric and (unjudged := _not_judged(fitter)):
        why, next_run = _judge_next(
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
            f"train configurations around it so that a trend can be backtested"
        )
        next_run = rerun
    else:
        untried = order[~order["trained"].to_numpy()]
        # an untried configuration is worth running only if it could beat the best run;
        # name the one with the highest chance to (normal reading of its interval's
        # better side, which past the trained edge reaches further than the other)
        from scipy import stats as _st

        q = _st.norm.ppf(1 - (1 - fitter.level) / 2)
        better = untried["upper"] if sign > 0 else untried["lower"]
        half = np.abs(better - untried["prediction"]).to_numpy(float) / q
        with np.errstate(divide="ignore", invalid="ignore"):
            chance = _st.norm.sf(
                (obs - untried["prediction"].to_numpy(float))
                * sign
                / np.where(half > 0, half, np.nan)
            )
        ok = np.isfinite(chance) & (chance >= 0.05)
        if ok.any():
            j = int(np.nanargmax(np.where(ok, chance, -1)))
            best_try = untried.iloc[j]
            nxt = (
                f"train layers {int(best_try.layers)} × d_emb {int(best_try.d_emb)} "
                f"(predicted {best_try.prediction:.4g}; chance to beat it "
                f"{100 * chance[j]:.0f} %, the best of the untried runs), or rerun "
                f"{here} with another seed"
            )
            next_run = _next_run(
                "train", "beat", best_try.layers, best_try.d_emb, best_try, chance[j]
            )
        else:
            nxt = (
                f"no untried configuration of this grid has a 5 % chance to beat it; "
                f"rerun {here} with another seed, or widen the grid"
            )
            next_run = rerun
        message = (
            f"nothing is predicted to beat the best trained run {here} ({obs:.4g}) by "
            f"more than the noise (±{noise:.2g}); next: {nxt}"
        )
    if caution := _unbacked(fitter):
        message += (
            f"; caution: this law ({fitter.form_}) was given, not chosen by the backtest, "
            f"and {caution}"
        )
    if caution := _fragile(fitter):
        message += f"; caution: {caution}"
    return _Decision(gain, noise, beats, message, next_run)


def _unbacked(fitter) -> str:
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


def _fragile(fitter) -> str:
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


def _not_judged(fitter) -> dict:
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


def _judge_next(
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
    params = float(_predicted(fitter, [layers], [d_emb], extra_inputs, group, **size).params[0])
    if budget is not None and params > budget:
        return (
            f"{why}; {step} would let it be judged but is over the budget; next: train "
            f"more {axis} values within the budget, or rerun {here} with another seed"
        ), _next_run("rerun", "replicate", best_obs.get("layers"), best_obs.get("d_emb"))
    # carry-forward's prediction there would only copy a trained run: none is given
    return (
        f"{why}; next: train {step}, one doubling past the {past} trained size, so that "
        f"the law can be judged, or rerun {here} with another seed"
    ), _next_run("train", "judge", layers, d_emb)


def _group_labels(fitter, layers, d_emb, group) -> np.ndarray | None:
    """The group label of each configuration: its own value's for a law with one term
    per value of an input (:meth:`~perflaw.laws.base.Law.grouped_input`), else ``group``
    for every one (None for an ungrouped law)."""
    keyed = fitter.law_.grouped_input()
    if keyed is not None:
        col, labels = keyed
        vals = np.asarray(layers if col == "layers" else d_emb, float)
        return np.array([labels.get(float(v), f"{col}={v:g}") for v in vals])
    return None if group is None else np.repeat(str(group), len(np.atleast_1d(layers)))


def _predicted(fitter, layers, d_emb, extra_inputs, group, *, arch, n_items, max_len, count):
    """Configurations (``layers``, ``d_emb``, the held ``extra_inputs``) with their
    parameter ``count`` and the law's prediction and observation interval."""
    out = pd.DataFrame({"layers": layers, "d_emb": d_emb})
    for k, v in (extra_inputs or {}).items():
        out[k] = v
    groups = _group_labels(fitter, out["layers"], out["d_emb"], group)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        pred = fitter.predict(out, groups=groups, interval=True, kind="observation")
    out["params"] = np.array(
        [
            count_parameters(int(a), int(b), arch=arch, n_items=n_items, max_len=max_len).get(count)
            for a, b in zip(out["layers"], out["d_emb"])
        ],
        dtype=np.int64,
    )
    for c in ("prediction", "lower", "upper"):
        out[c] = pred[c].to_numpy()
    return out


def _best_trained_within(fitter, budget, arch, n_items, max_len, count, among) -> dict | None:
    """The best trained run of the fitted table (of the rows ``among`` selects) whose
    (layers, d_emb) has at most ``budget`` parameters, as ``fitter.best_observed_``
    describes a run; None if none."""
    X = fitter.X_
    fits = [
        count_parameters(int(a), int(b), arch=arch, n_items=n_items, max_len=max_len).get(count)
        <= budget
        for a, b in zip(np.asarray(X["layers"]), np.asarray(X["d_emb"]))
    ]
    return fitter.best_observed(among=np.array(fits, dtype=bool) & among)


def _rows_of(fitter, group, extra_inputs) -> tuple[np.ndarray, str]:
    """The fitted runs of the situation a recommendation ranks, and its words: those of
    ``group`` (a joint fit's term per group) at the values of the held inputs (``d_prime``
    of a joint fit in D′; equal to 1 part in 10⁶, as a value copied from a law file or a
    runs table is)."""
    n = len(np.asarray(fitter.y_))
    rows, what = np.ones(n, bool), []
    labels = getattr(fitter, "groups_", None)
    if group is not None and labels is not None:
        rows &= np.asarray(labels).astype(str) == str(group)
        what.append(f"group {group}")
    for name, value in (extra_inputs or {}).items():
        if name in fitter.X_:
            rows &= np.isclose(np.asarray(fitter.X_[name], float), float(value), rtol=1e-6)
            what.append(f"{name} {float(value):g}")
    return rows, ", ".join(what)


def _noise(fitter, level: float) -> float:
    """Run-to-run noise on the metric's scale near ``level``."""
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
