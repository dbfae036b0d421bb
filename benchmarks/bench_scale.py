"""Benchmark of the scale-out engines of ``perflaw apen``.

Generates a synthetic log as a folder of parquet files (users scattered over every file,
lognormal sequence lengths, Zipf-like items), then runs, each in its own process:

* ``memory``  -- local engine, whole log in memory (one chunk);
* ``bounded`` -- local engine with ``--memory-limit`` (user-range chunks spilled to disk);
* ``spark``   -- the Spark engine on ``local[2]``;

and prints wall time, rows/s and peak memory: the summed resident size of the process
and all its children (the JVM and Python workers for Spark), sampled every 0.1 s, and
of it the anonymous part (allocated memory, without file pages mapped from disk, which
the kernel can drop at any time).  The machine may be shared, so
timings carry its load; each engine is run once.

Usage::

    python benchmarks/bench_scale.py --rows 2e7 --engines memory,bounded,spark \\
        --memory-limit 1GB
    python benchmarks/bench_scale.py --rows 1e8 --engines bounded --memory-limit 2GB
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import numpy as np
import polars as pl

REPO = Path(__file__).resolve().parents[1]
PAGE = os.sysconf("SC_PAGE_SIZE")


def generate(
    folder: Path, rows: int, files: int, mean_len: int = 100, n_items: int = 200_000, seed: int = 0
) -> dict:
    """Write ``rows`` rows as ``files`` parquet files; every user appears in many files."""
    rng = np.random.default_rng(seed)
    n_users = max(rows // mean_len, 1)
    # lognormal user weights -> skewed sequence lengths
    weights = rng.lognormal(0.0, 1.0, n_users)
    cum = np.cumsum(weights / weights.sum())
    ranks = np.arange(1, n_items + 1)
    p_item = 1.0 / ranks**0.8
    cum_item = np.cumsum(p_item / p_item.sum())
    folder.mkdir(parents=True, exist_ok=True)
    per_file = -(-rows // files)
    written = 0
    for k in range(files):
        n = min(per_file, rows - written)
        if n <= 0:
            break
        users = np.searchsorted(cum, rng.random(n)).clip(0, n_users - 1)
        items = np.searchsorted(cum_item, rng.random(n)).clip(0, n_items - 1)
        # items of a user are partly repeated: 30% copy the user's "favourite" item
        fav = (users * 2654435761) % n_items
        items = np.where(rng.random(n) < 0.3, fav, items)
        stamp = rng.integers(0, 10**9, n)
        pl.DataFrame(
            {
                "user_id": users.astype(np.int64),
                "item_id": items.astype(np.int64),
                "timestamp": stamp.astype(np.int64),
            }
        ).write_parquet(folder / f"part-{k:04d}.parquet", row_group_size=1_000_000)
        written += n
    size = sum(f.stat().st_size for f in folder.glob("*.parquet"))
    return {"rows": written, "users_max": n_users, "files": files, "bytes_on_disk": size}


def _tree_rss(root: int) -> tuple[int, int]:
    """(resident bytes, anonymous resident bytes) of ``root`` and all its descendants.

    Resident includes file pages mapped from disk (parquet and spill files that polars
    memory-maps): the kernel can drop those at any time.  Anonymous is the memory the
    processes actually allocated."""
    children: dict[int, list[int]] = {}
    rss: dict[int, tuple[int, int]] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as fh:
                stat = fh.read()
            ppid = int(stat.rsplit(")", 1)[1].split()[1])
            fields = {}
            with open(f"/proc/{entry}/status") as fh:
                for line in fh:
                    if line.startswith(("VmRSS:", "RssAnon:")):
                        key, value = line.split(":", 1)
                        fields[key] = int(value.split()[0]) * 1024
            rss[int(entry)] = (fields.get("VmRSS", 0), fields.get("RssAnon", 0))
            children.setdefault(ppid, []).append(int(entry))
        except (OSError, ValueError, IndexError):
            continue
    total = anon = 0
    stack = [root]
    while stack:
        pid = stack.pop()
        r, a = rss.get(pid, (0, 0))
        total += r
        anon += a
        stack.extend(children.get(pid, []))
    return total, anon


def run_engine(engine: str, path: Path, memory_limit: str | None, spill: Path) -> dict:
    code = {
        "memory": "from perflaw.quality.bounded import measure_bounded as f\nrep = f(PATH)\n",
        "bounded": "from perflaw.quality.bounded import measure_bounded as f\n"
        "rep = f(PATH, memory_limit=LIMIT, spill_dir=SPILL)\n",
        "spark": "from perflaw.quality.spark import get_spark, measure_spark_path as f\n"
        "spark = get_spark('local[2]', conf={'spark.driver.memory': '4g',"
        " 'spark.sql.shuffle.partitions': '8'})\n"
        "rep = f(PATH, spark=spark)\n",
    }[engine]
    script = (
        "import json, sys, time\nt0 = time.perf_counter()\n"
        + code.replace("PATH", repr(str(path)))
        .replace("LIMIT", repr(memory_limit))
        .replace("SPILL", repr(str(spill)))
        + "s = dict(rep.summary); s.pop('notes', None)\n"
        "s['wall'] = time.perf_counter() - t0\n"
        "print('RESULT ' + json.dumps(s, default=str))\n"
    )
    env = dict(os.environ, PYTHONPATH=str(REPO))
    t0 = time.perf_counter()
    proc = subprocess.Popen(
        [sys.executable, "-c", script],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
        cwd=str(REPO),
    )
    peak = [0, 0]
    done = threading.Event()

    def sample():
        while not done.is_set():
            rss, anon = _tree_rss(proc.pid)
            peak[0], peak[1] = max(peak[0], rss), max(peak[1], anon)
            time.sleep(0.1)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    out, err = proc.communicate()
    wall = time.perf_counter() - t0
    done.set()
    sampler.join()
    lines = [ln for ln in out.splitlines() if ln.startswith("RESULT ")]
    if proc.returncode != 0 or not lines:
        return {"engine": engine, "error": (err.strip().splitlines() or ["?"])[-1]}
    summary = json.loads(lines[-1][7:])
    return {
        "engine": engine,
        "wall_s": wall,
        "measure_s": summary["wall"],
        "rows_per_s": summary["interactions"] / wall,
        "peak_rss_gb": peak[0] / 1e9,
        "peak_anon_gb": peak[1] / 1e9,
        "chunks": summary.get("chunks"),
        "summary": summary,
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--rows", type=float, default=2e7)
    ap.add_argument("--files", type=int, default=0, help="default: one per 5M rows (≥ 4)")
    ap.add_argument("--engines", default="memory,bounded,spark")
    ap.add_argument("--memory-limit", default="1GB")
    ap.add_argument("--workdir", default=None, help="where to write the log (default: temp)")
    ap.add_argument("--keep", action="store_true", help="keep the generated log")
    ap.add_argument("--json", dest="json_out", default=None, help="also write results here")
    args = ap.parse_args()
    rows = int(args.rows)
    files = args.files or max(4, rows // 5_000_000)
    work = Path(args.workdir or tempfile.mkdtemp(prefix="perflaw-bench-"))
    log = work / f"log-{rows}"
    print(
        f"# bench_scale: {rows:,} rows, {files} files, limit {args.memory_limit}; "
        f"{os.cpu_count()} cores (the machine may be shared: timings include its load)"
    )
    t0 = time.perf_counter()
    if not log.exists():
        info = generate(log, rows, files)
        print(f"generated in {time.perf_counter() - t0:.0f} s: {info}")
    results = []
    for engine in args.engines.split(","):
        res = run_engine(engine, log, args.memory_limit, work)
        results.append(res)
        if "error" in res:
            print(f"{engine:8s} FAILED: {res['error']}")
            continue
        print(
            f"{engine:8s} wall {res['wall_s']:8.1f} s  {res['rows_per_s']:12,.0f} rows/s  "
            f"peak RSS {res['peak_rss_gb']:6.2f} GB (anonymous {res['peak_anon_gb']:5.2f})"
            f"  chunks {res['chunks']}"
        )
    ok = [r for r in results if "error" not in r]
    if len(ok) > 1:
        keys = ("users", "tokens", "apen_mean", "d_prime", "shannon_entropy")
        for k in keys:
            vals = [r["summary"][k] for r in ok]
            print(f"  {k:16s} " + "  ".join(f"{v!r:>24}" for v in vals))
    if args.json_out:
        Path(args.json_out).write_text(
            json.dumps(
                {
                    "rows": rows,
                    "files": files,
                    "memory_limit": args.memory_limit,
                    "results": results,
                },
                indent=2,
                default=str,
            )
        )
    if not args.keep:
        shutil.rmtree(log, ignore_errors=True)


if __name__ == "__main__":
    main()
