"""Fitting laws to runs, one file per job, each pointing down to :mod:`perflaw.laws`:

=========== =========================================================================
fitter      :class:`LawFitter`: fit, predict, bootstrap, leave-one-out, predictive draws
rows        the rows a fit reads, and the inputs a law reads from them
solve       multi-start bounded least squares, the best start, bootstrap refits
diagnostics goodness of fit, covariance, the plain-words warnings of a fit
intervals   the whole interval policy (calibration, the trained edge, draws)
rolling     the rolling-origin backtest's predictions
evidence    a form against carry-forward: paired t, ties, one-origin verdicts
selection   :func:`backtest`, :func:`choose_form` and :class:`FormSelector`, a
            meta-estimator over the fitter (``FormSelector(...).fit(X, y)`` ->
            ``best_``, ``calibration_``, ``alternatives_``)
lawfile     the law file: to and from a dict, validation, save and load
report      the one fit record every output format prints
=========== =========================================================================

Names are loaded on first use, as :mod:`perflaw` loads its own.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

#: public name -> module that defines it
_EXPORTS: dict[str, str] = {
    "ExtrapolationWarning": "perflaw.fitting.fitter",
    "LawFitter": "perflaw.fitting.fitter",
    "load_fits": "perflaw.fitting.fitter",
    "load_fitter": "perflaw.fitting.fitter",
    "save_fits": "perflaw.fitting.lawfile",
    "BacktestResult": "perflaw.fitting.rolling",
    "backtest": "perflaw.fitting.selection",
    "choose_form": "perflaw.fitting.selection",
    "FormSelector": "perflaw.fitting.selection",
    "Selection": "perflaw.fitting.selection",
    "fit_record": "perflaw.fitting.report",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'perflaw.fitting' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))


if TYPE_CHECKING:  # static checkers and IDEs see the real objects
    from perflaw.fitting.fitter import ExtrapolationWarning, LawFitter, load_fits, load_fitter  # noqa: F401
    from perflaw.fitting.lawfile import save_fits  # noqa: F401
    from perflaw.fitting.report import fit_record  # noqa: F401
    from perflaw.fitting.rolling import BacktestResult  # noqa: F401
    from perflaw.fitting.selection import FormSelector, Selection, backtest, choose_form  # noqa: F401
