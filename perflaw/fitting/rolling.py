r"""The rolling-origin backtest: fit small, predict large.

A law that fits the trained runs well can still extrapolate badly; what a user bets on
is the prediction for a deeper (or wider) model.  For every distinct value :math:`v_k`
but the last along a size axis (``layers`` by default), each candidate form
(:data:`perflaw.laws.forms.FORMS`) is fitted on the rows with axis :math:`\le v_k` and
predicts the rows with axis :math:`> v_k`.  Every form and both baselines are laws,
fitted by the one :class:`~perflaw.fitting.fitter.LawFitter`, so they are scored alike.

This module makes the predictions; :mod:`perflaw.fitting.selection` judges them (the
public :func:`~perflaw.fitting.selection.backtest` and the form selection).
"""

from __future__ import annotations

import warnings
from collections.abc import Iterable
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from perflaw.errors import ConvergenceError, DataError
from perflaw.fitting._progress import progress_bar
from perflaw.fitting.fitter import LawFitter
from perflaw.fitting.intervals import AXES, horizon
from perflaw.laws.forms import form_law
from perflaw.laws.scales import to_scale


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


def check_axis(X: pd.DataFrame, axis: str) -> np.ndarray:
    """The sorted sizes along an axis already resolved by :func:`resolve_axis`."""
    if axis not in X.columns:
        raise DataError(f"the runs have no {axis!r} column to backtest along")
    return np.sort(pd.unique(X[axis].to_numpy(float)))


def _fit(form: str, X, y, *, metric, transform, seed, selector, level, axis="layers"):
    """``form`` fitted on these rows; ``selector(fitter, form)`` (a
    :class:`~perflaw.fitting.selection.FormSelector` maker) also calibrates it by its own
    inner backtest, None fits it as it is."""
    f = LawFitter(form_law(form, axis), seed=seed, scale=transform, level=level, backtest_axis=axis)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        # a refit on the smaller sizes: carry-forward from one run is still a forecast
        (f if selector is None else selector(f, form)).fit(X, y, metric=metric, identify=False)
    return f


def keys_of(points: pd.DataFrame) -> list[str]:
    """Columns naming one prediction: the origin, the sizes, and the group of a joint fit
    (two groups have runs of the same size)."""
    return ["origin", *AXES, *(["group"] if "group" in points.columns else [])]


def group_labels(groups, joint: dict | None) -> np.ndarray | None:
    """The group label of each row as text; a joint backtest cannot do without them."""
    if groups is None:
        if joint is not None:
            raise DataError("a joint backtest needs the group of each row")
        return None
    return np.asarray(groups).astype(str).ravel()


def forecast(form, Xt, yt, gt, Xh, gh, opts: dict, joint):
    """Fit ``form`` on the training rows and predict the held-out ones it can: the
    prediction frame and a mask of the rows of ``Xh`` it predicts.  Raises
    :class:`DataError` (or a fit error) with the reason it cannot.  ``opts``: the
    keywords of :func:`_fit` (axis, metric, transform, seed, selector, level).

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
        selector = opts["selector"]
        f = LawFitter(
            "performance",
            seed=opts["seed"],
            scale=opts["transform"],
            backtest_axis=axis if selector else None,
            **joint,
        )
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            (f if selector is None else selector(f, "joint")).fit(
                Xt, yt, groups=gt, metric=opts["metric"], identify=False
            )
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
        p, _ = forecast(
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


def origin_errors(
    X,
    y,
    forms,
    axis,
    values,
    *,
    metric,
    transform,
    seed,
    selector,
    level,
    progress,
    desc,
    groups=None,
    joint=None,
):
    """The backtest's predictions (one row per form, origin and predicted run) and, per
    form, why it could not be fitted at some origin."""
    rows, skipped = [], {}
    opts = dict(
        axis=axis, metric=metric, transform=transform, seed=seed, selector=selector, level=level
    )
    todo = [(k, f) for k in range(len(values) - 1) for f in forms]
    for k, form in progress_bar(todo, len(todo), desc, progress):
        v = values[k]
        train = X[axis].to_numpy(float) <= v
        Xt, yt = X[train].reset_index(drop=True), y[train]
        Xh, yh = X[~train].reset_index(drop=True), y[~train]
        gt = None if groups is None else groups[train]
        gh = None if groups is None else groups[~train]
        try:
            p, keep = forecast(form, Xt, yt, gt, Xh, gh, opts, joint)
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
        out["z_error"] = to_scale(pred, transform) - to_scale(yh, transform)
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


def summarise(points: pd.DataFrame, forms: Iterable[str]) -> pd.DataFrame:
    """Per form: predicted runs, MAPE, maximum APE, coverage of its intervals, origins."""
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
