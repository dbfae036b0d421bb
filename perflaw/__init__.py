"""perflaw: data quality and performance laws for sequential recommenders."""

from perflaw._version import __version__
from perflaw.errors import (
    ConvergenceError,
    DataError,
    LawFileError,
    NotFittedError,
    PerflawError,
)
from perflaw.params import ParameterCount, count_parameters
from perflaw.quality.entropy import (
    actual_entropy,
    approximate_entropy,
    compression_ratio,
    shannon_entropy,
)
from perflaw.quality.report import QualityReport, measure
from perflaw.io import read_log
from perflaw.sequences import Sequences

__all__ = [
    "__version__",
    "ConvergenceError",
    "DataError",
    "LawFileError",
    "NotFittedError",
    "ParameterCount",
    "PerflawError",
    "QualityReport",
    "Sequences",
    "actual_entropy",
    "approximate_entropy",
    "compression_ratio",
    "count_parameters",
    "measure",
    "read_log",
    "shannon_entropy",
]
