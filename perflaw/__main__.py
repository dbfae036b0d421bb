"""``python -m perflaw``: the command line (:mod:`perflaw.cli`).

The signal handlers go in before the command line is even imported, so Ctrl-C or
SIGTERM while perflaw starts ends with one line and exit 130 / 143, not a traceback.
"""

import signal
import sys

from perflaw import _signals
from perflaw.errors import Terminated


def run() -> None:
    """Start the command line with SIGINT and SIGTERM handled from the first moment."""
    if signal.getsignal(signal.SIGINT) is not signal.SIG_IGN:
        signal.signal(signal.SIGINT, _signals._handler)
    signal.signal(signal.SIGTERM, _signals._handler)
    try:
        from perflaw.cli import main

        main(prog_name="perflaw")
    except (KeyboardInterrupt, Terminated) as exc:  # while starting, or while unwinding
        sys.stderr.write(f"Error: {_signals.message(exc)}\n")
        sys.exit(_signals.exit_code(exc))
    finally:
        # the command has finished (its exit status is decided): a signal arriving
        # while the interpreter shuts down must not turn it into a crash
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        signal.signal(signal.SIGTERM, signal.SIG_IGN)


if __name__ == "__main__":  # pragma: no cover
    run()
