"""Claims under contention, at full size (tests/test_claims.py and
tests/test_sweep_processes.py run smaller versions):

1. the stress test: 8 processes released by a barrier onto one configuration, 200 trials
   from each starting state (no claim, a stale claim, a claim being written) -> the
   number of trials with exactly one winner;
2. four real `perflaw sweep` processes on one --out (2 x 2 grid, 2 steps), repeated
   10 times -> rows written, configurations trained twice, rows lost.

    python benchmarks/bench_claims.py [--repeats 10] [--trials 200]
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))

from conftest import shifted_log  # noqa: E402
from perflaw.train import runs_table as rt  # noqa: E402


def sweeps(repeats: int) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        log = Path(tmp) / "log.parquet"
        shifted_log(60).to_parquet(log)
        env = {**os.environ, "PYTHONPATH": str(ROOT)}
        twice = lost = 0
        for r in range(repeats):
            out = Path(tmp) / f"runs{r}.csv"
            cmd = [
                sys.executable, "-m", "perflaw", "sweep", str(log), "--layers", "1,2",
                "--d-emb", "8,16", "--out", str(out), "--max-steps", "2", "--min-steps", "0",
                "--eval-every", "2", "--max-len", "8", "--threads", "1", "--batch-size", "64",
                "--quiet", "--csv",
            ]  # fmt: skip
            t0 = time.perf_counter()
            procs = [
                subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=env)
                for _ in range(4)
            ]
            codes = [p.wait() for p in procs]
            keys = [rt.key(row) for _, row in rt.read_runs_file(out).iterrows()]
            twice += len(keys) - len(set(keys))
            lost += 4 - len(set(keys))
            print(
                f"repeat {r + 1}: exit {codes}, {len(keys)} rows, {len(set(keys))} "
                f"configurations, {time.perf_counter() - t0:.1f} s",
                flush=True,
            )
        print(f"sweeps: {repeats} repeats, trained twice {twice}, rows lost {lost}")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--repeats", type=int, default=10)
    ap.add_argument("--trials", type=int, default=200)
    args = ap.parse_args()
    env = {**os.environ, "PERFLAW_CLAIM_TRIALS": str(args.trials)}
    t0 = time.perf_counter()
    res = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider",
         str(ROOT / "tests" / "test_claims.py"), "-k", "exactly_one"],
        env=env, cwd=ROOT,
    )  # fmt: skip
    print(
        f"stress: {args.trials} trials x 3 starting states, exit {res.returncode} "
        f"(0: exactly one winner every trial), {time.perf_counter() - t0:.1f} s"
    )
    sweeps(args.repeats)


if __name__ == "__main__":
    main()
