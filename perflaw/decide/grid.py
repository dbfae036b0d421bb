"""The configurations a recommendation ranks: the grid, each configuration's parameter
count and prediction, what marks it (within the budget, already trained, inside what the
backtest checked), the chance it is the best, and the trained runs of the situation
ranked."""

from __future__ import annotations

import math
import warnings

import numpy as np
import pandas as pd

from perflaw.decide.params import count_parameters
from perflaw.errors import DataError
from perflaw.fitting.intervals import horizon

#: the columns of the table ``recommend`` lists, after the inputs
TABLE = ("params", "prediction", "lower", "upper", "p_best", "trained", "supported")


def grid_axes(fitter, layers, d_emb, heads: int) -> tuple[np.ndarray, np.ndarray]:
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


def configurations(fitter, layers, d_emb, group):
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
    return L[keep], D[keep], notes, None


def mark_candidates(fitter, cand, budget, count, n_items, here_rows, notes) -> pd.Series:
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


def add_p_best(fitter, cand, usable, inputs, groups, n_draws: int, sign: float) -> None:
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


def as_pick(row, trained: bool | None = None) -> dict:
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


def group_labels(fitter, layers, d_emb, group) -> np.ndarray | None:
    """The group label of each configuration: its own value's for a law with one term
    per value of an input (:meth:`~perflaw.laws.base.Law.grouped_input`), else ``group``
    for every one (None for an ungrouped law)."""
    keyed = fitter.law_.grouped_input()
    if keyed is not None:
        col, labels = keyed
        vals = np.asarray(layers if col == "layers" else d_emb, float)
        return np.array([labels.get(float(v), f"{col}={v:g}") for v in vals])
    return None if group is None else np.repeat(str(group), len(np.atleast_1d(layers)))


def predicted(fitter, layers, d_emb, extra_inputs, group, *, arch, n_items, max_len, count):
    """Configurations (``layers``, ``d_emb``, the held ``extra_inputs``) with their
    parameter ``count`` and the law's prediction and observation interval."""
    out = pd.DataFrame({"layers": layers, "d_emb": d_emb})
    for k, v in (extra_inputs or {}).items():
        out[k] = v
    groups = group_labels(fitter, out["layers"], out["d_emb"], group)
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


def best_trained_within(fitter, budget, arch, n_items, max_len, count, among) -> dict | None:
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


def rows_of(fitter, group, extra_inputs) -> tuple[np.ndarray, str]:
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
