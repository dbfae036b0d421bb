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

__all__ = [
    "__version__",
    "ConvergenceError",
    "DataError",
    "LawFileError",
    "NotFittedError",
    "ParameterCount",
    "PerflawError",
    "count_parameters",
]
