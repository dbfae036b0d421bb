"""Where the loop stops by its own rule (5 %) under a budget (default 1/4 of the grid's compute).

Usage: python benchmarks/loop_stopping.py [GRID.csv] [--noise 0.01 --noise-seeds 5]
"""

from __future__ import annotations

import argparse

import numpy as np
import pandas as pd

from perflaw.decide.simulate import World, stop_point

p = argparse.ArgumentParser()
p.add_argument("grid", nargs="?", default="../shared/data/runs/performance_law_grid.csv")
p.add_argument("--noise", type=float, default=0.0)
p.add_argument("--noise-seeds", type=int, default=5)
p.add_argument("--budget", type=float, default=0.25)
a = p.parse_args()
rows = []
for panel, g in pd.read_csv(a.grid).groupby("panel"):
    for metric in ("hr@10", "ndcg@10"):
        w = World.from_frame(g, metric, True)
        rng = np.random.default_rng(0)
        res = []
        for _ in range(a.noise_seeds if a.noise > 0 else 1):
            eps = rng.standard_normal(len(w.value)) if a.noise > 0 else 0.0
            res.append(stop_point(w, w.value * (1 + a.noise * eps), budget=a.budget))
        spent, regret, ruled = (np.mean([r[k] for r in res]) for k in range(3))
        rows.append(
            {
                "panel": panel,
                "metric": metric,
                "spent %": 100 * spent,
                "regret %": 100 * regret,
                "stopped by the rule": ruled,
            }
        )
        print(rows[-1], flush=True)
t = pd.DataFrame(rows)
print(t.round(2).to_string(index=False))
print(t.drop(columns=["panel", "metric"]).mean().round(3).to_string())
