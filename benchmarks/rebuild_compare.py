"""The bundled sweep's rebuild against the committed table (issue 12; docs/sweep.md, "Early
peaks"): coverage of the rebuild, and every run it retrained beside the same run (layers,
d_emb, fraction, seed) in the committed table — best step, steps, end and test NDCG@10 —
with the popularity ranker's level for reference.

    python benchmarks/rebuild_compare.py [REBUILD] [COMMITTED]
"""

from __future__ import annotations

import sys

import pandas as pd

KEY = ["layers", "d_emb", "data_fraction", "seed"]


def popularity_test_ndcg(log: str = "data/ml-latest-small.parquet", max_len: int = 50) -> float:
    """Test NDCG@10 of ranking items by training count (full ranking, unmasked, as the
    table's runs are scored)."""
    from perflaw.train import load_sequences
    from perflaw.train.evaluation import Evaluator, popularity_metrics

    data = load_sequences(log)
    return popularity_metrics(Evaluator(data, "test", max_len, mask_seen=False), data)["ndcg@10"]


def main(argv: list[str]) -> int:
    rebuild = argv[0] if argv else "benchmarks/results_issue12/rebuild-min-steps-1500.csv"
    committed = argv[1] if len(argv) > 1 else "data/ml-latest-small-sweep.csv"
    new, old = pd.read_csv(rebuild), pd.read_csv(committed)
    seeds = new.groupby(["layers", "d_emb", "data_fraction"]).size()
    print(
        f"{rebuild}: {len(new)} of 144 runs; configurations with 0/1/2/3 seeds: "
        + "/".join(str(48 - len(seeds) if n == 0 else int((seeds == n).sum())) for n in range(4))
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
