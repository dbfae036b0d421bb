"""The one fitter every law uses: :class:`LawFitter`.

A law (:mod:`perflaw.laws.base`) only declares its formula, parameters, bounds and
starts; :class:`LawFitter` does the rest: multi-start bounded least squares or the law's
own solver (:mod:`perflaw.fitting.solve`), L2 or Huber loss, a
:class:`~perflaw.errors.ConvergenceError` when no start converges, seeded bootstrap (by
row or by group) or Wald intervals (:mod:`perflaw.fitting.intervals`), ``holdout=`` and
leave-one-out, diagnostics (:mod:`perflaw.fitting.diagnostics`), the summary
(:mod:`perflaw.fitting.report`) and the law file (:mod:`perflaw.fitting.lawfile`).

Choosing the law among candidate forms by a backtest is not the fitter's job: the
meta-estimator :class:`perflaw.fitting.selection.FormSelector` runs it and hands the
fitter its choice (the ``select`` hook of :meth:`LawFitter.fit`).

Examples
--------
>>> import numpy as np, pandas as pd
>>> N, d = np.meshgrid([4., 8., 12., 16., 24., 32.], [25., 50., 75., 100.])
>>> X = pd.DataFrame({"layers": N.ravel(), "d_emb": d.ravel()})
>>> y = 0.2 + 0.01 * np.log(X.layers) - 0.001 * X.layers + 0.02 * np.log(X.d_emb) - 0.0005 * X.d_emb
>>> f = LawFitter("performance", seed=0).fit(X, y)
>>> round(f.diagnostics_["r2"], 6)
1.0
>>> round(f.derived_["N_opt"], 3), round(f.derived_["d_opt"], 3)
(10.0, 40.0)
"""

from __future__ import annotations

import sys
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from perflaw.errors import DataError, LawFileError, NotFittedError
from perflaw.fitting import intervals, lawfile
from perflaw.fitting.diagnostics import (
    best_run,
    bound_notes,
    check_identified,
    covariance,
    diagnose,
    error_metrics,
    goodness_of_fit,
    holdout_table,
    numeric_jacobian,
    runs_identification,
)
from perflaw.fitting.report import summary_frame, summary_text
from perflaw.fitting.rows import Rows, law_inputs
from perflaw.fitting.solve import (
    best_start,
    bootstrap_refits,
    huber_delta,
    leave_one_out_predictions,
    solve_law,
)
from perflaw.laws.base import Law, Start, get_law
from perflaw.laws.forms import form_law
from perflaw.laws.scales import from_scale, resolve_scale, to_scale
from perflaw.runs import RunsTableWarning


class ExtrapolationWarning(UserWarning):
    """A prediction was asked for outside the range the law was fitted on."""


class LawFitter:
    """Fit a law to runs; one fitter for every law.

    Parameters
    ----------
    law : str or Law
        A registered law name (``"performance"``) or a :class:`~perflaw.laws.base.Law`.
    loss : {"l2", "huber"}
        Loss; ``huber_delta`` sets the Huber threshold (default: ``1.345 × MAD`` of the
        residuals of an L2 fit).
    n_random_starts : int
        Seeded random starts added to the law's deterministic start grid.
    seed : int
        Seed of every random draw (random starts, bootstrap): same seed, same result.
    bootstrap : int
        Number of bootstrap refits (0: none; intervals then come from the Jacobian).
    bootstrap_by : {"row", "group"}
        Resample rows, or whole groups (``groups=`` of :meth:`fit`).
    level : float
        Confidence level of every interval.
    solver : {"auto", "generic"}
        ``"auto"`` uses the law's own solver when it has one; ``"generic"`` forces
        multi-start bounded least squares.
    scale : {"none", "logit", "auto"}
        Scale the law is fitted on; ``"logit"`` keeps predictions and interval ends of a
        rate (HR, NDCG) inside (0, 1); ``"auto"``: the law's guess from the metric name
        and values.  Diagnostics (R², MAPE) are always on the metric's own scale.
    progress : bool
        Show progress bars (stderr) for the bootstrap and the backtest.
    noise_sd : float, optional
        Run-to-run noise of one run on the metric's scale (e.g. the pooled spread of
        seed replicates); widens ``kind="observation"`` intervals and sets the noise
        ``recommend`` compares gains with.
    backtest_axis : {"auto", "layers", "d_emb"} or None
        The size axis of the trained edge (past it a law's fall is halved) and of the
        backtest a :class:`~perflaw.fitting.selection.FormSelector` over this fitter runs.
        ``"auto"`` (default): layers, or d_emb when the runs have fewer than 3 layer
        counts and more widths (:func:`perflaw.fitting.intervals.resolve_axis`).
        ``None``: no trained edge (and no backtest of a joint fit).
    **law_options
        Passed to the law (e.g. ``p=2``, ``data_term="free"``).

    Attributes
    ----------
    law_ : Law
    params_ : pandas.Series
        Best parameters, by name.
    derived_ : dict
        Derived quantities (e.g. ``N_opt``).
    diagnostics_ : dict
        ``r2``, ``adj_r2``, ``rmse``, ``mae``, ``mape``, ``aic``, ``bic``, ``n_points`` ...
    residuals_, fitted_ : ndarray
    n_starts_, n_best_starts_ : int
        Starts tried, and starts that reached the best loss.
    summary_ : pandas.DataFrame
        Estimate, standard error and interval per parameter and derived quantity.
    bootstrap_params_ : ndarray or None
        ``(n_ok, n_params)`` bootstrap estimates.
    ranges_ : dict
        Fitted ``(min, max)`` of every input.
    edge_ : dict or None
        The trained edge along the backtest axis (``axis``, ``axis_max``): past it, where
        the law predicts worse than at it, :meth:`predict` halves the fall.
    holdout_ : pandas.DataFrame or None
        Held-out rows with predictions and errors (``holdout=``); ``holdout_metrics_``.
    """

    def __init__(
        self,
        law: str | Law = "performance",
        *,
        loss: str = "l2",
        huber_delta: float | None = None,
        n_random_starts: int = 4,
        seed: int = 0,
        bootstrap: int = 0,
        bootstrap_by: str = "row",
        level: float = 0.95,
        solver: str = "auto",
        scale: str = "none",
        progress: bool = False,
        noise_sd: float | None = None,
        backtest_axis: str | None = "auto",
        **law_options: Any,
    ) -> None:
        self.law = law
        self.loss = loss
        self.huber_delta = huber_delta
        self.n_random_starts = n_random_starts
        self.seed = seed
        self.bootstrap = bootstrap
        self.bootstrap_by = bootstrap_by
        self.level = level
        self.solver = solver
        self.scale = scale
        self.noise_sd = noise_sd
        self.backtest_axis = backtest_axis
        self.progress = progress
        self.law_options = law_options

    # ----------------------------------------------------------------------------------
    def _check_settings(self) -> None:
        if self.loss not in ("l2", "huber"):
            raise DataError(f"unknown loss {self.loss!r}: use 'l2' or 'huber'")
        if self.bootstrap_by not in ("row", "group"):
            raise DataError(f"bootstrap_by must be 'row' or 'group', got {self.bootstrap_by!r}")
        if not 0 < self.level < 1:
            raise DataError(f"level must be between 0 and 1, got {self.level!r}")
        if int(self.bootstrap) != self.bootstrap or self.bootstrap < 0:
            raise DataError(f"bootstrap must be a non-negative integer, got {self.bootstrap!r}")
        if self.solver not in ("auto", "generic"):
            raise DataError(f"solver must be 'auto' or 'generic', got {self.solver!r}")
        if self.scale not in ("auto", "none", "logit"):
            raise DataError(f"scale must be 'auto', 'none' or 'logit', got {self.scale!r}")

    def _solve(self, law, X, y, rng, *, n_random, init=None, delta=None) -> list[Start]:
        kw = dict(loss=self.loss, huber_delta=delta, rng=rng, n_random=n_random, init=init)
        return solve_law(law, X, y, own_solver=self.solver == "auto", **kw)

    def _refit(self, X, z, rng, *, n_random: int, what: str) -> np.ndarray:
        # a bootstrap or leave-one-out refit: the fitted law from the fitted parameters
        res = self._solve(
            self.law_, X, z, rng, n_random=n_random, init=self.theta_, delta=self.huber_delta_
        )
        return best_start(res, what)[0].theta

    def fit(
        self,
        X,
        y,
        *,
        groups=None,
        metric: str | None = None,
        holdout: str | None = None,
        loo: bool = False,
        exclude: str | None = None,
        select: Callable[..., Any] | None = None,
        identify: bool = True,
    ) -> LawFitter:
        """Fit the law.

        Parameters
        ----------
        X : pandas.DataFrame or dict
            Inputs named as the law expects (``layers``, ``d_emb``, ``d_prime`` ...).
        y : array-like
            The metric.
        groups : array-like, optional
            Group label of each row: the unit of ``bootstrap_by="group"`` and, for a
            joint fit (``data_term="free"``), the group of each free intercept.
        metric : str, optional
            Name of the metric (kept in summaries and law files).
        holdout : str, optional
            Condition such as ``"layers>=24"``: those rows are held out, the law is
            fitted on the rest (the form too, with ``select``) and scored on them
            (``holdout_``, ``holdout_metrics_``; intervals are for a new run, as a
            held-out run is).
        loo : bool
            Also run leave-one-out (``loo_``, ``loo_metrics_``).
        exclude : str, optional
            Condition such as ``"n_layers>=24 & n_inters<1e5"``: those rows are dropped
            before anything else (outliers, failed runs); the condition and the number
            of rows dropped are recorded (``exclude_``, ``n_excluded_``, law files).
        select : callable, optional
            ``select(X, y, groups, metric)`` -> a selection (``form``, ``axis``,
            ``calibration``, ``alternatives``, ``as_dict()``), called on the rows being
            fitted (never held-out ones): the law becomes the selected form's, with its
            calibrated intervals.  :class:`~perflaw.fitting.selection.FormSelector` passes
            its backtest here; ``None``: fit ``law`` as given.
        identify : bool
            Refuse (:class:`DataError`) runs that are one run or all at one configuration,
            and warn (:class:`~perflaw.runs.RunsTableWarning`, and ``warnings_``) when an
            input has one value: its terms are not identified.  The backtest's refits on
            the smaller sizes turn it off (carry-forward from one run is its forecast).

        Returns
        -------
        self
        """
        self._check_settings()
        rows = Rows.of(X, y, groups, metric)
        self.metric_ = metric
        self.exclude_ = exclude
        self.n_excluded_ = 0
        if exclude:
            rows, dropped = rows.split(exclude, "exclude")
            self.n_excluded_ = len(dropped.y)
        self.holdout_ = None
        self.holdout_metrics_ = None
        self.holdout_condition_ = holdout
        if holdout:
            rows, held = rows.split(holdout, "holdout")
        self.identification_: list[str] = []
        if identify:
            self.identification_ = runs_identification(
                self._build_law(rows.groups), rows.frame, rows.y
            )
            for note in self.identification_:
                warnings.warn(note, RunsTableWarning, stacklevel=2)
        self._fit_core(rows.frame, rows.y, rows.groups, select)
        if holdout:
            pred = self.predict(
                held.frame, groups=held.groups, interval=True, warn=False, kind="observation"
            )
            self.holdout_ = holdout_table(held.frame, held.y, pred)
            self.holdout_metrics_ = error_metrics(held.y, pred["prediction"].to_numpy())
        self.loo_ = None
        self.loo_metrics_: dict[str, float] | None = None
        if loo:
            self.leave_one_out()
        return self

    def _build_law(self, glabels) -> Law:
        opts = dict(self.law_options)
        if isinstance(self.law, Law):
            return self.law
        if opts.get("data_term") == "free":
            if glabels is None:
                raise DataError("a joint fit with a free data term per group needs groups")
            opts["groups"] = sorted(set(glabels.tolist()))
        return get_law(self.law, **opts)

    def inputs(
        self, frame: pd.DataFrame, groups=None, law: Law | None = None
    ) -> dict[str, np.ndarray]:
        """The inputs ``law`` (default: the fitted law) reads from ``frame``, checked, with
        the group code of each row for a law with per-group terms (``groups``: labels)."""
        return law_inputs(self.law_ if law is None else law, frame, groups)

    def _fit_core(self, frame: pd.DataFrame, yv: np.ndarray, glabels, select=None) -> None:
        sel = None if select is None else select(frame, yv, glabels, self.metric_)
        self.form_ = None if sel is None else sel.form
        self.selection_ = None if sel is None else sel.as_dict()
        self.calibration_ = None if sel is None else sel.calibration
        self.alternatives_ = [] if sel is None else sel.alternatives
        if sel is not None and sel.form != "joint":  # a joint fit is backtested as it is
            law = form_law(sel.form, sel.axis)
        else:
            law = self._build_law(glabels)
        X = self.inputs(frame, glabels, law)
        law = law.bind(X)
        self.transform_ = resolve_scale(self.scale, law, self.metric_, yv)
        zv = to_scale(yv, self.transform_)
        self.noise_sd_ = intervals.noise_on_scale(self.noise_sd, yv, self.transform_)
        n, k = len(yv), law.n_params
        check_identified(law, X, n)
        for message in law.fit_warnings(X):
            warnings.warn(message, UserWarning, stacklevel=3)
        self._pending_warnings = list(getattr(self, "identification_", []))
        if self.calibration_ is None and self.form_ is not None:
            self._pending_warnings.append(
                "too few sizes to backtest: prediction intervals are not calibrated "
                "out of sample" + (" (carry-forward has none)" if law.nonparametric else "")
            )
        rng = np.random.default_rng(self.seed)
        delta = self.huber_delta
        if self.loss == "huber" and delta is None:
            saved, self.loss = self.loss, "l2"
            try:
                pilot, _ = best_start(
                    self._solve(
                        law, X, zv, np.random.default_rng(self.seed), n_random=self.n_random_starts
                    ),
                    "pilot L2 fit",
                )
            finally:
                self.loss = saved
            delta = huber_delta(zv - law.formula(pilot.theta, X), zv)
        self.huber_delta_: float | None = delta
        results = self._solve(law, X, zv, rng, n_random=self.n_random_starts, delta=delta)
        best, n_best = best_start(results, f"fit of law {law.name!r}")
        self.law_ = law
        self.theta_ = best.theta
        self.cost_: float | None = best.cost
        self.n_starts_ = len(results)
        self.n_best_starts_ = n_best
        self.X_ = X
        self.y_ = yv
        self.z_ = zv
        self.groups_ = glabels
        self._set_fitted()
        self.diagnostics_ = goodness_of_fit(yv, self.fitted_, k)
        self.ranges_ = {
            c: (float(np.min(v)), float(np.max(v))) for c, v in X.items() if c != "group"
        }
        self.edge_ = intervals.trained_edge(self.calibration_, self.backtest_axis, frame, X)
        self.params_ = pd.Series(best.theta, index=list(law.param_names), name="estimate")
        self.derived_ = law.derived(best.theta, self.ranges_)
        self.notes_ = law.notes(best.theta, self.ranges_) if hasattr(law, "notes") else []
        self.notes_ += bound_notes(law, best.theta)
        self.cov_, self.unidentified_, self.inert_ = covariance(
            law, numeric_jacobian(law, best.theta, X), self.zresiduals_
        )
        self.bootstrap_params_: np.ndarray | None = None
        self.n_bootstrap_failed_ = 0
        if self.bootstrap and law.nonparametric:
            # a lookup of the trained runs: resampling rows only drops cells (refits that
            # fail) or repeats them, and neither predict nor p_best would read the draws,
            # which come from the backtest's calibration when there is one
            self.notes_.append(
                "bootstrap not run: carry-forward is a lookup of the trained runs (nothing "
                "to resample), and its intervals (and recommend-config's p_best) "
                + (
                    "are calibrated by the backtest"
                    if self.calibration_ is not None
                    else "need a backtest, which these runs have too few sizes for"
                )
            )
        elif self.bootstrap:
            self._run_bootstrap(rng)
        self.summary_ = summary_frame(self)
        self.warnings_ = self._pending_warnings + diagnose(self)
        self.best_observed_ = self.best_observed()

    def _set_fitted(self) -> None:
        self.z_ = to_scale(self.y_, self.transform_)
        self.zfitted_ = self.law_.formula(self.theta_, self.X_)
        self.fitted_ = from_scale(self.zfitted_, self.transform_)
        self.residuals_ = self.y_ - self.fitted_
        self.zresiduals_ = self.z_ - self.zfitted_

    def best_observed(self, among: np.ndarray | None = None) -> dict | None:
        """The best trained run of the fitted table (highest score, lowest loss), or of
        the runs ``among`` (a boolean mask) selects: its inputs and ``observed``; None
        when there is none (:func:`perflaw.fitting.diagnostics.best_run`)."""
        return best_run(self.X_, self.y_, getattr(self, "groups_", None), self.metric_, among)

    def _run_bootstrap(self, rng) -> None:
        if self.bootstrap_by == "group" and self.groups_ is None:
            raise DataError("bootstrap_by='group' needs group labels (groups=...)")

        def refit(Xb, zb):
            return self._refit(Xb, zb, rng, n_random=0, what="bootstrap refit")

        by_group = self.groups_ if self.bootstrap_by == "group" else None
        self.bootstrap_params_, failed = bootstrap_refits(
            refit,
            self.X_,
            self.z_,
            int(self.bootstrap),
            rng,
            groups=by_group,
            progress=self.progress,
        )
        self.n_bootstrap_failed_ = failed
        if failed:
            warnings.warn(
                f"{failed} of {self.bootstrap} bootstrap refits failed; intervals use "
                f"the other {self.bootstrap - failed}",
                RuntimeWarning,
                stacklevel=3,
            )

    def _check_fitted(self) -> None:
        if not hasattr(self, "theta_"):
            raise NotFittedError("this LawFitter is not fitted yet: call fit() first")

    @property
    def summary(self) -> pd.DataFrame:
        """The parameter table (``summary_``)."""
        self._check_fitted()
        return self.summary_

    def predict(
        self,
        X,
        *,
        groups=None,
        interval: bool = False,
        level: float | None = None,
        kind: str = "mean",
        warn: bool = True,
    ):
        """Predict the metric.

        Past the trained edge (``edge_``), where the law predicts worse than at it, the
        prediction is half-way (fitting scale) between the law's value and its level at
        the edge, and the interval spans the two (:func:`perflaw.fitting.intervals.edge_decline`).

        Parameters
        ----------
        X : pandas.DataFrame or dict
            Inputs named as in :meth:`fit`.
        groups : array-like, optional
            Group labels (joint fits with a free term per group).
        interval : bool
            Return a DataFrame with ``prediction``, ``lower`` and ``upper``; otherwise an
            array of predictions.
        level : float, optional
            Interval level (default: the fitter's ``level``).
        kind : {"mean", "observation"}
            Interval for the expected metric, or for a new run (adds the residual noise).
        warn : bool
            Warn (:class:`ExtrapolationWarning`) when an input is outside the fitted range.
        """
        self._check_fitted()
        frame = X if isinstance(X, pd.DataFrame) else pd.DataFrame(dict(X))
        glabels = None if groups is None else np.asarray(groups).astype(str).ravel()
        if glabels is not None and glabels.size == 1 and len(frame) > 1:
            glabels = np.repeat(glabels, len(frame))
        Xp = self.inputs(frame, glabels)
        # past the trained edge a law that turns down falls slower than it says: the point
        # there is half-way (fitting scale) to its level at the edge (intervals.edge_decline)
        w = intervals.Where.of(self, Xp)
        for message in intervals.extrapolation_messages(
            self.ranges_, Xp, self.calibration_, w.past_reach
        ):
            if warn:
                warnings.warn(message, ExtrapolationWarning, stacklevel=2)
        tr = getattr(self, "transform_", "none")
        pred = from_scale(w.point, tr)
        if not interval:
            return pred
        level = self.level if level is None else level
        if not (isinstance(level, (int, float)) and 0 < level < 1):
            raise DataError(f"level must be between 0 and 1 (exclusive), got {level!r}")
        if kind not in ("mean", "observation"):
            raise DataError(f"kind must be 'mean' or 'observation', got {kind!r}")
        zlo, zhi, label = intervals.prediction_interval(self, Xp, w, level, kind)
        return pd.DataFrame(
            {
                "prediction": pred,
                "lower": from_scale(zlo, tr),
                "upper": from_scale(zhi, tr),
                "interval": label,
            },
            index=frame.index,
        )

    def jacobian(self, X: dict) -> np.ndarray:
        """Derivatives of the fitted law's predictions (fitting scale) at inputs ``X``
        with respect to its parameters: ``(n_rows, n_params)``."""
        return numeric_jacobian(self.law_, self.theta_, X)

    def predict_draws(
        self, X, *, groups=None, n_draws: int = 4000, seed: int | None = None
    ) -> np.ndarray | None:
        """Predictive draws ``(n_draws, len(X))`` of the metric, for p_best and the chance
        that a configuration beats another.

        With backtested alternatives (``alternatives_``: the forms a selection scored,
        weighted by their backtest error), each draw picks a form with the probability its
        weight gives and adds that form's calibrated error
        (:func:`perflaw.fitting.intervals.calibrated_draws`), so the draws carry the
        form-selection uncertainty too.  Otherwise the bootstrap refits' predictions; None
        when the fit has neither.  A form that cannot speak for ``X`` (an intercept per
        depth the grid leaves) is left to the forms that can.
        """
        self._check_fitted()
        frame = X if isinstance(X, pd.DataFrame) else pd.DataFrame(dict(X))
        rng = np.random.default_rng(self.seed if seed is None else seed)
        z = intervals.predictive_draws(self, frame, groups, int(n_draws), rng)
        return None if z is None else from_scale(z, getattr(self, "transform_", "none"))

    def leave_one_out(self) -> pd.DataFrame:
        """Refit without each row in turn and predict it (``loo_``, ``loo_metrics_``)."""
        self._check_fitted()
        rng = np.random.default_rng(self.seed)

        def refit(Xi, zi, i):
            what = f"leave-one-out refit without row {i}"
            return self._refit(Xi, zi, rng, n_random=self.n_random_starts, what=what)

        z = leave_one_out_predictions(refit, self.law_, self.X_, self.z_)
        preds = from_scale(z, getattr(self, "transform_", "none"))
        out = pd.DataFrame({c: v for c, v in self.X_.items() if c != "group"})
        out["observed"] = self.y_
        out["predicted"] = preds
        out["error"] = preds - self.y_
        self.loo_ = out
        self.loo_metrics_ = error_metrics(self.y_, preds)
        return out

    # ----------------------------------------------------------------------------------
    def print_summary(self, file=None) -> None:
        """Print a readable summary (lifelines style) to ``file`` (default stdout)."""
        print(self.summary_text(), file=file or sys.stdout)

    def summary_text(self, verbose: bool = True) -> str:
        """The text :meth:`print_summary` prints (:func:`perflaw.fitting.report.summary_text`):
        the headline first (metric, form and why, backtest error beside the baseline's, R²,
        points, the best trained run), then notes and warnings, then (``verbose``) the
        parameter table."""
        self._check_fitted()
        return summary_text(self, verbose)

    # ----------------------------------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        """Everything a law file holds (:mod:`perflaw.fitting.lawfile`)."""
        self._check_fitted()
        return lawfile.to_dict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any], *, source: str = "law file") -> LawFitter:
        """Rebuild a fitted fitter from :meth:`to_dict` output (predicting, not refitting).

        Every field is validated (type, range, finiteness): a damaged or hand-edited law
        file gives one :class:`LawFileError` line naming the field, never a traceback.
        """
        lawfile.validate(data, source)
        try:
            law, settings = lawfile.settings(data)
            self = cls(law.name, **settings)
            lawfile.restore(self, law, data)
            self._set_fitted()
            self.summary_ = summary_frame(self)
        except DataError as exc:
            raise LawFileError(f"{source}: {exc}") from None
        except (KeyError, TypeError, ValueError, IndexError) as exc:
            raise LawFileError(f"{source}: malformed law ({type(exc).__name__}: {exc})") from None
        return self

    def save(self, path: str | Path) -> Path:
        """Write the law file (JSON, one fit) and return its path."""
        return lawfile.save_fits([({}, self)], path)


def load_fits(path: str | Path) -> list[tuple[dict, LawFitter]]:
    """Read a law file written by :func:`~perflaw.fitting.lawfile.save_fits`
    (``[(group_key, fitter), ...]``); :class:`~perflaw.errors.LawFileError` if unusable."""
    return [(g, LawFitter.from_dict(d, source=src)) for g, d, src in lawfile.read_fits(path)]


def load_fitter(path: str | Path) -> LawFitter:
    """Load a single-fit law file (use :func:`load_fits` for grouped files)."""
    fits = load_fits(path)
    if len(fits) != 1:
        raise LawFileError(f"law file {str(path)!r} holds {len(fits)} group fits: use load_fits")
    return fits[0][1]
