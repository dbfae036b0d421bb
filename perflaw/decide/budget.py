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
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from perflaw.decide.decision import Decision, decide, keep_if_nothing_beats
from perflaw.decide.grid import (
    TABLE,
    add_p_best,
    as_pick,
    best_trained_within,
    configurations,
    grid_axes,
    group_labels,
    mark_candidates,
    predicted,
    rows_of,
)
from perflaw.decide.params import ARCHITECTURES
from perflaw.errors import DataError
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
        The decision as a table: the pick first, then the run ``next_run`` names (when
        it is another configuration, even one off the grid), then the best of the rest
        by prediction, ``top`` rows at least: ``layers``, ``d_emb``, ``params``,
        ``prediction``, ``lower``, ``upper``, ``observed`` (the trained value, NaN if
        untried), ``p_best``, ``trained``, ``supported`` and ``role`` (``"pick"``,
        ``"next"``, ``"pick, next"`` or empty).  Under carry-forward an untried
        configuration has no prediction (NaN): the law only copies a trained run there.
    p_best_means : str
        What ``p_best`` is the chance of, in words.
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
    p_best_means: str = ""


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
    layers, d_emb = grid_axes(fitter, layers, d_emb, heads)
    keyed = fitter.law_.grouped_input()
    # the trained runs of the situation being ranked (a joint fit's group, the D′ held):
    # a run of another group or data size is not a choice the user has here
    here_rows, here_what = rows_of(fitter, None if keyed is not None else group, extra_inputs)
    if keyed is not None and group is not None:
        # one depth's (width's) term asked for: its runs are the ones the pick may keep,
        # or the pick would name a configuration outside the list asked for
        col, labels = keyed
        kept = [v for v, g in labels.items() if g == group]
        here_rows = here_rows & np.isin(np.asarray(fitter.X_[col], float), kept)
        here_what = ", ".join(filter(None, [here_what, f"{col} {group.split('=')[-1]}"]))
    L, D, notes, group = configurations(fitter, layers, d_emb, group)
    size = {"arch": arch, "n_items": n_items, "max_len": max_len, "count": count}
    cand = predicted(fitter, L, D, extra_inputs, group, **size)
    sign = 1.0 if higher_is_better(fitter.metric_) else -1.0
    usable = mark_candidates(fitter, cand, budget, count, n_items, here_rows, notes)
    cand["score"] = sign * cand["prediction"]
    order_all = cand.sort_values(["score", "trained", "params"], ascending=[False, False, True])
    order = order_all[usable.loc[order_all.index]]
    inputs = ["layers", "d_emb", *(extra_inputs or {})]
    # carry-forward predicts an untried configuration by copying a trained run, so a
    # "chance to be the best" there would rank copies: p_best is then over the trained runs
    carry = bool(fitter.law_.nonparametric)
    among = usable & cand["trained"] if carry and (usable & cand["trained"]).any() else usable
    add_p_best(fitter, cand, among, inputs, group_labels(fitter, L, D, group), n_draws, sign)
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
    cols = [c for c in (*inputs, *TABLE) if c in cand.columns]
    pick = as_pick(cand.loc[order.index[0]])
    best_obs = _comparator(fitter, budget, size, here_rows, here_what, notes)
    decision = Decision()
    if best_obs:
        pick = keep_if_nothing_beats(fitter, pick, best_obs, cand, extra_inputs, group, size, sign)
        decision = decide(fitter, pick, best_obs, order, budget, extra_inputs, group, size, sign)
    table = decision_table(
        fitter,
        cand,
        order,
        pick,
        decision.next_run,
        cols,
        int(top),
        carry,
        extra_inputs,
        group,
        size,
    )
    table.insert(table.columns.get_loc("upper") + 1, "observed", observed(fitter, table, here_rows))
    return Recommendation(
        table,
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
        P_BEST_TRAINED if carry and among is not usable else P_BEST_GRID,
    )


#: what p_best means, for the header of the table
P_BEST_GRID = (
    "p_best: the share of the law's predictive draws in which a configuration is the best "
    "of those ranked (within the budget, inside what the backtest supports)"
)
P_BEST_TRAINED = (
    "p_best: the share of the law's predictive draws in which a trained run is the best "
    "of the trained runs ranked (carry-forward gives an untried configuration no "
    "prediction of its own, so none is ranked)"
)


def decision_table(
    fitter, cand, order, pick, next_run, cols, top, carry, extra_inputs, group, size
) -> pd.DataFrame:
    """The rows of :attr:`Recommendation.top`: the pick, the named next run, then the
    best of the rest, so that the table, the pick and the next run tell one story."""

    def row_of(layers, d_emb, trained):
        at = cand[(cand.layers == layers) & (cand.d_emb == d_emb)]
        if len(at):
            return at.iloc[[0]]
        # off the enumerated grid (a grid the user gave, a doubling past it): still named
        extra = predicted(fitter, [layers], [d_emb], extra_inputs, group, **size)
        return extra.assign(p_best=np.nan, trained=trained, supported=False)

    head, roles = [], []
    if pick:
        head.append(row_of(pick["layers"], pick["d_emb"], pick["trained"]))
        roles.append("pick")
    if next_run is not None:
        key = (next_run["layers"], next_run["d_emb"])
        if pick and key == (pick["layers"], pick["d_emb"]):
            roles[0] = "pick, next"
        else:
            head.append(row_of(*key, next_run["action"] == "rerun"))
            roles.append("next")
    taken = {(int(h.layers.iloc[0]), int(h.d_emb.iloc[0])) for h in head}
    rest = order[[(int(a), int(b)) not in taken for a, b in zip(order.layers, order.d_emb)]]
    if carry:  # the trained runs (which the law predicts by their value) before the rest
        rest = rest.sort_values("trained", ascending=False, kind="stable")
    rest = rest.head(max(0, top - len(head)))
    out = pd.concat([*head, rest])
    out = out[[c for c in cols if c in out.columns]].reset_index(drop=True)
    out["role"] = roles + [""] * len(rest)
    if carry:
        untried = ~out["trained"].astype(bool)
        out.loc[untried, ["prediction", "lower", "upper", "p_best"]] = np.nan
    return out


def observed(fitter, table, rows) -> np.ndarray:
    """The trained value of each configuration of ``table`` (the mean of the fitted
    runs ``rows`` selects there; NaN where none): beside the law's prediction, it shows
    why a pick that keeps the best trained run can sit above rows predicted higher."""
    runs = pd.DataFrame(
        {
            "layers": np.asarray(fitter.X_["layers"], float)[rows],
            "d_emb": np.asarray(fitter.X_["d_emb"], float)[rows],
            "y": np.asarray(fitter.y_, float)[rows],
        }
    )
    mean = runs.groupby(["layers", "d_emb"])["y"].mean()
    keys = zip(table["layers"].astype(float), table["d_emb"].astype(float))
    return np.array([mean.get(k, np.nan) for k in keys], dtype=float)


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


def _comparator(fitter, budget, size, here_rows, here_what, notes) -> dict | None:
    """The best trained run the pick is compared with: of the situation ranked, and
    within the budget (a better run that does not fit is not a choice the user has)."""
    best_obs = getattr(fitter, "best_observed_", None)
    if best_obs and not here_rows.all():
        best_obs = fitter.best_observed(among=here_rows)
        if best_obs is None:
            notes.append(f"no trained run at {here_what}: nothing to compare the pick with")
    if budget is not None and best_obs:
        best_obs = best_trained_within(fitter, budget, **size, among=here_rows)
        if best_obs is None:
            notes.append(
                f"no trained run fits the budget of {budget:,.0f} {size['count']} parameters"
            )
    return best_obs
