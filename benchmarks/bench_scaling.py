"""Speed of the scaling-law fits (issue 2 acceptance).

    python benchmarks/bench_scaling.py [--bootstrap 1000]

* Chinchilla on 240 synthetic points (Hoffmann et al.'s parameters, 1 % log-normal noise),
  including the whole multi-start search (pre-screened Hoffmann grid + random starts):
  target <= 10 s;
* 1,000 bootstrap refits of that fit: target <= 30 s;
* the same search with L-BFGS-B as the local solver (Besiroglu et al.'s choice), for
  comparison in the same run;
* the power law on 20 points.

Prints wall and CPU times and the load average: the machine is shared, so wall times
may be inflated by other work.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
import warnings
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from perflaw.fitting import LawFitter  # noqa: E402


def timed(fn):
    w, c = time.perf_counter(), time.process_time()
    out = fn()
    return out, time.perf_counter() - w, time.process_time() - c


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--bootstrap", type=int, default=1000)
    args = ap.parse_args()
    print(
        f"load average before: {os.getloadavg()[0]:.2f} {os.getloadavg()[1]:.2f} "
        f"{os.getloadavg()[2]:.2f} on {os.cpu_count()} cores (shared machine: wall times "
        "may be inflated)"
    )
    rng = np.random.default_rng(0)
    N = np.repeat(np.geomspace(1e5, 1e9, 16), 15)
    D = np.tile(np.geomspace(1e7, 1e11, 15), 16)
    y = (1.69 + 406.4 / N**0.34 + 410.7 / D**0.28) * np.exp(rng.normal(0, 0.01, N.size))
    X = {"N": N, "D": D}
    LawFitter("chinchilla", n_refine=1, n_random_starts=0).fit(X, y)  # warm-up (imports)

    f, w, c = timed(lambda: LawFitter("chinchilla", seed=0).fit(X, y))
    print(
        f"chinchilla, {N.size} points, {f.n_starts_} starts after screening "
        f"{f.law_.hoffmann_grid(y).shape[0]} grid points: wall {w:.2f} s, CPU {c:.2f} s "
        f"(target <= 10 s); {f.n_best_starts_} starts reached the best loss"
    )
    _, w2, c2 = timed(lambda: LawFitter("chinchilla", seed=0, local="lbfgs").fit(X, y))
    print(f"  same search with L-BFGS-B local solver: wall {w2:.2f} s, CPU {c2:.2f} s")

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        fb, wb, cb = timed(
            lambda: LawFitter("chinchilla", seed=0, bootstrap=args.bootstrap).fit(X, y)
        )
    refits = wb - w
    print(
        f"chinchilla + {args.bootstrap} bootstrap refits: wall {wb:.2f} s (refits alone "
        f"about {refits:.2f} s, target <= 30 s), CPU {cb:.2f} s; "
        f"{fb.n_bootstrap_failed_} failed"
    )
    for m in caught:
        print(f"  warning: {m.message}")

    x = np.geomspace(1e3, 1e9, 20)
    yp = (2 + (1e5 / x) ** 0.5) * np.exp(rng.normal(0, 1e-3, x.size))
    _, w, c = timed(lambda: LawFitter("power").fit({"x": x}, yp))
    print(f"power law, 20 points: wall {w * 1000:.0f} ms, CPU {c * 1000:.0f} ms")
    _, w, c = timed(lambda: LawFitter("power", bootstrap=1000).fit({"x": x}, yp))
    print(f"power law + 1000 bootstrap refits: wall {w:.2f} s, CPU {c:.2f} s")
    print(f"load average after: {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()
