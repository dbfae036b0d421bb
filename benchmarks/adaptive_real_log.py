"""The loop on a real log: `perflaw sweep --adaptive` against the finished grid (issue 38).

Reads the runs table an adaptive sweep wrote over the bundled sweep's grid
(``benchmarks/data/ml-latest-small-adaptive.csv``; the command is in docs/loop.md) and the
bundled sweep itself (``data/ml-latest-small-sweep.csv``, fraction 1: every configuration
trained with three seeds, their mean taken as the configuration's true value).  It prints

* the runs the loop trained, in order, with the compute spent so far;
* the loop's pick (the trained run its mixture rates highest), that configuration's true
  value, the grid's best and the run-to-run noise of one run (pooled sd of the seeds);
* what plain baselines would have picked at the same compute, replayed on the grid with
  each seed's runs as what they observe (greedy neighbour search, cheapest first, random
  order) — and the loop itself replayed the same way, so that the real run can be told
  apart from the luck of its seed.

    python benchmarks/adaptive_real_log.py
    python benchmarks/adaptive_real_log.py --adaptive my-adaptive.csv --grid my-grid.csv
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

ADAPTIVE = ROOT / "benchmarks" / "data" / "ml-latest-small-adaptive.csv"
GRID = ROOT / "data" / "ml-latest-small-sweep.csv"


def main(argv=None) -> int:
    from perflaw.decide.loop import next_from_table
    from perflaw.decide.simulate import (
        World,
        run_cheapest,
        run_greedy,
        run_perflaw,
        run_random,
    )
    from perflaw.replicates import run_noise

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--adaptive", type=Path, default=ADAPTIVE)
    ap.add_argument("--grid", type=Path, default=GRID)
    ap.add_argument("--metric", default="ndcg@10")
    ap.add_argument("--fraction", type=float, default=1.0)
    ap.add_argument("--budget", default="50%", help="the budget the adaptive sweep was given")
    ap.add_argument("--orders", type=int, default=200, help="random orders to average")
    args = ap.parse_args(argv)
    m = args.metric

    grid = pd.read_csv(args.grid)
    grid = grid[grid["data_fraction"] == args.fraction]
    world = World.from_frame(grid, m, maximize=True)
    idx = world.index
    truth = {(int(a), int(b)): float(v) for a, b, v in zip(world.layers, world.d_emb, world.value)}
    best_cfg = max(truth, key=truth.get)
    noise = run_noise(g.to_numpy(float) for _, g in grid.groupby(["layers", "d_emb"])[m])
    total = float(world.cost.sum())

    runs = pd.read_csv(args.adaptive)
    print(f"{args.adaptive.name}: {len(runs)} runs, in the order they finished")
    spent = 0.0
    for _, r in runs.iterrows():
        cfg = (int(r["layers"]), int(r["d_emb"]))
        spent += world.cost[idx[cfg]]
        print(
            f"  {cfg[0]:>2} x {cfg[1]:<4} {m} {r[m]:.4f}  (grid mean {truth[cfg]:.4f})  "
            f"spent {spent / total:6.1%}"
        )
    d = next_from_table(
        args.adaptive,
        metric=m,
        grid_layers=world.grid_layers,
        grid_d_emb=world.grid_d_emb,
        budget=args.budget,
        write_ledger=False,
    )
    pick = (d.best_trained["layers"], d.best_trained["d_emb"])
    share = spent / total
    gap = truth[best_cfg] - truth[pick]
    print(
        f"\nloop: {'stop' if d.stop else 'go on'} ({d.reason})\n"
        f"pick {pick[0]} x {pick[1]}: true {m} {truth[pick]:.4f} (mean of the grid's seeds); "
        f"grid's best {best_cfg[0]} x {best_cfg[1]} = {truth[best_cfg]:.4f}; "
        f"gap {gap:.4f} against a run-to-run noise of {noise:.4f} (one run): "
        f"{'within' if gap <= noise else 'NOT within'} the noise, "
        f"having trained {share:.1%} of the grid's compute"
    )

    # baselines at the same compute, replayed with each seed's runs as their observations
    seeds = sorted(grid["seed"].unique())
    rng = np.random.default_rng(0)

    def at_share(trace) -> float:
        c = np.cumsum(world.cost[trace.order]) / total
        n = int(np.searchsorted(c, share + 1e-12, side="right"))
        return float(world.value[trace.picks[max(n, 1) - 1]])

    rows = []
    for s in seeds:
        obs_frame = grid[grid["seed"] == s]
        observed = World.from_frame(obs_frame, m, maximize=True).value
        rows.append(("perflaw (replay)", s, at_share(run_perflaw(world, observed))))
        rows.append(("greedy", s, at_share(run_greedy(world, observed))))
        rows.append(("cheapest", s, at_share(run_cheapest(world, observed))))
        rand = [at_share(run_random(world, observed, rng)) for _ in range(args.orders)]
        rows.append(("random", s, float(np.mean(rand))))
    table = pd.DataFrame(rows, columns=["method", "observed seed", "true value of pick"])
    table["gap to best"] = truth[best_cfg] - table["true value of pick"]
    summary = table.groupby("method", sort=False)[["true value of pick", "gap to best"]].mean()
    print(
        f"\nat the same compute ({share:.1%}), replayed on the grid with one seed's runs as "
        f"what each method observes (mean over seeds {', '.join(map(str, seeds))}):"
    )
    print(summary.to_string(float_format=lambda v: f"{v:.4f}"))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
