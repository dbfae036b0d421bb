"""The loop against its baselines on the five published panels (issue 38's benchmark).

Usage: python benchmarks/loop_simulation.py [GRID.csv] [--noise 0.01] [--methods a,b]
Prints, per panel and metric, the regret at 1/4 of the grid's compute and the compute to
first come within 1 % of the grid's best, then the means.
"""

from __future__ import annotations

import argparse
import time

import pandas as pd

from perflaw.decide.simulate import METHODS, World, simulate

p = argparse.ArgumentParser()
p.add_argument("grid", nargs="?", default="../shared/data/runs/performance_law_grid.csv")
p.add_argument("--noise", type=float, default=0.0)
p.add_argument("--noise-seeds", type=int, default=20)
p.add_argument("--methods", default=",".join(METHODS))
p.add_argument("--orders", type=int, default=2000)
p.add_argument("--tpe-seeds", type=int, default=10)
a = p.parse_args()
methods = tuple(a.methods.split(","))
frame = pd.read_csv(a.grid)
rows = []
t0 = time.time()
for panel, g in frame.groupby("panel"):
    for metric in ("hr@10", "ndcg@10"):
        w = World.from_frame(g, metric, True)
        r = simulate(
            w,
            budget=0.25,
            noise=a.noise,
            noise_seeds=a.noise_seeds,
            random_orders=a.orders,
            tpe_seeds=a.tpe_seeds,
            methods=methods,
        )
        row = {"panel": panel, "metric": metric}
        for m, v in r.at_budget().items():
            row[f"{m} regret%"] = 100 * v
        for m, v in r.to_reach.items():
            row[f"{m} reach%"] = 100 * v
        rows.append(row)
        print(
            pd.DataFrame([row]).round(2).to_string(index=False, header=len(rows) == 1), flush=True
        )
t = pd.DataFrame(rows)
print("\nmean over panel-metrics")
print(t.drop(columns=["panel", "metric"]).mean().round(3).to_string())
print(f"({time.time() - t0:.0f} s)")
