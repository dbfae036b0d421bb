"""perflaw._signals in process: where a signal may cut the standard library's thread code.

A Ctrl-C raised as ``Condition.__enter__`` returns (after its C acquire, before the
caller's with block) leaves the condition's lock held for ever; in CI that hung
``perflaw apen`` inside ``ThreadPoolExecutor`` (2026-12-02).  The handler defers such a
signal; a signal that finds the main thread blocked in a wait still stops it at once.
``benchmarks/signal_stress.py`` is the statistical check (thousands of signals at random
instants during the executor's map).
"""

from __future__ import annotations

import contextlib
import os
import signal
import sys
import threading
import time
import types

import pytest

from perflaw import _signals

pytestmark = pytest.mark.skipif(
    threading.current_thread() is not threading.main_thread(),
    reason="Python runs signal handlers in the main thread only",
)


@pytest.fixture
def perflaw_handler():
    old = signal.getsignal(signal.SIGINT)
    signal.signal(signal.SIGINT, _signals._handler)
    _signals._fired.clear()
    try:
        yield
    finally:
        _signals._settle_deferred()
        signal.signal(signal.SIGINT, old)
        _signals._fired.clear()


@contextlib.contextmanager
def _sigint_inside(code, due):
    """Within the block, deliver SIGINT to perflaw's handler (as Python would) from inside
    the frame running ``code``, at its first trace event for which ``due(event)`` is true:
    a trace function calls the handler there, and an exception it raises is raised in
    that frame."""

    def local(frame, event, arg):
        if due(event):
            sys.settrace(None)  # once
            _signals._handler(signal.SIGINT, frame)
        return local

    def tracer(frame, event, arg):
        return local if frame.f_code is code else None

    sys.settrace(tracer)
    try:
        yield
    finally:
        sys.settrace(None)


def _signal_as_condition_enter_returns(condition):
    with _sigint_inside(threading.Condition.__enter__.__code__, lambda e: e == "return"):
        with condition:
            pass


def test_a_signal_as_condition_enter_returns_is_deferred_not_left_holding_the_lock(
    perflaw_handler,
):
    condition = threading.Condition(threading.Lock())  # as Semaphore's
    interrupted_at = None
    try:
        _signal_as_condition_enter_returns(condition)
        time.sleep(5)  # the deferred signal is delivered again within RETRY_SECONDS
    except KeyboardInterrupt:
        interrupted_at = "sleep"
    assert interrupted_at == "sleep"
    assert not condition._lock.locked(), "the condition's lock was left held"


def test_without_the_deferral_the_same_signal_leaves_the_lock_held(perflaw_handler, monkeypatch):
    # the test above can fail: raising there is exactly what hung CI
    monkeypatch.setattr(_signals, "_cuts_a_thread_lock", lambda frame: False)
    condition = threading.Condition(threading.Lock())  # as Semaphore's
    with pytest.raises(KeyboardInterrupt):
        _signal_as_condition_enter_returns(condition)
    assert condition._lock.locked()
    condition._lock.release()


def test_a_signal_during_a_blocking_wait_stops_it_at_once(perflaw_handler):
    condition = threading.Condition(threading.Lock())  # as Semaphore's
    timer = threading.Timer(0.05, os.kill, (os.getpid(), signal.SIGINT))
    start = time.monotonic()
    timer.start()
    with pytest.raises(KeyboardInterrupt):
        with condition:
            condition.wait(timeout=10)
    timer.join()
    assert time.monotonic() - start < 5  # not the 10 s wait, nor its end
    assert not condition._lock.locked()


def test_a_signal_during_a_thread_join_stops_it_at_once(perflaw_handler):
    release = threading.Event()
    worker = threading.Thread(target=release.wait, args=(10,), daemon=True)
    worker.start()
    timer = threading.Timer(0.05, os.kill, (os.getpid(), signal.SIGINT))
    start = time.monotonic()
    timer.start()
    with pytest.raises(KeyboardInterrupt):
        worker.join()
    timer.join()
    release.set()
    worker.join()
    assert time.monotonic() - start < 5


def test_only_threading_code_outside_a_blocking_call_is_critical():
    frame = sys._getframe()
    assert not _signals._cuts_a_thread_lock(frame)  # this test's own frame

    seen = {}

    def local(frame, event, arg):
        if event == "line":
            line = frame.f_code.co_name, frame.f_lineno
            seen.setdefault(line, _signals._cuts_a_thread_lock(frame))
        return local

    def tracer(frame, event, arg):
        return local if frame.f_globals.get("__name__") == "threading" else None

    condition = threading.Condition(threading.Lock())  # as Semaphore's
    sys.settrace(tracer)
    try:
        with condition:
            condition.wait(timeout=0.01)
    finally:
        sys.settrace(None)
    import linecache

    waits = {
        line: critical
        for line, critical in seen.items()
        if line[0] == "wait" and ".acquire(" in linecache.getline(threading.__file__, line[1])
    }
    assert waits and not any(waits.values())  # the blocking acquires may be cut
    others = [critical for line, critical in seen.items() if line not in waits]
    assert others and all(others)  # everything else in threading may not


def test_a_signal_while_futures_wait_takes_its_locks_is_deferred(perflaw_handler):
    import concurrent.futures as cf

    futures = [cf.Future() for _ in range(3)]
    for f in futures:
        f.set_result(None)
    lines = []

    def second_turn(event):  # the loop's third line: one future's lock taken
        if event == "line":
            lines.append(event)
        return len(lines) == 3

    try:
        with _sigint_inside(cf._base._AcquireFutures.__enter__.__code__, second_turn):
            cf.wait(futures)
        time.sleep(5)  # the deferred signal lands here
    except KeyboardInterrupt:
        pass
    assert len(lines) == 3
    assert not any(f._condition._lock._is_owned() for f in futures)


def test_an_interrupt_raised_by_an_extension_while_the_signal_is_deferred_stops_once():
    """polars' collect raises KeyboardInterrupt itself on SIGINT, while perflaw's handler
    has deferred the same signal (polars is a critical section): the command must stop
    once, with one line, not again as it ends (seen in CI: the line printed twice)."""
    import click
    from click.testing import CliRunner

    from perflaw.cli import main

    polars_frame = types.SimpleNamespace(
        f_globals={"__name__": "polars.lazyframe.engine"},
        f_code=types.SimpleNamespace(co_name="collect", co_filename="engine.py"),
        f_lineno=1,
        f_back=None,
    )

    @click.command()
    def collect_interrupted():
        _signals._handler(signal.SIGINT, polars_frame)  # deferred, re-sent in 50 ms
        assert _signals._deferred and not _signals._fired
        raise KeyboardInterrupt  # what polars raises

    main.add_command(collect_interrupted, "collect-interrupted")
    try:
        res = CliRunner().invoke(main, ["collect-interrupted"])
    except KeyboardInterrupt:  # the deferred copy, raised again as the command ended
        pytest.fail("the command was stopped a second time by the deferred signal")
    finally:
        main.commands.pop("collect-interrupted")
    assert res.exit_code == 130, (res.output, res.exception)
    lines = [ln for ln in res.output.splitlines() if ln.strip()]
    assert len(lines) == 1 and lines[0].startswith("Error: stopped by SIGINT"), res.output
    assert not _signals._deferred
