r"""Compute-optimal allocation of a FLOPs budget between parameters and data (docs/science.md §5).

For a fitted Chinchilla law :math:`L = E + A N^{-\alpha} + B D^{-\beta}` and a budget
:math:`C = k N D` (``k = 6``: forward + backward, per parameter and token), minimising
:math:`L` along :math:`N D = C/k` gives

.. math::

    G = \left(\frac{\alpha A}{\beta B}\right)^{1/(\alpha+\beta)},\quad
    N_{opt} = G\,(C/k)^{\beta/(\alpha+\beta)},\quad
    D_{opt} = G^{-1}\,(C/k)^{\alpha/(\alpha+\beta)}.

**How embedder parameters are charged.**  ``N`` is whatever parameter count the law was
fitted on (total or non-embedding; the law file records the column).  A share
``embedder_share`` (:math:`s`; Gabrielsson's compute-optimal :math:`s^* \approx 2\%`) of
those parameters is reserved for the item/event embedder, and each embedder parameter is
charged ``embedder_flops_weight`` (:math:`w`) times the FLOPs of a backbone parameter:

.. math::

    C = k\,D\,\big((1 - s) N + w\,s\,N\big) = k\,(1 - s + w s)\,N D .

``w = 1`` (default) charges embedder parameters like dense ones (Chinchilla's ``6ND``);
``w = 0`` is an item table of which a step touches only the looked-up rows (docs/science.md §6);
``w > 1`` an event embedder that also runs on sampled candidates (Gabrielsson).  The
allocation is then the one above with ``k`` replaced by :math:`k (1 - s + w s)`.

Intervals come from the bootstrap refits stored with the law (percentiles of
:math:`N_{opt}, D_{opt}, D_{opt}/N_{opt}` over the refits); without a bootstrap they are
delta-method intervals from the fit's covariance.

Examples
--------
>>> theta = [1.69, 406.4, 410.7, 0.34, 0.28]          # Hoffmann et al.'s published fit
>>> a = compute_optimal(theta, 5.76e23)
>>> round(a["n_opt"] / 1e9, 1), round(a["d_opt"] / 1e12, 2), round(a["tokens_per_param"], 1)
(32.2, 2.98, 92.6)
"""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from scipy import stats

from perflaw.decide.params import ARCHITECTURES, count_parameters
from perflaw.errors import DataError

GABRIELSSON_SHARE = 0.02


def flops_factor(
    k: float = 6.0, embedder_share: float = 0.0, embedder_flops_weight: float = 1.0
) -> float:
    """FLOPs per (parameter × token) after charging the embedder share.

    >>> flops_factor(), flops_factor(6, 0.02, 0.0), flops_factor(6, 0.5, 3.0)
    (6.0, 5.88, 12.0)
    """
    if not (math.isfinite(k) and k > 0):
        raise DataError(f"FLOPs per parameter and token must be positive, got {k!r}")
    if not 0 <= embedder_share < 1:
        raise DataError(f"embedder share must be in [0, 1), got {embedder_share!r}")
    if not (math.isfinite(embedder_flops_weight) and embedder_flops_weight >= 0):
        raise DataError(f"embedder FLOPs weight must be >= 0, got {embedder_flops_weight!r}")
    return k * (1.0 - embedder_share + embedder_flops_weight * embedder_share)


def compute_optimal(theta, budget: float, k: float = 6.0) -> dict[str, float]:
    """``n_opt``, ``d_opt``, ``tokens_per_param`` (and ``G``) for one parameter vector.

    ``theta`` is ``(E, A, B, alpha, beta)``; ``budget`` in FLOPs; ``C = k·N·D``.
    """
    E, A, B, al, be = (float(v) for v in theta)
    if not (A > 0 and B > 0 and al > 1e-3 and be > 1e-3):  # a flat term: no optimum
        nan = float("nan")
        return {"n_opt": nan, "d_opt": nan, "tokens_per_param": nan, "G": nan}
    s = al + be
    # in logs: exponents of 1/(α+β) overflow for small α + β
    logG = (math.log(al * A) - math.log(be * B)) / s
    logc = math.log(budget / k)
    ln = logG + be / s * logc
    ld = -logG + al / s * logc
    with np.errstate(over="ignore"):
        return {
            "n_opt": float(np.exp(ln)),
            "d_opt": float(np.exp(ld)),
            "tokens_per_param": float(np.exp(ld - ln)),
            "G": float(np.exp(logG)),
        }


def closest_config(
    n_target: float,
    *,
    count: str = "total",
    arch: str = "sasrec",
    n_items: int = 0,
    max_len: int = 0,
    heads: int = 1,
    layers=None,
    d_emb=None,
) -> dict:
    """The (layers, d_emb) whose parameter count (docs/science.md §6) is closest to ``n_target``.

    Closeness is measured in log space (a factor 2 too many counts as much as a factor
    2 too few).  Defaults: layers 1, 2, 4, 8, 12, 16, 24, 32, 48 and ``d_emb`` every
    multiple of ``lcm(32, heads)`` up to 4096 (conventional shapes; pass ``layers`` and
    ``d_emb`` to search others).  ``alternatives`` lists, for every number of layers, the
    width closest to the target when it is within 10 % of it: many shapes have the
    same count, and the law says nothing about depth versus width.

    >>> c = closest_config(117824, n_items=1000, max_len=50, layers=[1, 2, 4], d_emb=[32, 64])
    >>> c["layers"], c["d_emb"], c["params"]
    (2, 64, 117824)
    """
    if arch not in ARCHITECTURES:
        raise DataError(f"unknown architecture {arch!r}: use one of {', '.join(ARCHITECTURES)}")
    if int(heads) != heads or heads < 1:
        raise DataError(f"heads must be a positive integer, got {heads!r}")
    if not (math.isfinite(n_target) and n_target > 0):
        raise DataError(f"no configuration for a parameter target of {n_target!r}")
    step = math.lcm(32, int(heads))
    L = np.unique(
        np.asarray(layers if layers is not None else [1, 2, 4, 8, 12, 16, 24, 32, 48], dtype=int)
    )
    D = np.unique(
        np.asarray(d_emb if d_emb is not None else np.arange(step, 4097, step), dtype=int)
    )
    D = D[D % heads == 0]
    if L.size == 0 or D.size == 0:
        raise DataError(f"no embedding dimension in the range is divisible by {heads} heads")
    best = None
    alternatives = []
    for lay in L:
        best_l = None
        for d in D:
            c = count_parameters(int(lay), int(d), arch=arch, n_items=n_items, max_len=max_len)
            n = c.get(count)
            if n <= 0:
                continue
            gap = abs(math.log(n / n_target))
            if best_l is None or gap < best_l[0]:
                best_l = (gap, int(lay), int(d), c)
        if best_l is None:
            continue
        if best is None or best_l[0] < best[0]:
            best = best_l
        if best_l[0] <= math.log(1.1):
            alternatives.append(
                {"layers": best_l[1], "d_emb": best_l[2], "params": int(best_l[3].get(count))}
            )
    if best is None:
        raise DataError(f"every enumerated configuration has 0 {count} parameters")
    gap, lay, d, c = best
    return {
        "layers": lay,
        "d_emb": d,
        "params": int(c.get(count)),
        "count": count,
        "embedding_params": int(c.embedding),
        "non_embedding_params": int(c.non_embedding),
        "total_params": int(c.total),
        "ratio_to_target": float(c.get(count) / n_target),
        "alternatives": alternatives,
    }


@dataclass
class Allocation:
    """Result of :func:`allocate` (``to_dict`` gives the JSON of ``recommend-config``)."""

    budget: float
    n_opt: float
    d_opt: float
    tokens_per_param: float
    ci: dict
    interval: str
    level: float
    flops_per_param_token: float
    embedder_share: float
    embedder_flops_weight: float
    n_embedder: float
    n_backbone: float
    config: dict | None
    accounting: str
    notes: list[str] = field(default_factory=list)
    #: False when the interval of N_opt spans more than MAX_SPAN: the table cannot pin the
    #: allocation, and the point values are not a recommendation
    identified: bool = True

    def to_dict(self) -> dict:
        return {
            "budget": self.budget,
            "budget_kind": "flops",
            "n_opt": self.n_opt,
            "d_opt": self.d_opt,
            "tokens_per_param": self.tokens_per_param,
            "ci": self.ci,
            "interval": self.interval,
            "level": self.level,
            "flops_per_param_token": self.flops_per_param_token,
            "embedder_share": self.embedder_share,
            "embedder_flops_weight": self.embedder_flops_weight,
            "n_embedder": self.n_embedder,
            "n_backbone": self.n_backbone,
            "config": self.config,
            "flops_accounting": self.accounting,
            "notes": self.notes,
            "identified": self.identified,
        }


#: Widest interval of N_opt (upper / lower) for which an allocation is reported as a
#: recommendation: beyond two orders of magnitude the table does not determine it.
MAX_SPAN = 100.0


def _count_kind(label: str) -> str:
    lab = label.lower().replace("-", "_")
    return "non-embedding" if ("non_emb" in lab or "nonemb" in lab) else "total"


def _flops_factor_checked(
    fitter, budget: float, level: float, k: float, share: float, weight: float
) -> float:
    """The FLOPs factor (:func:`flops_factor`), after refusing what has no compute-optimal
    allocation: another law, a budget, accounting or level out of range, a flat term."""
    if getattr(fitter.law_, "name", None) != "chinchilla":
        raise DataError(
            f"a FLOPs budget needs a chinchilla law (N and D); this law is "
            f"{fitter.law_.name!r}: fit with --law chinchilla"
        )
    if not (math.isfinite(budget) and budget > 0):
        raise DataError(f"budget must be a positive number of FLOPs, got {budget!r}")
    kk = flops_factor(k, share, weight)
    if not 0 < level < 1:
        raise DataError(f"level must be between 0 and 1, got {level!r}")
    E, A, B, al, be = (float(v) for v in fitter.theta_)
    flat = [
        f"{n} = {v:.3g}"
        for n, v in (("A", A), ("alpha", al), ("B", B), ("beta", be))
        if not v > (1e-3 if n in ("alpha", "beta") else 0)
    ]
    if flat:
        raise DataError(
            f"the fitted law has no compute-optimal allocation: {', '.join(flat)} "
            "(a flat term; the fit is degenerate, see its warnings)"
        )
    return kk


def _intervals(fitter, est, budget, kk, alpha, keys) -> tuple[dict, str]:
    """Intervals of ``N_opt``, ``D_opt`` and tokens per parameter, and how they were
    made: percentiles of the bootstrap refits, or the delta method on the covariance."""
    ci = {}
    boot = fitter.bootstrap_params_
    if boot is not None and len(boot):
        vals = np.array([[compute_optimal(b, budget, kk)[q] for q in keys] for b in boot])
        for j, q in enumerate(keys):
            col = vals[:, j][np.isfinite(vals[:, j])]
            ci[q] = (
                [float(v) for v in np.percentile(col, [50 * alpha, 100 - 50 * alpha])]
                if col.size
                else [np.nan, np.nan]
            )
        return ci, f"bootstrap ({len(boot)} refits)"
    theta = np.asarray(fitter.theta_, float)
    z = stats.norm.ppf(1 - alpha / 2)
    base = np.log([est[q] for q in keys])
    G = np.empty((3, len(theta)))
    for i in range(len(theta)):
        t = theta.copy()
        h = 1e-6 * max(abs(t[i]), 1e-8)
        t[i] += h
        e2 = compute_optimal(t, budget, kk)
        G[:, i] = (np.log([e2[q] for q in keys]) - base) / h
    se = np.sqrt(np.clip(np.einsum("ij,jk,ik->i", G, fitter.cov_, G), 0, None))
    # a huge se overflows exp to [0, inf]: an unbounded interval, reported as not
    # identified below, so numpy's overflow warning would only be noise
    with np.errstate(over="ignore"):
        for j, q in enumerate(keys):
            ci[q] = [float(np.exp(base[j] - z * se[j])), float(np.exp(base[j] + z * se[j]))]
    return ci, "delta method (fit with --bootstrap for percentile intervals)"


def _configuration(est, n_back, n_emb, count, embedder_share, identified, notes, options):
    """The (layers, d_emb) closest to the backbone share of ``N_opt``, with notes on how
    it matches (appended to ``notes``)."""
    # with an embedder share the backbone (non-embedding) part is what (layers, d_emb) sets
    target, kind = (n_back, "non-embedding") if embedder_share > 0 else (est["n_opt"], count)
    cfg = closest_config(target, count=kind, **options)
    if kind == "total" and not options.get("n_items"):
        notes.append(
            "the law's N is a total count but --n-items is 0: the configuration "
            "is matched without an item table"
        )
    if embedder_share > 0 and cfg["embedding_params"] > 1.5 * n_emb:
        notes.append(
            f"this shape's item/position tables have {cfg['embedding_params']:,} "
            f"parameters, more than the embedder share s·N_opt = {n_emb:.3g}: an "
            "item-table embedder cannot keep to the share (think of a hashed or "
            "event embedder, or leave --n-items at 0)"
        )
    r = cfg["ratio_to_target"]
    if identified and not 0.8 <= r <= 1.25:  # no configuration is discussed otherwise
        notes.append(
            f"the closest configuration has {r:.2f}× the target parameter count: "
            "widen --layers/--d-emb"
        )
    return cfg


def allocate(
    fitter,
    budget: float,
    *,
    k: float = 6.0,
    embedder_share: float = 0.0,
    embedder_flops_weight: float = 1.0,
    level: float | None = None,
    count: str | None = None,
    config: bool = True,
    **config_options,
) -> Allocation:
    """Compute-optimal ``N``, ``D`` for a FLOPs ``budget`` from a fitted Chinchilla law.

    Parameters
    ----------
    fitter : LawFitter
        Fitted (or loaded) with ``law="chinchilla"``.
    budget : float
        Training FLOPs.
    k, embedder_share, embedder_flops_weight
        FLOPs accounting (module docstring): ``C = k (1 - s + w s) N D``.
    level : float, optional
        Interval level (default: the fit's).
    count : {"total", "non-embedding"}, optional
        Which count the law's ``N`` is (default: guessed from the ``N`` column name).
    config : bool
        Also pick the concrete (layers, d_emb) closest to the backbone share of
        ``N_opt`` (:func:`closest_config`; ``config_options`` are passed on).
    """
    level = fitter.level if level is None else level
    kk = _flops_factor_checked(fitter, budget, level, k, embedder_share, embedder_flops_weight)
    est = compute_optimal(fitter.theta_, budget, kk)
    keys = ("n_opt", "d_opt", "tokens_per_param")
    if not (np.isfinite(est["n_opt"]) and np.isfinite(est["d_opt"])):
        raise DataError(
            f"the fitted law implies a degenerate allocation (N_opt = "
            f"{est['n_opt']:.3g}, D_opt = {est['d_opt']:.3g}): check its warnings"
        )
    # a point below one parameter or one token is a fit that cannot pin the allocation
    # (e.g. a data exponent near 0): reported as not identified, like a too-wide interval
    degenerate = bool(est["n_opt"] < 1 or est["d_opt"] < 1)
    alpha = 1 - level
    ci, interval = _intervals(fitter, est, budget, kk, alpha, keys)
    law = fitter.law_
    count = count or _count_kind(law.N_label)
    n_emb = embedder_share * est["n_opt"]
    n_back = est["n_opt"] - n_emb
    notes = []
    lo_ci, hi_ci = ci["n_opt"]
    span = hi_ci / lo_ci if lo_ci > 0 and np.isfinite(hi_ci) else np.inf
    identified = bool(np.isfinite(span) and span <= MAX_SPAN) and not degenerate
    if degenerate:
        notes.append(
            f"not identified: the fit's point allocation is degenerate (N_opt = "
            f"{est['n_opt']:.3g} parameters, D_opt = {est['d_opt']:.3g}), so none is "
            "recommended; see the fit's warnings (widen the parameter and data ranges of "
            "the runs, at least a decade each)"
        )
    elif not identified:
        notes.append(
            f"not identified: the {100 * level:g}% interval of N_opt spans a factor of "
            f"{span:.3g} (more than {MAX_SPAN:g}): this runs table cannot pin the "
            "compute-optimal allocation, so none is recommended (widen the parameter and "
            "data ranges of the runs, at least a decade each)"
        )
    lo_n, hi_n = fitter.ranges_.get("N", (np.nan, np.nan))
    lo_d, hi_d = fitter.ranges_.get("D", (np.nan, np.nan))
    for name, v, lo, hi in (
        ("N_opt", est["n_opt"], lo_n, hi_n),
        ("D_opt", est["d_opt"], lo_d, hi_d),
    ):
        if np.isfinite(lo) and not (lo <= v <= hi):
            notes.append(
                f"{name} = {v:.3g} is outside the fitted range {lo:.3g}-{hi:.3g}: "
                "an extrapolation of the law"
            )
    if law.transform == "one_minus":
        notes.append("the law was fitted to 1 - metric: the allocation maximises the metric")
    if "d_prime" in law.D_label.lower() or "dprime" in law.D_label.lower():
        notes.append("D is the quality-adjusted D′: D_opt is in D′ units, not raw interactions")
    accounting = (
        f"C = {k:g} · D · ((1 - s)·N + w·s·N) with s = {embedder_share:g} (embedder share of "
        f"N = {law.N_label}, a {count} count) and w = {embedder_flops_weight:g} (FLOPs of an "
        f"embedder parameter relative to a backbone one; 1 = dense, 0 = only looked-up rows)"
    )
    cfg = None
    if config:
        cfg = _configuration(
            est, n_back, n_emb, count, embedder_share, identified, notes, config_options
        )
    return Allocation(
        float(budget),
        est["n_opt"],
        est["d_opt"],
        est["tokens_per_param"],
        ci,
        interval,
        level,
        kk,
        embedder_share,
        embedder_flops_weight,
        n_emb,
        n_back,
        cfg,
        accounting,
        notes,
        identified,
    )


def allocation_curve(fitter, budgets, **options) -> pd.DataFrame:
    """:func:`allocate` over several budgets, one row each (no configurations)."""
    rows = []
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for c in budgets:
            a = allocate(fitter, float(c), config=False, **options)
            rows.append(
                {
                    "budget": a.budget,
                    "n_opt": a.n_opt,
                    "d_opt": a.d_opt,
                    "tokens_per_param": a.tokens_per_param,
                    "n_opt_lower": a.ci["n_opt"][0],
                    "n_opt_upper": a.ci["n_opt"][1],
                }
            )
    return pd.DataFrame(rows)
