r"""A loss power law in one variable (Zhang et al. 2023; docs/science.md §5).

.. math::

    y = E + \left(\frac{x_0}{x}\right)^{\alpha}

``x`` is any positive size: total or non-embedding parameters, interactions, the
quality-adjusted data size :math:`D'`, FLOPs.  ``E`` is the irreducible loss, ``x0`` the
size at which the reducible part equals 1 and ``alpha`` the exponent.

Fitting.  With :math:`c = x_0^{\alpha}` the law is :math:`y = E + c\,x^{-\alpha}`: linear
in ``E`` and ``c`` once ``alpha`` is fixed.  :meth:`PowerLaw.solve` therefore scans
``alpha`` on a log grid, solves the linear part exactly (``c >= 0``; Huber by IRLS) and
refines the best grid minima with a bounded scalar search (variable projection): the
global optimum in a few milliseconds, whatever the scale of ``x0``.

Higher-is-better metrics (HR@K, NDCG@K) do not fall towards a floor; they are fitted
through ``transform="one_minus"``, i.e. the law describes :math:`1 - y`
(:math:`y = 1 - E - (x_0/x)^{\alpha}`), and every output says so.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from scipy.optimize import minimize_scalar

from perflaw.errors import DataError
from perflaw.laws.base import Law, Start, loss_value, register
from perflaw.laws.scales import check_scale, from_scale, scale_text, to_scale

#: the scales a loss-shaped law describes a metric on (perflaw.laws.scales)
TRANSFORMS = ("none", "one_minus")


def check_transform(transform: str) -> str:
    """Validate a target scale name (``"none"`` or ``"one_minus"``)."""
    return check_scale(transform, TRANSFORMS, what="transform")


def check_spread(X: dict, name: str, label: str) -> None:
    """Raise :class:`DataError` when an input has a single value (nothing to fit)."""
    v = np.asarray(X[name], dtype=float)
    if v.size and np.unique(v).size < 2:
        raise DataError(
            f"{label} has a single value ({v[0]:g}): a law in it needs at least "
            "two different sizes (ideally spanning a decade or more)"
        )


def _solve_ec(z: np.ndarray, t: np.ndarray, loss: str, delta: float | None):
    """``(E, c)`` minimising the loss of ``t ≈ E + c z`` with ``c >= 0``."""

    def fit(w):
        sw = np.sqrt(w)
        A = np.column_stack([np.ones_like(z), z]) * sw[:, None]
        scale = np.sqrt((A * A).sum(axis=0))
        scale[scale == 0] = 1.0
        coef, *_ = np.linalg.lstsq(A / scale, t * sw, rcond=None)
        coef = coef / scale
        if coef[1] < 0:  # the constraint c >= 0 is active: a constant
            coef = np.array([np.sum(w * t) / np.sum(w), 0.0])
        return coef

    w = np.ones_like(t)
    coef = fit(w)
    if loss == "huber":
        for _ in range(50):
            r = t - coef[0] - coef[1] * z
            w = np.where(np.abs(r) <= delta, 1.0, delta / np.maximum(np.abs(r), 1e-300))
            new = fit(w)
            if np.allclose(new, coef, rtol=1e-11, atol=1e-15):
                coef = new
                break
            coef = new
    return coef


@register
class PowerLaw(Law):
    """Loss power law ``y = E + (x0/x)^alpha`` in one input ``x``.

    Parameters
    ----------
    transform : {"none", "one_minus"}
        Fit ``y`` (a loss) or ``1 - y`` (a higher-is-better metric).
    x_label : str
        Name of the column ``x`` came from (shown in outputs, saved in law files).
    alpha_bounds : (float, float)
        Search range of the exponent.

    Examples
    --------
    >>> x = np.array([1e4, 1e5, 1e6, 1e7])
    >>> y = 2.0 + (3e3 / x) ** 0.3
    >>> law = PowerLaw()
    >>> starts = law.solve({"x": x}, y, loss="l2", huber_delta=None,
    ...                    rng=np.random.default_rng(0), n_random=0)
    >>> best = min(starts, key=lambda s: s.cost)
    >>> np.round(best.theta, 4).tolist()
    [2.0, 3000.0, 0.3]
    """

    name = "power"
    budget_kind = None
    plot_x = "x"
    plot_series = None
    description = "loss power law in one variable (Zhang et al. 2023): y = E + (x0/x)^alpha"
    latex = r"y = E + \left(x_0 / x\right)^{\alpha}"
    inputs = ("x",)
    column_options = {"x": "--x-col"}
    label_options = {"x": "x_label"}
    predict_options = {"x": "--x"}
    param_names = ("E", "x0", "alpha")

    def __init__(
        self,
        transform: str = "none",
        x_label: str = "x",
        alpha_bounds: tuple[float, float] = (0.005, 5.0),
    ) -> None:
        self.transform = check_transform(transform)
        self.x_label = str(x_label)
        lo, hi = (float(v) for v in alpha_bounds)
        if not 0 < lo < hi:
            raise DataError(f"alpha bounds must satisfy 0 < low < high, got {alpha_bounds!r}")
        self.alpha_bounds = (lo, hi)
        self.default_bounds = {"x0": (0.0, np.inf), "alpha": self.alpha_bounds}

    @property
    def input_labels(self) -> dict[str, str]:  # type: ignore[override]
        return {"x": self.x_label}

    def options(self) -> dict[str, Any]:
        return {
            "transform": self.transform,
            "x_label": self.x_label,
            "alpha_bounds": list(self.alpha_bounds),
        }

    def check(self, X):
        super().check(X)
        bad = X["x"][X["x"] <= 0]
        if bad.size:
            raise DataError(
                f"{self.x_label} must be positive (the law divides by it); found {bad[0]:g}"
            )

    # -- declarations -----------------------------------------------------------------
    def _sign(self) -> float:
        return -1.0 if self.transform == "one_minus" else 1.0

    def formula(self, theta, X):
        E, x0, alpha = (float(v) for v in theta)
        g = E + (x0 / np.asarray(X["x"], dtype=float)) ** alpha
        return from_scale(g, self.transform)

    def jacobian(self, theta, X):
        E, x0, alpha = (float(v) for v in theta)
        x = np.asarray(X["x"], dtype=float)
        p = (x0 / x) ** alpha
        J = np.column_stack(
            [
                np.ones_like(x),
                alpha * p / x0 if x0 > 0 else np.zeros_like(x),
                p * np.log(x0 / x) if x0 > 0 else np.zeros_like(x),
            ]
        )
        return self._sign() * J

    def start_grid(self, X, y):
        t = to_scale(y, self.transform)
        x = np.asarray(X["x"], dtype=float)
        return np.array(
            [
                [t.min() * f, float(np.exp(np.mean(np.log(x)))) * s, a]
                for f in (0.5, 0.9)
                for s in (1e-3, 1.0)
                for a in (0.1, 0.5)
            ]
        )

    # -- variable projection ------------------------------------------------------------
    def profile(self, alpha: float, X, y, loss="l2", delta=None):
        """Loss and ``(E, x0, alpha)`` with ``alpha`` fixed (the inner, linear solve)."""
        x = np.asarray(X["x"], dtype=float)
        t = to_scale(y, self.transform)
        # scale x by its geometric mean so that x**-alpha stays representable
        xm = float(np.exp(np.mean(np.log(x))))
        z = (x / xm) ** (-alpha)
        E, c = _solve_ec(z, t, loss, delta)
        cost = loss_value(t - E - c * z, loss, delta)
        x0 = float(np.exp(min(np.log(xm) + np.log(c) / alpha, 700.0))) if c > 0 else 0.0
        return cost, np.array([E, x0, alpha])

    def solve(self, X, y, *, loss, huber_delta, rng, n_random, init=None):
        """Scan ``alpha`` (log grid), refine the best minima by bounded Brent search."""
        check_spread(X, "x", self.x_label)
        y = np.asarray(y, dtype=float)
        lo, hi = self.alpha_bounds
        # a refit (bootstrap, leave-one-out) starts at init: a coarser scan suffices
        grid = np.geomspace(lo, hi, 120 if init is None else 40)
        costs = np.array([self.profile(a, X, y, loss, huber_delta)[0] for a in grid])
        # local minima of the grid profile, best first
        idx = [
            i
            for i in range(len(grid))
            if (i == 0 or costs[i] <= costs[i - 1])
            and (i == len(grid) - 1 or costs[i] <= costs[i + 1])
        ]
        idx = sorted(idx, key=lambda i: costs[i])[:3]
        brackets = [(grid[max(i - 1, 0)], grid[min(i + 1, len(grid) - 1)]) for i in idx]
        if init is not None and np.isfinite(init[2]):
            a0 = float(np.clip(init[2], lo, hi))
            brackets.append((max(lo, a0 / 1.5), min(hi, a0 * 1.5)))
        for _ in range(n_random):
            a0 = float(np.exp(rng.uniform(np.log(lo), np.log(hi))))
            brackets.append((max(lo, a0 / 1.2), min(hi, a0 * 1.2)))
        results = []
        for b_lo, b_hi in brackets:
            res = minimize_scalar(
                lambda a: self.profile(a, X, y, loss, huber_delta)[0],
                bounds=(b_lo, b_hi),
                method="bounded",
                options={"xatol": 1e-10 * b_hi},
            )
            cost, theta = self.profile(float(res.x), X, y, loss, huber_delta)
            ok = bool(res.success) and theta[1] > 0
            msg = (
                str(res.message)
                if theta[1] > 0
                else (
                    f"the target does not decrease with {self.x_label}: no power law to fit "
                    "(for a higher-is-better metric use the one_minus transform)"
                )
            )
            results.append(Start(theta, cost, ok, msg, np.array([np.nan, np.nan, res.x])))
        return results

    # -- derived quantities and notes -------------------------------------------------------
    def derived(self, theta, ranges):
        return {}

    def notes(self, theta, ranges) -> list[str]:
        return [f"x = {self.x_label}; " + scale_text(self.transform)]

    def diagnose(self, theta, ranges) -> list[str]:
        return span_warnings(ranges, {"x": self.x_label}) + exponent_warnings(
            {"alpha": float(theta[2])}
        )


def span_warnings(ranges: dict, labels: dict) -> list[str]:
    """Warn about inputs spanning less than one decade (exponents then extrapolate)."""
    out = []
    for key, label in labels.items():
        lo, hi = ranges.get(key, (np.nan, np.nan))
        if lo > 0 and hi / lo < 10:
            out.append(
                f"{label} spans less than one decade ({lo:.3g} to {hi:.3g}): its "
                "exponent is weakly determined and extrapolation is risky"
            )
    return out


def exponent_warnings(values: dict, low: float = 0.02, high: float = 1.5) -> list[str]:
    """Warn about exponents outside the range usually reported (about 0.05-1)."""
    out = []
    for name, v in values.items():
        if np.isfinite(v) and not low <= v <= high:
            out.append(
                f"{name} = {v:.3g} is implausible for a scaling exponent (usually "
                f"{low:g}-{high:g}): the term may be absorbing noise or a trend of "
                "the other variable"
            )
    return out
