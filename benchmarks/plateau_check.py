"""One bundled-sweep configuration trained past the old stopping rule (issue 12, "Early
peaks" in docs/sweep.md): SASRec 1 layer × d 32 on all of ml-latest-small, one CPU thread,
validation every 50 steps, a fixed number of steps (no early stop), printing the
validation curve, the best step and the test NDCG@10 of the best weights.

    python benchmarks/plateau_check.py SEED STEPS   # e.g. 2 1500
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from perflaw.train import TrainConfig, load_sequences  # noqa: E402
from perflaw.train.evaluation import Evaluator  # noqa: E402
from perflaw.train.trainer import train_one  # noqa: E402


def main(argv: list[str]) -> int:
    import torch

    torch.set_num_threads(1)
    seed, steps = int(argv[0]), int(argv[1])
    data = load_sequences(Path(__file__).resolve().parents[1] / "data/ml-latest-small.parquet")
    cfg = TrainConfig(
        layers=1, d_emb=32, eval_every=50, patience=10**6, min_steps=steps, max_steps=steps
    )
    valid = Evaluator(data, "valid", 50, mask_seen=False, seed=seed)
    test = Evaluator(data, "test", 50, mask_seen=False, seed=seed)
    rec = train_one(
        data,
        cfg,
        fraction=1.0,
        seed=seed,
        valid=valid,
        test=test,
        device=torch.device("cpu"),
        log=lambda m: print(m, flush=True),
    )
    print(
        f"seed {seed}: best step {rec['best_step']}, val {rec['val_ndcg@10']:.4f}, "
        f"test ndcg@10 {rec['ndcg@10']:.4f}, {rec['seconds']:.0f} s"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
