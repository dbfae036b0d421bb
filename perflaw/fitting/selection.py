r"""Form selection: the backtest judged, and :class:`FormSelector`, a meta-estimator over
the fitter.

**Selection rule** (``form="auto"``), on the rows given (never on held-out rows): run
the rolling origin (:mod:`perflaw.fitting.rolling`) on them; a form is eligible when it
can be fitted on the full rows and was scored at the last origin.  Carry-forward is the
default; another form replaces it only when its absolute errors (on the fitting scale)
are lower than carry-forward's on the same points by more than one standard error of the
paired differences (:math:`t > 1`, differences at floating-point noise counted as ties:
:func:`paired_gain`); among several, the largest :math:`t` wins.  With fewer than two
origins (too few sizes to backtest) the simplest identified form is used, and the
selection says so.  The rule asks for evidence beyond noise before trusting a trend: on
the published panels carry-forward is hard to beat where the metric has flattened, and
the saturating form wins where it still rises.

**Given forms and joint fits**: a form fixed by the user (``form="free"``) is still
backtested beside carry-forward, and the reason says how it did (:func:`versus_carry`).
A joint fit (shared N and d factors, a data term per group: ``joint=`` and ``groups=``)
is backtested as the form ``"joint"``: refitted across the groups at every origin and
compared with carry-forward *within each group* (the run below in the same group).

The chosen form's intervals are calibrated by its backtest errors
(:mod:`perflaw.fitting.intervals`); :func:`backtest` reports the coverage achieved out of
sample.

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
>>> sel = FormSelector(LawFitter(seed=0), form="auto").fit(X, y, metric="hr@10")
>>> sel.best_.form_, sel.best_ is sel.fitter
('saturating', True)
"""

from __future__ import annotations

import warnings
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from perflaw.errors import ConvergenceError, DataError
from perflaw.fitting.evidence import paired_t
from perflaw.fitting.fitter import LawFitter
from perflaw.fitting.intervals import AXES, resolve_axis
from perflaw.fitting.intervals import calibration as calibration_of
from perflaw.fitting.rolling import (
    BacktestResult,
    check_axis,
    group_labels,
    keys_of,
    origin_errors,
    summarise,
)
from perflaw.fitting.verdict import hinge_note, score_forms, verdict
from perflaw.laws.forms import FORMS, form_law
from perflaw.laws.scales import resolve_scale

#: law options of a joint fit (shared N and d factors, a data term per group)
JOINT_TERMS = ("free", "dprime")


def _calibrated(fitter: LawFitter, form: str) -> FormSelector:
    """A fit at one origin of :func:`backtest`, calibrated by its own inner backtest."""
    return FormSelector(fitter, form=form)


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


def weighted_forms(pts: pd.DataFrame, forms: list[str], axis: str, axis_max: float) -> list:
    """The forms with a calibration, each weighted by the inverse of its backtest's mean
    squared error (the weights sum to 1): ``form``, ``weight``, ``calibration``."""
    out = []
    for f in forms:
        cal = calibration_of(pts[pts.form == f], axis, axis_max, f)
        if cal is not None:
            out.append({"form": f, "weight": 1.0 / max(cal["sd"] ** 2, 1e-300), "calibration": cal})
    total = sum(a["weight"] for a in out) or 1.0
    for a in out:
        a["weight"] /= total
    return out


def _eligible(
    cands: list[str], axis: str, full: dict, n_runs: int, fixed_form: str | None
) -> tuple[list[str], dict[str, str]]:
    """The candidate forms these runs can fit, and why each other one cannot.  A form the
    user fixed (``fixed_form``) that cannot be fitted is an error, not a note."""
    eligible: list[str] = []
    not_fitted: dict[str, str] = {}
    for f in cands:
        if f == "joint":  # the joint fit itself checks what these runs can identify
            eligible.append(f)
            continue
        law = form_law(f, axis).bind(full)
        why = law.identifiable(full)
        if why is None and not law.nonparametric and n_runs - law.n_params < law.min_dof:
            why = f"{n_runs} runs for {law.n_params} parameters"
        if why is None:
            eligible.append(f)
        elif fixed_form is None:
            not_fitted[f] = why
        else:
            raise DataError(
                f"form {fixed_form!r} cannot be fitted on these runs: {why} (use --form "
                "carry, saturating or loglinear, or add runs)"
            )
    return eligible, not_fitted


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
    glabels = group_labels(groups, joint)
    if joint is not None:
        form = "joint"
    fixed = str(form).lower() != "auto"
    if fixed and joint is None:
        form_law(form)
    if fixed:
        cands = [str(form).lower()]
    t = resolve_scale(transform, form_law("carry"), metric, yv)
    values = np.sort(pd.unique(X[axis].to_numpy(float))) if axis in X.columns else np.array([])
    full = {c: X[c].to_numpy(float) for c in AXES if c in X.columns}
    eligible, not_fitted = _eligible(cands, axis, full, len(yv), form if fixed else None)
    # a form the user fixed is still scored beside carry-forward: "say when the law loses"
    scored_forms = eligible + (["carry"] if fixed and "carry" not in eligible else [])
    pts, _ = (
        origin_errors(
            X,
            yv,
            scored_forms,
            axis,
            values,
            metric=metric,
            transform=t,
            seed=seed,
            selector=None,
            level=0.95,
            progress=progress,
            desc="backtesting the joint fit" if joint is not None else "choosing the form",
            groups=glabels,
            joint=joint,
        )
        if len(values) >= 2
        else (pd.DataFrame(columns=["form", "origin", "z_error", "horizon"]), {})
    )
    keys = keys_of(pts)
    n_origins = int(pts.origin.nunique()) if len(pts) else 0
    last = pts.origin.max() if len(pts) else None
    scored = [f for f in eligible if len(pts) and (pts[(pts.form == f)].origin == last).any()]

    scores, paired, paired_origins = score_forms(pts, scored_forms, keys)
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
            scores.loc[scores.form == f, "t_vs_carry"] = paired_t(paired[f])
    axis_max = float(values.max()) if len(values) else float("nan")
    chosen, reason, unjudged = verdict(
        scores, pts, comparable, scored, eligible, cands, fixed, joint, axis, len(values)
    )
    reason += hinge_note(
        scores, paired, paired_origins, comparable, scored_forms, chosen, fixed, axis
    )
    calibration = calibration_of(pts[pts.form == chosen], axis, axis_max, chosen)
    # the other eligible forms for p_best (a form the user fixed stands alone:
    # carry-forward was scored only to compare)
    alternatives = weighted_forms(pts, [chosen] if fixed else scored or [chosen], axis, axis_max)
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
    glabels = group_labels(groups, joint)
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
    values = check_axis(X, axis)
    if len(values) < 3:
        raise DataError(
            f"backtest along {axis} needs at least 3 distinct {axis} values; the "
            f"runs have {len(values)} ({', '.join(f'{v:g}' for v in values)})"
        )
    t = resolve_scale(transform, form_law("carry"), metric, yv)
    pts, skipped = origin_errors(
        X,
        yv,
        forms,
        axis,
        values,
        metric=metric,
        transform=t,
        seed=seed,
        selector=_calibrated,
        level=level,
        progress=progress,
        desc="backtest",
        groups=glabels,
        joint=joint,
    )
    return BacktestResult(pts, summarise(pts, forms), axis, metric, t, level, skipped)


def _fitted_alternative(fitter: LawFitter, alt: dict) -> dict:
    """An alternative form for p_best with its fitted parameters (on the rows the chosen
    form was fitted on): its weight, calibration, law and ``params`` (None when it cannot
    be fitted there)."""
    if "params" in alt:
        return alt
    if alt["form"] == fitter.form_:
        law, theta = fitter.law_, fitter.theta_
    else:
        axis = (fitter.selection_ or {}).get("axis", "layers")
        f = LawFitter(form_law(alt["form"], axis), seed=fitter.seed, scale=fitter.transform_)
        X = pd.DataFrame({c: v for c, v in fitter.X_.items() if c != "group"})
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            try:
                f.fit(X, fitter.y_, metric=fitter.metric_)
            except (ConvergenceError, DataError):
                return dict(alt, params=None)
        law, theta = f.law_, f.theta_
    return dict(alt, law=law.name, law_options=law.options(), params=list(map(float, theta)))


class FormSelector:
    """Choose a fitter's law among the candidate forms by a rolling-origin backtest, and
    calibrate its intervals by it: a meta-estimator over :class:`LawFitter`, as
    scikit-learn's ``GridSearchCV`` is over an estimator.

    Parameters
    ----------
    fitter : LawFitter, optional
        The fitter whose settings (seed, scale, level, bootstrap, noise, ``backtest_axis``
        ...) every fit uses; it is fitted in place and becomes :attr:`best_`.  Default:
        ``LawFitter()``.
    form : str
        ``"auto"``: the selection rule (the module docstring); a form name (``"carry"``,
        ``"saturating"``, ``"loglinear"``, ``"p2"``, ``"free"``) fixes it and only
        calibrates it (and compares it with carry-forward); ``"joint"``: the fitter's own
        joint law (``data_term`` free or dprime, with ``groups``) backtested against
        carry-forward within each group.
    candidates : iterable of str, optional
        The forms ``"auto"`` chooses among (default: every form of ``FORMS``).

    Attributes
    ----------
    best_ : LawFitter
        The fitted fitter with the chosen form (``form_``, ``selection_``,
        ``calibration_``, ``alternatives_`` set on it too).
    form_ : str
        The chosen form.
    selection_ : dict
        Why, and what the backtest measured (the record law files keep).
    calibration_ : dict or None
        The chosen form's calibration (:mod:`perflaw.fitting.intervals`).
    alternatives_ : list of dict
        The forms scored at the last origin, weighted by their backtest error (p_best).
    """

    def __init__(
        self,
        fitter: LawFitter | None = None,
        *,
        form: str = "auto",
        candidates: Iterable[str] | None = None,
    ) -> None:
        self.fitter = fitter
        self.form = form
        self.candidates = candidates

    def _check(self, fitter: LawFitter) -> str:
        form = str(self.form).lower()
        if form == "joint":
            if fitter.law != "performance" or fitter.law_options.get("data_term") not in (
                JOINT_TERMS
            ):
                raise DataError(
                    "form 'joint' backtests a joint Performance-Law fit: give the fitter "
                    "data_term='free' or 'dprime'"
                )
        elif form != "auto":
            form_law(form)  # an unknown form is a one-line error
        return form

    def fit(self, X, y, *, groups=None, metric: str | None = None, **fit_options: Any):
        """Select on the rows being fitted (after ``exclude``, without ``holdout`` rows),
        fit the chosen form, and score the held-out rows: ``fit_options`` are those of
        :meth:`LawFitter.fit`.  Returns self."""
        fitter = LawFitter() if self.fitter is None else self.fitter
        form = self._check(fitter)
        if form == "joint" and groups is None:
            raise DataError("a joint backtest needs the group of each row")

        def select(frame, yv, glabels, metric_name):
            return choose_form(
                frame,
                yv,
                form=form,
                metric=metric_name,
                transform=fitter.scale,
                seed=fitter.seed,
                progress=fitter.progress,
                axis=fitter.backtest_axis or "auto",
                candidates=self.candidates,
                groups=glabels if form == "joint" else None,
                joint=dict(fitter.law_options) if form == "joint" else None,
            )

        fitter.fit(X, y, groups=groups, metric=metric, select=select, **fit_options)
        fitter.alternatives_ = [_fitted_alternative(fitter, a) for a in fitter.alternatives_]
        self.best_ = fitter
        self.form_ = fitter.form_
        self.selection_ = fitter.selection_
        self.calibration_ = fitter.calibration_
        self.alternatives_ = fitter.alternatives_
        return self

    def predict(self, X, **kwargs):
        """:meth:`LawFitter.predict` of :attr:`best_`."""
        return self.best_.predict(X, **kwargs)
