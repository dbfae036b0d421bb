"""Exceptions raised by perflaw.

Every error a user can cause is a :class:`PerflawError`; its message is one line that
names the file, column, option or value at fault.  The command line turns these into
``click.ClickException`` (exit code 1) and never shows a traceback.
"""

from __future__ import annotations


class PerflawError(Exception):
    """Base class of every error perflaw raises on purpose."""


class DataError(PerflawError, ValueError):
    """The input data (a log, a runs table, an argument value) is unusable as given."""


class ConvergenceError(PerflawError, RuntimeError):
    """A fit did not converge; no parameters are reported."""


class NotFittedError(PerflawError, AttributeError):
    """A fitted-only method was called on an estimator that was not fitted."""


class LawFileError(PerflawError, ValueError):
    """A saved law file is missing, malformed or from an incompatible version."""
