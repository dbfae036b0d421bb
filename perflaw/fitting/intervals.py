r"""The whole interval policy: calibration by the backtest, its half-width, the trained edge.

**Calibration**: prediction intervals of a form chosen by a backtest
(:mod:`perflaw.fitting.selection`) come from its own backtest errors :math:`e_i` (fitting
scale, e.g. logit) at horizons :math:`h_i` (doublings past the origin):
:math:`\sigma^2 = \mathrm{mean}(e_i^2/(1+h_i))`, and the interval at horizon :math:`h` is
:math:`\pm t_{\nu}\,\sigma\sqrt{(1+1/n)(1+\max(h,0))}` — a Student-t split-conformal
interval whose width grows like a random walk with the distance extrapolated.  The
predictions made from one origin share one fit, so a fitted form's errors are not
:math:`n` independent draws: its t has :math:`\nu = k + 1` degrees of freedom for
:math:`k` origins (at most :math:`n`).  Carry-forward fits nothing; its :math:`\nu = n`.
On four runs tables this brought the fitted forms' 95 % intervals from 88 % to 95 %
coverage within the backtest's reach (one degree of freedom per predicted run, the former
rule, was too narrow; one per origin covered 99 % at more than twice the width).

**The trained edge**: past the largest trained size along the backtest's axis, where the
law predicts worse than at it, its fall is halved: the point is half-way to the law's own
level there and the interval spans both (:func:`edge_decline`: how far a law falls is what
its backtest checked least; such intervals covered 78 % of the runs before they reached
that level, 92 % after, and the halved points erred 3.4 % against the law's 4.8 %).

Changing how intervals are computed is a change to this file only: the fitter
(:meth:`perflaw.fitting.LawFitter.predict`) and the decision wing (``predict_draws``)
call it.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from scipy import stats

from perflaw.errors import DataError
from perflaw.laws.base import Law, get_law
from perflaw.laws.scales import higher_is_better

#: the size axes a backtest runs along
AXES = ("layers", "d_emb")
#: the ``interval`` of a prediction past the trained edge that the law predicts worse than
#: the edge: the point is half-way to the law's level there, and the interval's better
#: side reaches to that level (:func:`edge_decline`)
WIDENED = "backtest-calibrated, fall past the trained edge halved, widened to the law's level there"
CALIBRATED = "backtest-calibrated"


def resolve_axis(X: pd.DataFrame, axis: str) -> str:
    """``"auto"`` → ``"layers"``, unless the runs have fewer than 3 layer counts and more
    distinct widths (a scan in width at one or two depths): then ``"d_emb"``.

    >>> resolve_axis(pd.DataFrame({"layers": [2, 2, 2], "d_emb": [16, 32, 64]}), "auto")
    'd_emb'
    >>> resolve_axis(pd.DataFrame({"layers": [1, 2, 4], "d_emb": [16, 32, 64]}), "auto")
    'layers'
    """
    if axis != "auto":
        if axis not in AXES:
            raise DataError(f"unknown backtest axis {axis!r}: use auto, {' or '.join(AXES)}")
        return axis

    def n(c):
        return X[c].nunique() if c in X.columns else 0

    return "d_emb" if n("layers") < 3 and n("d_emb") > n("layers") else "layers"


def horizon(values: np.ndarray, origin: float) -> np.ndarray:
    """Doublings past ``origin`` along the axis (0 inside the fitted range)."""
    return np.maximum(np.log2(np.asarray(values, float) / float(origin)), 0.0)


def calibration(points: pd.DataFrame, axis: str, axis_max: float, form: str) -> dict | None:
    """The calibration of ``form`` from its backtest predictions (``z_error``,
    ``horizon``, ``origin`` per predicted run; see the module docstring), None with fewer
    than two."""
    if len(points) < 2:
        return None
    e = points.z_error.to_numpy(float)
    h = points.horizon.to_numpy(float)
    sd = math.sqrt(float(np.mean(e * e / (1 + h))))
    n, k = int(len(e)), int(points.origin.nunique())
    return {
        "method": "backtest",
        "sd": sd,
        "n": n,
        # predictions from one origin share one fit, so a fitted form's errors are not
        # independent: its t has one degree of freedom per origin, plus one; carry-forward
        # fits nothing
        "df": n if form == "carry" else min(k + 1, n),
        "n_origins": k,
        "axis": axis,
        "axis_max": float(axis_max),
        "max_horizon": float(h.max()),
    }


def calibration_df(calibration: dict) -> int:
    """Degrees of freedom of a calibration's Student-t (see the module docstring).

    A law file written before the rule recorded ``df`` used one per predicted run.
    """
    return max(int(calibration.get("df", calibration["n"])), 1)


def calibrated_halfwidth(calibration: dict, h: np.ndarray, level: float) -> np.ndarray:
    """Half-width on the fitting scale at horizons ``h`` (see the module docstring)."""
    n, sd = int(calibration["n"]), float(calibration["sd"])
    t = stats.t.ppf(1 - (1 - level) / 2, calibration_df(calibration))
    return t * sd * np.sqrt((1 + 1 / max(n, 1)) * (1 + np.maximum(h, 0.0)))


def trained_edge(
    calibration: dict | None, axis: str | None, frame: pd.DataFrame, X: dict
) -> dict | None:
    """The largest trained size along the backtest's axis, past which a law's fall is
    halved: the calibration's axis when a backtest ran, else ``axis`` (``"auto"`` is
    resolved on ``frame``); None without one (an uncalibrated fit with no axis, or a law
    of other inputs, such as Chinchilla's)."""
    if calibration:
        axis = calibration["axis"]
    elif axis is None:
        return None
    else:
        try:
            axis = resolve_axis(frame, axis)
        except DataError:
            return None
    if axis not in X:
        return None
    return {"axis": axis, "axis_max": float(np.max(X[axis]))}


def edge_decline(
    law: Law, theta: np.ndarray, X: dict, calibration: dict, metric: str | None, z: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Where a law predicts worse past the trained edge than at it, and its level there.

    Past the largest trained size along the calibration's axis a fitted law may turn
    down (the Performance Law past its optimum, a log-linear slope fitted to a falling
    metric).  How far it falls is what its backtest checked least: the origins below the
    edge saw the rise and the top.  On four tables such predictions were covered by 78 %
    of their 95 % intervals, and the runs missed lay above them: the law turns faster
    than the runs do.  :meth:`~perflaw.fitting.LawFitter.predict` therefore predicts
    half-way between the law's value and its level at the edge (the halved points erred
    3.4 % against the law's 4.8 % on 395 predictions), its interval spans the two, and
    recommend-config's draws spread between them.

    Parameters
    ----------
    law, theta : the bound law and its parameters
    X : dict of inputs (as the law reads them)
    calibration : the trained edge (``axis``, ``axis_max``): the fitter's ``edge_`` or its
        backtest calibration
    metric : the metric's name (a loss is better lower)
    z : the law's predictions for ``X`` on the fitting scale

    Returns
    -------
    z_edge : ndarray
        The law's value (fitting scale) at ``axis_max``, the other inputs unchanged.
    declines : ndarray of bool
        Rows past ``axis_max`` predicted worse than ``z_edge``.

    Examples
    --------
    >>> from perflaw.laws.perwidth import LogLinearLaw
    >>> X = {"layers": np.array([2., 4., 8., 16.]), "d_emb": np.full(4, 64.)}
    >>> law = LogLinearLaw().bind(X)
    >>> theta = np.array([0.3, -0.02])  # falls with depth
    >>> cal = {"axis": "layers", "axis_max": 4.0}
    >>> z_edge, declines = edge_decline(law, theta, X, cal, "hr@10", law.formula(theta, X))
    >>> declines.tolist(), bool(np.allclose(z_edge[2:], 0.3 - 0.02 * np.log(4)))
    ([False, False, True, True], True)
    """
    z = np.asarray(z, float)
    axis = calibration.get("axis")
    if axis not in X:
        return z, np.zeros(len(z), bool)
    past = np.asarray(horizon(X[axis], calibration["axis_max"]), float) > 0
    if not past.any():
        return z, past
    edge = dict(X)
    edge[axis] = np.where(past, float(calibration["axis_max"]), np.asarray(X[axis], float))
    z_edge = np.asarray(law.formula(theta, edge), float)
    sign = 1.0 if higher_is_better(metric) else -1.0
    # a law flat past the edge (carry-forward) is not declining: only a fall beyond
    # rounding counts
    tol = 1e-9 * np.maximum(np.abs(z_edge), 1.0)
    return z_edge, past & (sign * (z_edge - z) > tol)


def halved_point(zlaw: np.ndarray, z_edge: np.ndarray, declines: np.ndarray) -> np.ndarray:
    """The point prediction (fitting scale): the law's, or half-way to its level at the
    trained edge where it declines past it."""
    return np.where(declines, (zlaw + z_edge) / 2, zlaw)


def span_edge(lo, hi, rise, declines, metric: str | None):
    """An interval about the law's own value, its better side moved by ``rise`` (to the
    law's level at the trained edge) where the law declines past it: the worse side stays
    the law's, so the interval spans both (and the halved point)."""
    if higher_is_better(metric):
        return lo, np.where(declines, hi + rise, hi)
    return np.where(declines, lo + rise, lo), hi


def reach(calibration: dict | None, X: dict, n: int) -> tuple[np.ndarray, np.ndarray]:
    """Doublings past the calibration's edge of each row, and which rows lie further than
    the backtest ever predicted (its interval's growth was measured only so far)."""
    cal = calibration
    ahead = (
        np.asarray(horizon(X[cal["axis"]], cal["axis_max"]), float)
        if cal and cal["axis"] in X
        else np.zeros(n)
    )
    past_reach = (
        ahead > cal["max_horizon"] + 1e-9
        if cal and cal.get("max_horizon") is not None
        else np.zeros(len(ahead), bool)
    )
    return ahead, past_reach


@dataclass
class Where:
    """Where predictions lie against the trained edge (fitting scale): the law's values,
    its level at the edge, which rows it declines past the edge at, the doublings past the
    calibration's edge, and which rows lie further than the backtest ever predicted."""

    zlaw: np.ndarray
    z_edge: np.ndarray
    declines: np.ndarray
    ahead: np.ndarray
    past_reach: np.ndarray

    @classmethod
    def of(cls, f, X: dict) -> Where:
        """For a fitted law ``f`` (its ``edge_`` or calibration) at inputs ``X``."""
        cal = getattr(f, "calibration_", None)
        zlaw = np.asarray(f.law_.formula(f.theta_, X), float)
        ahead, past_reach = reach(cal, X, len(zlaw))
        edge = getattr(f, "edge_", None) or cal
        if edge:
            z_edge, declines = edge_decline(f.law_, f.theta_, X, edge, f.metric_, zlaw)
        else:
            z_edge, declines = zlaw, np.zeros(len(zlaw), bool)
        return cls(zlaw, z_edge, declines, ahead, past_reach)

    @property
    def point(self) -> np.ndarray:
        """The point prediction (:func:`halved_point`)."""
        return halved_point(self.zlaw, self.z_edge, self.declines)


def calibrated_interval(
    calibration: dict, w: Where, level: float, noise_sd: float | None, metric: str | None
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(lower, upper, label)`` on the fitting scale of a backtest-calibrated interval
    for a new run (``noise_sd``: one run's noise on the fitting scale, or None for the
    expected metric)."""
    zlaw, z_edge, declines, past_reach = w.zlaw, w.z_edge, w.declines, w.past_reach
    hw = calibrated_halfwidth(calibration, w.ahead, level)
    if noise_sd:
        hw = np.sqrt(hw**2 + (stats.norm.ppf(1 - (1 - level) / 2) * noise_sd) ** 2)
    # how far a law falls past the trained edge is what its backtest checked least: the
    # interval spans its own value and its level at the edge
    zlo, zhi = span_edge(zlaw - hw, zlaw + hw, z_edge - zlaw, declines, metric)
    # past the farthest the backtest predicted, such intervals were measured to
    # under-cover: each row says which side it is on
    label = np.where(declines, WIDENED, CALIBRATED)
    label = np.where(past_reach, np.char.add(label, ", past its reach (unchecked)"), label)
    return zlo, zhi, label


def calibrated_draws(
    law: Law,
    theta: np.ndarray,
    X: dict,
    calibration: dict,
    metric: str | None,
    n_draws: int,
    rng: np.random.Generator,
) -> np.ndarray:
    """``(n_draws, n)`` predictive draws on the fitting scale of one calibrated form: its
    calibrated error (Student t, widening with the distance extrapolated) about its value;
    past the trained edge, where the form declines, each draw's centre lies anywhere
    between the law's value and its level at the edge (the halved point on average), as
    :func:`halved_point` and :func:`span_edge` do for one prediction."""
    z = np.asarray(law.formula(theta, X), float)
    cal = calibration
    h = horizon(X[cal["axis"]], cal["axis_max"])
    scale = cal["sd"] * np.sqrt((1 + 1 / cal["n"]) * (1 + h))
    e = stats.t.rvs(calibration_df(cal), size=(int(n_draws), len(z)), random_state=rng)
    z_edge, declines = edge_decline(law, theta, X, cal, metric, z)
    centre = np.broadcast_to(z, e.shape)
    if declines.any():
        u = rng.uniform(size=e.shape) * declines[None, :]
        centre = z[None, :] + u * (z_edge - z)[None, :]
    return centre + e * scale[None, :]


def extrapolation_messages(
    ranges: dict, X: dict, calibration: dict | None, past_reach: np.ndarray
) -> list[str]:
    """What a prediction at ``X`` extrapolates: inputs outside the fitted ranges, and
    sizes further past the trained edge than the backtest ever predicted."""
    out = []
    for c, (low, high) in ranges.items():
        v = X[c]
        far = v[(v < low) | (v > high)]
        if far.size:
            out.append(
                f"predicting outside the fitted range of {c} ({low:g} to {high:g}): "
                f"{', '.join(f'{x:g}' for x in np.unique(far)[:5])}"
            )
    cal = calibration
    if cal and past_reach.any():
        far = np.unique(np.asarray(X[cal["axis"]])[past_reach])
        out.append(
            f"{cal['axis']} {', '.join(f'{x:g}' for x in far[:5])}: further past the "
            f"largest trained {cal['axis']} ({cal['axis_max']:g}) than the backtest "
            f"ever predicted ({cal['max_horizon']:.2g} doublings); the law and its "
            "interval there are unchecked"
        )
    return out


def prediction_interval(
    f, X: dict, w: Where, level: float, kind: str
) -> tuple[np.ndarray, np.ndarray, Any]:
    """``(lower, upper, label)`` on the fitting scale of the interval of a fitted law
    ``f`` at ``X`` (``kind``: ``"mean"`` or ``"observation"``, a new run): calibrated by
    the backtest when the fit has a calibration; else bootstrap percentiles or Wald
    (delta method) in sample; NaN where there is none (a lookup, no residual degrees of
    freedom, parameters not identified).  Past the trained edge, where the law declines,
    the better side reaches to its level at the edge (:func:`span_edge`)."""
    noise = getattr(f, "noise_sd_", None)
    if f.calibration_:
        return calibrated_interval(
            f.calibration_, w, level, noise if kind == "observation" else None, f.metric_
        )
    zlaw, z_edge, declines = w.zlaw, w.z_edge, w.declines
    alpha = 1 - level
    law = f.law_
    n, k = len(f.y_), law.n_params
    s2 = float(f.zresiduals_ @ f.zresiduals_) / max(n - k, 1)
    if noise and kind == "observation":
        s2 = max(s2, noise**2)
    nan = np.full(len(zlaw), np.nan)
    if law.nonparametric or n <= k:
        return nan, nan, "none (not backtested, no residual degrees of freedom)"
    if f.bootstrap_params_ is not None:
        P = np.array([law.formula(b, X) for b in f.bootstrap_params_])  # fitting scale
        if kind == "observation":
            P = P + np.random.default_rng(f.seed).normal(0, math.sqrt(s2), size=P.shape)
        lo, hi = np.percentile(P, [100 * alpha / 2, 100 * (1 - alpha / 2)], axis=0)
        lo, hi = span_edge(lo, hi, z_edge - zlaw, declines, f.metric_)
        return lo, hi, "bootstrap"
    if getattr(f, "unidentified_", None):
        return nan, nan, "none (parameters not identified)"
    J = f.jacobian(X)
    var = np.einsum("ij,jk,ik->i", J, f.cov_, J)
    if kind == "observation":
        var = var + s2
    t = stats.t.ppf(1 - alpha / 2, max(n - k, 1))
    lo, hi = zlaw - t * np.sqrt(var), zlaw + t * np.sqrt(var)
    lo, hi = span_edge(lo, hi, z_edge - zlaw, declines, f.metric_)
    return lo, hi, "delta"


def noise_on_scale(noise_sd: float | None, y: np.ndarray, scale: str) -> float | None:
    """One run's noise (the metric's own scale) on the fitting scale: divided by
    ``m (1 - m)`` at the mean ``m`` on the logit scale, the slope of the logit there."""
    if noise_sd is None:
        return None
    if not (isinstance(noise_sd, (int, float)) and math.isfinite(noise_sd) and noise_sd >= 0):
        raise DataError(f"noise_sd must be a non-negative number, got {noise_sd!r}")
    m = float(np.mean(y))
    return float(noise_sd) / (m * (1 - m)) if scale == "logit" else float(noise_sd)


def mixed_draws(
    forms: list[tuple[Law, dict, np.ndarray, dict]],
    weights: np.ndarray,
    metric: str | None,
    n_draws: int,
    n: int,
    rng: np.random.Generator,
) -> np.ndarray:
    """``(n_draws, n)`` draws on the fitting scale mixing calibrated forms (``(law,
    inputs, params, calibration)`` each): each draw picks a form with the probability its
    weight gives, then :func:`calibrated_draws` of that form."""
    which = rng.choice(len(forms), size=n_draws, p=weights / weights.sum())
    out = np.empty((n_draws, n))
    for i, (law, X, theta, cal) in enumerate(forms):
        rows = which == i
        if rows.any():
            out[rows] = calibrated_draws(law, theta, X, cal, metric, int(rows.sum()), rng)
    return out


def predictive_draws(
    f: Any, frame: pd.DataFrame, groups, n_draws: int, rng: np.random.Generator
) -> np.ndarray | None:
    """``(n_draws, len(frame))`` predictive draws on the fitting scale of fitter ``f``
    (:meth:`perflaw.fitting.LawFitter.predict_draws`): the backtested alternatives mixed
    by weight (:func:`mixed_draws`), each form that can speak for ``frame``; else the
    bootstrap refits' predictions; None when the fit has neither."""
    alts, laws = [], []
    for a in getattr(f, "alternatives_", []) or []:
        if not a.get("params"):
            continue
        law = get_law(a["law"], **(a.get("law_options") or {}))
        try:
            laws.append((law, f.inputs(frame, groups, law)))
        except DataError:  # an intercept per depth the grid leaves: the others speak
            continue
        alts.append(a)
    if not alts:
        boot = f.bootstrap_params_
        if boot is None or not len(boot):
            return None
        Xf = f.inputs(frame, groups)
        return np.array([f.law_.formula(b, Xf) for b in boot])
    forms = [(*lx, np.asarray(a["params"], float), a["calibration"]) for a, lx in zip(alts, laws)]
    weights = np.array([a["weight"] for a in alts], dtype=float)
    return mixed_draws(forms, weights, f.metric_, n_draws, len(frame), rng)
