"""The declaration every law makes, and the registry the fitter reads.

A *law* is a small declaration; :class:`perflaw.fitting.LawFitter` does all the work
(multi-start, bounded least squares, Huber loss, bootstrap, holdout, diagnostics,
prediction intervals, saving).  To add a law, subclass :class:`Law` and register it:

.. code-block:: python

    from perflaw.laws.base import Law, register

    @register
    class PowerLaw(Law):
        name = "power"                         # registry key, used by --law and files
        latex = r"y = E + A\\,N^{-\\alpha}"
        inputs = ("n_params",)                 # columns of X the formula reads
        param_names = ("E", "A", "alpha")
        default_bounds = {"A": (0, np.inf), "alpha": (0, 3)}

        def formula(self, theta, X):           # vectorised over rows of X
            E, A, alpha = theta
            return E + A * X["n_params"] ** (-alpha)

        def start_grid(self, X, y):            # deterministic starts, one row each
            return np.array([[y.min(), 1.0, a] for a in (0.1, 0.5, 1.0)])

Extension points (override only what the law needs):

``param_names``, ``default_bounds``
    Parameter order of ``theta`` and box bounds (missing names are unbounded).  Names
    may depend on options (e.g. one intercept per group); then set them in ``__init__``.
``inputs``
    Names of the columns of ``X`` (a ``dict`` of 1-D float arrays) the law needs.  A
    joint fit across groups reads integer group codes from ``X["group"]``.
``formula(theta, X)``
    The vectorised prediction.  Required.
``jacobian(theta, X)``
    ``(n_rows, n_params)`` derivative of ``formula``; return ``None`` (the default) to
    let scipy use finite differences.
``start_grid(X, y)``
    Deterministic starting points ``(n_starts, n_params)``.  The fitter adds seeded
    random starts drawn inside the bounds (around the grid where a bound is infinite).
``derived(theta, ranges)``
    Named derived quantities (an optimum, a compute-optimal allocation ...) as a
    ``dict`` of floats; ``ranges`` maps each input to its fitted ``(min, max)``.  The
    fitter bootstraps them like parameters.
``solve(X, y, *, loss, huber_delta, rng, n_random, init)``
    Optional law-specific solver (e.g. variable projection).  Return a list of
    :class:`Start` (one per start tried); the fitter keeps the best and counts how many
    starts reached it.  Return ``NotImplemented`` (the default) to use the generic
    multi-start bounded least squares.
``notes(theta, ranges)``, ``diagnose(theta, ranges)``
    Optional: plain-language notes about the fit (``notes_``), and warnings about it
    (``warnings_``: a variable spanning less than a decade, implausible exponents ...).
``objective_text``
    Optional: words for the objective when the law's own solver ignores the fitter's
    ``loss`` (shown as the summary's loss line).
``fit_warnings(X)``
    Messages warned before a fit (e.g. too few distinct values to identify a term).
``options()``
    Keyword arguments that rebuild the law (``type(law)(**law.options())``); saved in
    law files.  ``check(X)`` validates the inputs (positivity ...).
"""

from __future__ import annotations

import inspect
from dataclasses import dataclass, field
from typing import Any, ClassVar

import numpy as np

from perflaw.errors import DataError
from perflaw.laws.scales import bounded_metric, higher_is_better

__all__ = ["LAWS", "Law", "Start", "get_law", "higher_is_better", "loss_value", "register"]

LAWS: dict[str, type[Law]] = {}


@dataclass
class Start:
    """The outcome of one start of a fit.

    Attributes
    ----------
    theta : ndarray
        Parameter vector reached (in ``param_names`` order).
    cost : float
        Loss at ``theta`` (``0.5·Σr²`` for L2, scipy's Huber cost for Huber).
    success : bool
        Whether the local solver reported convergence.
    message : str
        The solver's message.
    """

    theta: np.ndarray
    cost: float
    success: bool
    message: str = ""
    start: np.ndarray | None = field(default=None, repr=False)


def loss_value(residuals: np.ndarray, loss: str, delta: float | None) -> float:
    """The cost the fitter minimises, identical to scipy ``least_squares``.

    Examples
    --------
    >>> loss_value(np.array([1.0, -2.0]), "l2", None)
    2.5
    >>> round(loss_value(np.array([0.5, 3.0]), "huber", 1.0), 6)  # 0.5*(0.25 + (2*3-1))
    2.625
    """
    r = np.asarray(residuals, dtype=float)
    if loss == "l2":
        return 0.5 * float(r @ r)
    if loss == "huber":
        if delta is None:
            raise DataError("the huber loss needs a delta")
        z = (r / delta) ** 2
        rho = np.where(z <= 1.0, z, 2.0 * np.sqrt(z) - 1.0)
        return 0.5 * delta**2 * float(rho.sum())
    raise DataError(f"unknown loss {loss!r}: use 'l2' or 'huber'")


class Law:
    """Base class of a law declaration (see the module docstring)."""

    name: ClassVar[str] = ""
    # per instance where an option changes the form (carry-forward along d_emb)
    latex: str = ""
    description: str = ""
    inputs: tuple[str, ...] = ()
    param_names: tuple[str, ...] = ()
    default_bounds: dict[str, tuple[float, float]] = {}
    #: "law" (a scaling law) or "baseline" (a plain form a law has to beat)
    kind: ClassVar[str] = "law"
    #: a lookup with one parameter per trained cell (no residual degrees of freedom)
    nonparametric: ClassVar[bool] = False
    #: residual degrees of freedom a fit needs (0: an exact interpolation is a fit too)
    min_dof: ClassVar[int] = 1
    #: words for each input, used by summaries, plots and error messages
    input_labels: ClassVar[dict[str, str]] = {
        "layers": "layers",
        "d_emb": "embedding dim",
        "d_prime": "D′ (quality-adjusted data)",
    }
    #: a law of named columns (power, Chinchilla): the ``perflaw fit`` option naming the
    #: column of each input, the law option keeping that name, and the ``perflaw predict``
    #: option giving values of each input (empty for a law of layers and d_emb)
    column_options: ClassVar[dict[str, str]] = {}
    label_options: ClassVar[dict[str, str]] = {}
    predict_options: ClassVar[dict[str, str]] = {}
    #: what recommend-config budgets for this law: "params", "flops" or None
    budget_kind: ClassVar[str | None] = "params"
    #: plotting: the input on the x axis (log scale) and the input drawn as one line per
    #: value (None: a single series); None for plot_x draws observed against fitted
    plot_x: ClassVar[str | None] = "layers"
    plot_series: ClassVar[str | None] = "d_emb"
    #: candidate forms this law offers to ``--form`` / the backtest: name -> (simplicity
    #: rank, law options); lower ranks are simpler and win ties (see perflaw.laws.forms)
    candidate_forms: ClassVar[dict[str, tuple[int, dict[str, Any]]]] = {}
    #: Labels of the per-group terms, in code order (laws whose inputs include "group").
    groups: list[str]

    # -- declarations a law overrides -------------------------------------------------
    def formula(self, theta: np.ndarray, X: dict[str, np.ndarray]) -> np.ndarray:
        raise NotImplementedError

    def jacobian(self, theta: np.ndarray, X: dict[str, np.ndarray]) -> np.ndarray | None:
        return None

    def start_grid(self, X: dict[str, np.ndarray], y: np.ndarray) -> np.ndarray:
        return np.zeros((1, len(self.param_names)))

    def derived(self, theta: np.ndarray, ranges: dict[str, tuple[float, float]]) -> dict:
        return {}

    def solve(self, X, y, *, loss, huber_delta, rng, n_random, init=None):
        return NotImplemented

    def options(self) -> dict[str, Any]:
        return {}

    @property
    def objective_text(self) -> str | None:
        """The objective in words when the law's own solver ignores the fitter's loss."""
        return None

    def bind(self, X: dict[str, np.ndarray]) -> Law:
        """This law configured for the data (e.g. its trained widths); default: itself."""
        return self

    def varies_with(self, column: str) -> bool:
        """Whether the law's predictions can change with input ``column`` (a law bound to
        runs that held an input fixed may ignore it; the backtest then does not score it
        along that axis)."""
        return column in self.inputs

    def grouped_input(self) -> tuple[str, dict[float, str]] | None:
        """``(column, {value: group label})`` when the law's per-group terms are one per
        value of one of its inputs (each configuration then takes its own value's term);
        None for other laws."""
        return None

    def identifiable(self, X: dict[str, np.ndarray]) -> str | None:
        """``None`` when these rows can determine the law's parameters, else why not."""
        return None

    def guess_transform(self, metric: str | None, y: np.ndarray) -> str:
        """The scale to fit on: ``"logit"`` for a rate in (0, 1) (predictions and
        interval ends then stay inside it), ``"none"`` otherwise."""
        return "logit" if bounded_metric(metric, y) else "none"

    def fit_warnings(self, X: dict[str, np.ndarray]) -> list[str]:
        """Messages the fitter emits as warnings before fitting (identifiability ...)."""
        return []

    def check(self, X: dict[str, np.ndarray]) -> None:
        """Raise :class:`DataError` if an input is missing or outside the domain."""
        for name in self.inputs:
            if name not in X:
                raise DataError(f"law {self.name!r} needs input {name!r}")
            if not np.all(np.isfinite(X[name])):
                raise DataError(f"input {name!r} has missing or non-finite values")

    # -- helpers the fitter uses --------------------------------------------------------
    @property
    def n_params(self) -> int:
        return len(self.param_names)

    def bounds(self) -> tuple[np.ndarray, np.ndarray]:
        """Lower and upper bound arrays in ``param_names`` order."""
        lo = np.full(self.n_params, -np.inf)
        hi = np.full(self.n_params, np.inf)
        for i, name in enumerate(self.param_names):
            if name in self.default_bounds:
                lo[i], hi[i] = self.default_bounds[name]
        return lo, hi

    def __repr__(self) -> str:
        opts = ", ".join(f"{k}={v!r}" for k, v in self.options().items())
        return f"{type(self).__name__}({opts})"


def register(cls: type[Law]) -> type[Law]:
    """Class decorator adding a law to :data:`LAWS` under ``cls.name``."""
    if not cls.name:
        raise ValueError("a registered law needs a name")
    LAWS[cls.name] = cls
    return cls


def get_law(name: str | Law, **options: Any) -> Law:
    """Build a registered law by name (case-insensitive) with its options.

    Examples
    --------
    >>> get_law("performance").name
    'performance'
    >>> get_law("nope")
    Traceback (most recent call last):
    ...
    perflaw.errors.DataError: unknown law 'nope': use one of ...
    """
    if isinstance(name, Law):
        return name
    # the built-in laws are registered by the package perflaw.laws, which Python runs
    # before this module whatever the import spelling
    key = str(name).lower()
    if key not in LAWS:
        raise DataError(f"unknown law {name!r}: use one of {', '.join(sorted(LAWS))}")
    accepted = inspect.signature(LAWS[key].__init__).parameters
    unknown = sorted(set(options) - set(accepted))
    if unknown and not any(p.kind is p.VAR_KEYWORD for p in accepted.values()):
        raise DataError(
            f"law {key!r} has no option {unknown[0]!r}: its options are "
            f"{', '.join(a for a in accepted if a != 'self') or 'none'}"
        )
    return LAWS[key](**options)
