"""Start-up times of the command line and the package, against ``python -c pass``.

Prints the median wall time (over ``--repeat`` fresh processes) of:

* ``python -c pass`` (the interpreter alone: the baseline);
* ``python -c "import perflaw"``;
* ``python -m perflaw --help`` and ``python -m perflaw apen --help``;
* ``python -m perflaw apen data/ml-latest-small.parquet`` with a cold Numba cache (an
  empty ``NUMBA_CACHE_DIR``: kernels are compiled) and warm (the same folder again).

Each line gives the time and the excess over the baseline.  ``--root`` runs another
checkout of perflaw (e.g. an older commit exported with ``git archive``) for a
before/after comparison with the same interpreter.

Usage::

    python benchmarks/bench_startup.py
    python benchmarks/bench_startup.py --root /tmp/perflaw-before --repeat 5
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path


def timed(cmd: list[str], env: dict, cwd: Path, repeat: int) -> float:
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        res = subprocess.run(cmd, env=env, cwd=cwd, capture_output=True, text=True)
        times.append(time.perf_counter() - t0)
        if res.returncode != 0:
            raise SystemExit(f"{' '.join(cmd)} failed:\n{res.stderr[-2000:]}")
    return statistics.median(times)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument(
        "--root",
        type=Path,
        default=Path(__file__).resolve().parents[1],
        help="checkout of perflaw to time (default: this one)",
    )
    ap.add_argument("--repeat", type=int, default=5, help="processes per measurement")
    ap.add_argument(
        "--log",
        default="data/ml-latest-small.parquet",
        help="log for the cold/warm apen run (relative to --root)",
    )
    args = ap.parse_args()
    root = args.root.resolve()
    env = {**os.environ, "PYTHONPATH": str(root)}
    py = sys.executable
    base = timed([py, "-c", "pass"], env, root, args.repeat)
    rows = [("python -c pass (baseline)", base)]
    for label, cmd in [
        ("import perflaw", [py, "-c", "import perflaw"]),
        ("perflaw --help", [py, "-m", "perflaw", "--help"]),
        ("perflaw apen --help", [py, "-m", "perflaw", "apen", "--help"]),
    ]:
        rows.append((label, timed(cmd, env, root, args.repeat)))
    with tempfile.TemporaryDirectory(prefix="perflaw-numba-") as cache:
        apen = [py, "-m", "perflaw", "apen", args.log, "--quiet"]
        cold_env = {**env, "NUMBA_CACHE_DIR": cache}
        rows.append((f"apen {Path(args.log).name} (cold cache)", timed(apen, cold_env, root, 1)))
        rows.append(
            (
                f"apen {Path(args.log).name} (warm cache)",
                timed(apen, cold_env, root, max(1, args.repeat // 2)),
            )
        )
    print(f"perflaw at {root}; python {sys.version.split()[0]}; median of {args.repeat}")
    print(f"{'command':42s} {'seconds':>8s} {'over baseline':>14s}")
    for label, t in rows:
        print(f"{label:42s} {t:8.3f} {t - base:14.3f}")


if __name__ == "__main__":
    main()
