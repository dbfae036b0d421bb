r"""Fit small, predict large: the rolling-origin backtest, form selection, calibration.

A law that fits the trained runs well can still extrapolate badly; what a user bets on
is the prediction for a deeper (or wider) model.  This module measures exactly that.

**Rolling origin** along a size axis (``layers`` by default): for every distinct value
:math:`v_k` but the last, fit each candidate form on the rows with axis :math:`\le v_k`
and predict the rows with axis :math:`> v_k`.  Every form and both baselines are laws
(:mod:`perflaw.laws`), fitted by the one :class:`~perflaw.fit.LawFitter`, so they are
scored alike.

**Candidate forms** (``FORMS``, simplest first):

========== ========================================================================
carry      carry-forward baseline: the deepest trained run of the same width
saturating per-width :math:`a_d - b_d/N`: each doubling gains half the previous one
loglinear  per-width :math:`a_d + b_d \ln N` (baseline)
p2         the Performance Law with the authors' :math:`p = 2`
free       the Performance Law with :math:`p` free per factor
========== ========================================================================

**Selection rule** (``form="auto"``), on the rows given (never on held-out rows): run
the rolling origin on them; a form is eligible when it can be fitted on the full rows
and was scored at the last origin.  Carry-forward is the default; another form replaces
it only when its absolute errors (on the fitting scale) are lower than carry-forward's on
the same points by more than one standard error of the paired differences
(:math:`t > 1`); among several, the largest :math:`t` wins.  With fewer than two
origins (too few sizes to backtest) the simplest identified form is used, and the
selection says so.  The rule asks for evidence beyond noise before trusting a trend:
on the published panels carry-forward is hard to beat where the metric has flattened,
and the saturating form wins where it still rises.

**Given forms and joint fits**: a form fixed by the user (``form="free"``) is still
backtested beside carry-forward, and the reason says how it did (:func:`versus_carry`).
A joint fit (shared N and d factors, a data term per group: ``joint=`` and ``groups=``)
is backtested as the form ``"joint"``: refitted across the groups at every origin and
compared with carry-forward *within each group* (the run below in the same group).

**Calibration**: prediction intervals of the chosen form come from its own backtest
errors :math:`e_i` (fitting scale, e.g. logit) at horizons :math:`h_i` (doublings past
the origin): :math:`\sigma^2 = \mathrm{mean}(e_i^2/(1+h_i))`, and the interval at
horizon :math:`h` is :math:`\pm t_{\nu}\,\sigma\sqrt{(1+1/n)(1+\max(h,0))}` — a
Student-t split-conformal interval whose width grows like a random walk with the distance
extrapolated.  The predictions made from one origin share one fit, so a fitted form's
errors are not :math:`n` independent draws: its t has :math:`\nu = k + 1` degrees of
freedom for :math:`k` origins (at most :math:`n`).  Carry-forward fits nothing; its
:math:`\nu = n`.  On four runs tables (``benchmarks/calibration_coverage.py``) this brought
the fitted forms' 95 % intervals from 88 % to 95 % coverage within the backtest's reach
(one per predicted run, the former rule, was too narrow; one per origin covered 99 % at
more than twice the width).  Past the largest trained size, where the law predicts worse
than at it, its fall is halved: the point is half-way to the law's own level there and the
interval spans both (:func:`edge_decline`: how far a law falls is what its backtest
checked least; such intervals covered 78 % of the runs before they reached that level,
92 % after, and the halved points erred 3.4 % against the law's 4.8 %).
:func:`backtest` reports the coverage achieved out of sample.

Examples
--------
>>> import numpy as np, pandas as pd
>>> N, d = np.meshgrid([2., 4., 8., 16.], [32., 64.])
>>> X = pd.DataFrame({"layers": N.ravel(), "d_emb": d.ravel()})
>>> y = 0.3 - 0.1 / X.layers + 0.01 * np.log(X.d_emb)
>>> res = backtest(X, y, forms=("carry", "saturating"))
>>> s = res.summary.set_index("form")
>>> bool(s.loc["saturating", "mape"] < 1e-6 < s.loc["carry", "mape"])
True
"""

from __future__ import annotations

import math
import sys
import types
import warnings
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from scipy import stats

from perflaw.errors import ConvergenceError, DataError
from perflaw.laws.base import Law, get_law, higher_is_better


def _collect_forms() -> dict[str, tuple[str, dict[str, Any]]]:
    """Every registered law's ``candidate_forms``, simplest first (a new law file that
    declares a form is a candidate without touching this module)."""
    import perflaw.laws  # noqa: F401  (registers the built-in laws)
    from perflaw.laws.base import LAWS

    found = []
    for name, cls in LAWS.items():
        for form, (rank, opts) in cls.candidate_forms.items():
            found.append((rank, form, name, opts))
    return {form: (name, dict(opts)) for _, form, name, opts in sorted(found)}


#: candidate forms, simplest first: name -> (law, law options)
FORMS: dict[str, tuple[str, dict[str, Any]]] = _collect_forms()
#: forms that are plain baselines rather than laws
BASELINES = tuple(f for f, (law, _) in FORMS.items() if get_law(law).kind == "baseline")
AXES = ("layers", "d_emb")
T_MIN = 1.0  # a form replaces carry-forward only with a paired t above this


def form_law(form: str, axis: str = "layers") -> Law:
    """The (unbound) law of a candidate form, for a backtest along ``axis`` (a law that
    depends on it, carry-forward, carries along that axis).

    >>> form_law("p2").p, form_law("carry").name, form_law("carry", "d_emb").axis
    (2.0, 'carry', 'd_emb')
    """
    key = str(form).lower()
    if key not in FORMS:  # a law registered after import (a user's own file)
        FORMS.update(_collect_forms())
    if key not in FORMS:
        raise DataError(f"unknown form {form!r}: use auto or one of {', '.join(FORMS)}")
    name, opts = FORMS[key]
    law = get_law(name, **opts)
    if "axis" in law.options() and axis != law.options()["axis"]:
        law = get_law(name, **{**opts, "axis": axis})
    return law


# ---------------------------------------------------------------------------------------
def transform_forward(y: np.ndarray, transform: str) -> np.ndarray:
    y = np.asarray(y, dtype=float)
    if transform == "logit":
        # a prediction that rounded to exactly 0 or 1 (a law extrapolated far past its
        # runs) maps to the largest logit a float resolves (±36.7), not to ±inf: its error
        # stays finite, and still dominates the calibration and the comparison it enters
        # (observed values are checked to lie inside (0, 1) before any fit)
        half_ulp = np.finfo(float).eps / 2
        y = np.clip(y, half_ulp, 1 - half_ulp)
        return np.log(y / (1 - y))
    return y


def transform_inverse(z: np.ndarray, transform: str) -> np.ndarray:
    z = np.asarray(z, dtype=float)
    if transform == "logit":
        with np.errstate(over="ignore"):
            return 1.0 / (1.0 + np.exp(-z))
    return z


def resolve_transform(transform: str, law: Law, metric: str | None, y: np.ndarray) -> str:
    """``auto`` → the law's guess (logit for a rate in (0, 1)); check an explicit logit."""
    if transform not in ("auto", "none", "logit"):
        raise DataError(f"unknown transform {transform!r}: use auto, none or logit")
    if transform == "auto":
        return law.guess_transform(metric, y)
    if transform == "logit" and not np.all((np.asarray(y) > 0) & (np.asarray(y) < 1)):
        raise DataError(
            f"transform 'logit' needs every value of {metric or 'y'!r} strictly between 0 and 1"
        )
    return transform


def horizon(values: np.ndarray, origin: float) -> np.ndarray:
    """Doublings past ``origin`` along the axis (0 inside the fitted range)."""
    return np.maximum(np.log2(np.asarray(values, float) / float(origin)), 0.0)


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


def edge_decline(
    law: Law, theta: np.ndarray, X: dict, calibration: dict, metric: str | None, z: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Where a law predicts worse past the trained edge than at it, and its level there.

    Past the largest trained size along the calibration's axis a fitted law may turn
    down (the Performance Law past its optimum, a log-linear slope fitted to a falling
    metric).  How far it falls is what its backtest checked least: the origins below the
    edge saw the rise and the top.  On four tables such predictions were covered by 78 %
    of their 95 % intervals, and the runs missed lay above them: the law turns faster
    than the runs do (``benchmarks/calibration_coverage.py``, "past the trained edge").
    :meth:`~perflaw.fit.LawFitter.predict` therefore predicts half-way between the law's
    value and its level at the edge (the halved points erred 3.4 % against the law's
    4.8 % on 395 predictions: ``benchmarks/edge_damping.py``), its interval spans the two,
    and recommend-config's draws spread between them.

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


def _progress(iterable, total: int, desc: str, enabled: bool):
    if not enabled:
        return iterable
    from tqdm import tqdm

    return tqdm(iterable, total=total, desc=desc, file=sys.stderr, leave=False)


# ---------------------------------------------------------------------------------------
@dataclass
class BacktestResult:
    """Result of :func:`backtest`.

    Attributes
    ----------
    points : pandas.DataFrame
        One row per (form, origin, predicted run): ``form``, ``origin``, the inputs,
        ``observed``, ``predicted``, ``lower``, ``upper``, ``z_error`` (on the fitting
        scale), ``horizon`` (doublings past the origin).
    summary : pandas.DataFrame
        Per form: ``form``, ``kind`` (law or baseline), ``n_points``, ``mape``,
        ``max_ape``, ``coverage`` (share of observed values inside the intervals, of the
        ``n_intervals`` predictions that have one),
        ``origins``.
    skipped : dict
        Form -> why it could not be fitted at some origins.
    """

    points: pd.DataFrame
    summary: pd.DataFrame
    axis: str
    metric: str | None
    transform: str
    level: float
    skipped: dict = field(default_factory=dict)


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


def _check_axis(X: pd.DataFrame, axis: str) -> np.ndarray:
    """The sorted sizes along an axis already resolved by :func:`resolve_axis`."""
    if axis not in X.columns:
        raise DataError(f"the runs have no {axis!r} column to backtest along")
    return np.sort(pd.unique(X[axis].to_numpy(float)))


def _fit(form: str, X, y, *, metric, transform, seed, calibrate, level, axis="layers"):
    from perflaw.fit import LawFitter

    f = LawFitter(
        form_law(form, axis),
        seed=seed,
        scale=transform,
        level=level,
        form=form if calibrate else None,
        backtest_axis=axis,
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return f.fit(X, y, metric=metric)


def _keys(points: pd.DataFrame) -> list[str]:
    """Columns naming one prediction: the origin, the sizes, and the group of a joint fit
    (two groups have runs of the same size)."""
    return ["origin", *AXES, *(["group"] if "group" in points.columns else [])]


def _group_labels(groups, joint: dict | None) -> np.ndarray | None:
    """The group label of each row as text; a joint backtest cannot do without them."""
    if groups is None:
        if joint is not None:
            raise DataError("a joint backtest needs the group of each row")
        return None
    return np.asarray(groups).astype(str).ravel()


def _forecast(form, Xt, yt, gt, Xh, gh, opts: dict, joint):
    """Fit ``form`` on the training rows and predict the held-out ones it can: the
    prediction frame and a mask of the rows of ``Xh`` it predicts.  Raises
    :class:`DataError` (or a fit error) with the reason it cannot.  ``opts``: the
    keywords of :func:`_fit` (axis, metric, transform, seed, calibrate, level).

    With group labels the forms are the joint law (``form="joint"``, law options
    ``joint``: shared N and d factors, a data term per group) and carry-forward within
    each group (the same depth, width and data: a copy of the run below in that group)."""
    axis = opts["axis"]
    if gt is None:
        law = form_law(form, axis)
        inputs = {c: Xt[c].to_numpy(float) for c in law.inputs if c in Xt.columns}
        bound = law.bind(inputs)
        why = bound.identifiable(inputs)
        if why is None and not bound.varies_with(axis):
            # e.g. the Performance Law fitted on one depth has no N factor: its
            # prediction for deeper runs would be a flat line, not an extrapolation
            why = f"{axis} has one value in these runs, so the law has no {axis} term"
        if why is None and not law.nonparametric and len(yt) - bound.n_params < law.min_dof:
            why = f"{len(yt)} runs for {bound.n_params} parameters"
        if why:
            raise DataError(why)
        f = _fit(form, Xt, yt, **opts)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            p = f.predict(Xh, interval=True, warn=False, kind="observation")
        return p, np.ones(len(Xh), bool)
    keep = np.isin(gh, np.unique(gt))  # a group with no run below the origin: no forecast
    if not keep.any():
        raise DataError("no group has runs on both sides of the origin")
    if form == "joint":
        from perflaw.fit import LawFitter

        f = LawFitter(
            "performance",
            seed=opts["seed"],
            scale=opts["transform"],
            backtest_axis=axis if opts["calibrate"] else None,
            **joint,
        )
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            f.fit(Xt, yt, groups=gt, metric=opts["metric"])
            if not f.law_.varies_with(axis):
                raise DataError(
                    f"{axis} has one value in these runs, so the law has no {axis} term"
                )
            # uncalibrated (no backtest inside the backtest), it still knows its trained
            # edge, so its points past it are the ones the calibrated fit will predict
            f.edge_ = {"axis": axis, "axis_max": float(np.max(Xt[axis]))}
            p = f.predict(
                Xh[keep].reset_index(drop=True),
                groups=gh[keep],
                interval=True,
                warn=False,
                kind="observation",
            )
        return p, keep
    if form != "carry":
        raise DataError(f"form {form!r} has no grouped backtest (joint and carry do)")
    parts = []
    for g in np.unique(gh[keep]):
        p, _ = _forecast(
            form,
            Xt[gt == g].reset_index(drop=True),
            yt[gt == g],
            None,
            Xh[gh == g].reset_index(drop=True),
            None,
            opts,
            None,
        )
        parts.append(p.set_index(np.flatnonzero(gh == g)))
    return pd.concat(parts).sort_index().reset_index(drop=True), keep


def _origin_errors(
    X,
    y,
    forms,
    axis,
    values,
    *,
    metric,
    transform,
    seed,
    calibrate,
    level,
    progress,
    desc,
    groups=None,
    joint=None,
):
    rows, skipped = [], {}
    opts = dict(
        axis=axis, metric=metric, transform=transform, seed=seed, calibrate=calibrate, level=level
    )
    todo = [(k, f) for k in range(len(values) - 1) for f in forms]
    for k, form in _progress(todo, len(todo), desc, progress):
        v = values[k]
        train = X[axis].to_numpy(float) <= v
        Xt, yt = X[train].reset_index(drop=True), y[train]
        Xh, yh = X[~train].reset_index(drop=True), y[~train]
        gt = None if groups is None else groups[train]
        gh = None if groups is None else groups[~train]
        try:
            p, keep = _forecast(form, Xt, yt, gt, Xh, gh, opts, joint)
        except (ConvergenceError, DataError, np.linalg.LinAlgError) as exc:
            skipped.setdefault(form, f"{axis} <= {v:g}: {exc}")
            continue
        Xh, yh = Xh[keep].reset_index(drop=True), yh[keep]
        pred = p["prediction"].to_numpy(float)
        if not np.isfinite(pred).all():  # cannot be scored: say so rather than drop it
            skipped.setdefault(form, f"{axis} <= {v:g}: the fit predicts non-finite values")
            continue
        out = Xh[[c for c in AXES if c in Xh.columns]].copy()
        out.insert(0, "origin", v)
        out.insert(0, "form", form)
        if gh is not None:
            out["group"] = gh[keep]
        out["observed"] = yh
        out["predicted"] = pred
        out["lower"], out["upper"] = p["lower"].to_numpy(float), p["upper"].to_numpy(float)
        out["z_error"] = transform_forward(pred, transform) - transform_forward(yh, transform)
        out["horizon"] = horizon(Xh[axis].to_numpy(float), v)
        rows.append(out)
    pts = (
        pd.concat(rows, ignore_index=True)
        if rows
        else pd.DataFrame(
            columns=[
                "form",
                "origin",
                *AXES,
                *(["group"] if groups is not None else []),
                "observed",
                "predicted",
                "lower",
                "upper",
                "z_error",
                "horizon",
            ]
        )
    )
    return pts, skipped


def _summary(points: pd.DataFrame, forms: Iterable[str]) -> pd.DataFrame:
    recs = []
    for form in forms:
        p = points[points.form == form]
        kind = "law" if form == "joint" else form_law(form).kind
        if p.empty:
            recs.append(
                dict(
                    form=form,
                    kind=kind,
                    n_points=0,
                    mape=np.nan,
                    max_ape=np.nan,
                    coverage=np.nan,
                    n_intervals=0,
                    origins=0,
                )
            )
            continue
        obs = p.observed.to_numpy(float)
        ape = np.abs(p.predicted.to_numpy(float) - obs) / np.abs(obs) * 100
        lo, hi = p.lower.to_numpy(float), p.upper.to_numpy(float)
        ok = np.isfinite(lo) & np.isfinite(hi)
        cov = float(np.mean((obs[ok] >= lo[ok]) & (obs[ok] <= hi[ok]))) if ok.any() else np.nan
        recs.append(
            dict(
                form=form,
                kind=kind,
                n_points=len(p),
                mape=float(ape.mean()),
                max_ape=float(ape.max()),
                coverage=cov,
                n_intervals=int(ok.sum()),
                origins=int(p.origin.nunique()),
            )
        )
    return pd.DataFrame(recs)


def backtest(
    X,
    y,
    *,
    metric: str | None = None,
    forms: Iterable[str] | None = None,
    axis: str = "auto",
    transform: str = "auto",
    seed: int = 0,
    level: float = 0.95,
    progress: bool = False,
    groups=None,
    joint: dict | None = None,
) -> BacktestResult:
    """Rolling-origin backtest of every candidate form along ``axis``.

    Parameters
    ----------
    X : pandas.DataFrame
        ``layers`` and ``d_emb`` of the runs.
    y : array-like
        The metric.
    metric : str, optional
        Its name (decides the fitting scale with ``transform="auto"``).
    forms : iterable of str, optional
        Candidate forms (default: every form of ``FORMS``).
    axis : {"layers", "d_emb", "auto"}
        The size axis: fit on sizes ``<= v``, predict the larger ones.  ``"auto"``: see
        :func:`resolve_axis` (layers, or d_emb for a scan in width).
    transform : {"auto", "none", "logit"}
        Fitting scale (``auto``: logit for rates in (0, 1)).
    level : float
        Level of the prediction intervals whose coverage is reported; each form's
        intervals are calibrated by its own backtest on the rows it was fitted on.
    groups, joint : optional
        A joint fit: ``joint`` holds its law options (``{"data_term": "dprime"}``) and
        ``groups`` a label per row.  The forms are then the joint law (``"joint"``,
        refitted across the groups at every origin, its intervals calibrated by its own
        inner backtest) and carry-forward within each group.

    Returns
    -------
    BacktestResult

    Raises
    ------
    DataError
        When the axis has fewer than 3 distinct sizes.
    """
    glabels = _group_labels(groups, joint)
    if joint is not None:
        forms = ["joint", "carry"]
    else:
        forms = list(FORMS) if forms is None else [str(f).lower() for f in forms]
        for f in forms:
            form_law(f)
    if not 0 < level < 1:
        raise DataError(f"level must be between 0 and 1, got {level!r}")
    X = X.reset_index(drop=True) if isinstance(X, pd.DataFrame) else pd.DataFrame(dict(X))
    yv = np.asarray(y, dtype=float).ravel()
    axis = resolve_axis(X, axis)
    values = _check_axis(X, axis)
    if len(values) < 3:
        raise DataError(
            f"backtest along {axis} needs at least 3 distinct {axis} values; the "
            f"runs have {len(values)} ({', '.join(f'{v:g}' for v in values)})"
        )
    t = resolve_transform(transform, form_law("carry"), metric, yv)
    pts, skipped = _origin_errors(
        X,
        yv,
        forms,
        axis,
        values,
        metric=metric,
        transform=t,
        seed=seed,
        calibrate=True,
        level=level,
        progress=progress,
        desc="backtest",
        groups=glabels,
        joint=joint,
    )
    return BacktestResult(pts, _summary(pts, forms), axis, metric, t, level, skipped)


# ---------------------------------------------------------------------------------------
@dataclass
class Selection:
    """The chosen form, why, and what the backtest measured (see :func:`choose_form`)."""

    form: str
    reason: str
    scores: pd.DataFrame
    calibration: dict | None
    alternatives: list[dict]
    transform: str
    n_origins: int
    #: forms left out because these runs cannot identify them, with the reason
    not_fitted: dict[str, str] = field(default_factory=dict)
    #: forms fitted but compared with carry-forward on fewer than 2 predicted runs (their
    #: count): too few sizes along the axis to judge them, which is not losing
    not_judged: dict[str, int] = field(default_factory=dict)
    #: the size axis of the backtest (carry-forward carries along it)
    axis: str = "layers"
    #: the form was given (``--form``, a joint fit), not chosen: the backtest calibrated
    #: it and compared it with carry-forward, but did not pick it
    fixed: bool = False

    def as_dict(self) -> dict:
        out = {
            "form": self.form,
            "reason": self.reason,
            "axis": self.axis,
            "n_origins": self.n_origins,
            "scores": self.scores.to_dict(orient="records"),
        }
        if self.not_fitted:
            out["not_fitted"] = dict(self.not_fitted)
        if self.not_judged:
            out["not_judged"] = dict(self.not_judged)
        if self.fixed:
            out["fixed"] = True
        return out


def _calibration(points: pd.DataFrame, axis: str, axis_max: float, form: str) -> dict | None:
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
        # independent: its t has one degree of freedom per origin, plus one
        # (benchmarks/calibration_coverage.py); carry-forward fits nothing
        "df": n if form == "carry" else min(k + 1, n),
        "n_origins": k,
        "axis": axis,
        "axis_max": float(axis_max),
        "max_horizon": float(h.max()),
    }


def _paired_t(d: np.ndarray) -> float:
    """Paired t of ``d``, carry-forward's absolute errors minus a form's on the same
    predictions (fitting scale; positive: the form is nearer)."""
    sd = d.std(ddof=1)
    if sd > 0:
        return float(d.mean() / (sd / math.sqrt(len(d))))
    return np.inf if d.mean() > 0 else 0.0


def _hinge(d: np.ndarray, origins: np.ndarray) -> tuple[float, float] | None:
    """``(origin, t)`` when leaving out one origin's predictions moves the paired t of
    ``d`` across :data:`T_MIN` (the one that moves it most), else None.  Needs 3 origins,
    so that 2 remain: a verdict is never drawn from one origin (:func:`choose_form`)."""
    u = np.unique(origins)
    if len(u) < 3:
        return None
    t = _paired_t(d)
    flips = []
    for o in u:
        t_without = _paired_t(d[origins != o])
        if (t_without > T_MIN) != (t > T_MIN):
            flips.append((abs(t_without - t), float(o), t_without))
    if not flips:
        return None
    _, origin, t_without = max(flips)
    return origin, t_without


def versus_carry(score: dict, axis: str) -> str:
    """One clause: how a form given by the user (``--form``, ``--joint``) did against
    carry-forward in the backtest, from its row of :attr:`Selection.scores`."""
    n, k = int(score.get("n_common") or 0), int(score.get("n_origins_common") or 0)
    if not score.get("n_points"):
        return (
            f"it made no prediction in the backtest along {axis} (not identified by the runs "
            "below any origin), so it was not compared with carry-forward"
        )
    if n < 2 or k < 2:
        return (
            f"it was not compared with carry-forward: {n} predicted run{'' if n == 1 else 's'} "
            f"from {k} origin{'' if k == 1 else 's'} in the backtest along {axis}, 2 from 2 "
            "origins needed"
        )
    t, m, c = score["t_vs_carry"], score["mape_common"], score["carry_mape_common"]
    if t > T_MIN:
        verdict = f"beat carry-forward by {t:.2f} standard errors"
    elif m > c:
        verdict = f"lost to carry-forward (t = {t:.2f})"
    else:
        verdict = f"did not beat carry-forward by a standard error (t = {t:.2f})"
    return (
        f"in the backtest along {axis} it {verdict}: MAPE {m:.2f} % vs {c:.2f} % on the "
        f"same {n} runs from {k} origins"
    )


def choose_form(
    X: pd.DataFrame,
    y: np.ndarray,
    *,
    form: str = "auto",
    metric=None,
    transform: str = "auto",
    seed: int = 0,
    axis: str = "auto",
    candidates: Iterable[str] | None = None,
    progress: bool = False,
    groups=None,
    joint: dict | None = None,
) -> Selection:
    """Pick a form by an inner rolling-origin backtest on these rows (the module's rule).

    ``form`` other than ``"auto"`` fixes the form; the backtest then calibrates its
    intervals and compares it with carry-forward on the same predictions (the reason
    says how it did).  ``joint`` (law options of a joint Performance-Law fit, e.g.
    ``{"data_term": "dprime"}``) with ``groups`` (a label per row) backtests that joint
    law (form ``"joint"``: refitted across the groups at every origin) against
    carry-forward within each group.  Returns a :class:`Selection`.
    """
    X = X.reset_index(drop=True)
    yv = np.asarray(y, dtype=float)
    axis = resolve_axis(X, axis)
    cands = list(FORMS) if candidates is None else list(candidates)
    glabels = _group_labels(groups, joint)
    if joint is not None:
        form = "joint"
    fixed = str(form).lower() != "auto"
    if fixed and joint is None:
        form_law(form)
    if fixed:
        cands = [str(form).lower()]
    t = resolve_transform(transform, form_law("carry"), metric, yv)
    values = np.sort(pd.unique(X[axis].to_numpy(float))) if axis in X.columns else np.array([])
    full = {c: X[c].to_numpy(float) for c in AXES if c in X.columns}
    eligible = []
    not_fitted = {}
    for f in cands:
        if f == "joint":  # the joint fit itself checks what these runs can identify
            eligible.append(f)
            continue
        law = form_law(f, axis).bind(full)
        why = law.identifiable(full)
        if why is None and not law.nonparametric and len(yv) - law.n_params < law.min_dof:
            why = f"{len(yv)} runs for {law.n_params} parameters"
        if why is None:
            eligible.append(f)
        elif not fixed:
            not_fitted[f] = why
        else:
            raise DataError(
                f"form {form!r} cannot be fitted on these runs: {why} (use --form "
                "carry, saturating or loglinear, or add runs)"
            )
    # a form the user fixed is still scored beside carry-forward: "say when the law loses"
    scored_forms = eligible + (["carry"] if fixed and "carry" not in eligible else [])
    pts, _ = (
        _origin_errors(
            X,
            yv,
            scored_forms,
            axis,
            values,
            metric=metric,
            transform=t,
            seed=seed,
            calibrate=False,
            level=0.95,
            progress=progress,
            desc="backtesting the joint fit" if joint is not None else "choosing the form",
            groups=glabels,
            joint=joint,
        )
        if len(values) >= 2
        else (pd.DataFrame(columns=["form", "origin", "z_error", "horizon"]), {})
    )
    keys = _keys(pts)
    n_origins = int(pts.origin.nunique()) if len(pts) else 0
    last = pts.origin.max() if len(pts) else None
    scored = [f for f in eligible if len(pts) and (pts[(pts.form == f)].origin == last).any()]

    def _mape(p):
        return (
            float(np.mean(np.abs(p.predicted - p.observed) / np.abs(p.observed)) * 100)
            if len(p)
            else np.nan
        )

    rows = []
    carry_pts = pts[pts.form == "carry"].set_index(keys) if len(pts) else None
    paired: dict[str, np.ndarray] = {}  # carry-forward's |error| minus each form's
    paired_origins: dict[str, np.ndarray] = {}
    for f in dict.fromkeys(scored_forms):
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
            paired[f] = np.abs(base.z_error.to_numpy(float)) - np.abs(mine.z_error.to_numpy(float))
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
    # a form is compared with carry-forward on 2 or more runs predicted from 2 or more
    # origins: predictions from one origin share one fit, one piece of evidence however
    # many runs it predicted (two depths at one width, say); the others are named below
    comparable = (
        set(scores.form[(scores.n_common >= 2) & (scores.n_origins_common >= 2)]) - {"carry"}
        if len(scores)
        else set()
    )
    for f in comparable:
        if fixed or f in scored:  # the rule judges forms scored at the last origin
            scores.loc[scores.form == f, "t_vs_carry"] = _paired_t(paired[f])
    axis_max = float(values.max()) if len(values) else float("nan")
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
            f"{chosen}: only {len(values)} distinct {axis} value(s), too few to backtest "
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
    # does the verdict hang on one origin?  (amazon-beauty HR@10: p free at t = 0.39 on
    # 38 runs, 3.96 without the 9 predicted from d_emb <= 72, a fit with one residual
    # degree of freedom.)  For the form adopted, or given, and for every challenger of
    # a carry-forward kept; no refit, only the predictions already made
    hinges = {}
    for f in scored_forms if (fixed or chosen == "carry") else [chosen]:
        if f != "carry" and f in paired and f in comparable:
            h = _hinge(paired[f], paired_origins[f])
            if h is not None:
                hinges[f] = h
                scores.loc[scores.form == f, "decisive_origin"] = h[0]
                scores.loc[scores.form == f, "t_without_decisive_origin"] = h[1]
    if hinges and (fixed or chosen != "carry"):  # only the chosen form was examined
        o, tw = hinges[chosen]
        reason += (
            f"; the verdict rests on one origin: without the predictions from {axis} <= "
            f"{o:g} the t would be {tw:.2f}"
        )
    elif hinges:
        f, (o, tw) = max(hinges.items(), key=lambda kv: kv[1][1])
        reason += (
            f"; the verdict rests on one origin: without the predictions from {axis} <= "
            f"{o:g}, {f} would beat carry-forward at t = {tw:.2f}"
        )
    calibration = _calibration(pts[pts.form == chosen], axis, axis_max, chosen)
    # the other eligible forms, weighted by their backtest error, for p_best (a form the
    # user fixed stands alone: carry-forward was scored only to compare)
    alternatives = []
    for f in [chosen] if fixed else scored or [chosen]:
        p = pts[pts.form == f]
        cal = _calibration(p, axis, axis_max, f)
        if cal is None:
            continue
        alternatives.append(
            {"form": f, "weight": 1.0 / max(cal["sd"] ** 2, 1e-300), "calibration": cal}
        )
    total = sum(a["weight"] for a in alternatives) or 1.0
    for a in alternatives:
        a["weight"] /= total
    return Selection(
        chosen,
        reason,
        scores,
        calibration,
        alternatives,
        t,
        n_origins,
        not_fitted,
        unjudged,
        axis,
        fixed,
    )


class _CallableModule(types.ModuleType):
    """``perflaw.backtest(...)`` calls :func:`backtest` although ``perflaw.backtest`` is
    also this module (``from perflaw.backtest import choose_form`` keeps working)."""

    def __call__(self, *args, **kwargs):
        return backtest(*args, **kwargs)


sys.modules[__name__].__class__ = _CallableModule
