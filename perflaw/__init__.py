"""perflaw: data quality and performance laws for sequential recommenders."""

from perflaw._version import __version__
from perflaw.decide.budget import Recommendation, parse_budget, recommend
from perflaw.errors import (
    ConvergenceError,
    DataError,
    LawFileError,
    NotFittedError,
    PerflawError,
)
from perflaw.decide.allocation import Allocation, allocate, closest_config, compute_optimal
from perflaw.fit import ExtrapolationWarning, LawFitter, load_fits, load_fitter, save_fits
from perflaw.io import read_log
from perflaw.laws import ChinchillaLaw, Law, PerformanceLaw, PowerLaw, get_law, register
from perflaw.decide.params import ParameterCount, count_parameters
from perflaw.quality.entropy import (
    actual_entropy,
    approximate_entropy,
    compression_ratio,
    shannon_entropy,
)
from perflaw.quality.report import QualityReport, measure
from perflaw.runs import Runs, read_runs
from perflaw.sequences import Sequences

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
