"""``python -m perflaw``: the command line (:mod:`perflaw.cli`).

The signal handlers go in before the command line is even imported, so Ctrl-C or
SIGTERM while perflaw starts ends with one line and exit 130 / 143, not a traceback.
"""

import os
import signal
import sys

from perflaw import _signals
from perflaw.errors import Terminated


def _ignore_signals() -> None:
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)


def run() -> None:
    """Start the command line with SIGINT and SIGTERM handled from the first moment."""
    if signal.getsignal(signal.SIGINT) is not signal.SIG_IGN:
        signal.signal(signal.SIGINT, _signals._handler)
    signal.signal(signal.SIGTERM, _signals._handler)
    status: int = 0
    try:
        try:
            from perflaw.cli import main

            main(prog_name="perflaw")
        except SystemExit as exc:
            status = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
        finally:
            # Stop handling signals while still inside the outer try: a signal that lands
            # in this except clause, or is pending when signal.signal() runs the old
            # handler first, raises here and is reported below, not as a traceback.
            _ignore_signals()
    except (KeyboardInterrupt, Terminated) as exc:  # while starting, or while unwinding
        _signals.record(exc)
        sys.stderr.write(f"Error: {_signals.message(exc)}\n")
        status = _signals.exit_code(exc)
    # the exit status is decided: a signal arriving now must not turn it into a crash
    _ignore_signals()
    if _signals._fired:
        # After a signal, leave at once: clean-up has run (finally blocks), and an
        # interrupt that an extension saw inside its own PyRun_* call would otherwise
        # make the interpreter kill itself with SIGINT at exit (status -2, not 130).
        for stream in (sys.stdout, sys.stderr):
            try:
                stream.flush()
            except Exception:  # noqa: BLE001 - a closed pipe: nothing more to say
                pass
        os._exit(status)
    sys.exit(status)


if __name__ == "__main__":  # pragma: no cover
    run()
