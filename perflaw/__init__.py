"""perflaw: data quality and performance laws for sequential recommenders.

The public API is re-exported here and loaded on first use, so ``import perflaw`` (and
``perflaw --help``) stay fast: numpy, polars, numba and scipy are imported only when a
name that needs them is touched.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from perflaw._version import __version__

#: public name -> module that defines it
_EXPORTS: dict[str, str] = {
    "Allocation": "perflaw.decide.allocation",
    "allocate": "perflaw.decide.allocation",
    "closest_config": "perflaw.decide.allocation",
    "compute_optimal": "perflaw.decide.allocation",
    "Decision": "perflaw.decide.acquire",
    "next_runs": "perflaw.decide.acquire",
    "seed_design": "perflaw.decide.acquire",
    "score_ledger": "perflaw.decide.loop",
    "simulate_loop": "perflaw.decide.simulate",
    "Recommendation": "perflaw.decide.budget",
    "parse_budget": "perflaw.decide.budget",
    "recommend": "perflaw.decide.budget",
    "backtest": "perflaw.fitting.selection",
    "BacktestResult": "perflaw.fitting.rolling",
    "choose_form": "perflaw.fitting.selection",
    "FormSelector": "perflaw.fitting.selection",
    "ConvergenceError": "perflaw.errors",
    "DataError": "perflaw.errors",
    "FileError": "perflaw.errors",
    "LawFileError": "perflaw.errors",
    "NotFittedError": "perflaw.errors",
    "PerflawError": "perflaw.errors",
    "ExtrapolationWarning": "perflaw.fitting.fitter",
    "LawFitter": "perflaw.fitting.fitter",
    "load_fits": "perflaw.fitting.fitter",
    "load_fitter": "perflaw.fitting.fitter",
    "save_fits": "perflaw.fitting.lawfile",
    "parse_condition": "perflaw.conditions",
    "read_log": "perflaw.io",
    "plot_apen": "perflaw.plot",
    "plot_backtest": "perflaw.plot",
    "plot_fitter": "perflaw.plot",
    "plot_recommendation": "perflaw.plot",
    "plot_surface": "perflaw.plot",
    "CarryForwardLaw": "perflaw.laws",
    "ChinchillaLaw": "perflaw.laws",
    "LogLinearLaw": "perflaw.laws",
    "SaturatingLaw": "perflaw.laws",
    "Law": "perflaw.laws",
    "PerformanceLaw": "perflaw.laws",
    "PowerLaw": "perflaw.laws",
    "get_law": "perflaw.laws",
    "register": "perflaw.laws",
    "ParameterCount": "perflaw.decide.params",
    "count_parameters": "perflaw.decide.params",
    "measure": "perflaw.quality",
    "DataFacts": "perflaw.quality.facts",
    "data_facts": "perflaw.quality.facts",
    "actual_entropy": "perflaw.quality.entropy",
    "approximate_entropy": "perflaw.quality.entropy",
    "compression_ratio": "perflaw.quality.entropy",
    "shannon_entropy": "perflaw.quality.entropy",
    "MeasureOptions": "perflaw.quality.summary",
    "QualityReport": "perflaw.quality.summary",
    "Runs": "perflaw.runs",
    "read_runs": "perflaw.runs",
    "Sequences": "perflaw.sequences",
}

__all__ = ["__version__", *sorted(_EXPORTS)]


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'perflaw' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value  # later lookups skip this function
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))


if TYPE_CHECKING:  # static checkers and IDEs see the real objects
    from perflaw.conditions import parse_condition
    from perflaw.decide.allocation import Allocation, allocate, closest_config, compute_optimal
    from perflaw.decide.budget import Recommendation, parse_budget, recommend
    from perflaw.decide.params import ParameterCount, count_parameters
    from perflaw.errors import (
        ConvergenceError,
        DataError,
        FileError,
        LawFileError,
        NotFittedError,
        PerflawError,
    )
    from perflaw.fitting.fitter import ExtrapolationWarning, LawFitter, load_fits, load_fitter
    from perflaw.fitting.lawfile import save_fits
    from perflaw.fitting.rolling import BacktestResult
    from perflaw.fitting.selection import FormSelector, backtest, choose_form
    from perflaw.io import read_log
    from perflaw.laws import ChinchillaLaw, Law, PerformanceLaw, PowerLaw, get_law, register
    from perflaw.plot import (
        plot_apen,
        plot_backtest,
        plot_fitter,
        plot_recommendation,
        plot_surface,
    )
    from perflaw.quality import measure
    from perflaw.quality.entropy import (
        actual_entropy,
        approximate_entropy,
        compression_ratio,
        shannon_entropy,
    )
    from perflaw.quality.facts import DataFacts, data_facts
    from perflaw.quality.summary import MeasureOptions, QualityReport
    from perflaw.runs import Runs, read_runs
    from perflaw.sequences import Sequences
