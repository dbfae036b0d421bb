"""Benchmark of the ApEn engine.

Prints, for synthetic workloads:

* kernel throughput (interactions/s) on one core and on all cores, JIT compilation
  timed apart;
* the ratio against antropy's ``app_entropy(order=m, tolerance=0)`` measured in the same
  run on the ML-1M-like workload (antropy is timed on a subset of users: it is slow);
* end to end ``perflaw apen`` (a subprocess) on a parquet file: wall time and peak RSS.

Usage::

    python benchmarks/bench_apen.py            # ML-1M-like + short sequences + 50M rows
    python benchmarks/bench_apen.py --rows 5e6 # smaller end-to-end log
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numba
import numpy as np
import polars as pl

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from perflaw.quality import _kernels  # noqa: E402


def workload(n_users, mean_len, min_len, n_items, seed=0, sigma=1.0):
    """Lognormal lengths (given mean, floored at min_len), Zipf-like item popularity."""
    rng = np.random.default_rng(seed)
    mu = np.log(max(mean_len - min_len, 1)) - sigma**2 / 2
    lengths = (min_len + rng.lognormal(mu, sigma, n_users)).astype(np.int64)
    total = int(lengths.sum())
    ranks = np.arange(1, n_items + 1)
    p = 1.0 / ranks**0.8
    p /= p.sum()
    values = rng.choice(n_items, size=total, p=p).astype(np.int64)
    ends = np.cumsum(lengths)
    starts = ends - lengths
    return values, starts, ends


def workload_no_repeats(n_users, mean_len, min_len, n_items, seed=0, sigma=1.0):
    """Like :func:`workload`, but no item repeats inside a sequence (as in real ML-1M)."""
    rng = np.random.default_rng(seed)
    mu = np.log(max(mean_len - min_len, 1)) - sigma**2 / 2
    lengths = np.minimum(min_len + rng.lognormal(mu, sigma, n_users), n_items).astype(np.int64)
    p = 1.0 / np.arange(1, n_items + 1) ** 0.8
    p /= p.sum()
    values = np.concatenate([rng.choice(n_items, size=k, replace=False, p=p) for k in lengths])
    ends = np.cumsum(lengths)
    return values.astype(np.int64), ends - lengths, ends


def best_time(fn, repeat=3):
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return min(times)


def kernel_rates(name, values, starts, ends, m=2):
    n_tok = int((ends - starts).sum())
    t0 = time.perf_counter()
    _kernels.sequence_measures(values[:100], starts[:1] * 0, np.array([min(100, n_tok)]), m)
    compile_s = time.perf_counter() - t0
    out = {
        "workload": name,
        "users": len(starts),
        "interactions": n_tok,
        "compile_or_cache_load_s": round(compile_s, 3),
    }
    for threads in (1, numba.config.NUMBA_NUM_THREADS):
        numba.set_num_threads(threads)
        for lz in (False, True):
            t = best_time(
                lambda lz=lz: _kernels.sequence_measures(values, starts, ends, m, want_lz=lz)
            )
            key = f"{'apen+lz' if lz else 'apen'}_{threads}thr_Mint_per_s"
            out[key] = round(n_tok / t / 1e6, 1)
    numba.set_num_threads(numba.config.NUMBA_NUM_THREADS)
    return out


def antropy_ratio(values, starts, ends, m=2, n_users=300):
    import antropy

    sel = range(min(n_users, len(starts)))
    seqs = [values[starts[i] : ends[i]].astype(float) for i in sel]
    n_tok = sum(len(s) for s in seqs)
    antropy.app_entropy(seqs[0], order=m, tolerance=0)  # warm-up
    t_ant = best_time(lambda: [antropy.app_entropy(s, order=m, tolerance=0) for s in seqs], 1)
    sub_s = np.asarray([starts[i] for i in sel])
    sub_e = np.asarray([ends[i] for i in sel])
    numba.set_num_threads(1)
    t_ours = best_time(
        lambda: _kernels.sequence_measures(values, sub_s, sub_e, m, want_lz=False), 5
    )
    numba.set_num_threads(numba.config.NUMBA_NUM_THREADS)
    return {
        "antropy_users": len(seqs),
        "antropy_interactions": n_tok,
        "antropy_Mint_per_s": round(n_tok / t_ant / 1e6, 4),
        "perflaw_1thr_Mint_per_s": round(n_tok / t_ours / 1e6, 1),
        "speedup_vs_antropy_1thr": round(t_ant / t_ours, 1),
    }


def end_to_end(rows, tmp):
    n_users = max(1, int(rows / 165))
    values, starts, ends = workload(n_users, 165, 20, 50_000, seed=3)
    lengths = ends - starts
    path = Path(tmp) / "log.parquet"
    user = np.repeat(np.arange(n_users, dtype=np.int64), lengths)
    ts = np.arange(values.size, dtype=np.int64)
    pl.DataFrame({"user_id": user, "item_id": values, "timestamp": ts}).write_parquet(path)
    del user, ts
    cmd = [sys.executable, "-m", "perflaw", "apen", str(path), "--json", "--quiet"]
    root = Path(__file__).resolve().parents[1]
    # JIT compilation (or cache loading) happens in a first, small run, timed apart
    t0 = time.perf_counter()
    subprocess.run(
        [
            sys.executable,
            "-m",
            "perflaw",
            "apen",
            "data/ml-latest-small.parquet",
            "--json",
            "--quiet",
        ],
        check=True,
        capture_output=True,
        cwd=root,
    )
    warm = time.perf_counter() - t0
    results = {}
    for label, extra in (("default", []), ("no_companions", ["--no-companions"])):
        t0 = time.perf_counter()
        proc = subprocess.run(cmd + extra, capture_output=True, text=True, cwd=root)
        wall = time.perf_counter() - t0
        if proc.returncode:
            raise SystemExit(proc.stderr)
        summary = json.loads(proc.stdout)[0]
        results[label] = {"wall_s": round(wall, 2), "engine_s": round(summary["seconds"], 2)}
    # the same log with rows in random order: the engine must sort it
    shuffled = Path(tmp) / "log_shuffled.parquet"
    pl.read_parquet(path).sample(fraction=1.0, shuffle=True, seed=0).write_parquet(shuffled)
    t0 = time.perf_counter()
    proc = subprocess.run(
        cmd[:4] + [str(shuffled), "--json", "--quiet"], capture_output=True, text=True, cwd=root
    )
    wall = time.perf_counter() - t0
    if proc.returncode:
        raise SystemExit(proc.stderr)
    results["default_rows_shuffled"] = {
        "wall_s": round(wall, 2),
        "engine_s": round(json.loads(proc.stdout)[0]["seconds"], 2),
    }
    peak_kb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    return {
        "rows": int(values.size),
        "users": n_users,
        "warmup_run_s": round(warm, 2),
        **results,
        "peak_rss_GB_max_of_runs": round(peak_kb / 1e6, 2),
    }


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--rows", type=float, default=50e6, help="rows of the end-to-end log")
    ap.add_argument("--skip-e2e", action="store_true")
    args = ap.parse_args()
    print(
        f"# cores: {os.cpu_count()}, numba threads: {numba.config.NUMBA_NUM_THREADS}, "
        f"load average at start: {os.getloadavg()[0]:.2f} (other work on the machine "
        "lowers every figure)"
    )
    ml1m = workload(6040, 165, 20, 3706, seed=1)
    print(json.dumps(kernel_rates("ml1m-like", *ml1m)))
    print(json.dumps({"workload": "ml1m-like", **antropy_ratio(*ml1m)}))
    ml1m_nr = workload_no_repeats(6040, 165, 20, 3706, seed=1)
    print(json.dumps(kernel_rates("ml1m-like, no repeats", *ml1m_nr)))
    print(json.dumps({"workload": "ml1m-like, no repeats", **antropy_ratio(*ml1m_nr)}))
    short = workload(2_000_000, 9, 5, 12_000, seed=2)
    print(json.dumps(kernel_rates("short (amazon-like, mean 9)", *short)))
    big = workload(int(50e6 / 165), 165, 20, 50_000, seed=4)
    print(json.dumps(kernel_rates("50M interactions, mean 165", *big)))
    del big, short
    if not args.skip_e2e:
        with tempfile.TemporaryDirectory() as tmp:
            print(json.dumps({"workload": "perflaw apen end to end", **end_to_end(args.rows, tmp)}))


if __name__ == "__main__":
    main()
