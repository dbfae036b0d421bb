"""The bundled sweep's rebuild (--min-steps 1500; now data/ml-latest-small-sweep.csv) against
the table it replaced (--min-steps 500; kept as
benchmarks/results_issue12/sweep-min-steps-500.csv), issue 12, docs/sweep.md, "Early peaks":
coverage of the rebuild, the CPU time its missing runs would take (measured seconds per step
of this machine's one-thread runs, times the rebuild's median steps), and every run it
retrained beside the same run (layers, d_emb, fraction, seed) in the replaced table — best
step, steps, end and test NDCG@10 — with the popularity ranker's level for reference.

    python benchmarks/rebuild_compare.py [REBUILD] [COMMITTED]
"""

from __future__ import annotations

import itertools
import sys
from pathlib import Path

import numpy as np
import pandas as pd

KEY = ["layers", "d_emb", "data_fraction", "seed"]
#: The bundled sweep's grid (data/ml-latest-small-sweep.sh).
LAYERS, D_EMB, FRACTIONS, SEEDS = (1, 2, 4, 8), (16, 32, 64, 128), (0.25, 0.5, 1.0), (0, 1, 2)
CONFIGS = len(LAYERS) * len(D_EMB) * len(FRACTIONS)
RUNS = CONFIGS * len(SEEDS)


def popularity_test_ndcg(log: str = "data/ml-latest-small.parquet", max_len: int = 50) -> float:
    """Test NDCG@10 of ranking items by training count (full ranking, unmasked, as the
    table's runs are scored)."""
    from perflaw.train import load_sequences
    from perflaw.train.evaluation import Evaluator, popularity_metrics

    data = load_sequences(log)
    return popularity_metrics(Evaluator(data, "test", max_len, mask_seen=False), data)["ndcg@10"]


def remaining_cpu_hours(new: pd.DataFrame, *tables: pd.DataFrame) -> tuple[float, int]:
    """Core-hours the grid runs missing from ``new`` will take on one CPU thread each:
    seconds per step of the CPU runs in all tables (median per layers x d_emb; a cell
    without CPU runs is read off a log-linear fit in layers and d_emb over the cells that
    have them) times the median steps of ``new``'s runs at that d_emb and fraction.
    Returns the hours and the number of cells extrapolated."""
    runs = pd.concat([new, *tables])
    cpu = runs[runs["device"].astype(str) == "cpu"]
    sps = (cpu["seconds"] / cpu["steps"]).groupby([cpu["layers"], cpu["d_emb"]]).median()
    cells = np.log(np.array(sps.index.tolist(), dtype=float))
    coef, *_ = np.linalg.lstsq(np.c_[np.ones(len(cells)), cells], np.log(sps.to_numpy()))
    steps = new.groupby(["d_emb", "data_fraction"])["steps"].median()
    have = set(zip(new.layers, new.d_emb, new.data_fraction, new.seed))
    hours, guessed = 0.0, 0
    for layers, d in itertools.product(LAYERS, D_EMB):
        todo = {f: sum((layers, d, f, s) not in have for s in SEEDS) for f in FRACTIONS}
        if not any(todo.values()):
            continue
        if (layers, d) in sps.index:
            rate = float(sps[(layers, d)])
        else:
            rate = float(np.exp(coef @ [1.0, np.log(layers), np.log(d)]))
            guessed += 1
        for f, n_runs in todo.items():
            hours += n_runs * rate * steps.get((d, f), new["steps"].median()) / 3600
    return hours, guessed


def main(argv: list[str]) -> int:
    rebuild = argv[0] if argv else "data/ml-latest-small-sweep.csv"
    committed = argv[1] if len(argv) > 1 else "benchmarks/results_issue12/sweep-min-steps-500.csv"
    new, old = pd.read_csv(rebuild), pd.read_csv(committed)
    seeds = new.groupby(["layers", "d_emb", "data_fraction"]).size()
    print(
        f"{rebuild}: {len(new)} of {RUNS} runs; configurations with 0/1/2/3 "
        "seeds: "
        + "/".join(
            str(CONFIGS - len(seeds) if n == 0 else int((seeds == n).sum())) for n in range(4)
        )
    )
    earlier = Path("benchmarks/results_issue12/rebuild-min-steps-1000.csv")
    more = [pd.read_csv(earlier)] if earlier.exists() else []
    hours, guessed = remaining_cpu_hours(new, old, *more)
    print(
        f"missing runs: {RUNS - len(new)}, about {hours:.1f} core-hours on this "
        f"CPU (one thread a run; {guessed} layers x d_emb cell(s) without a CPU run extrapolated)"
    )
    both = new.merge(old, on=KEY, how="inner", suffixes=("", "_old"))
    changed = both[both["steps"] != both["steps_old"]]
    cols = ["best_step_old", "steps_old", "ndcg@10_old", "best_step", "steps", "end", "ndcg@10"]
    print(f"\nretrained runs also in {committed} ({len(changed)}), test NDCG@10:")
    print(changed.sort_values(KEY)[KEY + cols].round(4).to_string(index=False))
    if len(changed):
        d = changed["ndcg@10"] - changed["ndcg@10_old"]
        pop = popularity_test_ndcg()
        print(
            f"\nmean change {d.mean():+.4f} (sd {d.std(ddof=1):.4f}); runs below the "
            f"popularity ranker's test NDCG@10 {pop:.4f}: "
            f"{int((changed['ndcg@10_old'] < pop).sum())} before, "
            f"{int((changed['ndcg@10'] < pop).sum())} after"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
