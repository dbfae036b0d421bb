r"""The Performance Law of Shen et al. (arXiv 2412.00430), docs/science.md §4.

The authors' form, for layers :math:`N`, embedding dimension :math:`d` and data term
:math:`D`:

.. math::

    y = w_1\left(-\frac{1}{p N^{w_3}} - w_3 \ln N\right)
      + w_2\left(-\frac{1}{p d^{w_4}} - w_4 \ln d\right)
      + \left(-\frac{1}{q D^{w_5}} - w_5 \ln D\right) + b

Each factor is "log growth minus power decay".  With ``p`` free per factor (the
default; the authors searched ``p`` to get their published fits) a factor is
:math:`f(x) = \alpha \ln x + \beta x^{\gamma}` (:math:`\alpha = -w w_3`,
:math:`\beta = -w/p`, :math:`\gamma = -w_3`): linear in :math:`\alpha, \beta` and the
intercept once the exponents :math:`\gamma` are fixed.  :meth:`PerformanceLaw.solve`
therefore searches the exponents only (a grid, then bounded Nelder-Mead from the best
grid minima and seeded random starts) and solves the linear part exactly inside
(variable projection, in :mod:`perflaw.laws._varpro`): global and fast.  ``p=2`` pins
``p`` as in the authors' released script; each factor then has one coefficient ``w`` and
one exponent.

Data term (``data_term``):

``"none"``
    One dataset: :math:`D` is a constant and collapses with :math:`w_5` and :math:`b`
    into the intercept ``b`` (a per-dataset fit cannot determine :math:`D`).
``"free"``
    Joint fit across groups with shared :math:`N` and :math:`d` factors and one free
    intercept ``b[group]`` per group (equivalent to a free :math:`D` per group).
``"dprime"``
    Joint fit in which the data term is a third factor of the input ``d_prime``
    (the quality-adjusted data size :math:`D'` measured from the logs), which is what
    lets the law predict across data scales.  The authors fix its coefficient at 1;
    perflaw fits it, since :math:`D'` has arbitrary units.

A size that did not vary (``bind``): a scan in width only (one depth), or in depth only
(one width), cannot determine the factor of the input it held fixed -- that factor is a
constant and folds into the intercept.  :meth:`PerformanceLaw.bind` drops it
(``constant_factors``), so a one-axis scan is fitted by the one factor it varied: three
parameters with ``p = 2`` (``w2, w4, b`` for a width scan), four with ``p`` free.  The
law then says nothing about the axis it held fixed: its predictions are flat along it,
:meth:`~PerformanceLaw.varies_with` says so, the backtest does not score it along that
axis, and ``recommend-config`` stays at the trained value of that input.

A size with two values while the other has three or more (two depths at many widths)
cannot determine its factor's exponent either, but the runs at each value share one
curve along the other axis: :meth:`PerformanceLaw.bind` replaces that factor by one
intercept per value (``offset_by``, ``offset_levels``; parameters ``b[layers=1]``,
``b[layers=2]``).  The law predicts at those values only, and is backtested and chosen
like any form.

Optimum of a factor: :math:`f'(x^*) = 0` at :math:`x^* = (-\alpha/(\beta\gamma))^{1/\gamma}`
(:math:`= p^{-1/w_3}`), a maximum when :math:`\alpha\gamma > 0` (derived ``N_opt``,
``d_opt``; NaN without an interior maximum).  ``N_best_in_range``/``d_best_in_range`` are
found numerically: the best value inside the fitted range, a boundary when the factor is
monotone there.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from perflaw.errors import DataError
from perflaw.laws._varpro import FACTOR_INPUT, VariableProjection
from perflaw.laws.base import Law, register

_DATA_TERMS = ("none", "free", "dprime")


@register
class PerformanceLaw(VariableProjection, Law):
    """The Performance Law (docs/science.md §4) as a law declaration.

    Parameters
    ----------
    p : float, optional
        Pin the constant ``p`` of the N and d factors (the authors' script uses 2).
        ``None`` (default) leaves it free per factor.
    q : float, optional
        Pin ``q`` of the data factor (``data_term="dprime"`` with ``p`` pinned);
        defaults to ``p``.
    data_term : {"none", "free", "dprime"}
        How the data term enters (see the module docstring).
    groups : list of str, optional
        Group labels of a joint fit (``X["group"]`` holds codes into this list);
        required for ``data_term="free"``.
    exponent_bounds : (float, float)
        Search range of every exponent (``gamma`` with ``p`` free, ``w3``/``w4``/``w5``
        with ``p`` pinned).
    constant_factors : list of {"N", "d"}, optional
        Factors left out because their input was constant in the fitted runs (they fold
        into the intercept).  ``None`` (default): decided by :meth:`bind` from the data.
    offset_by, offset_levels : str and list of float, optional
        One intercept per value of ``offset_by`` (``"layers"`` or ``"d_emb"``), in place
        of that input's factor: two depths at many widths cannot determine the N
        factor's exponent, but can a depth offset on one shared width curve.  Set by
        :meth:`bind` when an input has two values and the other at least three; the law
        then predicts only at those values.

    Examples
    --------
    >>> law = PerformanceLaw()
    >>> law.param_names
    ('alpha_N', 'beta_N', 'gamma_N', 'alpha_d', 'beta_d', 'gamma_d', 'b')
    >>> PerformanceLaw(p=2).param_names
    ('w1', 'w3', 'w2', 'w4', 'b')
    >>> X = {"layers": np.array([14.0]), "d_emb": np.array([64.0])}
    >>> theta = np.array([1.0, -1.0, 1.0, 0.5, -0.5, 1.0, 0.0])  # f = ln x - x per factor
    >>> bool(np.isclose(law.formula(theta, X)[0], np.log(14) - 14 + 0.5 * (np.log(64) - 64)))
    True
    >>> law.derived(theta, {"layers": (4, 32), "d_emb": (25, 100)})["N_opt"]
    1.0

    A scan in width at one depth binds to the d factor alone:

    >>> one_depth = {"layers": np.full(4, 2.0), "d_emb": np.array([16., 32., 64., 128.])}
    >>> PerformanceLaw(p=2).bind(one_depth).param_names
    ('w2', 'w4', 'b')
    """

    name = "performance"
    candidate_forms = {"p2": (30, {"p": 2.0}), "free": (40, {})}
    description = "Performance Law (Shen et al. 2024): log growth minus power decay per factor"
    latex = (
        r"y = w_1\left(-\frac{1}{p N^{w_3}} - w_3\ln N\right) + "
        r"w_2\left(-\frac{1}{p d^{w_4}} - w_4\ln d\right) + "
        r"\left(-\frac{1}{q D^{w_5}} - w_5\ln D\right) + b"
    )

    def __init__(
        self,
        p: float | None = None,
        q: float | None = None,
        data_term: str = "none",
        groups: list[str] | None = None,
        exponent_bounds: tuple[float, float] = (-6.0, 6.0),
        constant_factors: list[str] | tuple[str, ...] | None = None,
        offset_by: str | None = None,
        offset_levels: list[float] | tuple[float, ...] | None = None,
    ) -> None:
        if p is not None and not (np.isfinite(p) and p > 0):
            raise DataError(f"p must be a positive number, got {p!r}")
        if data_term not in _DATA_TERMS:
            raise DataError(f"unknown data term {data_term!r}: use one of {', '.join(_DATA_TERMS)}")
        if data_term == "free" and not groups:
            raise DataError("data_term='free' needs the group labels (one intercept per group)")
        lo, hi = (float(v) for v in exponent_bounds)
        if not lo < hi:
            raise DataError(f"exponent bounds must satisfy low < high, got {exponent_bounds!r}")
        self.p = None if p is None else float(p)
        self.q = self.p if q is None else float(q)
        self.data_term = data_term
        self.groups = list(groups) if groups else []
        self.exponent_bounds = (lo, hi)
        every = ("N", "d", "D") if data_term == "dprime" else ("N", "d")
        held = tuple(constant_factors or ())
        bad = sorted(set(held) - {"N", "d"})
        if bad:
            raise DataError(f"constant_factors: unknown factor {bad[0]!r}: use 'N' or 'd'")
        self.constant_factors = None if constant_factors is None else list(held)
        self.factors = tuple(f for f in every if f not in held)
        if not self.factors:
            raise DataError("constant_factors: at least one factor must remain")
        if offset_by is not None:
            if offset_by not in ("layers", "d_emb") or not offset_levels:
                raise DataError("offset_by must be 'layers' or 'd_emb', with its levels")
            if data_term == "free":
                raise DataError("offsets per input value and per group cannot be combined")
        self.offset_by = offset_by
        self.offset_levels = (
            None if offset_by is None else sorted(float(v) for v in offset_levels or ())
        )
        # a held factor's input stays an input: its (single) trained value is the range
        # predictions are checked against
        self.inputs = tuple(FACTOR_INPUT[f] for f in every) + (
            ("group",) if data_term == "free" else ()
        )
        names: list[str] = []
        bounds: dict[str, tuple[float, float]] = {}
        authors = {"N": ("w1", "w3"), "d": ("w2", "w4"), "D": ("w_D", "w5")}
        for f in self.factors:
            if self.p is None:
                names += [f"alpha_{f}", f"beta_{f}", f"gamma_{f}"]
                bounds[f"gamma_{f}"] = self.exponent_bounds
            else:
                coef, expo = authors[f]
                names += [coef, expo]
                bounds[expo] = self.exponent_bounds
        if self.offset_levels is not None:
            names += [f"b[{offset_by}={v:g}]" for v in self.offset_levels]
        elif data_term == "free":
            names += [f"b[{g}]" for g in self.groups]
        else:
            names.append("b")
        self.n_intercepts = len(names) - len(self.factors) * (3 if self.p is None else 2)
        self.param_names = tuple(names)
        self.default_bounds = bounds

    def options(self) -> dict[str, Any]:
        return {
            "p": self.p,
            "q": self.q,
            "data_term": self.data_term,
            "groups": self.groups or None,
            "exponent_bounds": list(self.exponent_bounds),
            "constant_factors": self.constant_factors,
            "offset_by": self.offset_by,
            "offset_levels": self.offset_levels,
        }

    def bind(self, X) -> PerformanceLaw:
        """This law without the N or d factor whose input has one value in ``X`` (or one
        value per group of a joint fit), or with an intercept per value in place of a
        factor whose input has two values while the other has three or more.

        A factor is kept when its input varies, or when dropping it would leave no factor
        (then :meth:`identifiable` says why the law cannot be fitted).  A law built with
        explicit ``constant_factors`` is returned as it is.
        """
        if self.constant_factors is not None:
            return self
        offset = self._offset_input(X)
        if offset is not None:
            col, levels = offset
            held = [f for f in ("N", "d") if FACTOR_INPUT[f] == col]
            return type(self)(
                **{
                    **self.options(),
                    "constant_factors": held,
                    "offset_by": col,
                    "offset_levels": levels,
                }
            )
        held = [
            f
            for f in ("N", "d")
            if f in self.factors
            and FACTOR_INPUT[f] in X
            and (len(np.unique(X[FACTOR_INPUT[f]])) == 1 or self._absorbed(X, f))
        ]
        if len(held) == len(self.factors):
            held = []
        return type(self)(**{**self.options(), "constant_factors": held})

    def _offset_input(self, X) -> tuple[str, list[float]] | None:
        """The input with too few values to identify its factor (two, or three with p
        free) while the other has enough (two depths at many widths): its factor's
        exponent cannot be determined, an offset per value can.  None otherwise, and for
        joint fits (their groups have intercepts)."""
        if self.data_term == "free" or set(self.factors) != {"N", "d"}:
            return None
        need = self._levels_needed
        n = {c: len(np.unique(X[c])) for c in ("layers", "d_emb") if c in X}
        for col, other in (("layers", "d_emb"), ("d_emb", "layers")):
            if 2 <= n.get(col, 0) < need and n.get(other, 0) >= need:
                return col, [float(v) for v in np.unique(X[col])]
        return None

    def _absorbed(self, X, f: str) -> bool:
        """Whether factor ``f``'s input has one value within every group of a joint fit
        with a free intercept per group (``--group-by layers --joint free``: one width law
        with a depth offset): the intercepts then carry that factor whole, and fitting it
        too leaves a flat direction."""
        if self.data_term != "free" or "group" not in X:
            return False
        col, g = np.asarray(X[FACTOR_INPUT[f]], float), np.asarray(X["group"])
        return all(len(np.unique(col[g == code])) == 1 for code in np.unique(g))

    def grouped_input(self) -> tuple[str, dict[float, str]] | None:
        """``(column, {value: label})`` when the intercepts are one per value of
        ``layers`` or ``d_emb`` (a depth offset bound from two depths, or a joint fit
        ``--group-by layers --joint free``), else None.  Such a law predicts a
        configuration with the intercept of its own value, and no value it was not fitted
        at.

        >>> PerformanceLaw(data_term="free", groups=["layers=1", "layers=2"]).grouped_input()
        ('layers', {1.0: 'layers=1', 2.0: 'layers=2'})
        >>> print(PerformanceLaw(data_term="free", groups=["panel=0", "panel=1"]).grouped_input())
        None
        """
        if self.offset_by is not None and self.offset_levels is not None:
            return self.offset_by, {v: f"{self.offset_by}={v:g}" for v in self.offset_levels}
        if self.data_term != "free" or not self.groups:
            return None
        parts = [g.split("=", 1) for g in self.groups]
        if any(len(p) != 2 or "," in g for p, g in zip(parts, self.groups)):
            return None
        cols = {c for c, _ in parts}
        col = cols.pop() if len(cols) == 1 else None
        if col not in ("layers", "d_emb"):
            return None
        try:
            return col, {float(v): g for (_, v), g in zip(parts, self.groups)}
        except ValueError:
            return None

    def varies_with(self, column: str) -> bool:
        """Whether predictions change with ``column`` (False for a held factor's input)."""
        return (
            column in {FACTOR_INPUT[f] for f in self.factors}
            or column == "group"
            or column == self.offset_by
        )

    def fit_warnings(self, X) -> list[str]:
        if self.data_term == "dprime":
            levels = len(np.unique(X["d_prime"]))
            if levels < self._levels_needed:
                return [
                    f"only {levels} distinct D′ values: the D′ factor ({self._width} "
                    "parameters besides the intercept) is not identified; predictions "
                    "between and beyond these values are unreliable"
                    + (" (pin p, or add datasets)" if self.p is None else " (add datasets)")
                ]
        return []

    def identifiable(self, X) -> str | None:
        """Each factor has a free exponent besides its coefficient(s), and the intercept
        takes one level of its input: a factor of ``k`` parameters needs ``k + 1``
        distinct values of its input, 4 with p free and 3 with p pinned.  With one fewer,
        every exponent fits the runs equally well and predictions off the trained values
        are arbitrary.  (The D′ factor of a joint fit is only warned about, in
        :meth:`fit_warnings`: its predictions at the trained D′ values stand.)"""
        short = []
        for f in self.factors:
            col = FACTOR_INPUT[f]
            if col in X:
                n = len(np.unique(X[col]))
                if n < (3 if f == "D" else self._levels_needed):
                    short.append((f, col, n))
        if not short:
            return None
        if len(short) == len(self.factors) and all(n == 1 for *_, n in short):
            return (
                f"every run has the same {' and '.join(c for _, c, _ in short)} (one "
                "configuration): there is no curve to fit"
            )
        # an input that varies, too little, is the reason (a constant one would be dropped)
        f, col, n = sorted(short, key=lambda s: s[2] == 1)[0]
        # (two depths at many widths do not reach here: bind gives them a depth offset)
        if f == "D":  # fitted from 3 on, with a warning below what identifies it
            return f"{col} has {n} distinct value(s): the D′ factor needs at least 3"
        need = self._levels_needed
        return (
            f"{col} has {n} distinct value(s): the {f} factor ({need - 1} parameters besides "
            f"the intercept) needs at least {need}"
            + (
                " (or pin p, e.g. the authors' p = 2: 3 values)"
                if self.p is None and n == 3
                else ""
            )
        )

    def check(self, X):
        super().check(X)
        for f in self.factors:
            col = FACTOR_INPUT[f]
            if np.any(X[col] <= 0):
                raise DataError(f"input {col!r} must be positive (the law takes its logarithm)")
        if self.data_term == "free":
            g = X["group"]
            if np.any((g < 0) | (g >= len(self.groups))):
                raise DataError("group codes out of range for this law's groups")
        if self.offset_by is not None:
            v = np.asarray(X[self.offset_by], float)
            other = sorted(set(v[~np.isin(v, self.offset_levels)].tolist()))
            if other:
                have = ", ".join(f"{x:g}" for x in self.offset_levels)
                raise DataError(
                    f"the law has an intercept per {self.offset_by} value, for "
                    f"{self.offset_by} {have} only: it cannot predict {self.offset_by} "
                    f"{', '.join(f'{x:g}' for x in other)}"
                )

    # -- parameter layout (the width and constants the solve shares are in _varpro) -------
    @property
    def _levels_needed(self) -> int:
        """Distinct values of an input that identify its factor (with the intercept)."""
        return self._width + 1

    def factor_abg(self, theta: np.ndarray, f: str) -> tuple[float, float, float]:
        """``(alpha, beta, gamma)`` of factor ``f`` (``"N"``, ``"d"``, ``"D"``)."""
        i = self.factors.index(f) * self._width
        if self.p is None:
            return float(theta[i]), float(theta[i + 1]), float(theta[i + 2])
        w, w3 = float(theta[i]), float(theta[i + 1])
        return -w * w3, -w / self._pconst(f), -w3

    def _codes(self, X) -> np.ndarray | None:
        """Each row's intercept: its group's, its offset value's, or None (one for all)."""
        if self.offset_levels is not None:
            v = np.asarray(X[self.offset_by], float)
            levels = np.asarray(self.offset_levels)
            codes = np.minimum(np.searchsorted(levels, v), len(levels) - 1)
            if np.any(levels[codes] != v):  # a value with no intercept of its own
                self.check(X)  # raises, naming the values
            return codes
        if self.data_term == "free":
            return np.asarray(X["group"]).astype(int)
        return None

    def _intercept(self, theta, X):
        k = len(self.factors) * self._width
        codes = self._codes(X)
        return theta[k] if codes is None else theta[k:][codes]

    # -- declarations -----------------------------------------------------------------------
    def formula(self, theta, X):
        theta = np.asarray(theta, dtype=float)
        out = np.zeros(len(X[self.inputs[0]]), dtype=float) + self._intercept(theta, X)
        for f in self.factors:
            x = np.asarray(X[FACTOR_INPUT[f]], dtype=float)
            a, b, g = self.factor_abg(theta, f)
            out = out + a * np.log(x) + b * x**g
        return out

    def jacobian(self, theta, X):
        theta = np.asarray(theta, dtype=float)
        n = len(X[self.inputs[0]])
        J = np.zeros((n, self.n_params))
        w = self._width
        for j, f in enumerate(self.factors):
            x = np.asarray(X[FACTOR_INPUT[f]], dtype=float)
            lx = np.log(x)
            i = j * w
            if self.p is None:
                a, b, g = theta[i : i + 3]
                xg = x**g
                J[:, i], J[:, i + 1], J[:, i + 2] = lx, xg, b * xg * lx
            else:
                c, e = theta[i : i + 2]
                pk = self._pconst(f)
                xe = x ** (-e)
                J[:, i] = -xe / pk - e * lx
                J[:, i + 1] = c * (xe * lx / pk - lx)
        k = len(self.factors) * w
        codes = self._codes(X)
        if codes is None:
            J[:, k] = 1.0
        else:
            J[np.arange(n), k + codes] = 1.0
        return J

    # -- derived quantities ----------------------------------------------------------------
    def _optimum(self, theta, f):
        a, b, g = self.factor_abg(theta, f)
        if b == 0 or g == 0:
            return np.nan, "monotone"
        ratio = -a / (b * g)
        if not np.isfinite(ratio) or ratio <= 0:
            return np.nan, "monotone"
        # in log space: a tiny exponent puts the stationary point astronomically far
        # away, which must read as "far outside the range" (inf), not crash
        with np.errstate(over="ignore"):
            x = np.exp(np.log(ratio) / g)
        return float(x), ("maximum" if a * g > 0 else "minimum")

    def derived(self, theta, ranges):
        out: dict[str, float] = {}
        for f in self.factors:
            a, b, g = self.factor_abg(theta, f)
            x, kind = self._optimum(theta, f)
            out[f"{f}_opt"] = x if kind == "maximum" else np.nan
            col = FACTOR_INPUT[f]
            if col in ranges and ranges[col][0] > 0:
                # numerically: the best value of this factor inside the fitted range
                # (the boundary when the factor is monotone there)
                grid = np.geomspace(ranges[col][0], ranges[col][1], 1025)
                with np.errstate(over="ignore", invalid="ignore"):
                    vals = a * np.log(grid) + b * grid**g
                out[f"{f}_best_in_range"] = (
                    float(grid[np.nanargmax(vals)]) if np.isfinite(vals).any() else np.nan
                )
            if self.p is None:  # the authors' parameters implied by (alpha, beta, gamma)
                w = a / g if g != 0 else np.nan
                out[f"w_{f}"] = w
                out[f"exponent_{f}"] = -g  # the authors' w3 (N), w4 (d), w5 (D)
                out[f"p_{f}"] = -w / b if b != 0 else np.nan
        return out

    def notes(self, theta, ranges) -> list[str]:
        """Plain-language statements about each factor's optimum."""
        lines = []
        for f in self.constant_factors or ():
            col = FACTOR_INPUT[f]
            lo, hi = ranges.get(col, (np.nan, np.nan))
            if self.offset_by == col:
                have = ", ".join(f"{v:g}" for v in self.offset_levels or ())
                lines.append(
                    f"{col}: an intercept per value ({have}) on one shared curve, in place "
                    f"of the {f} factor (two values cannot determine its exponent): the law "
                    f"says nothing about other {col} values"
                )
                continue
            if self.data_term == "free" and lo != hi:  # absorbed by the group intercepts
                lines.append(
                    f"{col}: one value per group, carried by the group intercepts b[...]: "
                    f"the law has no {f} factor and says nothing about other {col} values"
                )
                continue
            lines.append(
                f"{col}: held at {lo:g} in every fitted run, so the law has no {f} factor "
                f"and says nothing about other {col} values"
            )
        for f in self.factors:
            col = FACTOR_INPUT[f]
            lo, hi = ranges.get(col, (np.nan, np.nan))
            x, kind = self._optimum(theta, f)
            if kind == "monotone":
                a, b, g = self.factor_abg(theta, f)
                mid = np.sqrt(lo * hi) if np.isfinite(lo) else 1.0
                slope = a + b * g * mid**g
                trend = "increasing" if slope > 0 else "decreasing"
                lines.append(f"{col}: monotone {trend} (no interior optimum)")
            elif kind == "minimum":
                lines.append(f"{col}: stationary point at {x:.4g} is a minimum, not an optimum")
            elif lo / 2 <= x <= hi * 2:
                where = "inside" if lo <= x <= hi else "near"
                lines.append(f"{col}: optimum {x:.4g} ({where} the fitted range {lo:g}-{hi:g})")
            else:
                lines.append(
                    f"{col}: optimum {x:.4g} is far outside the fitted range {lo:g}-{hi:g} "
                    "(extrapolation; not trusted)"
                )
        return lines
