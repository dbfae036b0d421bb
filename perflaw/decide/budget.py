"""Budgets and ``recommend-config``: the best (layers, d_emb) under a parameter budget.

Parameters are counted with :func:`perflaw.decide.params.count_parameters` (spec §6).  The
enumeration is a grid of ``layers`` × ``d_emb`` (``d_emb`` divisible by ``heads``);
each configuration within the budget is scored by the fitted law, with an interval and,
when the law was fitted with a bootstrap, the probability that it is the best feasible
configuration (the share of bootstrap refits in which it has the highest prediction).
"""

from __future__ import annotations

import math
import re
import warnings
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from perflaw.errors import DataError
from perflaw.decide.params import ARCHITECTURES, count_parameters

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
    perflaw.errors.DataError: cannot parse budget 'lots': use a number with an optional k, M, G/B or T suffix, e.g. 20M, 1.5e9, 300k
    """
    if isinstance(text, (int, float)) and not isinstance(text, bool):
        value = float(text)
    else:
        m = _BUDGET.match(str(text))
        if not m:
            raise DataError(f"cannot parse budget {text!r}: use a number with an optional k, M, "
                            "G/B or T suffix, e.g. 20M, 1.5e9, 300k")
        value = float(m.group(1)) * _SUFFIX[m.group(2).lower()]
    if not math.isfinite(value) or value <= 0:
        raise DataError(f"budget must be positive, got {text!r}")
    return value


def parse_range(text: str, what: str) -> np.ndarray:
    """Values from ``"8,16,32"`` or an inclusive range ``"4:32"`` / ``"16:1024:16"``.

    >>> parse_range("4:12:4", "layers").tolist(), parse_range("8,16", "layers").tolist()
    ([4, 8, 12], [8, 16])
    """
    text = str(text).strip()
    try:
        if ":" in text:
            parts = [int(float(p)) for p in text.split(":")]
            if len(parts) not in (2, 3):
                raise ValueError
            lo, hi = parts[0], parts[1]
            step = parts[2] if len(parts) == 3 else 1
            if step <= 0 or hi < lo:
                raise ValueError
            values = np.arange(lo, hi + 1, step)
        else:
            values = np.array([int(float(p)) for p in text.split(",") if p.strip()])
    except ValueError:
        raise DataError(f"cannot parse {what} {text!r}: use 'a:b', 'a:b:step' or 'a,b,c'") from None
    if values.size == 0 or np.any(values < 1):
        raise DataError(f"{what} {text!r} must list positive integers")
    return values


@dataclass
class Recommendation:
    """Result of :func:`recommend`.

    Attributes
    ----------
    top : pandas.DataFrame
        The best feasible configurations: ``layers``, ``d_emb``, ``params``,
        ``prediction``, ``lower``, ``upper``, ``p_best``.
    candidates : pandas.DataFrame
        Every enumerated configuration with its count, prediction and ``feasible`` flag.
    unconstrained : dict
        Best enumerated configuration ignoring the budget.
    budget_binds : bool
        Whether the budget excludes the unconstrained best.
    """

    top: pd.DataFrame
    candidates: pd.DataFrame
    unconstrained: dict
    budget: float
    budget_binds: bool
    count: str
    notes: list[str] = field(default_factory=list)


def recommend(
    fitter,
    budget: float | str,
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
) -> Recommendation:
    """Best configurations under a parameter budget according to a fitted law.

    Parameters
    ----------
    fitter : LawFitter
        A fitted Performance-Law fitter (inputs ``layers`` and ``d_emb``).
    budget : float or str
        Maximum parameter count (``"20M"`` ...).
    layers, d_emb : array-like, optional
        Candidate values (default: every integer number of layers and every multiple of
        ``lcm(8, heads)`` for ``d_emb`` inside the fitted ranges).
    heads : int
        Attention heads; only ``d_emb`` divisible by ``heads`` are enumerated.
    arch, n_items, max_len, count
        Parameter counting (:func:`perflaw.decide.params.count_parameters`); ``count`` is
        ``"total"`` or ``"non-embedding"``.
    top : int
        Number of configurations returned.
    extra_inputs : dict, optional
        Further law inputs held fixed (``{"d_prime": 1.2e6}``).
    group : str, optional
        Group label for joint fits with a term per group.
    """
    budget = parse_budget(budget)
    if not {"layers", "d_emb"} <= set(fitter.law_.inputs):
        raise DataError(f"a parameter budget needs a law in layers and d_emb; this law is "
                        f"{fitter.law_.name!r} (for a chinchilla law use --budget-kind flops)")
    if arch not in ARCHITECTURES:
        raise DataError(f"unknown architecture {arch!r}: use one of {', '.join(ARCHITECTURES)}")
    if int(heads) != heads or heads < 1:
        raise DataError(f"heads must be a positive integer, got {heads!r}")
    ranges = fitter.ranges_
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
    L, D = np.meshgrid(layers, d_emb, indexing="ij")
    L, D = L.ravel(), D.ravel()
    counts = np.array([count_parameters(int(a), int(b), arch=arch, n_items=n_items,
                                        max_len=max_len).get(count) for a, b in zip(L, D)],
                      dtype=float)
    frame = pd.DataFrame({"layers": L, "d_emb": D})
    for k, v in (extra_inputs or {}).items():
        frame[k] = v
    groups = None if group is None else np.repeat(str(group), len(frame))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        pred = fitter.predict(frame, groups=groups, interval=True)
    cand = frame.copy()
    cand["params"] = counts.astype(np.int64)
    cand["prediction"] = pred["prediction"].to_numpy()
    cand["lower"], cand["upper"] = pred["lower"].to_numpy(), pred["upper"].to_numpy()
    cand["feasible"] = counts <= budget
    if not cand["feasible"].any():
        small = cand.loc[cand["params"].idxmin()]
        raise DataError(
            f"budget {budget:,.0f} is below every configuration enumerated: the smallest "
            f"(layers={small.layers}, d_emb={small.d_emb}) has {small.params:,} {count} parameters"
        )
    feas = np.flatnonzero(cand["feasible"].to_numpy())
    cand["p_best"] = np.nan
    if fitter.bootstrap_params_ is not None and len(fitter.bootstrap_params_):
        Xf = fitter._inputs(fitter.law_, cand.iloc[feas], None if groups is None else groups[feas])
        P = np.array([fitter.law_.formula(b, Xf) for b in fitter.bootstrap_params_])
        wins = np.bincount(np.argmax(P, axis=1), minlength=len(feas))
        cand.loc[cand.index[feas], "p_best"] = wins / len(P)
    order = cand.iloc[feas].sort_values(["prediction", "params"], ascending=[False, True])
    best_all = cand.sort_values(["prediction", "params"], ascending=[False, True]).iloc[0]
    unconstrained = {
        "layers": int(best_all.layers), "d_emb": int(best_all.d_emb),
        "params": int(best_all.params), "prediction": float(best_all.prediction),
    }
    for key in ("N_opt", "d_opt"):
        if key in fitter.derived_:
            unconstrained[f"closed_form_{key}"] = float(fitter.derived_[key])
    binds = not bool(best_all.feasible)
    notes = []
    lo_l, hi_l = ranges["layers"]
    lo_d, hi_d = ranges["d_emb"]
    if layers.min() < lo_l or layers.max() > hi_l or d_emb.min() < lo_d or d_emb.max() > hi_d:
        notes.append("the enumeration leaves the fitted range: predictions there are extrapolations")
    cols = [c for c in ("layers", "d_emb", *(extra_inputs or {}), "params", "prediction",
                        "lower", "upper", "p_best") if c in cand.columns]
    return Recommendation(order[cols].head(int(top)).reset_index(drop=True), cand, unconstrained,
                          budget, binds, count, notes)
