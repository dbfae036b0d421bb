"""perflaw: data quality and performance laws for sequential recommenders.

The public names are imported on first use (PEP 562), so ``import perflaw`` and the
``perflaw`` command start fast and Ctrl-C while starting is handled like any other.
"""

from __future__ import annotations

import importlib

from perflaw._version import __version__

#: public name -> module defining it
_LAZY = {
    "Recommendation": "perflaw.budget",
    "parse_budget": "perflaw.budget",
    "recommend": "perflaw.budget",
    "ConvergenceError": "perflaw.errors",
    "DataError": "perflaw.errors",
    "FileError": "perflaw.errors",
    "LawFileError": "perflaw.errors",
    "NotFittedError": "perflaw.errors",
    "PerflawError": "perflaw.errors",
    "Allocation": "perflaw.allocation",
    "allocate": "perflaw.allocation",
    "closest_config": "perflaw.allocation",
    "compute_optimal": "perflaw.allocation",
    "ExtrapolationWarning": "perflaw.fit",
    "LawFitter": "perflaw.fit",
    "load_fits": "perflaw.fit",
    "load_fitter": "perflaw.fit",
    "save_fits": "perflaw.fit",
    "read_log": "perflaw.io",
    "ChinchillaLaw": "perflaw.laws",
    "Law": "perflaw.laws",
    "PerformanceLaw": "perflaw.laws",
    "PowerLaw": "perflaw.laws",
    "get_law": "perflaw.laws",
    "register": "perflaw.laws",
    "ParameterCount": "perflaw.params",
    "count_parameters": "perflaw.params",
    "actual_entropy": "perflaw.quality.entropy",
    "approximate_entropy": "perflaw.quality.entropy",
    "compression_ratio": "perflaw.quality.entropy",
    "shannon_entropy": "perflaw.quality.entropy",
    "QualityReport": "perflaw.quality.report",
    "measure": "perflaw.quality.report",
    "Runs": "perflaw.runs",
    "read_runs": "perflaw.runs",
    "Sequences": "perflaw.sequences",
}


__all__ = [
    "__version__",
    "Allocation",
    "ChinchillaLaw",
    "PowerLaw",
    "allocate",
    "closest_config",
    "compute_optimal",
    "ConvergenceError",
    "DataError",
    "ExtrapolationWarning",
    "FileError",
    "Law",
    "LawFitter",
    "LawFileError",
    "NotFittedError",
    "ParameterCount",
    "PerflawError",
    "PerformanceLaw",
    "QualityReport",
    "Recommendation",
    "Runs",
    "Sequences",
    "actual_entropy",
    "approximate_entropy",
    "compression_ratio",
    "count_parameters",
    "get_law",
    "load_fits",
    "load_fitter",
    "measure",
    "parse_budget",
    "read_log",
    "read_runs",
    "recommend",
    "register",
    "save_fits",
    "shannon_entropy",
]


def __getattr__(name: str):
    module = _LAZY.get(name)
    if module is not None:
        value = getattr(importlib.import_module(module), name)
        globals()[name] = value
        return value
    try:
        return importlib.import_module(f"{__name__}.{name}")
    except ModuleNotFoundError:
        raise AttributeError(f"module 'perflaw' has no attribute {name!r}") from None


def __dir__():
    return sorted(set(globals()) | set(__all__))
