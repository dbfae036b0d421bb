r"""Laws with one depth curve per embedding width: carry-forward, log-linear, saturating.

These are the plain forms a depth extrapolation has to beat, declared as laws so that
the fitter, the backtest, intervals, law files and ``recommend-config`` treat them like
the Performance Law.  Each fits one curve in the number of layers :math:`N` per trained
width :math:`d`; at a width between trained widths the parameters are interpolated
linearly in :math:`\ln d`, outside the trained widths the nearest width is used.

``carry`` (carry-forward)
    The last trained run at or below :math:`N` for the same width (for deeper
    :math:`N`: the value at the deepest trained layer count).  A lookup of the trained
    runs, so its in-sample fit is exact; its worth is measured out of sample only.
    Along the width axis (``axis="d_emb"``, a backtest along d_emb) the roles swap: the
    widest trained run at or below :math:`d` for the same depth.
``loglinear``
    :math:`y = a_d + b_d \ln N` per width (needs two layer counts per width).
``saturating``
    :math:`y = a_d - b_d N^{-c}` per width with :math:`c` pinned (default 1): the gain
    of each doubling of depth is :math:`2^{-c}` times the previous one, so the curve
    flattens toward the ceiling :math:`a_d` (needs two layer counts per width).

Examples
--------
>>> import numpy as np
>>> X = {"layers": np.array([4., 8., 4., 8.]), "d_emb": np.array([32., 32., 64., 64.])}
>>> law = SaturatingLaw().bind(X)
>>> law.param_names
('a[32]', 'b[32]', 'a[64]', 'b[64]')
>>> theta = law.solve(X, np.array([0.1, 0.2, 0.3, 0.4]), loss="l2", huber_delta=None,
...                   rng=None, n_random=0)[0].theta
>>> law.formula(theta, {"layers": np.array([16.]), "d_emb": np.array([32.])}).round(6).tolist()
[0.25]
"""

from __future__ import annotations

from typing import Any

import numpy as np

from perflaw.errors import DataError
from perflaw.laws.base import Law, Start, loss_value, register


def _at_or_below(grid: list[float], x) -> np.ndarray:
    """Index of the last grid value at or below each ``x`` (the first one below the grid)."""
    return np.clip(
        np.searchsorted(np.array(grid), np.asarray(x, float), side="right") - 1, 0, len(grid) - 1
    )


def _width_weights(d: np.ndarray, widths: np.ndarray) -> np.ndarray:
    """``(n, len(widths))`` weights interpolating linearly in ``ln d`` (nearest outside)."""
    lw = np.log(widths)
    ld = np.log(np.clip(np.asarray(d, dtype=float), widths[0], widths[-1]))
    W = np.zeros((len(ld), len(widths)))
    if len(widths) == 1:
        W[:, 0] = 1.0
        return W
    j = np.clip(np.searchsorted(lw, ld, side="right") - 1, 0, len(widths) - 2)
    t = (ld - lw[j]) / (lw[j + 1] - lw[j])
    W[np.arange(len(ld)), j] = 1 - t
    W[np.arange(len(ld)), j + 1] += t
    return W


class _PerWidthLaw(Law):
    """Shared machinery: ``widths`` bound from the data, per-width parameters."""

    inputs = ("layers", "d_emb")
    per_width: tuple[str, ...] = ()
    min_layer_counts = 2
    min_dof = 0
    kind = "baseline"

    def __init__(self, widths: list[float] | None = None) -> None:
        self.widths = None if widths is None else [float(w) for w in widths]
        names = []
        for w in self.widths or []:
            names += [f"{p}[{w:g}]" for p in self.per_width]
        self.param_names = tuple(names)
        self.default_bounds = {}

    def options(self) -> dict[str, Any]:
        return {"widths": self.widths}

    def bind(self, X: dict[str, np.ndarray]) -> Law:
        """This law with the trained widths of ``X`` (its parameters are per width)."""
        return type(self)(**{**self.options(), "widths": sorted(np.unique(X["d_emb"]).tolist())})

    def check(self, X):
        super().check(X)
        for col in self.inputs:
            if np.any(X[col] <= 0):
                raise DataError(f"input {col!r} must be positive")

    def identifiable(self, X: dict[str, np.ndarray]) -> str | None:
        """``None`` when the rows can carry this law, else the reason in words."""
        for w in np.unique(X["d_emb"]):
            n = len(np.unique(X["layers"][X["d_emb"] == w]))
            if n < self.min_layer_counts:
                return (
                    f"d_emb {w:g} has {n} layer count(s); {self.name} needs "
                    f"{self.min_layer_counts} per width"
                )
        return None

    def _table(self, theta: np.ndarray) -> np.ndarray:
        return np.asarray(theta, dtype=float).reshape(len(self.widths or ()), len(self.per_width))


@register
class LogLinearLaw(_PerWidthLaw):
    """``y = a_d + b_d ln N`` per trained width (a baseline; see the module docstring)."""

    name = "loglinear"
    candidate_forms = {"loglinear": (20, {})}
    description = "log-linear in layers per width (baseline)"
    latex = r"y = a_d + b_d \ln N"
    per_width = ("a", "b")

    def basis(self, N: np.ndarray) -> np.ndarray:
        return np.column_stack([np.ones(len(N)), np.log(N)])

    def formula(self, theta, X):
        T = _width_weights(X["d_emb"], np.array(self.widths)) @ self._table(theta)
        return (self.basis(np.asarray(X["layers"], float)) * T).sum(axis=1)

    def solve(self, X, y, *, loss, huber_delta, rng, n_random, init=None):
        rows = []
        for w in self.widths:
            m = X["d_emb"] == w
            A = self.basis(np.asarray(X["layers"][m], float))
            coef, *_ = np.linalg.lstsq(A, np.asarray(y)[m], rcond=None)
            rows.append(coef)
        theta = np.concatenate(rows)
        r = np.asarray(y) - self.formula(theta, X)
        return [Start(theta, loss_value(r, loss, huber_delta), True, "per-width least squares")]

    def start_grid(self, X, y):
        return np.zeros((1, self.n_params))


@register
class SaturatingLaw(LogLinearLaw):
    """``y = a_d - b_d N^(-c)`` per trained width, ``c`` pinned (default 1)."""

    name = "saturating"
    candidate_forms = {"saturating": (10, {})}
    kind = "law"
    description = "per-width depth curve whose gain per doubling shrinks by 2^-c (flattens)"
    latex = r"y = a_d - b_d N^{-c}"

    def __init__(self, widths: list[float] | None = None, c: float = 1.0) -> None:
        if not (np.isfinite(c) and c > 0):
            raise DataError(f"saturating: c must be a positive number, got {c!r}")
        self.c = float(c)
        super().__init__(widths)

    def options(self) -> dict[str, Any]:
        return {"widths": self.widths, "c": self.c}

    def basis(self, N: np.ndarray) -> np.ndarray:
        return np.column_stack([np.ones(len(N)), -(N**-self.c)])


@register
class CarryForwardLaw(_PerWidthLaw):
    """Last trained run at or below the asked depth, same width (a baseline).

    Parameters are the trained values, one per (layer count, width) cell (replicates
    averaged); the law is a lookup, so it has as many parameters as cells.
    """

    name = "carry"
    candidate_forms = {"carry": (0, {})}
    description = "carry-forward: the deepest trained run at or below N for the same width"
    latex = r"y(N, d) = y(\max\{N' \le N\}, d)"
    min_layer_counts = 1
    nonparametric = True

    def __init__(
        self,
        widths: list[float] | None = None,
        layers: list[float] | None = None,
        axis: str = "layers",
    ) -> None:
        if axis not in ("layers", "d_emb"):
            raise DataError(f"carry: axis must be 'layers' or 'd_emb', got {axis!r}")
        self.axis = axis
        self.widths = None if widths is None else [float(w) for w in widths]
        self.layers = None if layers is None else [float(n) for n in layers]
        self.param_names = tuple(
            f"y[{n:g},{w:g}]" for w in self.widths or [] for n in self.layers or []
        )
        self.default_bounds = {}
        if axis == "d_emb":  # carried along width, within a depth
            self.description = (
                "carry-forward: the widest trained run at or below d for the same depth"
            )
            self.latex = r"y(N, d) = y(N, \max\{d' \le d\})"

    def options(self) -> dict[str, Any]:
        return {"widths": self.widths, "layers": self.layers, "axis": self.axis}

    def bind(self, X):
        return type(self)(
            widths=sorted(np.unique(X["d_emb"]).tolist()),
            layers=sorted(np.unique(X["layers"]).tolist()),
            axis=self.axis,
        )

    def _cells(self, theta):
        return np.asarray(theta, float).reshape(len(self.widths), len(self.layers))

    def formula(self, theta, X):
        cells = self._cells(theta)
        if self.axis == "d_emb":
            # per depth: the value at the widest trained width <= d (else the narrowest);
            # between trained depths, interpolated in ln N (nearest outside)
            W = _width_weights(X["layers"], np.array(self.layers))
            return (W * cells[_at_or_below(self.widths, X["d_emb"]), :]).sum(axis=1)
        # per width: the value at the deepest trained layer count <= N (else the shallowest)
        per_width = cells[:, _at_or_below(self.layers, X["layers"])].T
        W = _width_weights(X["d_emb"], np.array(self.widths))
        return (W * per_width).sum(axis=1)

    def solve(self, X, y, *, loss, huber_delta, rng, n_random, init=None):
        cells = np.full((len(self.widths), len(self.layers)), np.nan)
        y = np.asarray(y, float)
        for j, w in enumerate(self.widths):
            for k, n in enumerate(self.layers):
                m = (X["d_emb"] == w) & (X["layers"] == n)
                if m.any():
                    cells[j, k] = float(y[m].mean())
        # a cell with no run: carry the one below it along the axis forward (a layer count
        # a width lacks: the shallower one; along d_emb, a width a depth lacks: the
        # narrower one)
        lines = cells if self.axis == "layers" else cells.T  # views: filled in place
        for line, v in zip(lines, self.widths if self.axis == "layers" else self.layers):
            if not np.isfinite(line).any():
                # only in a bootstrap resample (the law is bound to the full table's
                # sizes): nothing to look up, so this refit fails and is counted as such
                what = "width" if self.axis == "layers" else "depth"
                raise ValueError(f"no run of {what} {v:g} in this sample")
            first = line[np.isfinite(line)][0]
            for k in range(len(line)):
                if not np.isfinite(line[k]):
                    line[k] = first if k == 0 else line[k - 1]
        theta = cells.ravel()
        r = y - self.formula(theta, X)
        return [Start(theta, loss_value(r, loss, huber_delta), True, "lookup of trained runs")]

    def jacobian(self, theta, X):
        return np.zeros((len(X["layers"]), self.n_params))

    def start_grid(self, X, y):
        return np.zeros((1, self.n_params))
