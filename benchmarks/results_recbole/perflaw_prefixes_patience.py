"""perflaw ``--samples prefixes`` (RecBole's one target per prefix) on ml-100k, the issue's
configuration, one seed (default 0), CPU, with a given patience, cap and validation interval.

    python benchmarks/results_recbole/perflaw_prefixes_patience.py \
        PATIENCE MAX_STEPS EVAL_EVERY [SEED]
Results: prefixes-cpu.jsonl.
"""

import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

import torch  # noqa: E402

from perflaw.train import TrainConfig, load_sequences  # noqa: E402
from perflaw.train.evaluation import Evaluator  # noqa: E402
from perflaw.train.trainer import train_one  # noqa: E402


def main():
    torch.set_num_threads(1)
    patience, max_steps, eval_every = (int(a) for a in sys.argv[1:4])
    seed = int(sys.argv[4]) if len(sys.argv) > 4 else 0
    data = load_sequences(str(Path(__file__).resolve().parents[3] / "shared/data/ml-100k.parquet"))
    cfg = TrainConfig(
        layers=2,
        d_emb=64,
        heads=1,
        dropout=0.2,
        max_len=50,
        samples="prefixes",
        patience=patience,
        max_steps=max_steps,
        eval_every=eval_every,
    )
    valid = Evaluator(data, "valid", 50, mask_seen=False, seed=seed)
    test = Evaluator(data, "test", 50, mask_seen=False, seed=seed)
    r = train_one(
        data, cfg, fraction=1.0, seed=seed, valid=valid, test=test, device="cpu", log=print
    )
    keys = ["hr@10", "ndcg@10", "steps", "best_step", "end", "val_ndcg@10", "val_curve", "seconds"]
    print(
        json.dumps(
            {"variant": f"prefixes patience {patience}", "seed": seed, **{k: r[k] for k in keys}}
        )
    )


if __name__ == "__main__":
    main()
