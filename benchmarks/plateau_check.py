"""One bundled-sweep configuration trained past the old stopping rule (issue 12, "Early
peaks" in docs/sweep.md): SASRec 1 layer × d 32 on all of ml-latest-small, one CPU thread,
validation every 50 steps, a fixed number of steps (no early stop), printing the
validation curve and the test metrics of the best weights (the peer check's runner,
:func:`bench_trainer.run_perflaw`).

    python benchmarks/plateau_check.py SEED STEPS [LAYERS D_EMB]   # e.g. 2 1500; 1 3000 1 16
"""

from __future__ import annotations

import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from bench_trainer import run_perflaw  # noqa: E402

from perflaw.train import TrainConfig  # noqa: E402


def main(argv: list[str]) -> int:
    import torch

    torch.set_num_threads(1)
    seed, steps = int(argv[0]), int(argv[1])
    layers, d_emb = (int(argv[2]), int(argv[3])) if len(argv) >= 4 else (1, 32)
    cfg = TrainConfig(
        layers=layers, d_emb=d_emb, eval_every=50, patience=10**6, min_steps=steps, max_steps=steps
    )
    run_perflaw(str(HERE.parent / "data/ml-latest-small.parquet"), [seed], cfg, "cpu", verbose=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
