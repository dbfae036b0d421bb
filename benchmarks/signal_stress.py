"""SIGINT at random instants while perflaw's zlib map runs on a thread pool (issue 11/12).

Each round calls ``perflaw.quality.summary._per_user_compression`` (the executor map that
hung in CI on 2026-12-02) with perflaw's SIGINT handler installed and a timer that sends
SIGINT at a uniformly random instant within one call.  Prints the rounds, how many the
signal stopped, and the delay from the signal to the KeyboardInterrupt (median, 99th
percentile, max); a round that makes no progress for 20 s is a hang: the script prints
every thread's stack and exits 3.

    python benchmarks/signal_stress.py [--rounds 2000] [--users 671] [--without-fix]

``--without-fix`` turns off the deferral of signals that land in ``threading``'s lock
bookkeeping (perflaw._signals._cuts_a_thread_lock), to see the hang it prevents.
"""

from __future__ import annotations

import argparse
import faulthandler
import os
import random
import signal
import sys
import threading
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from perflaw import _signals  # noqa: E402
from perflaw.quality.summary import _per_user_compression  # noqa: E402


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=2000)
    parser.add_argument("--users", type=int, default=671)
    parser.add_argument("--without-fix", action="store_true")
    args = parser.parse_args()

    rng = np.random.default_rng(0)
    lengths = rng.integers(20, 200, args.users)
    ends = np.cumsum(lengths)
    starts = ends - lengths
    values = rng.integers(0, 5000, int(ends[-1])).astype(np.int64)
    signal.signal(signal.SIGINT, _signals._handler)
    if args.without_fix:
        _signals._cuts_a_thread_lock = lambda frame: False  # type: ignore[assignment]

    _per_user_compression(values, starts, ends)  # warm
    start = time.perf_counter()
    _per_user_compression(values, starts, ends)
    one_call = time.perf_counter() - start
    print(f"one call: {one_call * 1e3:.1f} ms ({args.users} users, {os.cpu_count()} cores)")

    delays = []
    stopped = strays = 0
    for _ in range(args.rounds):
        _signals._fired.clear()
        _signals._settle_deferred()
        faulthandler.dump_traceback_later(20, exit=True)
        sent: list[float] = []

        def fire(sent=sent) -> None:
            sent.append(time.perf_counter())
            os.kill(os.getpid(), signal.SIGINT)

        timer = threading.Timer(random.uniform(0, one_call), fire)
        try:
            timer.start()
            _per_user_compression(values, starts, ends)
            timer.join()
            time.sleep(one_call)  # a signal deferred out of the map lands here
        except KeyboardInterrupt:
            if sent:
                stopped += 1
                delays.append(time.perf_counter() - sent[0])
            else:  # the previous round's signal, re-sent after it had been deferred
                strays += 1
        timer.join()
        faulthandler.cancel_dump_traceback_later()
    ms = np.array(delays) * 1e3
    print(
        f"{'without' if args.without_fix else 'with'} the fix: {args.rounds} rounds, no hang, "
        f"{stopped} stopped; signal -> KeyboardInterrupt median {np.median(ms):.1f} ms, "
        f"p99 {np.percentile(ms, 99):.1f} ms, max {ms.max():.1f} ms; {strays} re-sent signals "
        "landed in the next round"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
