"""The one fitter every law uses: :class:`LawFitter`.

A law (:mod:`perflaw.laws.base`) only declares its formula, parameters, bounds and
starts; :class:`LawFitter` does the rest:

* **multi-start** — the law's deterministic start grid plus ``n_random_starts`` seeded
  random starts; each start is refined by bounded least squares
  (``scipy.optimize.least_squares``, ``trf``) or by the law's own solver hook
  (``Law.solve``, e.g. variable projection for the Performance Law); the best start is
  kept and ``n_best_starts_`` says how many reached it;
* **loss** — ``"l2"`` or ``"huber"`` (``huber_delta`` defaults to ``1.345 ×`` the
  robust scale (MAD) of the residuals of an L2 fit);
* **failure** — :class:`~perflaw.errors.ConvergenceError` when no start converges, never
  parameters of a failed fit;
* **uncertainty** — seeded bootstrap (by row or by group), percentile intervals for
  parameters, derived quantities and predictions; without bootstrap, Wald intervals from
  the Jacobian (delta method);
* **validation** — ``holdout="layers>=24"`` (fit the rest, score the held-out rows) and
  leave-one-out;
* **diagnostics** — R², adjusted R², RMSE, MAPE, AIC, BIC, residuals;
* **output** — ``summary_`` (a DataFrame), :meth:`LawFitter.print_summary`,
  :meth:`LawFitter.predict` with intervals, :meth:`LawFitter.plot`, :meth:`LawFitter.save`
  and :func:`load_fitter` (law JSON with the perflaw version and the data ranges).

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

import datetime as _dt
import json
import math
import re
import warnings
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from scipy import stats
from scipy.optimize import least_squares

from perflaw._version import __version__
from perflaw.errors import ConvergenceError, DataError, LawFileError, NotFittedError
from perflaw.laws.base import Law, Start, get_law, higher_is_better, loss_value

FORMAT_VERSION = 1
#: the ``interval`` of a prediction past the trained edge that the law predicts worse than
#: the edge: the point is half-way to the law's level there, and the interval's better
#: side reaches to that level (backtest.edge_decline)
WIDENED = "backtest-calibrated, fall past the trained edge halved, widened to the law's level there"


class ExtrapolationWarning(UserWarning):
    """A prediction was asked for outside the range the law was fitted on."""


# --------------------------------------------------------------------------------------
# conditions such as "layers>=24"
_COND = re.compile(
    r"^\s*([A-Za-z_][\w@.]*)\s*(<=|>=|==|!=|<|>|=)\s*"
    r"([-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?)\s*$"
)


def parse_condition(condition: str, frame: pd.DataFrame) -> np.ndarray:
    """Boolean mask of the rows of ``frame`` matching ``condition``.

    ``condition`` is one or more comparisons ``column op number`` joined by ``&``
    (``op`` one of ``< <= > >= == = !=``).

    Examples
    --------
    >>> df = pd.DataFrame({"layers": [4, 16, 24, 32], "d_emb": [25, 50, 25, 50]})
    >>> parse_condition("layers>=24", df).tolist()
    [False, False, True, True]
    >>> parse_condition("layers >= 24 & d_emb == 50", df).tolist()
    [False, False, False, True]
    """
    mask = np.ones(len(frame), dtype=bool)
    for part in str(condition).split("&"):
        m = _COND.match(part)
        if not m:
            raise DataError(
                f"cannot parse condition {part.strip()!r}: use e.g. 'layers>=24' or "
                "'layers>=24 & d_emb<100'"
            )
        col, op, num = m.groups()
        from perflaw.io import find_column  # the one column lookup

        try:
            name = find_column(frame.columns, col)
        except DataError:
            raise DataError(f"condition {condition!r} names unknown column {col!r}") from None
        v = pd.to_numeric(frame[name], errors="coerce").to_numpy(float)
        x = float(num)
        ops = {
            "<": v < x,
            "<=": v <= x,
            ">": v > x,
            ">=": v >= x,
            "==": v == x,
            "=": v == x,
            "!=": v != x,
        }
        mask &= ops[op]
    return mask


# --------------------------------------------------------------------------------------
def _diagnostics(y: np.ndarray, yhat: np.ndarray, k: int) -> dict[str, float]:
    r = y - yhat
    n = len(y)
    sse = float(r @ r)
    sst = float(((y - y.mean()) ** 2).sum())
    r2 = 1.0 - sse / sst if sst > 0 else np.nan
    adj = 1.0 - (1.0 - r2) * (n - 1) / (n - k) if n > k else np.nan
    nz = y != 0
    mape = float(np.mean(np.abs(r[nz] / y[nz])) * 100) if nz.any() else np.nan
    ll = n * math.log(sse / n) if sse > 0 else -np.inf
    return {
        "n_points": n,
        "n_params": k,
        "r2": r2,
        "adj_r2": adj,
        "rmse": math.sqrt(sse / n),
        "mae": float(np.mean(np.abs(r))),
        "mape": mape,
        "aic": ll + 2 * k,
        "bic": ll + k * math.log(n),
        "sse": sse,
    }


def error_metrics(observed: np.ndarray, predicted: np.ndarray) -> dict[str, float]:
    """MAE, RMSE, MAPE (%) and maximum absolute percentage error of predictions."""
    o, p = np.asarray(observed, float), np.asarray(predicted, float)
    r = o - p
    ape = np.abs(r / o) * 100
    return {
        "n_points": len(o),
        "mae": float(np.mean(np.abs(r))),
        "rmse": float(np.sqrt(np.mean(r * r))),
        "mape": float(np.mean(ape)),
        "max_ape": float(np.max(ape)),
    }


def _generic_solve(law: Law, X, y, *, loss, huber_delta, rng, n_random, init=None) -> list[Start]:
    """Multi-start bounded least squares (scipy ``trf``) for laws without a solver hook."""
    lo, hi = law.bounds()
    grid = np.atleast_2d(np.asarray(law.start_grid(X, y), dtype=float))
    starts = [] if init is None else [np.asarray(init, float)]
    starts += list(grid)
    for _ in range(n_random):
        base = grid[rng.integers(len(grid))]
        s = np.where(
            np.isfinite(lo) & np.isfinite(hi),
            rng.uniform(np.where(np.isfinite(lo), lo, 0), np.where(np.isfinite(hi), hi, 1)),
            base + rng.normal(0, 1, size=base.shape) * (np.abs(base) + 0.1),
        )
        starts.append(s)
    span = np.where(np.isfinite(hi - lo), hi - lo, 1.0)
    jac = law.jacobian(grid[0], X)
    results = []
    for s0 in starts:
        s0 = np.clip(s0, lo + 1e-9 * span, hi - 1e-9 * span)

        def resid(t):
            return law.formula(t, X) - y

        kw: dict[str, Any] = {}
        if jac is not None:
            kw["jac"] = lambda t: law.jacobian(t, X)
        try:
            res = least_squares(
                resid,
                s0,
                bounds=(lo, hi),
                method="trf",
                x_scale="jac",
                loss="linear" if loss == "l2" else "huber",
                f_scale=1.0 if loss == "l2" else huber_delta,
                max_nfev=2000,
                **kw,
            )
        except (ValueError, np.linalg.LinAlgError, FloatingPointError) as exc:
            results.append(Start(s0, np.inf, False, str(exc), s0))
            continue
        cost = loss_value(res.fun, loss, huber_delta)
        results.append(Start(res.x, cost, bool(res.status > 0), res.message, s0))
    return results


def _as_inputs(X, names: Iterable[str]) -> dict[str, np.ndarray]:
    out = {}
    for name in names:
        if isinstance(X, pd.DataFrame):
            if name not in X.columns:
                raise DataError(f"input column {name!r} is missing")
            col = X[name]
        else:
            if name not in X:
                raise DataError(f"input {name!r} is missing")
            col = X[name]
        arr = pd.to_numeric(pd.Series(np.asarray(col).ravel()), errors="coerce").to_numpy(float)
        out[name] = arr
    return out


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
    form : str, optional
        Choose the law among candidate forms (:mod:`perflaw.backtest`): ``"auto"`` picks
        one by an inner rolling-origin backtest on the rows being fitted (never held-out
        rows) and calibrates the prediction intervals by that backtest; a form name
        (``"carry"``, ``"saturating"``, ``"loglinear"``, ``"p2"``, ``"free"``) fixes it
        and only calibrates.  ``None`` (default): fit ``law`` as given.
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
        The size axis of the inner backtest that chooses the form and calibrates the
        intervals (when ``form`` is given, and for a joint fit: ``data_term`` "free" or
        "dprime" with ``groups``, backtested against carry-forward within each group).
        ``"auto"`` (default): layers, or d_emb when the runs have fewer than 3 layer
        counts and more widths (:func:`perflaw.backtest.resolve_axis`).  ``None``: no
        backtest of a joint fit (its intervals are then in-sample).
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
        form: str | None = None,
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
        self.form = form
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
        if self.solver == "auto":
            res = law.solve(X, y, **kw)
            if res is not NotImplemented:
                return res
        return _generic_solve(law, X, y, **kw)

    @staticmethod
    def _best(results: list[Start], what: str) -> tuple[Start, int]:
        ok = [
            r for r in results if r.success and np.isfinite(r.cost) and np.all(np.isfinite(r.theta))
        ]
        if not ok:
            msgs = "; ".join(sorted({r.message for r in results if r.message}))[:200]
            raise ConvergenceError(
                f"{what}: none of {len(results)} starts converged ({msgs or 'no message'})"
            )
        best = min(ok, key=lambda r: r.cost)
        tol = 1e-6 * abs(best.cost) + 1e-15
        return best, sum(1 for r in ok if r.cost - best.cost <= tol)

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
            fitted on the rest (the form too, with ``form="auto"``) and scored on them
            (``holdout_``, ``holdout_metrics_``; intervals are for a new run, as a
            held-out run is).
        loo : bool
            Also run leave-one-out (``loo_``, ``loo_metrics_``).
        exclude : str, optional
            Condition such as ``"n_layers>=24 & n_inters<1e5"``: those rows are dropped
            before anything else (outliers, failed runs); the condition and the number
            of rows dropped are recorded (``exclude_``, ``n_excluded_``, law files).

        Returns
        -------
        self
        """
        self._check_settings()
        frame = X.copy() if isinstance(X, pd.DataFrame) else pd.DataFrame(dict(X))
        yv = pd.to_numeric(pd.Series(np.asarray(y).ravel()), errors="coerce").to_numpy(float)
        if len(yv) != len(frame):
            raise DataError(f"X has {len(frame)} rows but y has {len(yv)}")
        if not np.all(np.isfinite(yv)):
            bad = int((~np.isfinite(yv)).sum())
            raise DataError(f"metric {metric or 'y'!r} has {bad} missing or non-numeric value(s)")
        glabels = None if groups is None else np.asarray(groups).astype(str).ravel()
        if glabels is not None and len(glabels) != len(frame):
            raise DataError(f"groups has {len(glabels)} labels for {len(frame)} rows")
        self.metric_ = metric
        self.exclude_ = exclude
        self.n_excluded_ = 0
        if exclude:
            drop = parse_condition(exclude, frame)
            if drop.all():
                raise DataError(f"exclude {exclude!r} drops all {len(drop)} rows")
            self.n_excluded_ = int(drop.sum())
            frame, yv = frame[~drop].reset_index(drop=True), yv[~drop]
            glabels = None if glabels is None else glabels[~drop]
        self.holdout_ = None
        self.holdout_metrics_ = None
        self.holdout_condition_ = holdout
        if holdout:
            mask = parse_condition(holdout, frame)
            if mask.all() or not mask.any():
                raise DataError(
                    f"holdout {holdout!r} selects {int(mask.sum())} of {len(mask)} rows: "
                    "it must leave rows on both sides"
                )
            held_frame, held_y = frame[mask], yv[mask]
            held_groups = None if glabels is None else glabels[mask]
            frame, yv = frame[~mask].reset_index(drop=True), yv[~mask]
            glabels = None if glabels is None else glabels[~mask]
        self._fit_core(frame, yv, glabels)
        if holdout:
            pred = self.predict(
                held_frame.reset_index(drop=True),
                groups=held_groups,
                interval=True,
                warn=False,
                kind="observation",
            )
            out = held_frame.reset_index(drop=True).copy()
            out["observed"] = held_y
            out["predicted"] = pred["prediction"].to_numpy()
            out["lower"], out["upper"] = pred["lower"].to_numpy(), pred["upper"].to_numpy()
            out["error"] = out["predicted"] - out["observed"]
            out["pct_error"] = 100 * out["error"] / out["observed"]
            self.holdout_ = out
            self.holdout_metrics_ = error_metrics(held_y, out["predicted"].to_numpy())
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

    def _inputs(self, law: Law, frame: pd.DataFrame, glabels) -> dict[str, np.ndarray]:
        names = [n for n in law.inputs if n != "group"]
        X = _as_inputs(frame, names)
        for n, v in X.items():
            if not np.all(np.isfinite(v)):
                raise DataError(f"input column {n!r} has missing or non-numeric values")
        if "group" in law.inputs:
            if glabels is None:
                raise DataError(f"law {law.name!r} with per-group terms needs group labels")
            known = {g: i for i, g in enumerate(law.groups)}
            unknown = sorted(set(glabels.tolist()) - set(known))
            if unknown:
                raise DataError(
                    f"unknown group(s) {', '.join(unknown)}: fitted groups are "
                    f"{', '.join(law.groups)}"
                )
            X["group"] = np.array([known[g] for g in glabels], dtype=float)
        law.check(X)
        return X

    def _fit_core(self, frame: pd.DataFrame, yv: np.ndarray, glabels) -> None:
        self.form_ = None
        self.selection_ = None
        self.calibration_ = None
        self.alternatives_ = []
        law = None
        # a joint fit (shared N and d factors, a data term per group) is backtested as it
        # is, against carry-forward within each group: its intervals are then calibrated
        # out of sample and its summary says whether it beat the baseline
        joint = (
            self.form is None
            and self.backtest_axis is not None
            and glabels is not None
            and self.law == "performance"
            and self.law_options.get("data_term") in ("free", "dprime")
        )
        if self.form is not None or joint:
            from perflaw.backtest import choose_form, form_law

            sel = choose_form(
                frame,
                yv,
                form=self.form or "auto",
                metric=self.metric_,
                transform=self.scale,
                seed=self.seed,
                progress=self.progress,
                axis=self.backtest_axis or "auto",
                groups=glabels if joint else None,
                joint=dict(self.law_options) if joint else None,
            )
            self.form_ = sel.form
            self.selection_ = sel.as_dict()
            self.calibration_ = sel.calibration
            self.alternatives_ = sel.alternatives
            if not joint:
                law = form_law(sel.form, sel.axis)
        if law is None:
            law = self._build_law(glabels)
        X = self._inputs(law, frame, glabels)
        law = law.bind(X)
        from perflaw.backtest import resolve_transform, transform_forward

        self.transform_ = resolve_transform(self.scale, law, self.metric_, yv)
        zv = transform_forward(yv, self.transform_)
        self.noise_sd_ = None
        if self.noise_sd is not None:
            if not (
                isinstance(self.noise_sd, (int, float))
                and math.isfinite(self.noise_sd)
                and self.noise_sd >= 0
            ):
                raise DataError(f"noise_sd must be a non-negative number, got {self.noise_sd!r}")
            m = float(np.mean(yv))
            self.noise_sd_ = (
                float(self.noise_sd) / (m * (1 - m))
                if self.transform_ == "logit"
                else float(self.noise_sd)
            )
        n, k = len(yv), law.n_params
        why = law.identifiable(X)
        if why:
            raise DataError(
                f"law {law.name!r} is not identified by these runs: {why} (pin or "
                "drop the term, or choose a simpler form, e.g. --form carry)"
            )
        if n - k < law.min_dof and not law.nonparametric:
            raise DataError(
                f"law {law.name!r} has {k} parameters and needs at least {k + 1} runs; got {n}"
            )
        for message in law.fit_warnings(X):
            warnings.warn(message, UserWarning, stacklevel=3)
        self._pending_warnings = []
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
                pilot, _ = self._best(
                    self._solve(
                        law, X, zv, np.random.default_rng(self.seed), n_random=self.n_random_starts
                    ),
                    "pilot L2 fit",
                )
            finally:
                self.loss = saved
            r = zv - law.formula(pilot.theta, X)
            delta = 1.345 * 1.4826 * float(np.median(np.abs(r - np.median(r))))
            delta = delta if delta > 0 else 1e-3 * float(np.std(zv) or 1.0)
        self.huber_delta_: float | None = delta
        results = self._solve(law, X, zv, rng, n_random=self.n_random_starts, delta=delta)
        best, n_best = self._best(results, f"fit of law {law.name!r}")
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
        self.diagnostics_ = _diagnostics(yv, self.fitted_, k)
        self.ranges_ = {
            c: (float(np.min(v)), float(np.max(v))) for c, v in X.items() if c != "group"
        }
        self.edge_ = self._trained_edge(frame, X)
        self.params_ = pd.Series(best.theta, index=list(law.param_names), name="estimate")
        self.derived_ = law.derived(best.theta, self.ranges_)
        self.notes_ = law.notes(best.theta, self.ranges_) if hasattr(law, "notes") else []
        lo, hi = law.bounds()
        for i, name in enumerate(law.param_names):
            for edge in (lo[i], hi[i]):
                if np.isfinite(edge) and abs(best.theta[i] - edge) <= 1e-6 * max(1.0, abs(edge)):
                    self.notes_.append(
                        f"{name} is at its bound {edge:g}: the optimum may lie "
                        "beyond it (a flat direction of the fit)"
                    )
        self.cov_ = self._covariance()
        self.bootstrap_params_: np.ndarray | None = None
        self.n_bootstrap_failed_ = 0
        if self.bootstrap and law.nonparametric and self.calibration_ is not None:
            # a lookup of the trained runs: resampling rows only drops cells (refits that
            # fail) or repeats them, and neither predict nor p_best would read the draws,
            # which come from the backtest's calibration instead
            self.notes_.append(
                "bootstrap not run: carry-forward is a lookup of the trained runs, and its "
                "intervals (and recommend-config's p_best) are calibrated by the backtest"
            )
        elif self.bootstrap:
            self._run_bootstrap(rng)
        self.summary_ = self._summary_frame()
        self.warnings_ = self._pending_warnings + self._diagnose()
        self.best_observed_ = self._best_observed()
        self.alternatives_ = [self._alternative_dict(a) for a in self.alternatives_]

    def _set_fitted(self) -> None:
        from perflaw.backtest import transform_forward, transform_inverse

        self.z_ = transform_forward(self.y_, self.transform_)
        self.zfitted_ = self.law_.formula(self.theta_, self.X_)
        self.fitted_ = transform_inverse(self.zfitted_, self.transform_)
        self.residuals_ = self.y_ - self.fitted_
        self.zresiduals_ = self.z_ - self.zfitted_

    def _best_observed(self, among: np.ndarray | None = None) -> dict | None:
        """The best trained run of the fitted table (highest score, lowest loss), or of
        the runs ``among`` (a boolean mask) selects: its inputs and ``observed``; None
        when there is none."""
        from perflaw.laws.base import higher_is_better

        y = np.asarray(self.y_, float)
        among = np.ones(len(y), bool) if among is None else np.asarray(among, bool)
        if not among.any():
            return None
        score = np.where(among, y if higher_is_better(self.metric_) else -y, -np.inf)
        i = int(np.argmax(score))
        out: dict[str, Any] = {
            c: float(np.asarray(v)[i]) for c, v in self.X_.items() if c != "group"
        }
        for c in ("layers", "d_emb"):
            if c in out and float(out[c]).is_integer():
                out[c] = int(out[c])
        if getattr(self, "groups_", None) is not None:  # a joint fit: whose run it is
            out["group"] = str(np.asarray(self.groups_)[i])
        out["observed"] = float(y[i])
        return out

    def _diagnose(self) -> list[str]:
        """Plain-words warnings: the law's own (``Law.diagnose(theta, ranges)``, optional:
        narrow ranges, implausible exponents ...), then strongly correlated parameters and
        outliers, which any law gets."""
        law_diag = getattr(self.law_, "diagnose", None)
        out = list(law_diag(self.theta_, self.ranges_)) if law_diag else []
        names = list(self.law_.param_names)
        boot = self.bootstrap_params_
        with np.errstate(invalid="ignore", divide="ignore"):
            if boot is not None and len(boot) > 10:
                C = np.corrcoef(boot, rowvar=False)
                src = "bootstrap"
            else:
                sd = np.sqrt(np.clip(np.diag(self.cov_), 0, None))
                C = self.cov_ / np.outer(sd, sd)
                src = "covariance"
        if self.law_.nonparametric:
            C = np.eye(len(names))
        elif np.any(np.abs(C[np.isfinite(C)]) > 1 + 1e-6) or (
            np.linalg.eigvalsh((self.cov_ + self.cov_.T) / 2).min()
            < -1e-9 * max(1e-300, np.abs(self.cov_).max())
        ):
            out.append(
                f"the parameter {src} matrix is not positive semi-definite (the fit "
                "is on a ridge): correlations are not reported and Wald intervals are "
                "unreliable"
            )
            C = np.eye(len(names))
        C = np.clip(C, -1.0, 1.0)
        pairs = [
            (abs(C[i, j]), i, j)
            for i in range(len(names))
            for j in range(i + 1, len(names))
            if np.isfinite(C[i, j]) and abs(C[i, j]) > 0.95
        ]
        for r, i, j in sorted(pairs, reverse=True)[:3]:
            out.append(
                f"{names[i]} and {names[j]} are strongly correlated (|r| = {r:.3f}, "
                f"{src}): a ridge in the loss, so their individual values are poorly "
                "determined; predictions may still be fine"
            )
        if self._unidentified:
            out.append(
                "not identified by the data (a flat direction of the loss): "
                + ", ".join(self._unidentified[:6])
                + ("..." if len(self._unidentified) > 6 else "")
                + "; their intervals are not reported"
            )
        n, k = len(self.y_), self.law_.n_params
        if not self.law_.nonparametric and n < 2 * k:
            out.append(
                f"{k} parameters for {n} runs: more parameters than the data can "
                "reliably carry (use a simpler --form)"
            )
        r = self.residuals_
        mad = 1.4826 * float(np.median(np.abs(r - np.median(r))))
        if mad > 0 and len(r) >= 8 and not self.law_.nonparametric:
            z = (r - np.median(r)) / mad
            idx = np.flatnonzero(np.abs(z) > 4)
            for i in idx[np.argsort(-np.abs(z[idx]))][:5]:
                where = ", ".join(f"{c}={v[i]:.4g}" for c, v in self.X_.items() if c != "group")
                out.append(
                    f"outlier at {where}: observed {self.y_[i]:.4g}, fitted "
                    f"{self.fitted_[i]:.4g} (robust z = {z[i]:.1f}); kept in the fit "
                    "(drop it with exclude= / --exclude if it is a failed run)"
                )
            if len(idx) > 5:
                out.append(f"... and {len(idx) - 5} more outlier(s)")
        return out

    def _jacobian(self, theta, X) -> np.ndarray:
        law = self.law_
        J = law.jacobian(theta, X)
        if J is not None:
            return np.asarray(J, dtype=float)
        eps = 1e-6 * (np.abs(theta) + 1e-3)
        base = law.formula(theta, X)
        cols = []
        for i in range(len(theta)):
            t = theta.copy()
            t[i] += eps[i]
            cols.append((law.formula(t, X) - base) / eps[i])
        return np.column_stack(cols)

    def _covariance(self) -> np.ndarray:
        J = self._jacobian(self.theta_, self.X_)
        n, k = J.shape
        s2 = float(self.zresiduals_ @ self.zresiduals_) / max(n - k, 1)
        self._unidentified = []
        if self.law_.nonparametric:
            return np.zeros((k, k))
        # a parameter with no effect on any prediction (the exponent of a power term the
        # Performance Law's bound holds at 0) is inert, not a flat direction that moves
        # predictions: it is left out of the check and shown without an interval
        names = np.array(self.law_.param_names)
        active = np.any(J != 0, axis=0)
        self._inert = names[~active].tolist()
        # parameters along a near-null direction of the Jacobian are not identified:
        # their Wald standard errors would be meaningless (often near zero)
        Ja = J[:, active]
        scale = np.sqrt((Ja * Ja).sum(axis=0))
        _, sv, Vt = np.linalg.svd(Ja / scale, full_matrices=False)
        null = sv < max(sv.max(initial=0.0), 1e-300) * 1e-7
        if null.any():
            weight = (Vt[null] ** 2).sum(axis=0)
            self._unidentified = [nm for nm, w in zip(names[active], weight) if w > 0.05]
        return s2 * np.linalg.pinv(J.T @ J)

    def _run_bootstrap(self, rng) -> None:
        n = len(self.y_)
        law, X = self.law_, self.X_
        if self.bootstrap_by == "group":
            if self.groups_ is None:
                raise DataError("bootstrap_by='group' needs group labels (groups=...)")
            labels = np.unique(self.groups_)
            members = [np.flatnonzero(self.groups_ == g) for g in labels]
        thetas, failed = [], 0
        from perflaw.backtest import _progress

        for _ in _progress(
            range(int(self.bootstrap)), int(self.bootstrap), "bootstrap", self.progress
        ):
            if self.bootstrap_by == "row":
                idx = rng.integers(0, n, size=n)
            else:
                pick = rng.integers(0, len(labels), size=len(labels))
                idx = np.concatenate([members[i] for i in pick])
            Xb = {c: v[idx] for c, v in X.items()}
            try:
                res = self._solve(
                    law,
                    Xb,
                    self.z_[idx],
                    rng,
                    n_random=0,
                    init=self.theta_,
                    delta=self.huber_delta_,
                )
                best, _ = self._best(res, "bootstrap refit")
                thetas.append(best.theta)
            except (ConvergenceError, np.linalg.LinAlgError, ValueError):
                failed += 1
        self.n_bootstrap_failed_ = failed
        if failed:
            warnings.warn(
                f"{failed} of {self.bootstrap} bootstrap refits failed; intervals use "
                f"the other {self.bootstrap - failed}",
                RuntimeWarning,
                stacklevel=3,
            )
        self.bootstrap_params_ = np.array(thetas) if thetas else None

    def _summary_frame(self) -> pd.DataFrame:
        alpha = 1 - self.level
        names = list(self.law_.param_names)
        est = self.theta_
        se = np.sqrt(np.clip(np.diag(self.cov_), 0, None))
        dof = max(len(self.y_) - len(names), 1)
        rows = []
        boot = self.bootstrap_params_
        if boot is not None:
            lo_q, hi_q = np.percentile(boot, [100 * alpha / 2, 100 * (1 - alpha / 2)], axis=0)
            bse = boot.std(axis=0, ddof=1) if len(boot) > 1 else np.full(len(names), np.nan)
        t = stats.t.ppf(1 - alpha / 2, dof)
        hidden = set(getattr(self, "_unidentified", [])) | set(getattr(self, "_inert", []))
        for i, name in enumerate(names):
            if self.law_.nonparametric or name in hidden:
                rows.append((name, "param", est[i], np.nan, np.nan, np.nan))
            elif boot is not None:
                rows.append((name, "param", est[i], bse[i], lo_q[i], hi_q[i]))
            else:
                rows.append((name, "param", est[i], se[i], est[i] - t * se[i], est[i] + t * se[i]))
        if self.derived_:
            dnames = list(self.derived_)
            if boot is not None:
                D = np.array(
                    [[self.law_.derived(b, self.ranges_)[d] for d in dnames] for b in boot]
                )
                self.bootstrap_derived_ = pd.DataFrame(D, columns=dnames)
            for j, name in enumerate(dnames):
                value = self.derived_[name]
                if boot is not None:
                    col = D[:, j]
                    col = col[np.isfinite(col)]
                    if len(col) >= max(10, 0.5 * len(D)):
                        lo, hi = np.percentile(col, [100 * alpha / 2, 100 * (1 - alpha / 2)])
                        rows.append((name, "derived", value, float(col.std(ddof=1)), lo, hi))
                        continue
                rows.append((name, "derived", value, np.nan, np.nan, np.nan))
        frame = pd.DataFrame(
            rows, columns=["name", "kind", "estimate", "std_err", "lower", "upper"]
        ).set_index("name")
        frame.attrs["level"] = self.level
        frame.attrs["interval"] = "bootstrap percentile" if boot is not None else "Wald (delta)"
        return frame

    # ----------------------------------------------------------------------------------
    def _check_fitted(self) -> None:
        if not hasattr(self, "theta_"):
            raise NotFittedError("this LawFitter is not fitted yet: call fit() first")

    @property
    def summary(self) -> pd.DataFrame:
        """The parameter table (``summary_``)."""
        self._check_fitted()
        return self.summary_

    def _trained_edge(self, frame: pd.DataFrame, X: dict) -> dict | None:
        """The largest trained size along the backtest's axis, past which a law's fall is
        halved (:meth:`predict`): the calibration's axis when a backtest ran (a given
        ``form`` is backtested along ``"auto"`` even with ``backtest_axis=None``), else
        ``backtest_axis``; None without one (an uncalibrated fit with
        ``backtest_axis=None``, or a law of other inputs, such as Chinchilla's)."""
        if self.calibration_:
            axis = self.calibration_["axis"]
        elif self.backtest_axis is None:
            return None
        else:
            from perflaw.backtest import resolve_axis

            try:
                axis = resolve_axis(frame, self.backtest_axis)
            except DataError:
                return None
        if axis not in X:
            return None
        return {"axis": axis, "axis_max": float(np.max(X[axis]))}

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
        the edge, and the interval spans the two (:func:`perflaw.backtest.edge_decline`).

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
        Xp = self._inputs(self.law_, frame, glabels)
        if warn:
            for c, (low, high) in self.ranges_.items():
                v = Xp[c]
                out = v[(v < low) | (v > high)]
                if out.size:
                    warnings.warn(
                        f"predicting outside the fitted range of {c} ({low:g} to {high:g}): "
                        f"{', '.join(f'{x:g}' for x in np.unique(out)[:5])}",
                        ExtrapolationWarning,
                        stacklevel=2,
                    )
        from perflaw.backtest import (
            calibrated_halfwidth,
            edge_decline,
            horizon,
            transform_inverse,
        )

        cal = getattr(self, "calibration_", None)
        # doublings past the largest trained size along the calibration's axis, and which
        # predictions go further than the backtest ever did: the interval's growth with
        # that distance was measured only so far
        ahead = (
            np.asarray(horizon(Xp[cal["axis"]], cal["axis_max"]), float)
            if cal and cal["axis"] in Xp
            else np.zeros(len(frame))
        )
        past_reach = (
            ahead > cal["max_horizon"] + 1e-9
            if cal and cal.get("max_horizon") is not None
            else np.zeros(len(ahead), bool)
        )
        if warn and cal and past_reach.any():
            far = np.unique(np.asarray(Xp[cal["axis"]])[past_reach])
            warnings.warn(
                f"{cal['axis']} {', '.join(f'{x:g}' for x in far[:5])}: further past the "
                f"largest trained {cal['axis']} ({cal['axis_max']:g}) than the backtest "
                f"ever predicted ({cal['max_horizon']:.2g} doublings); the law and its "
                "interval there are unchecked",
                ExtrapolationWarning,
                stacklevel=2,
            )
        tr = getattr(self, "transform_", "none")
        zlaw = np.asarray(self.law_.formula(self.theta_, Xp), float)
        # past the trained edge a law that turns down falls slower than it says: on four
        # tables the runs lay between its point and its level at the edge, and half-way
        # erred least (docs/performance-law.md, "past the trained edge"), so the point there
        # is half-way (fitting scale) and the interval's better side reaches to that level
        edge = getattr(self, "edge_", None) or cal
        if edge:
            z_edge, declines = edge_decline(self.law_, self.theta_, Xp, edge, self.metric_, zlaw)
        else:
            z_edge, declines = zlaw, np.zeros(len(zlaw), bool)
        zpred = np.where(declines, (zlaw + z_edge) / 2, zlaw)
        pred = transform_inverse(zpred, tr)
        if not interval:
            return pred
        level = self.level if level is None else level
        if not (isinstance(level, (int, float)) and 0 < level < 1):
            raise DataError(f"level must be between 0 and 1 (exclusive), got {level!r}")
        if kind not in ("mean", "observation"):
            raise DataError(f"kind must be 'mean' or 'observation', got {kind!r}")
        alpha = 1 - level
        n, k = len(self.y_), self.law_.n_params
        s2 = float(self.zresiduals_ @ self.zresiduals_) / max(n - k, 1)
        noise = getattr(self, "noise_sd_", None)
        if cal:
            hw = calibrated_halfwidth(cal, ahead, level)
            if kind == "observation" and noise:
                hw = np.sqrt(hw**2 + (stats.norm.ppf(1 - alpha / 2) * noise) ** 2)
            # how far a law falls past the trained edge is what its backtest checked
            # least: the interval spans its own value and its level at the edge
            zlo, zhi = self._span_edge(zlaw - hw, zlaw + hw, z_edge - zlaw, declines)
            # past the farthest the backtest predicted, such intervals were measured to
            # under-cover (docs/performance-law.md): each row says which side it is on
            label = np.where(declines, WIDENED, "backtest-calibrated")
            label = np.where(past_reach, np.char.add(label, ", past its reach (unchecked)"), label)
            return pd.DataFrame(
                {
                    "prediction": pred,
                    "lower": transform_inverse(zlo, tr),
                    "upper": transform_inverse(zhi, tr),
                    "interval": label,
                },
                index=frame.index,
            )
        if noise and kind == "observation":
            s2 = max(s2, noise**2)
        if self.law_.nonparametric or n <= k:
            nan = np.full(len(pred), np.nan)
            return pd.DataFrame(
                {
                    "prediction": pred,
                    "lower": nan,
                    "upper": nan,
                    "interval": "none (not backtested, no residual degrees of freedom)",
                },
                index=frame.index,
            )
        if self.bootstrap_params_ is not None:
            P = np.array([self.law_.formula(b, Xp) for b in self.bootstrap_params_])  # fit scale
            if kind == "observation":
                noise = np.random.default_rng(self.seed).normal(0, math.sqrt(s2), size=P.shape)
                P = P + noise
            lo, hi = np.percentile(P, [100 * alpha / 2, 100 * (1 - alpha / 2)], axis=0)
            lo, hi = self._span_edge(lo, hi, z_edge - zlaw, declines)
            method = "bootstrap"
        else:
            J = self._jacobian(self.theta_, Xp)
            var = np.einsum("ij,jk,ik->i", J, self.cov_, J)
            if kind == "observation":
                var = var + s2
            t = stats.t.ppf(1 - alpha / 2, max(n - k, 1))
            lo, hi = zlaw - t * np.sqrt(var), zlaw + t * np.sqrt(var)
            lo, hi = self._span_edge(lo, hi, z_edge - zlaw, declines)
            method = "delta"
            if getattr(self, "_unidentified", None):
                lo, hi = np.full(len(pred), np.nan), np.full(len(pred), np.nan)
                method = "none (parameters not identified)"
        return pd.DataFrame(
            {
                "prediction": pred,
                "lower": transform_inverse(lo, tr),
                "upper": transform_inverse(hi, tr),
                "interval": method,
            },
            index=frame.index,
        )

    def _span_edge(self, lo, hi, rise, declines):
        """An interval about the law's own value, its better side moved by ``rise`` (to
        the law's level at the trained edge) where the law declines past it: the worse
        side stays the law's, so the interval spans both (and the halved point)."""
        if higher_is_better(self.metric_):
            return lo, np.where(declines, hi + rise, hi)
        return np.where(declines, lo + rise, lo), hi

    def leave_one_out(self) -> pd.DataFrame:
        """Refit without each row in turn and predict it (``loo_``, ``loo_metrics_``)."""
        self._check_fitted()
        n = len(self.y_)
        preds = np.empty(n)
        rng = np.random.default_rng(self.seed)
        for i in range(n):
            keep = np.arange(n) != i
            Xi = {c: v[keep] for c, v in self.X_.items()}
            res = self._solve(
                self.law_,
                Xi,
                self.z_[keep],
                rng,
                n_random=self.n_random_starts,
                init=self.theta_,
                delta=self.huber_delta_,
            )
            best, _ = self._best(res, f"leave-one-out refit without row {i}")
            zi = self.law_.formula(best.theta, {c: v[i : i + 1] for c, v in self.X_.items()})
            from perflaw.backtest import transform_inverse

            preds[i] = transform_inverse(zi, getattr(self, "transform_", "none"))[0]
        out = pd.DataFrame({c: v for c, v in self.X_.items() if c != "group"})
        out["observed"] = self.y_
        out["predicted"] = preds
        out["error"] = preds - self.y_
        self.loo_ = out
        self.loo_metrics_ = error_metrics(self.y_, preds)
        return out

    # ----------------------------------------------------------------------------------
    def summary_text(self, verbose: bool = True) -> str:
        """The text :meth:`print_summary` prints: the headline first (metric, form and why,
        backtest error beside the baseline's, R², points, the best trained run), then
        notes and warnings, then (``verbose``) the parameter table."""
        self._check_fitted()
        d = self.diagnostics_
        law = self.law_
        metric = self.metric_ or "y"
        form = getattr(self, "form_", None)
        named = form if form != "joint" else None  # a joint fit shows its options
        head = f"{metric}: " + (f"form {named}" if named else f"law {law.name}")
        opts = {
            k: v
            for k, v in law.options().items()
            if v is not None and k not in ("widths", "layers", "exponent_bounds")
        }
        if opts and not named:
            head += " (" + ", ".join(f"{k}={v}" for k, v in opts.items()) + ")"
        head += f" — {law.description}" if law.description else ""
        lines = [head]
        sel = getattr(self, "selection_", None)
        if sel:
            lines.append(f"  chosen: {sel['reason']}")
            sc = pd.DataFrame(sel.get("scores") or [])
            if len(sc) and sc["n_points"].sum():
                sc = sc[sc.n_points > 0]
                carry = sc[sc.form == "carry"]
                if len(carry):
                    lines.append(
                        f"  backtest MAPE: carry-forward (the baseline) "
                        f"{carry.mape.iloc[0]:.2f} % over {carry.n_points.iloc[0]} "
                        "predicted runs"
                    )
                if "n_common" in sc:
                    parts = [
                        f"{r.form} {r.mape_common:.2f} % vs {r.carry_mape_common:.2f} % "
                        f"({r.n_common} run{'s' if r.n_common != 1 else ''})"
                        for r in sc.itertuples()
                        if r.form != "carry" and r.n_common
                    ]
                    if parts:
                        lines.append("  vs carry-forward on the same runs: " + ", ".join(parts))
            by_reason: dict[str, list[str]] = {}
            for f, why in (sel.get("not_fitted") or {}).items():
                by_reason.setdefault(why, []).append(f)
            if by_reason:
                lines.append(
                    "  not fitted: "
                    + "; ".join(f"{', '.join(fs)} ({why})" for why, fs in by_reason.items())
                )
        scale = getattr(self, "transform_", "none")
        r2 = d.get("r2", np.nan)
        r2_text = "n/a" if r2 is None or not np.isfinite(r2) else f"{r2:.4f}"
        lines.append(
            f"  R² = {r2_text} in sample"
            + (
                " (a lookup of the trained runs: judge it by the backtest)"
                if law.nonparametric
                else ""
            )
            + f", {d['n_points']} runs, {d['n_params']} parameters"
            + (f", fitted on the {scale} scale" if scale != "none" else "")
        )
        best = getattr(self, "best_observed_", None)
        if best:
            where = " × ".join(
                f"{c} {best[c]}"
                if c in ("layers", "d_emb")
                else f"{law.input_labels.get(c, c)} {best[c]:.4g}"
                for c in best
                if c not in ("observed", "group")
            ) + (f" ({best['group']})" if "group" in best else "")
            lines.append(f"  best trained run: {where or 'row'} = {best['observed']:.4g}")
        cal = getattr(self, "calibration_", None)
        if cal:
            from perflaw.backtest import calibration_df

            k = cal.get("n_origins")  # absent from older law files
            lines.append(
                f"  intervals: {100 * self.level:g} % prediction intervals calibrated "
                f"by the backtest ({cal['n']} predicted runs"
                + (f" from {k} origin{'' if k == 1 else 's'}" if k else "")
                + (
                    f", at most {cal['max_horizon']:.2g} doublings ahead"
                    if cal.get("max_horizon") is not None
                    else ""
                )
                + f"; Student t with {calibration_df(cal)} degrees of freedom"
                + f"; widen with the doublings past {cal['axis']} {cal['axis_max']:g})"
            )
        lines.append(
            "  ranges: " + ", ".join(f"{c} {lo:g}-{hi:g}" for c, (lo, hi) in self.ranges_.items())
        )
        if self.holdout_metrics_:
            h = self.holdout_metrics_
            lines.append(
                f"  holdout {self.holdout_condition_!r}: {h['n_points']} runs, "
                f"MAPE = {h['mape']:.3g} %, max APE = {h['max_ape']:.3g} %, MAE = "
                f"{h['mae']:.4g}"
            )
        if self.loo_metrics_:
            m = self.loo_metrics_
            lines.append(f"  leave-one-out: MAE = {m['mae']:.4g}, MAPE = {m['mape']:.3g} %")
        for note in self.notes_:
            lines.append(f"  note: {note}")
        for w in getattr(self, "warnings_", []):
            lines.append(f"warning: {w}")
        if getattr(self, "exclude_", None):
            lines.append(f"  excluded {self.n_excluded_} row(s) matching {self.exclude_!r}")
        if not verbose:
            lines.append("  (parameters: --verbose)")
            return "\n".join(lines)
        lines.append("---")
        lines.append(
            f"loss = {law.objective_text or self.loss}"
            + (
                f" (delta={self.huber_delta_:.3g})"
                if self.loss == "huber" and self.huber_delta_
                else ""
            )
            + f"; starts: {self.n_best_starts_} of {self.n_starts_} reached the best loss; "
            f"bootstrap: {0 if self.bootstrap_params_ is None else len(self.bootstrap_params_)}"
            f" refits (by {self.bootstrap_by})"
            + (f", {self.n_bootstrap_failed_} failed" if self.n_bootstrap_failed_ else "")
        )
        if d.get("adj_r2") is not None:
            lines.append(
                f"adj. R² = {d['adj_r2']:.4f}, RMSE = {d['rmse']:.4g}, MAPE = {d['mape']:.3g} %, "
                f"AIC = {d['aic']:.2f}, BIC = {d['bic']:.2f}"
            )
        table = self.summary_.rename(
            columns={
                "lower": f"lower {100 * self.level:g}%",
                "upper": f"upper {100 * self.level:g}%",
            }
        )
        lines.append(
            f"parameters ({scale} scale); intervals: "
            f"{self.summary_.attrs.get('interval', '')}; blank = not identified"
        )
        with pd.option_context("display.width", 120, "display.max_columns", 20):
            lines.append(table.to_string(float_format=lambda v: f"{v:.5g}", na_rep=""))
        return "\n".join(lines)

    def print_summary(self, file=None) -> None:
        """Print a readable summary (lifelines style) to ``file`` (default stdout)."""
        import sys

        print(self.summary_text(), file=file or sys.stdout)

    def plot(self, kind: str = "fit", ax=None, **kwargs):
        """Matplotlib figure: ``"fit"`` (observed vs fitted) or ``"residuals"``."""
        self._check_fitted()
        from perflaw import plot as _plot

        return _plot.plot_fitter(self, kind=kind, ax=ax, **kwargs)

    # ----------------------------------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        """Everything a law file holds (see :meth:`save`)."""
        self._check_fitted()
        s = self.summary_
        lo_col, hi_col = "lower", "upper"
        return {
            "law": self.law_.name,
            "law_options": self.law_.options(),
            "metric": self.metric_,
            "n_points": int(len(self.y_)),
            "r2": self.diagnostics_["r2"],
            "params": dict(zip(self.law_.param_names, map(float, self.theta_))),
            "ci": {
                n: [float(s.loc[n, lo_col]), float(s.loc[n, hi_col])]
                for n in s.index
                if s.loc[n, "kind"] == "param"
            },
            "derived": {k: float(v) for k, v in self.derived_.items()},
            "derived_ci": {
                n: [float(s.loc[n, lo_col]), float(s.loc[n, hi_col])]
                for n in s.index
                if s.loc[n, "kind"] == "derived"
            },
            "diagnostics": self.diagnostics_,
            "notes": list(self.notes_),
            "warnings": list(getattr(self, "warnings_", [])),
            "loss_value": getattr(self, "cost_", None),
            "data_ranges": {c: list(v) for c, v in self.ranges_.items()},
            "level": self.level,
            "fit_options": {
                "loss": self.loss,
                "huber_delta": self.huber_delta_,
                "seed": self.seed,
                "n_random_starts": self.n_random_starts,
                "bootstrap": self.bootstrap,
                "bootstrap_by": self.bootstrap_by,
                "solver": self.solver,
                "holdout": self.holdout_condition_,
                "exclude": getattr(self, "exclude_", None),
                "n_excluded": getattr(self, "n_excluded_", 0),
            },
            "starts": {"tried": self.n_starts_, "reached_best": self.n_best_starts_},
            "residual_dof": int(len(self.y_) - self.law_.n_params),
            "residual_sse": float(self.residuals_ @ self.residuals_),
            "covariance": self.cov_.tolist(),
            "bootstrap_params": None
            if self.bootstrap_params_ is None
            else self.bootstrap_params_.tolist(),
            "holdout": self.holdout_metrics_,
            "loo": self.loo_metrics_,
            "scale": getattr(self, "transform_", "none"),
            "form": getattr(self, "form_", None),
            "selection": getattr(self, "selection_", None),
            "calibration": getattr(self, "calibration_", None),
            "edge": getattr(self, "edge_", None),
            "alternatives": [self._alternative_dict(a) for a in getattr(self, "alternatives_", [])],
            "best_observed": getattr(self, "best_observed_", None),
            "noise_sd": getattr(self, "noise_sd_", None),
            "data": {
                "inputs": {c: v.tolist() for c, v in self.X_.items()},
                "y": self.y_.tolist(),
                "groups": None if self.groups_ is None else [str(g) for g in self.groups_],
            },
        }

    def _alternative_dict(self, alt: dict) -> dict:
        """An alternative form for p_best: its weight, calibration and fitted parameters."""
        if "params" not in alt:
            from perflaw.backtest import form_law

            if alt["form"] == getattr(self, "form_", None):
                law, theta = self.law_, self.theta_
            else:
                axis = (self.selection_ or {}).get("axis", "layers")
                f = LawFitter(form_law(alt["form"], axis), seed=self.seed, scale=self.transform_)
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore")
                    try:
                        f._fit_alt(self.X_, self.y_, self.metric_)
                    except (ConvergenceError, DataError):
                        return dict(alt, params=None)
                law, theta = f.law_, f.theta_
            alt = dict(alt, law=law.name, law_options=law.options(), params=list(map(float, theta)))
        return alt

    def _fit_alt(self, X, y, metric) -> None:
        self.metric_ = metric
        self._check_settings()
        self._fit_core(pd.DataFrame({c: v for c, v in X.items() if c != "group"}), y, None)

    @classmethod
    def from_dict(cls, data: dict[str, Any], *, source: str = "law file") -> LawFitter:
        """Rebuild a fitted fitter from :meth:`to_dict` output (predicting, not refitting).

        Every field is validated (type, range, finiteness): a damaged or hand-edited law
        file gives one :class:`LawFileError` line naming the field, never a traceback.
        """
        _validate_law_dict(data, source)
        try:
            law = get_law(data["law"], **(data.get("law_options") or {}))
            fo = data.get("fit_options", {})
            self = cls(
                law.name,
                loss=fo.get("loss", "l2"),
                seed=fo.get("seed", 0),
                bootstrap=fo.get("bootstrap", 0),
                bootstrap_by=fo.get("bootstrap_by", "row"),
                level=data.get("level", 0.95),
                **(data.get("law_options") or {}),
            )
            self.law_ = law
            self.theta_ = np.array([data["params"][n] for n in law.param_names], dtype=float)
        except DataError as exc:
            raise LawFileError(f"{source}: {exc}") from None
        except (KeyError, TypeError, ValueError) as exc:
            raise LawFileError(f"{source}: malformed law ({type(exc).__name__}: {exc})") from None
        self.metric_ = data.get("metric")
        self.huber_delta_ = fo.get("huber_delta")
        self.holdout_condition_ = fo.get("holdout")
        self.ranges_ = {c: tuple(v) for c, v in data.get("data_ranges", {}).items()}
        self.derived_ = law.derived(self.theta_, self.ranges_)
        self.notes_ = list(data.get("notes", []))
        self.warnings_ = list(data.get("warnings", []))
        self.cost_ = data.get("loss_value")
        self.exclude_ = fo.get("exclude")
        self.n_excluded_ = fo.get("n_excluded", 0)
        self.diagnostics_ = data.get("diagnostics", {})
        self.transform_ = data.get("scale") or "none"
        self.form_ = data.get("form")
        self.selection_ = data.get("selection")
        self.calibration_ = data.get("calibration")
        # files written before the edge was stored: the calibration's edge, if any
        self.edge_ = data.get("edge")
        self.alternatives_ = [a for a in data.get("alternatives") or [] if a.get("params")]
        self.best_observed_ = data.get("best_observed")
        self.noise_sd_ = data.get("noise_sd")
        self._unidentified = []
        self.cov_ = np.array(data.get("covariance") or np.zeros((law.n_params,) * 2), dtype=float)
        bp = data.get("bootstrap_params")
        self.bootstrap_params_ = None if bp is None else np.array(bp, dtype=float)
        self.n_bootstrap_failed_ = 0
        try:
            stored = data["data"]
            self.X_ = {c: np.asarray(v, dtype=float) for c, v in stored["inputs"].items()}
            self.y_ = np.asarray(stored["y"], dtype=float)
            g = stored.get("groups")
            self.groups_ = None if g is None else np.asarray(g, dtype=str)
            self._set_fitted()
        except (KeyError, TypeError, ValueError, IndexError) as exc:
            raise LawFileError(
                f"{source}: the fitted data are missing or malformed ({exc})"
            ) from None
        self.n_starts_ = data.get("starts", {}).get("tried", 0)
        self.n_best_starts_ = data.get("starts", {}).get("reached_best", 0)
        self.holdout_metrics_ = data.get("holdout")
        self.loo_metrics_ = data.get("loo")
        self.summary_ = self._summary_frame()
        return self

    def save(self, path: str | Path) -> Path:
        """Write the law file (JSON, one fit) and return its path."""
        return save_fits([({}, self)], path)


# ---------------------------------------------------------------------------------------
def _is_num(v: Any) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)


def _validate_law_dict(data: Any, source: str) -> None:
    """One-line :class:`LawFileError` for the first invalid field of a stored fit."""

    def bad(field: str, why: str):
        raise LawFileError(f"{source}: field {field!r} {why}")

    if not isinstance(data, dict):
        bad("fits[]", "must be an object")
    if not isinstance(data.get("law"), str):
        bad("law", "must be a law name (string)")
    opts = data.get("law_options")
    if opts is not None and not isinstance(opts, dict):
        bad("law_options", "must be an object")
    try:
        law = get_law(data["law"], **(opts or {}))
    except (DataError, TypeError, ValueError) as exc:
        raise LawFileError(f"{source}: field 'law_options' is invalid ({exc})") from None
    params = data.get("params")
    if not isinstance(params, dict):
        bad("params", "must be an object of parameter values")
    for name in law.param_names:
        if name not in params:
            bad(f"params.{name}", "is missing")
        if not _is_num(params[name]):
            bad(f"params.{name}", f"must be a finite number, got {params[name]!r}")
    metric = data.get("metric")
    if metric is not None and not isinstance(metric, str):
        bad("metric", f"must be a string, got {metric!r}")
    level = data.get("level", 0.95)
    if not _is_num(level) or not 0 < level < 1:
        bad("level", f"must be a number between 0 and 1, got {level!r}")
    ranges = data.get("data_ranges")
    if not isinstance(ranges, dict):
        bad("data_ranges", "is missing (the fitted range of every input)")
    for c in law.inputs:
        if c == "group":
            continue
        r = ranges.get(c)
        if not (
            isinstance(r, list) and len(r) == 2 and all(_is_num(v) for v in r) and r[0] <= r[1]
        ):
            bad(f"data_ranges.{c}", f"must be [min, max] finite numbers, got {r!r}")
    k = len(law.param_names)
    cov = data.get("covariance")
    if cov is not None:
        if not (
            isinstance(cov, list)
            and len(cov) == k
            and all(isinstance(r, list) and len(r) == k and all(_is_num(v) for v in r) for r in cov)
        ):
            bad("covariance", f"must be a {k}×{k} matrix of finite numbers")
    boot = data.get("bootstrap_params")
    if boot is not None:
        if not (
            isinstance(boot, list)
            and all(
                isinstance(r, list) and len(r) == k and all(_is_num(v) for v in r) for r in boot
            )
        ):
            bad("bootstrap_params", f"must be a list of {k}-number rows")
    stored = data.get("data")
    if not isinstance(stored, dict) or not isinstance(stored.get("inputs"), dict):
        bad("data", "is missing (the fitted runs)")
    y = stored.get("y")
    if not (isinstance(y, list) and y and all(_is_num(v) for v in y)):
        bad("data.y", "must be a non-empty list of finite numbers")
    for c, v in stored["inputs"].items():
        if not (isinstance(v, list) and len(v) == len(y) and all(_is_num(u) for u in v)):
            bad(f"data.inputs.{c}", f"must list {len(y)} finite numbers")
    if data.get("scale", "none") not in ("none", "logit", None):
        bad("scale", f"must be 'none' or 'logit', got {data.get('scale')!r}")
    cal = data.get("calibration")
    if cal is not None:
        if not (
            isinstance(cal, dict)
            and _is_num(cal.get("sd"))
            and cal["sd"] >= 0
            and isinstance(cal.get("n"), int)
            and cal["n"] >= 1
            and cal.get("axis") in ("layers", "d_emb")
            and _is_num(cal.get("axis_max"))
            and cal["axis_max"] > 0
        ):
            bad("calibration", "must hold sd >= 0, n >= 1, axis and axis_max > 0")
    edge = data.get("edge")
    if edge is not None and not (
        isinstance(edge, dict)
        and edge.get("axis") in ("layers", "d_emb")
        and _is_num(edge.get("axis_max"))
        and edge["axis_max"] > 0
    ):
        bad("edge", "must hold axis (layers or d_emb) and axis_max > 0")
    best = data.get("best_observed")
    if best is not None and not (isinstance(best, dict) and _is_num(best.get("observed"))):
        bad("best_observed", "must hold a finite 'observed' value")
    noise = data.get("noise_sd")
    if noise is not None and not (_is_num(noise) and noise >= 0):
        bad("noise_sd", f"must be a non-negative number, got {noise!r}")


def save_fits(fits: list[tuple[dict, LawFitter]], path: str | Path, inputs=()) -> Path:
    """Write one or more fits (``[(group_key, fitter), ...]``) to a law JSON file,
    atomically (:func:`perflaw.files.write_text`; ``inputs`` are never overwritten)."""
    doc = {
        "format": "perflaw-law",
        "format_version": FORMAT_VERSION,
        "perflaw_version": __version__,
        "created": _dt.datetime.now(_dt.UTC).isoformat(timespec="seconds"),
        "fits": [dict(group=dict(key), **f.to_dict()) for key, f in fits],
    }
    from perflaw.files import write_text

    return write_text(
        Path(path), json.dumps(_jsonable(doc), indent=1) + "\n", inputs, option="--out"
    )


def _jsonable(value: Any) -> Any:
    """numpy scalars/arrays to Python, non-finite floats to None (JSON has no NaN)."""
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple, np.ndarray)):
        return [_jsonable(v) for v in (value.tolist() if isinstance(value, np.ndarray) else value)]
    if isinstance(value, (bool, np.bool_)):
        return bool(value)
    if isinstance(value, (np.integer,)):
        return int(value)
    if isinstance(value, (float, np.floating)):
        return float(value) if math.isfinite(value) else None
    return value


def _major_minor(version: str) -> tuple[str, ...]:
    return tuple(str(version).split(".")[:2])


def load_fits(path: str | Path) -> list[tuple[dict, LawFitter]]:
    """Read a law file written by :func:`save_fits`; :class:`LawFileError` if unusable."""
    path = Path(path)
    if not path.exists():
        raise LawFileError(
            f"law file {str(path)!r} not found: run `perflaw fit` first or pass --law"
        )
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        why = exc.msg if hasattr(exc, "msg") else exc
        raise LawFileError(f"law file {str(path)!r} is not valid JSON ({why})") from None
    if not isinstance(doc, dict) or doc.get("format") != "perflaw-law":
        raise LawFileError(f"{str(path)!r} is not a perflaw law file")
    version = str(doc.get("perflaw_version", "unknown"))
    if doc.get("format_version") != FORMAT_VERSION or _major_minor(version) != _major_minor(
        __version__
    ):
        raise LawFileError(
            f"law file {str(path)!r} was written by perflaw {version}; this is perflaw "
            f"{__version__}: refit it with `perflaw fit`"
        )
    fits = doc.get("fits")
    if not isinstance(fits, list) or not fits:
        raise LawFileError(f"law file {str(path)!r} holds no fits")
    return [
        (dict(f.get("group") or {}), LawFitter.from_dict(f, source=f"law file {str(path)!r}"))
        for f in fits
    ]


def load_fitter(path: str | Path) -> LawFitter:
    """Load a single-fit law file (use :func:`load_fits` for grouped files)."""
    fits = load_fits(path)
    if len(fits) != 1:
        raise LawFileError(f"law file {str(path)!r} holds {len(fits)} group fits: use load_fits")
    return fits[0][1]
