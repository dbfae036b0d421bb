r"""Chinchilla: loss against model size and data size (Hoffmann et al. 2022; docs/science.md §5).

.. math::

    y = E + \frac{A}{N^{\alpha}} + \frac{B}{D^{\beta}}

``N`` is a parameter count (say which: total or non-embedding), ``D`` a data size (raw
interactions/tokens, or the quality-adjusted :math:`D'` from ``perflaw apen``).

Fitting follows Besiroglu et al. (2024), who showed the published Chinchilla fit was
wrong because of a mean-scaled loss that stopped L-BFGS early and too few starts.  In
log space, with :math:`A = e^a, B = e^b, E = e^e`,

.. math::

    \log \hat y = \operatorname{LSE}(a - \alpha \log N,\; b - \beta \log D,\; e)

and the objective is the Huber loss (``delta = 1e-3``) of the log residuals
:math:`\log \hat y - \log y`, **summed** over runs, with analytic derivatives.  The
local solver (``local``) is scipy's trust-region least squares with the Huber loss on
the analytic Jacobian of the log residuals (``"trf"``, default: the same objective,
reached in tens of iterations even along the ridges of real data) or L-BFGS-B on the
summed Huber value and its analytic gradient (``"lbfgs"``, Besiroglu et al.'s choice;
on the srt NDCG@5 runs 85x slower, and only 3 of 16 starts reach the optimum).
Starts: Hoffmann's grid (:math:`\alpha, \beta \in \{0, .5, \dots, 2\}`,
:math:`e \in \{-1, -.5, \dots, 1\}`, :math:`a, b \in \{0, 5, \dots, 25\}`) extended by two
``e`` values from the data (``log`` of 0.5 and 0.9 × the smallest loss, since
recommender losses are not near 1), *pre-screened*: the objective is evaluated at every
grid point at once and only the ``n_refine`` best are refined, so the whole search takes
well under a second.  ``objective="l2"`` instead fits in the original units with the
fitter's generic bounded least squares (and its ``loss``).

Compute-optimal allocation under :math:`C = k N D` (``k = 6``):
:math:`G = (\alpha A / (\beta B))^{1/(\alpha+\beta)}`,
:math:`N_{opt} = G (C/k)^{\beta/(\alpha+\beta)}`,
:math:`D_{opt} = G^{-1} (C/k)^{\alpha/(\alpha+\beta)}` — see :mod:`perflaw.decide.allocation`.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from scipy.optimize import least_squares, minimize

from perflaw.errors import DataError
from perflaw.laws.base import Law, Start, register
from perflaw.laws.power import check_spread, check_transform, exponent_warnings, span_warnings
from perflaw.laws.scales import from_scale, scale_text, to_scale

OBJECTIVES = ("log-huber", "l2")

# Hoffmann et al.'s initialisation grid (docs/science.md §5)
HOFFMANN_ALPHA = np.arange(0.0, 2.01, 0.5)
HOFFMANN_E = np.arange(-1.0, 1.01, 0.5)
HOFFMANN_A = np.arange(0.0, 25.01, 5.0)


def _lse_terms(p, lN, lD):
    """Shifted exponentials of the three log-space terms: (max, e^(u1-max), e^(u2-max), e^(e-max)).

    Shifting by the largest term keeps LSE(u1, u2, e) = max + ln(sum) free of overflow.
    """
    a, b, e, al, be = p
    u1 = a - al * lN
    u2 = b - be * lD
    m = np.maximum(np.maximum(u1, u2), e)
    return m, np.exp(u1 - m), np.exp(u2 - m), np.exp(e - m)


def log_huber_objective(
    p: np.ndarray, lN: np.ndarray, lD: np.ndarray, lt: np.ndarray, delta: float
) -> tuple[float, np.ndarray]:
    """Summed Huber loss of the log residuals and its gradient in ``(a, b, e, alpha, beta)``.

    Examples
    --------
    >>> lN, lD = np.log([1e6, 1e7]), np.log([1e8, 1e9])
    >>> p = np.array([5.0, 6.0, 0.5, 0.3, 0.3])
    >>> lt = np.log(np.exp(p[0] - p[3] * lN) + np.exp(p[1] - p[4] * lD) + np.exp(p[2]))
    >>> f, g = log_huber_objective(p, lN, lD, lt, 1e-3)
    >>> float(f), bool(np.allclose(g, 0))
    (0.0, True)
    """
    m, s1, s2, s3 = _lse_terms(p, lN, lD)
    S = s1 + s2 + s3
    r = m + np.log(S) - lt
    ar = np.abs(r)
    quad = ar <= delta
    f = float(np.sum(np.where(quad, 0.5 * r * r, delta * (ar - 0.5 * delta))))
    psi = np.clip(r, -delta, delta) / S
    g1, g2, g3 = psi @ s1, psi @ s2, psi @ s3
    grad = np.array([g1, g2, g3, -(psi * s1) @ lN, -(psi * s2) @ lD])
    return f, grad


def log_residuals(p, lN, lD, lt) -> np.ndarray:
    """``LSE(a - alpha log N, b - beta log D, e) - log y`` for ``p = (a, b, e, alpha, beta)``."""
    m, s1, s2, s3 = _lse_terms(p, lN, lD)
    return m + np.log(s1 + s2 + s3) - lt


def log_residuals_jacobian(p, lN, lD, lt) -> np.ndarray:
    """Analytic Jacobian of :func:`log_residuals` (softmax weights of the three terms)."""
    m, s1, s2, s3 = _lse_terms(p, lN, lD)
    S = s1 + s2 + s3
    w1, w2 = s1 / S, s2 / S
    return np.column_stack([w1, w2, s3 / S, -w1 * lN, -w2 * lD])


def _grid_objective(P: np.ndarray, lN, lD, lt, delta, chunk: int = 1024) -> np.ndarray:
    """Objective at many parameter vectors ``P`` (rows ``a, b, e, alpha, beta``) at once."""
    out = np.empty(len(P))
    for i in range(0, len(P), chunk):
        Q = P[i : i + chunk]
        u1 = Q[:, 0:1] - Q[:, 3:4] * lN[None, :]
        u2 = Q[:, 1:2] - Q[:, 4:5] * lD[None, :]
        u3 = np.broadcast_to(Q[:, 2:3], u1.shape)
        m = np.maximum(np.maximum(u1, u2), u3)
        r = m + np.log(np.exp(u1 - m) + np.exp(u2 - m) + np.exp(u3 - m)) - lt[None, :]
        ar = np.abs(r)
        out[i : i + chunk] = np.where(ar <= delta, 0.5 * r * r, delta * (ar - 0.5 * delta)).sum(1)
    return out


@register
class ChinchillaLaw(Law):
    """Chinchilla ``y = E + A/N^alpha + B/D^beta`` with the Besiroglu et al. fit.

    Parameters
    ----------
    transform : {"none", "one_minus"}
        Fit ``y`` (a loss) or ``1 - y`` (a higher-is-better metric).
    objective : {"log-huber", "l2"}
        ``"log-huber"``: the law's own solver (log space, summed Huber, pre-screened
        Hoffmann grid).  ``"l2"``: the fitter's generic least squares in the original units.
    delta : float
        Huber threshold on log residuals (``1e-3``: about 0.1 % of the loss).
    n_refine : int
        Pre-screened grid points refined by L-BFGS-B.
    refit_starts : int
        Starts of a bootstrap or leave-one-out refit: the full-data optimum plus
        ``refit_starts - 1`` seeded perturbations of it.
    local : {"trf", "lbfgs"}
        Local solver of each start (module docstring); both minimise the same objective.
    N_label, D_label : str
        Names of the columns ``N`` and ``D`` came from (outputs, law files).

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> N = np.repeat(np.geomspace(1e5, 1e8, 6), 5)
    >>> D = np.tile(np.geomspace(1e6, 1e9, 5), 6)
    >>> y = 1.7 + 400 / N**0.34 + 410 / D**0.28
    >>> law = ChinchillaLaw()
    >>> best = min(law.solve({"N": N, "D": D}, y, loss="l2", huber_delta=None, rng=rng,
    ...                      n_random=0), key=lambda s: s.cost)
    >>> np.round(best.theta, 3).tolist()
    [1.7, 400.0, 410.0, 0.34, 0.28]
    """

    name = "chinchilla"
    budget_kind = "flops"
    plot_x = "N"
    plot_series = "D"
    description = "Chinchilla (Hoffmann et al. 2022): y = E + A/N^alpha + B/D^beta"
    latex = r"y = E + A N^{-\alpha} + B D^{-\beta}"
    inputs = ("N", "D")
    column_options = {"N": "--params-col", "D": "--data-col"}
    label_options = {"N": "N_label", "D": "D_label"}
    predict_options = {"N": "--n-params", "D": "--data"}
    param_names = ("E", "A", "B", "alpha", "beta")
    default_bounds = {
        "E": (0.0, np.inf),
        "A": (0.0, np.inf),
        "B": (0.0, np.inf),
        "alpha": (0.0, 10.0),
        "beta": (0.0, 10.0),
    }

    def __init__(
        self,
        transform: str = "none",
        objective: str = "log-huber",
        delta: float = 1e-3,
        n_refine: int = 12,
        refit_starts: int = 2,
        local: str = "trf",
        N_label: str = "N",
        D_label: str = "D",
    ) -> None:
        self.transform = check_transform(transform)
        if objective not in OBJECTIVES:
            raise DataError(f"unknown objective {objective!r}: use one of {', '.join(OBJECTIVES)}")
        if not (np.isfinite(delta) and delta > 0):
            raise DataError(f"delta must be a positive number, got {delta!r}")
        for name, v in (("n_refine", n_refine), ("refit_starts", refit_starts)):
            if int(v) != v or v < 1:
                raise DataError(f"{name} must be a positive integer, got {v!r}")
        self.refit_starts = int(refit_starts)
        if local not in ("trf", "lbfgs"):
            raise DataError(f"unknown local solver {local!r}: use 'trf' or 'lbfgs'")
        self.local = local
        self.objective = objective
        self.delta = float(delta)
        self.n_refine = int(n_refine)
        self.N_label = str(N_label)
        self.D_label = str(D_label)

    @property
    def input_labels(self) -> dict[str, str]:  # type: ignore[override]
        return {"N": self.N_label, "D": self.D_label}

    def options(self) -> dict[str, Any]:
        return {
            "transform": self.transform,
            "objective": self.objective,
            "delta": self.delta,
            "n_refine": self.n_refine,
            "refit_starts": self.refit_starts,
            "local": self.local,
            "N_label": self.N_label,
            "D_label": self.D_label,
        }

    def check(self, X):
        super().check(X)
        for key, label in (("N", self.N_label), ("D", self.D_label)):
            bad = X[key][X[key] <= 0]
            if bad.size:
                raise DataError(
                    f"{label} must be positive (the law takes its logarithm); found {bad[0]:g}"
                )

    @property
    def objective_text(self) -> str | None:
        """The objective in words when the law's own solver is used (summary line)."""
        if self.objective == "log-huber":
            return f"huber(delta={self.delta:g}) on log residuals, summed ({self.local})"
        return None

    # -- declarations -----------------------------------------------------------------
    def formula(self, theta, X):
        E, A, B, al, be = (float(v) for v in theta)
        N = np.asarray(X["N"], dtype=float)
        D = np.asarray(X["D"], dtype=float)
        return from_scale(E + A * N ** (-al) + B * D ** (-be), self.transform)

    def jacobian(self, theta, X):
        E, A, B, al, be = (float(v) for v in theta)
        N = np.asarray(X["N"], dtype=float)
        D = np.asarray(X["D"], dtype=float)
        nA, dB = N ** (-al), D ** (-be)
        J = np.column_stack([np.ones_like(N), nA, dB, -A * nA * np.log(N), -B * dB * np.log(D)])
        return -J if self.transform == "one_minus" else J

    @staticmethod
    def to_log(theta) -> np.ndarray:
        """``(E, A, B, alpha, beta)`` → ``(a, b, e, alpha, beta)``."""
        E, A, B, al, be = (float(v) for v in theta)
        with np.errstate(divide="ignore"):
            return np.array([np.log(A), np.log(B), np.log(E), al, be])

    @staticmethod
    def from_log(p) -> np.ndarray:
        """``(a, b, e, alpha, beta)`` → ``(E, A, B, alpha, beta)``."""
        a, b, e, al, be = (float(v) for v in p)
        return np.array([np.exp(e), np.exp(a), np.exp(b), al, be])

    def hoffmann_grid(self, t: np.ndarray) -> np.ndarray:
        """Hoffmann's start grid in ``(a, b, e, alpha, beta)``, with two data-scaled ``e``."""
        e_vals = np.unique(
            np.round(np.concatenate([HOFFMANN_E, np.log(np.min(t) * np.array([0.5, 0.9]))]), 12)
        )
        mesh = np.meshgrid(
            HOFFMANN_A, HOFFMANN_A, e_vals, HOFFMANN_ALPHA, HOFFMANN_ALPHA, indexing="ij"
        )
        return np.column_stack([m.ravel() for m in mesh])

    def _logdata(self, X, y):
        t = to_scale(y, self.transform)
        if np.any(t <= 0):
            what = "1 - metric" if self.transform == "one_minus" else "the metric"
            raise DataError(
                f"{what} must be positive for the log-space Chinchilla fit; found {t[t <= 0][0]:g}"
            )
        return np.log(np.asarray(X["N"], float)), np.log(np.asarray(X["D"], float)), np.log(t), t

    def screen(self, X, y, k: int | None = None) -> np.ndarray:
        """The ``k`` best points of the Hoffmann grid, ``(a, b, e, alpha, beta)`` rows."""
        lN, lD, lt, t = self._logdata(X, y)
        grid = self.hoffmann_grid(t)
        f = _grid_objective(grid, lN, lD, lt, self.delta)
        return grid[np.argsort(f, kind="stable")[: k or self.n_refine]]

    def start_grid(self, X, y):
        """Full-parameter starts for the generic solver: the best screened grid points."""
        return np.array([self.from_log(p) for p in self.screen(X, y, 8)])

    def solve(self, X, y, *, loss, huber_delta, rng, n_random, init=None):
        """Log-space summed Huber fit from pre-screened Hoffmann starts.

        With ``init`` (a bootstrap or leave-one-out refit) the starts are ``init`` and
        ``refit_starts - 1`` seeded perturbations of it, without re-screening the grid.
        """
        check_spread(X, "N", self.N_label)
        check_spread(X, "D", self.D_label)
        if self.objective != "log-huber":
            return NotImplemented
        lN, lD, lt, _ = self._logdata(X, y)
        if init is not None and np.all(np.isfinite(self.to_log(init))):
            p0 = self.to_log(init)
            starts = [p0] + [
                p0 + rng.normal(0, 1, 5) * np.array([1.0, 1.0, 0.1, 0.05, 0.05])
                for _ in range(self.refit_starts - 1)
            ]
        else:
            starts = list(self.screen(X, y))
            if n_random:
                grid = self.hoffmann_grid(np.exp(lt))
                starts += list(grid[rng.choice(len(grid), size=n_random, replace=False)])
        lo = np.array([-50.0, -50.0, -50.0, 0.0, 0.0])
        hi = np.array([200.0, 200.0, 50.0, 10.0, 10.0])
        results = []
        args = (lN, lD, lt)
        for p0 in starts:
            p0 = np.clip(p0, lo + 1e-12, hi - 1e-12)
            if self.local == "trf":
                res = least_squares(
                    log_residuals,
                    p0,
                    jac=log_residuals_jacobian,
                    args=args,
                    bounds=(lo, hi),
                    loss="huber",
                    f_scale=self.delta,
                    method="trf",
                    x_scale="jac",
                    ftol=1e-12,
                    xtol=1e-12,
                    gtol=1e-12,
                    max_nfev=10000,
                )
                ok = bool(res.status > 0)
            else:
                res = minimize(
                    log_huber_objective,
                    p0,
                    args=(*args, self.delta),
                    jac=True,
                    method="L-BFGS-B",
                    bounds=list(zip(lo, hi)),
                    options={"maxiter": 2000, "ftol": 1e-15, "gtol": 1e-11, "maxcor": 20},
                )
                # a line search that cannot improve where the gradient is tiny has converged
                ok = bool(res.success) or "ABNORMAL" in str(res.message).upper()
            f, _ = log_huber_objective(res.x, *args, self.delta)
            results.append(
                Start(self.from_log(res.x), float(f), ok and np.isfinite(f), str(res.message), p0)
            )
        return results

    # -- derived quantities and notes -------------------------------------------------------
    def derived(self, theta, ranges):
        E, A, B, al, be = (float(v) for v in theta)
        s = al + be
        if A > 0 and B > 0 and al > 0 and be > 0:
            G = (al * A / (be * B)) ** (1.0 / s)
        else:
            G = np.nan
        return {
            "G": G,
            "N_opt_exponent": be / s if s > 0 else np.nan,
            "D_opt_exponent": al / s if s > 0 else np.nan,
        }

    def notes(self, theta, ranges) -> list[str]:
        lines = [f"N = {self.N_label}, D = {self.D_label}; " + scale_text(self.transform)]
        if self.objective == "log-huber":
            lines.append(
                f"objective: Huber (delta={self.delta:g}) on log residuals, summed "
                "(Besiroglu et al.); the loss option does not apply"
            )
        return lines

    def diagnose(self, theta, ranges) -> list[str]:
        return span_warnings(ranges, {"N": self.N_label, "D": self.D_label}) + exponent_warnings(
            {"alpha": float(theta[3]), "beta": float(theta[4])}
        )
