"""perflaw: data quality and performance laws for sequential recommenders."""

from perflaw._version import __version__
from perflaw.errors import (
    ConvergenceError,
    DataError,
    LawFileError,
    NotFittedError,
    PerflawError,
)
from perflaw.allocation import Allocation, allocate, closest_config, compute_optimal
from perflaw.budget import Recommendation, parse_budget, recommend
from perflaw.fit import ExtrapolationWarning, LawFitter, load_fits, load_fitter, save_fits
from perflaw.laws import ChinchillaLaw, Law, PerformanceLaw, PowerLaw, get_law, register
from perflaw.params import ParameterCount, count_parameters
from perflaw.runs import Runs, read_runs

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
    "Law",
    "LawFitter",
    "LawFileError",
    "NotFittedError",
    "ParameterCount",
    "PerflawError",
    "PerformanceLaw",
    "Recommendation",
    "Runs",
    "count_parameters",
    "get_law",
    "load_fits",
    "load_fitter",
    "parse_budget",
    "read_runs",
    "recommend",
    "register",
    "save_fits",
]
