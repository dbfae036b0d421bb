"""SIGINT and SIGTERM end perflaw with one line and exit 130 / 143, cleaning up first.

Python turns SIGINT into ``KeyboardInterrupt``; :func:`handled` makes SIGTERM raise
:class:`~perflaw.errors.Terminated` likewise, so every ``finally`` block runs: temporary
output files (:mod:`perflaw.files`) and spill folders are removed, previous outputs are
untouched.  The first signal decides; signals arriving while cleaning up are ignored so
the cleanup is not cut short.  Standard library only, so it can be installed before
anything heavy is imported.
"""

from __future__ import annotations

import contextlib
import linecache
import os
import signal
import threading
from collections.abc import Iterator

from perflaw.errors import Terminated

#: Exit status for each signal: 128 + the signal number, as shells report it.
EXIT_CODES = {signal.SIGINT: 130, signal.SIGTERM: 143}

_fired: list[int] = []
#: Outputs already put in place by this command (perflaw.files appends after its atomic
#: rename): a signal arriving after that, while the command prints or exits, cannot undo
#: them, so the stop message names them instead of claiming every output is unchanged.
written: list[str] = []
#: Modules whose Python code must not be cut in half: an exception raised inside numba's
#: compiler or cache loader leaves a half-built dispatcher that crashes (segfault) when
#: called later; one raised in the atomic writer's own bookkeeping (perflaw.files:
#: between creating its temporary file and the try that removes it, or in a context
#: manager's ``__enter__`` between the yield and the with block taking over, or in its
#: ``__exit__`` before it resumes the generator) leaves that file behind; one raised in
#: Python code that polars' Rust core called back (a conversion) makes polars panic, a
#: multi-line Rust message and exit 1 (seen once in CI).  A signal arriving there is
#: delivered again shortly after, once control is back in perflaw.  The writing itself
#: (the caller's with block) stays interruptible.
_CRITICAL = ("numba.", "llvmlite.", "perflaw.files", "polars.")
RETRY_SECONDS = 0.05
_CONTEXT_METHODS = ("__enter__", "__exit__")


#: Where the standard library's thread code may be cut: a blocking lock acquire inside a
#: wait or join, which it guards with try/finally (that is where a Ctrl-C lands while
#: perflaw waits for its worker threads).  Anywhere else in ``threading`` an exception
#: can leave a lock held: ``Condition.__enter__`` is Python code around the C acquire,
#: and an exception raised as that acquire returns escapes before the caller's with
#: block is entered, so nobody releases the lock.  Seen in CI (2026-12-02): SIGINT in
#: the main thread's ``Semaphore.acquire`` inside ``ThreadPoolExecutor.submit`` left the
#: executor's idle semaphore locked, its workers blocked in ``release`` and the shutdown
#: waiting for them, forever (reproduced in-process: tests/test_signals.py).
#: (Read from threading's source line; were the source missing, every line would count as
#: critical: a signal during a wait would then be delivered once the wait ends, late but
#: never lost.)
_BLOCKING_WAITS = ("wait", "join", "_wait_for_tstate_lock")
_BLOCKING_CALLS = (".acquire(", ".join(")


def _cuts_a_thread_lock(frame) -> bool:
    """Whether an exception raised in ``frame``, the innermost one, could leave a lock of
    :mod:`threading` (or of a future) held, or a count it keeps wrong."""
    module = frame.f_globals.get("__name__")
    if module == "concurrent.futures._base":
        # _AcquireFutures takes every future's lock in a Python loop (futures.wait,
        # as_completed): cut half-way, the ones taken stay held
        return frame.f_code.co_name in _CONTEXT_METHODS
    if module != "threading":
        return False
    if frame.f_code.co_name in _BLOCKING_WAITS:
        line = linecache.getline(frame.f_code.co_filename, frame.f_lineno)
        return not any(call in line for call in _BLOCKING_CALLS)
    return True


def _in_critical(frame) -> bool:
    if frame is not None and _cuts_a_thread_lock(frame):
        return True
    while frame is not None:
        if str(frame.f_globals.get("__name__", "")).startswith(_CRITICAL):
            return True
        if frame.f_code.co_name == "__del__":  # an exception there would be swallowed
            return True
        if frame.f_code.co_name in _CONTEXT_METHODS and (
            frame.f_globals.get("__name__") == "contextlib"
        ):
            # contextlib's __exit__ is entered, and can be cut, before it resumes the
            # generator: an exception there leaves the generator suspended at its yield,
            # its finally (the temporary file's removal) left to the garbage collector,
            # which may never run it (seen once in CI: a .perflaw-tmp- file after SIGINT)
            return True
        frame = frame.f_back
    return False


#: Signals deferred out of a critical section and not yet delivered again (signal number
#: -> its timer); :func:`handled` settles them when the command ends.
_deferred: dict[int, threading.Timer] = {}
_deferred_lock = threading.Lock()


def _resend(signum: int) -> None:
    with _deferred_lock:
        if _deferred.pop(signum, None) is None:  # settled by handled() in the meantime
            return
    os.kill(os.getpid(), signum)


def _handler(signum, frame) -> None:
    if _fired:  # cleaning up after the first signal: let it finish
        return
    if _in_critical(frame):
        with _deferred_lock:
            if signum not in _deferred:  # one re-send at a time per signal
                timer = threading.Timer(RETRY_SECONDS, _resend, (signum,))
                timer.daemon = True
                _deferred[signum] = timer
                timer.start()
        return
    _fired.append(signum)
    if signum == signal.SIGINT:
        raise KeyboardInterrupt
    raise Terminated(signum)


@contextlib.contextmanager
def handled() -> Iterator[None]:
    """Install the handlers for the duration of a command (main thread only)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    old = {s: signal.getsignal(s) for s in EXIT_CODES}
    _fired.clear()
    written.clear()
    _settle_deferred()
    signal.signal(signal.SIGTERM, _handler)
    if old[signal.SIGINT] is not signal.SIG_IGN:  # nohup / background jobs keep ignoring
        signal.signal(signal.SIGINT, _handler)
    swallowed = False
    try:
        yield
    except SystemExit as exc:
        # The command ended as a success although a signal fired: its exception was
        # swallowed where Python cannot pass one on (a weakref callback, a __del__,
        # prints "Exception ignored in ...").  The signal still decides the exit.
        swallowed = bool(_fired) and exc.code in (0, None)
        if not swallowed:
            raise
    else:
        swallowed = bool(_fired)
    finally:
        # _fired stays set: a signal that already decided the exit must not fire again
        # while the interpreter unwinds
        left = _settle_deferred()
        for s, h in old.items():
            signal.signal(s, h if h is not None else signal.SIG_DFL)
        if left and not _fired:
            # a signal deferred out of the command's last critical section (its own
            # exit from this context manager, say) would otherwise be re-sent after these
            # handlers are gone: a traceback, or a silent kill for SIGTERM.  It still
            # decides the exit, here.
            _fired.append(left[0])
            stop = stopping_exception()
            assert stop is not None
            raise stop
    if swallowed:
        stop = stopping_exception()
        assert stop is not None
        raise stop


def _settle_deferred() -> list[int]:
    """Cancel the pending re-sends; return the signals they were for."""
    with _deferred_lock:
        left = list(_deferred)
        for timer in _deferred.values():
            timer.cancel()
        _deferred.clear()
    return left


def stopping_exception() -> BaseException | None:
    """The signal already received, as an exception, or None.

    Whatever error surfaces after a signal is its consequence: an extension module cut
    in its import raises ``TypeError: expected a message argument``, a reader catching
    every exception reports a read error.  The command line reports the signal instead.
    """
    if not _fired:
        return None
    return KeyboardInterrupt() if _fired[0] == signal.SIGINT else Terminated(_fired[0])


def record(exc: BaseException) -> None:
    """Note that ``exc``, a KeyboardInterrupt or Terminated the command line caught and
    reports, stops the command, if no signal through :func:`_handler` did already.

    An extension can raise KeyboardInterrupt itself: polars' ``collect`` does when SIGINT
    arrives while it runs, and perflaw's handler has deferred the same signal (polars is
    a critical section).  Unrecorded, the deferred copy then stopped the command a second
    time as it ended, and the stop line was printed twice (seen in CI, 2026-12-02).
    """
    if not _fired:
        _fired.append(int(exc.signum) if isinstance(exc, Terminated) else signal.SIGINT)


def exit_code(exc: BaseException) -> int:
    """130 for KeyboardInterrupt (SIGINT), 143 for SIGTERM."""
    if isinstance(exc, Terminated):
        return 128 + int(exc.signum)
    return 130


def message(exc: BaseException) -> str:
    """The one line printed when a signal stops a command."""
    name = "SIGTERM" if isinstance(exc, Terminated) else "SIGINT (Ctrl-C)"
    if written:
        done = ", ".join(dict.fromkeys(written))  # a path written twice is named once
        return (
            f"stopped by {name} after writing {done} in full; temporary files and spill "
            "folders were removed, other previous outputs are unchanged"
        )
    return (
        f"stopped by {name}; temporary files and spill folders were removed, previous "
        "outputs are unchanged"
    )
