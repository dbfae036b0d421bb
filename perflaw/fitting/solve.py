"""Multi-start bounded least squares, and the best of the starts: how every law is fitted
that does not bring its own solver (``Law.solve``)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
from scipy.optimize import least_squares

from perflaw.errors import ConvergenceError
from perflaw.fitting._progress import progress_bar
from perflaw.laws.base import Law, Start, loss_value


def generic_solve(law: Law, X, y, *, loss, huber_delta, rng, n_random, init=None) -> list[Start]:
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


def best_start(results: list[Start], what: str) -> tuple[Start, int]:
    ok = [r for r in results if r.success and np.isfinite(r.cost) and np.all(np.isfinite(r.theta))]
    if not ok:
        msgs = "; ".join(sorted({r.message for r in results if r.message}))[:200]
        raise ConvergenceError(
            f"{what}: none of {len(results)} starts converged ({msgs or 'no message'})"
        )
    best = min(ok, key=lambda r: r.cost)
    tol = 1e-6 * abs(best.cost) + 1e-15
    return best, sum(1 for r in ok if r.cost - best.cost <= tol)


def bootstrap_refits(
    refit: Callable[[dict, np.ndarray], np.ndarray],
    X: dict,
    z: np.ndarray,
    n_refits: int,
    rng: np.random.Generator,
    *,
    groups: np.ndarray | None = None,
    progress: bool = False,
) -> tuple[np.ndarray | None, int]:
    """``n_refits`` seeded bootstrap refits (``refit(X, z) -> theta``) of rows, or of
    whole groups when ``groups`` labels them: the ``(n_ok, n_params)`` estimates (None if
    none) and the number of refits that failed."""
    n = len(z)
    if groups is not None:
        labels = np.unique(groups)
        members = [np.flatnonzero(groups == g) for g in labels]
    thetas, failed = [], 0
    for _ in progress_bar(range(n_refits), n_refits, "bootstrap", progress):
        if groups is None:
            idx = rng.integers(0, n, size=n)
        else:
            pick = rng.integers(0, len(labels), size=len(labels))
            idx = np.concatenate([members[i] for i in pick])
        try:
            thetas.append(refit({c: v[idx] for c, v in X.items()}, z[idx]))
        except (ConvergenceError, np.linalg.LinAlgError, ValueError):
            failed += 1
    return (np.array(thetas) if thetas else None), failed


def huber_delta(residuals: np.ndarray, z: np.ndarray) -> float:
    """The Huber threshold: ``1.345 ×`` the robust scale (MAD) of a pilot L2 fit's
    residuals (a small share of the metric's spread when they are all equal)."""
    r = np.asarray(residuals, float)
    delta = 1.345 * 1.4826 * float(np.median(np.abs(r - np.median(r))))
    return delta if delta > 0 else 1e-3 * float(np.std(z) or 1.0)


def leave_one_out_predictions(
    refit: Callable[[dict, np.ndarray, int], np.ndarray], law: Law, X: dict, z: np.ndarray
) -> np.ndarray:
    """Each row predicted (fitting scale) by a refit without it (``refit(X, z, row) ->
    theta``)."""
    n = len(z)
    out = np.empty(n)
    for i in range(n):
        keep = np.arange(n) != i
        theta = refit({c: v[keep] for c, v in X.items()}, z[keep], i)
        out[i] = law.formula(theta, {c: v[i : i + 1] for c, v in X.items()})[0]
    return out


def solve_law(law: Law, X, y, *, own_solver: bool = True, **kw: Any) -> list[Start]:
    """Every start of a fit: the law's own solver (``Law.solve``) when it has one and
    ``own_solver``, else :func:`generic_solve`."""
    if own_solver:
        res = law.solve(X, y, **kw)
        if res is not NotImplemented:
            return res
    return generic_solve(law, X, y, **kw)
