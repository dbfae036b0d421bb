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


class FileError(PerflawError, OSError):
    """A file or folder cannot be read or written (missing folder, read-only file system,
    disk full, permission), or an output would overwrite an input or a foreign folder.

    The message is one line naming the path and what to do; any previous output at that
    path is unchanged.
    """


class Terminated(BaseException):
    """Raised in the main thread by perflaw's SIGTERM handler (like KeyboardInterrupt for
    SIGINT), so ``finally`` blocks remove temporary files and spill folders.

    A ``BaseException`` so that ``except Exception`` in library code cannot swallow it.
    """

    def __init__(self, signum: int = 15) -> None:
        super().__init__(signum)
        self.signum = signum
