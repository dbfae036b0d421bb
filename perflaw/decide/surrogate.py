"""A predictive distribution over a (layers, d_emb) grid, mixed over candidate forms.

The loop (:mod:`perflaw.decide.acquire`) needs, for every untried configuration of the
user's grid, a predictive distribution of its metric that is honest with few runs.  The
fitted laws of :mod:`perflaw.laws` need more runs than a loop has at its start (and with
two layer counts they cannot say anything about depth), so the loop's surrogate is a
Bayesian mixture of simple forms over the grid's coordinates ``(log layers, log d_emb)``,
scaled to [0, 1] over the grid:

* a smooth surface (a Gaussian process, Matérn 5/2 with one length scale per axis),
* plus, or not, a quadratic trend in the log coordinates (a hill: the shape of every
  published panel's metric, rising then falling along each axis),
* with run-to-run noise from none to a third of the metric's spread.

Every combination on a fixed grid of settings is one candidate form; each is weighted by
its evidence, the marginal likelihood of the trained runs.  The log evidence is the sum of
the one-step-ahead predictive log densities of the runs in any order, so it is an
out-of-sample score (a prequential backtest), not a fit to the runs; no setting is tuned.
The mixture then explores where the forms disagree or are unsure and exploits where they
agree.  The forms are solved together: one batched Cholesky per step.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass

import numpy as np
from scipy.special import logsumexp

#: candidate settings, in the [0, 1] coordinates of the grid (a length scale of 1 spans
#: the grid's whole range along that axis) and in units of the standardised metric
LENGTH_SCALES = (0.25, 0.5, 1.0, 2.0)
NOISE_SHARES = (1e-6, 1e-2, 0.1, 0.3)
TREND_WEIGHTS = (0.0, 10.0)
#: share of the surface that is additive (a depth effect plus a width effect) rather than joint
ADDITIVE_SHARES = (0.0, 0.5, 1.0)
_JITTER = 1e-9


def grid_coordinates(layers: np.ndarray, d_emb: np.ndarray, grid_layers, grid_d_emb) -> np.ndarray:
    """(n, 2) coordinates in [0, 1]: log layers and log d_emb scaled over the grid's range."""
    out = []
    for v, g in ((layers, grid_layers), (d_emb, grid_d_emb)):
        lv = np.log(np.asarray(v, dtype=float))
        lo, hi = np.log(np.min(g)), np.log(np.max(g))
        out.append((lv - lo) / (hi - lo) if hi > lo else np.zeros_like(lv))
    return np.column_stack(out)


def _matern52(a: np.ndarray, b: np.ndarray, scales: np.ndarray) -> np.ndarray:
    """Matérn 5/2 kernels for every setting: (m, len(a), len(b)), scales (m, 2)."""
    diff = (a[None, :, None, :] - b[None, None, :, :]) / scales[:, None, None, :]
    r = np.sqrt(np.sum(diff * diff, axis=-1)) * np.sqrt(5.0)
    return (1.0 + r + r * r / 3.0) * np.exp(-r)


def _surface(a: np.ndarray, b: np.ndarray, scales: np.ndarray, additive: np.ndarray) -> np.ndarray:
    joint = _matern52(a, b, scales)
    sides = [_matern52(a[:, [k]], b[:, [k]], scales[:, [k]]) for k in range(a.shape[1])]
    add = sum(sides) / a.shape[1]
    return additive[:, None, None] * add + (1.0 - additive[:, None, None]) * joint


def _trend_features(x: np.ndarray) -> np.ndarray:
    u = x - 0.5
    return np.column_stack([u[:, 0], u[:, 1], u[:, 0] ** 2, u[:, 1] ** 2, u[:, 0] * u[:, 1]])


@dataclass
class GridPosterior:
    """The mixture's posterior over a set of points: per form, a mean and a covariance.

    Values are on the maximised scale (a loss is negated) and in the metric's units.
    """

    weights: np.ndarray  # (m,) evidence weights, sum 1
    mean: np.ndarray  # (m, p) latent mean per form
    cov: np.ndarray  # (m, p, p) latent covariance per form
    noise_sd: np.ndarray  # (m,) run-to-run noise sd per form

    @property
    def mixture_mean(self) -> np.ndarray:
        return self.weights @ self.mean

    def mixture_sd(self) -> np.ndarray:
        var = np.diagonal(self.cov, axis1=1, axis2=2).clip(0)
        second = self.weights @ (var + self.mean**2)
        return np.sqrt(np.clip(second - self.mixture_mean**2, 0, None))

    def quantiles(self, q: tuple[float, ...], n_draws: int = 4000, seed: int = 0) -> np.ndarray:
        """Quantiles of the latent value per point (the mixture has no closed form)."""
        draws = self.marginal_draws(n_draws, seed)
        return np.quantile(draws, q, axis=0)

    def marginal_draws(self, n_draws: int, seed: int = 0) -> np.ndarray:
        rng = np.random.default_rng(seed)
        pick = rng.choice(len(self.weights), size=n_draws, p=self.weights)
        sd = np.sqrt(np.diagonal(self.cov, axis1=1, axis2=2).clip(0))
        return self.mean[pick] + sd[pick] * rng.standard_normal((n_draws, self.mean.shape[1]))

    def joint_draws(self, n_draws: int, seed: int = 0) -> np.ndarray:
        """Draws of all points together (the correlations matter for "any beats")."""
        rng = np.random.default_rng(seed)
        counts = rng.multinomial(n_draws, self.weights)
        p = self.mean.shape[1]
        out = []
        for m in np.flatnonzero(counts):
            c = self.cov[m] + 1e-12 * np.eye(p)
            w, v = np.linalg.eigh(c)
            root = v * np.sqrt(np.clip(w, 0, None))
            out.append(self.mean[m] + rng.standard_normal((counts[m], p)) @ root.T)
        return np.concatenate(out, axis=0)

    def condition_on(self, j: int) -> GridPosterior:
        """The posterior after a run at point ``j`` that comes out as each form predicts
        (the kriging believer): means stay, variances shrink around ``j``.  This is how a
        batch avoids crowding one cell."""
        col = self.cov[:, :, j]  # (m, p)
        denom = self.cov[:, j, j] + self.noise_sd**2 + _JITTER  # (m,)
        cov = self.cov - col[:, :, None] * col[:, None, :] / denom[:, None, None]
        return GridPosterior(self.weights, self.mean, cov, self.noise_sd)


def fit_posterior(x_train: np.ndarray, y: np.ndarray, x_query: np.ndarray) -> GridPosterior:
    """The evidence-weighted mixture of forms, fitted to runs ``(x_train, y)`` and
    evaluated at ``x_query`` (both in grid coordinates; ``y`` to be maximised)."""
    y = np.asarray(y, dtype=float)
    n = len(y)
    centre = float(np.mean(y))
    spread = float(np.std(y))
    if not spread > 0:  # one run, or all equal: the scale of the values stands in
        spread = max(abs(centre) * 0.05, 1e-12)
    z = (y - centre) / spread

    settings = np.array(
        list(
            itertools.product(
                LENGTH_SCALES, LENGTH_SCALES, NOISE_SHARES, TREND_WEIGHTS, ADDITIVE_SHARES
            )
        )
    )
    scales, noise, trend, additive = settings[:, :2], settings[:, 2], settings[:, 3], settings[:, 4]
    ht, hq = _trend_features(x_train), _trend_features(x_query)

    def prior(a: np.ndarray, b: np.ndarray, ha: np.ndarray, hb: np.ndarray) -> np.ndarray:
        # a constant mean integrated out (the 1.0) plus the optional quadratic trend
        return _surface(a, b, scales, additive) + 1.0 + trend[:, None, None] * (ha @ hb.T)[None]

    k_tt = prior(x_train, x_train, ht, ht)
    k_qt = prior(x_query, x_train, hq, ht)
    k_qq = prior(x_query, x_query, hq, hq)
    eye = np.eye(n)
    chol = np.linalg.cholesky(k_tt + (noise[:, None, None] + _JITTER) * eye)
    # the signal variance is profiled out: s2 = z' K^-1 z / n per form
    alpha_half = np.linalg.solve(chol, np.broadcast_to(z, (len(settings), n))[..., None])
    quad = np.sum(alpha_half[..., 0] ** 2, axis=1)
    s2 = np.clip(quad / n, 1e-12, None)
    logdet = 2.0 * np.sum(np.log(np.diagonal(chol, axis1=1, axis2=2)), axis=1)
    log_evidence = -0.5 * n * np.log(s2) - 0.5 * logdet - 0.5 * n
    weights = np.exp(log_evidence - logsumexp(log_evidence))

    v = np.linalg.solve(chol, np.transpose(k_qt, (0, 2, 1)))  # (m, n, p)
    mean = np.einsum("mnp,mn->mp", v, alpha_half[..., 0])
    cov = (k_qq - np.einsum("mnp,mnq->mpq", v, v)) * s2[:, None, None]
    return GridPosterior(
        weights=weights,
        mean=centre + spread * mean,
        cov=cov * spread**2,
        noise_sd=spread * np.sqrt(noise * s2),
    )
