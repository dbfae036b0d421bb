"""Variable projection for the Performance Law (:mod:`perflaw.laws.performance`).

With its exponents fixed the law is linear in its coefficients and intercepts, so the
solve searches the exponents only -- a batched grid, then bounded Nelder-Mead from the
best grid minima and seeded random starts -- and solves the linear part exactly inside
(``profile``).  Kept apart from the declaration so that the law reads as its form, its
options and its parameter layout; :class:`VariableProjection` is a mixin the law
inherits, relying on the layout attributes declared below.
"""

from __future__ import annotations

import numpy as np
from scipy.optimize import minimize

from perflaw.laws.base import Start, loss_value

#: the input each factor of the law is a function of
FACTOR_INPUT = {"N": "layers", "d": "d_emb", "D": "d_prime"}


def _lstsq_cols(A: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Least squares with column scaling (the columns differ by orders of magnitude)."""
    scale = np.sqrt((A * A).sum(axis=0))
    scale[scale == 0] = 1.0
    coef, *_ = np.linalg.lstsq(A / scale, y, rcond=None)
    return coef / scale


def _linear_solve(A, y, loss, delta):
    """Coefficients of the linear part: exact for L2, IRLS for Huber."""
    coef = _lstsq_cols(A, y)
    if loss == "huber":
        for _ in range(50):
            r = y - A @ coef
            w = np.where(np.abs(r) <= delta, 1.0, delta / np.maximum(np.abs(r), 1e-300))
            sw = np.sqrt(w)
            new = _lstsq_cols(A * sw[:, None], y * sw)
            if np.allclose(new, coef, rtol=1e-10, atol=1e-14):
                coef = new
                break
            coef = new
    return coef


class VariableProjection:
    """The exponent search and the exact linear solve inside it, for a law laid out as
    one block per factor (``alpha, beta, gamma`` with ``p`` free, ``w, exponent`` with
    ``p`` pinned) followed by its intercepts."""

    #: the factors fitted (``"N"``, ``"d"``, ``"D"``), in parameter order
    factors: tuple[str, ...]
    p: float | None
    q: float | None
    exponent_bounds: tuple[float, float]
    n_intercepts: int

    def _codes(self, X) -> np.ndarray | None:
        """Each row's intercept (declared by the law)."""
        raise NotImplementedError

    @property
    def _width(self) -> int:
        return 3 if self.p is None else 2

    def _pconst(self, f: str) -> float:
        c = self.q if f == "D" else self.p
        assert c is not None, "only laws with a pinned p have constants"
        return c

    def _design(self, expos: np.ndarray, X) -> np.ndarray:
        cols = []
        for f, e in zip(self.factors, expos):
            x = np.asarray(X[FACTOR_INPUT[f]], dtype=float)
            lx = np.log(x)
            if self.p is None:
                cols += [lx, x**e]
            else:
                cols.append(-(x ** (-e)) / self._pconst(f) - e * lx)
        n = len(cols[0])
        codes = self._codes(X)
        if codes is not None:
            onehot = np.zeros((n, self.n_intercepts))
            onehot[np.arange(n), codes] = 1.0
            return np.column_stack(cols + [onehot])
        return np.column_stack(cols + [np.ones(n)])

    def _assemble(self, expos: np.ndarray, coef: np.ndarray) -> np.ndarray:
        theta = []
        c = 0
        for e in expos:
            if self.p is None:
                theta += [coef[c], coef[c + 1], e]
                c += 2
            else:
                theta += [coef[c], e]
                c += 1
        theta += list(coef[c:])
        return np.array(theta, dtype=float)

    def _expos(self, theta: np.ndarray) -> np.ndarray:
        w = self._width
        return np.array([theta[j * w + w - 1] for j in range(len(self.factors))], dtype=float)

    def profile(self, expos, X, y, loss="l2", delta=None):
        """Loss and full parameter vector with the exponents fixed (the inner solve)."""
        expos = np.asarray(expos, dtype=float)
        A = self._design(expos, X)
        coef = _linear_solve(A, y, loss, delta)
        if self._explosive(expos, coef).any():
            coef = self._bounded_growth(expos, A, y, loss, delta)
        return loss_value(y - A @ coef, loss, delta), self._assemble(expos, coef)

    def _power_columns(self) -> np.ndarray:
        """Index, in the design, of the coefficient that scales each factor's power term
        (with ``p`` pinned, the factor's one coefficient ``w``, which scales its log term
        too: holding it at 0 drops the factor)."""
        per = 2 if self.p is None else 1
        return np.arange(len(self.factors)) * per + (1 if self.p is None else 0)

    def _explosive(self, expos: np.ndarray, coef: np.ndarray) -> np.ndarray:
        """Per factor: does its power term grow without bound (beta > 0 with gamma > 0)?

        The law's power term is a decay (the authors' ``-1/(p x^w)``) or, with the
        exponent's sign flipped, a penalty that grows with size (over-fitting); a power
        that *adds* to the metric faster and faster is neither, and extrapolates to a
        metric of 1 (amazon-beauty NDCG@10 fitted on d <= 128: beta d^6, 1.0 at d 512).
        With ``p`` pinned, beta = -w/p and gamma = -w3: the same condition is w < 0 < -w3.
        """
        c = coef[self._power_columns()]
        if self.p is None:
            return (expos > 0) & (c > 0)
        return (expos < 0) & (c < 0)

    def _bounded_growth(self, expos, A, y, loss, delta) -> np.ndarray:
        """The best coefficients with no explosive power term: the linear part solved
        with the power coefficient of each subset of the constrained factors (those whose
        exponent's sign lets the term explode) held at 0, the best admissible one kept
        (exact for this convex problem: its optimum is the unconstrained optimum of one
        such subset; at most 2^3 - 1 solves, and only when the unconstrained solution is
        explosive)."""
        cols = self._power_columns()
        bound = np.flatnonzero(expos > 0 if self.p is None else expos < 0)
        best, best_loss = None, np.inf
        for mask in range(1, 2 ** len(bound)):
            held = [j for i, j in enumerate(bound) if mask >> i & 1]
            keep = np.setdiff1d(np.arange(A.shape[1]), cols[held])
            coef = np.zeros(A.shape[1])
            coef[keep] = _linear_solve(A[:, keep], y, loss, delta)
            if self._explosive(expos, coef).any():
                continue
            value = loss_value(y - A @ coef, loss, delta)
            if value < best_loss:
                best, best_loss = coef, value
        assert best is not None  # every constrained coefficient held at 0 is admissible
        return best

    def _exponent_axes(self, X, n_per_axis: int) -> list[np.ndarray]:
        """Candidate exponents per factor.

        A uniform grid over the bounds, plus exponents near 0 (with ``p`` pinned a
        factor tends to a pure logarithm as its exponent -> 0), plus -- with ``p``
        pinned -- the exponents that put the factor's optimum ``x* = p^(-1/w)`` on a
        log grid around the data: the loss is very narrow in ``w`` but broad in
        ``ln x*``, so a uniform grid alone misses the best basin.
        """
        lo, hi = self.exponent_bounds
        axes = []
        for f in self.factors:
            near0 = np.array([-0.1, -0.01, -1e-3, 1e-3, 0.01, 0.1])
            axis = [np.linspace(lo, hi, n_per_axis), near0]
            if self.p is not None and self._pconst(f) != 1.0:
                x = np.asarray(X[FACTOR_INPUT[f]], dtype=float)
                xs = np.geomspace(max(x.min() / 4, 1.05), x.max() * 4, n_per_axis)
                axis.append(-np.log(self._pconst(f)) / np.log(xs))
            values = np.unique(np.concatenate(axis))
            axes.append(values[(values != 0) & (values >= lo) & (values <= hi)])
        return axes

    def _grid_sse(self, axes: list[np.ndarray], X, y) -> np.ndarray:
        """L2 loss at every combination of the axes' exponents, shape ``[len(a) for a in axes]``.

        The design matrices are assembled by broadcasting per-factor column blocks and
        solved in batches with one SVD each (column-scaled, rank-revealing).
        """
        blocks = []
        for f, axis in zip(self.factors, axes):
            x = np.asarray(X[FACTOR_INPUT[f]], dtype=float)
            lx = np.log(x)
            e = axis[:, None]
            if self.p is None:
                blk = np.stack([np.broadcast_to(lx, (len(axis), len(x))), x[None, :] ** e], axis=-1)
            else:
                blk = (-(x[None, :] ** (-e)) / self._pconst(f) - e * lx[None, :])[..., None]
            blocks.append(blk)  # (len(axis), n, width)
        n = len(y)
        per_factor = 2 if self.p is None else 1  # design columns per factor
        fixed = self._design(np.ones(len(self.factors)), X)[:, len(self.factors) * per_factor :]
        shape = [len(a) for a in axes]
        k = len(axes)
        parts = []
        for j, blk in enumerate(blocks):
            view = [1] * k + list(blk.shape[1:])
            view[j] = blk.shape[0]
            parts.append(np.broadcast_to(blk.reshape(view), shape + list(blk.shape[1:])))
        parts.append(np.broadcast_to(fixed, shape + list(fixed.shape)))
        A = np.concatenate(parts, axis=-1).reshape(-1, n, sum(p.shape[-1] for p in parts))
        out = np.empty(len(A))
        for i in range(0, len(A), 4096):
            a = A[i : i + 4096]
            scale = np.sqrt((a * a).sum(axis=1, keepdims=True))
            scale[scale == 0] = 1.0
            U, sv, _ = np.linalg.svd(a / scale, full_matrices=False)
            tol = sv.max(axis=1, keepdims=True) * max(a.shape[1:]) * np.finfo(float).eps
            U = U * (sv > tol)[:, None, :]
            proj = np.einsum("gnk,n->gk", U, y)
            out[i : i + 4096] = 0.5 * (y @ y - (proj**2).sum(axis=1))
        return out.reshape(shape)

    def start_grid(self, X, y):
        """Full parameter vectors at a coarse exponent grid (for the generic fitter)."""
        lo, hi = self.exponent_bounds
        axis = np.linspace(lo, hi, 4)
        mesh = np.meshgrid(*([axis] * len(self.factors)), indexing="ij")
        grid = np.column_stack([m.ravel() for m in mesh])
        return np.array([self.profile(e, X, y)[1] for e in grid])

    def solve(self, X, y, *, loss, huber_delta, rng, n_random, init=None, n_grid=None):
        """Variable projection: grid over exponents, then bounded Nelder-Mead refinements.

        The starts are the ``4`` best local minima of the exponent grid, ``n_random``
        seeded random exponent vectors and ``init`` (e.g. the full-data optimum when
        bootstrapping).  Returns one :class:`Start` per refinement.
        """
        y = np.asarray(y, dtype=float)
        lo, hi = self.exponent_bounds
        k = len(self.factors)
        if n_grid is None:  # a coarser grid when refitting from a known optimum (bootstrap)
            n_grid = {1: 101, 2: 25}.get(k, 9) if init is None else {1: 41, 2: 13}.get(k, 7)
        starts: list[np.ndarray] = []
        if init is not None:
            starts.append(np.clip(self._expos(np.asarray(init, dtype=float)), lo, hi))
        if n_grid:
            # the grid ranks starts by the unconstrained loss (fast, batched); the
            # refinements below minimise the bounded one (profile)
            axes = self._exponent_axes(X, n_grid)
            sse = self._grid_sse(axes, X, y).ravel()
            n_best = 4 if init is None else 1
            picked: list[np.ndarray] = []
            for flat in np.argsort(sse):  # the best grid points, apart from each other
                if len(picked) >= n_best:
                    break
                idx = np.array(np.unravel_index(flat, [len(a) for a in axes]))
                if all(np.max(np.abs(idx - j)) > 2 for j in picked):
                    picked.append(idx)
                    starts.append(np.array([a[i] for a, i in zip(axes, idx)]))
        for _ in range(n_random):
            starts.append(rng.uniform(lo, hi, size=k))

        def objective(e):
            return self.profile(e, X, y, loss, huber_delta)[0]

        results = []
        for s0 in starts:
            res = minimize(
                objective,
                s0,
                method="Nelder-Mead",
                bounds=[(lo, hi)] * k,
                options={"xatol": 1e-7, "fatol": 1e-15, "maxiter": 400 * k},
            )
            cost, theta = self.profile(res.x, X, y, loss, huber_delta)
            success, message = bool(res.success), str(res.message)
            if not success:
                # the loss may have converged while the exponents creep along a flat
                # direction (typically gamma -> 0 with beta -> infinity): accept when the
                # final simplex agrees in loss to 1e-9 relative
                fvals = res.final_simplex[1]
                if np.ptp(fvals) <= 1e-9 * abs(fvals.min()) + 1e-18:
                    success, message = True, "loss converged along a flat direction"
            results.append(Start(theta, cost, success, message, s0))
        return results
