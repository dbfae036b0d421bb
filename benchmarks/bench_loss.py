"""Training throughput with the chunked cross-entropy vs the full-matrix one (CPU).

The trainer's step (forward, the softmax cross-entropy over every item at every real
position of the windows, backward, Adam) on full batches of a log's training windows, for
a few shapes, in one process.  Modes: ``plain`` = the whole ``(targets × items)`` logit
matrix at once (what ``_Backbone.loss`` did before, and still does on a GPU), and
``chunk=C`` = :func:`perflaw.train.backbones.chunked_cross_entropy` with C logits per
chunk (the default is ``CHUNK_LOGITS``).  The modes are timed in alternating blocks
(medians), so a shared machine's load changes hit all alike.  Prints steps/s, targets/s
and each chunked mode's ratio to plain.

    python benchmarks/bench_loss.py [--log ../shared/data/ml-100k.parquet]
        [--shapes 1x16,2x64,8x128] [--chunks 262144,524288,1048576] [--steps 5]
        [--rounds 3] [--threads 1] [--json out.json]
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from perflaw.train import TrainConfig, load_sequences  # noqa: E402
from perflaw.train.data import training_samples  # noqa: E402


def setup(data, layers: int, d: int, mode: str):
    """A model, its optimizer and the trainer's step with the loss of ``mode``."""
    import numpy as np
    import torch
    import torch.nn.functional as F

    from perflaw.train import backbones

    cfg = TrainConfig(layers=layers, d_emb=d)
    torch.manual_seed(0)
    inputs, targets = training_samples([s[:-2] for s in data.sequences], cfg.max_len, "windows")
    keep = (targets != 0).sum(1) > 0
    X, Y = torch.as_tensor(inputs[keep]), torch.as_tensor(targets[keep])
    rng = np.random.default_rng(0)
    batches = [torch.as_tensor(rng.choice(len(X), cfg.batch_size, replace=False)) for _ in range(8)]
    model = backbones.build("sasrec", data.n_items, d, layers, cfg.max_len, dropout=cfg.dropout)
    model.train()
    opt = torch.optim.Adam(model.parameters(), lr=cfg.lr)

    def loss(hidden, tgt):
        if mode == "plain":
            logits = model.scores(hidden).float()
            logits[:, 0] = float("-inf")
            return F.cross_entropy(logits, tgt)
        chunk = int(mode.split("=")[1])
        return backbones.chunked_cross_entropy(hidden, model.items.weight, tgt, chunk=chunk)

    def step(i: int) -> int:
        idx = batches[i % len(batches)]
        seq, tgt = X[idx], Y[idx]
        real = tgt != 0
        value = loss(model(seq)[real], tgt[real])
        opt.zero_grad(set_to_none=True)
        value.backward()
        opt.step()
        return int(real.sum())

    return step


def measure(data, layers: int, d: int, modes: list[str], a) -> dict:
    import numpy as np

    steps = {m: setup(data, layers, d, m) for m in modes}
    for m in modes:
        for i in range(a.warmup):
            steps[m](i)
    rates: dict[str, list[float]] = {m: [] for m in modes}
    targets: dict[str, int] = {m: 0 for m in modes}
    for _ in range(a.rounds):
        for m in modes:
            t = time.perf_counter()
            targets[m] += sum(steps[m](i) for i in range(a.steps))
            rates[m].append(a.steps / (time.perf_counter() - t))
    med = {m: float(np.median(rates[m])) for m in modes}
    per_step = {m: targets[m] / (a.rounds * a.steps) for m in modes}
    return {
        "shape": f"{layers}L d{d}",
        "steps_per_s": med,
        "targets_per_s": {m: med[m] * per_step[m] for m in modes},
        "ratio_to_plain": {m: med[m] / med["plain"] for m in modes},
        "blocks": rates,
    }


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--log", default="../shared/data/ml-100k.parquet")
    p.add_argument("--shapes", default="1x16,2x64,8x128", help="LAYERSxD_EMB, comma-separated")
    p.add_argument("--chunks", default="262144,524288,1048576", help="logits per chunk")
    p.add_argument("--steps", type=int, default=5, help="steps per timed block")
    p.add_argument("--rounds", type=int, default=3, help="timed blocks per mode")
    p.add_argument("--warmup", type=int, default=2, help="untimed steps before timing")
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--json", default=None)
    a = p.parse_args(argv)
    import torch

    torch.set_num_threads(a.threads)
    data = load_sequences(a.log)
    modes = ["plain"] + [f"chunk={c}" for c in a.chunks.split(",")]
    print(
        f"torch {torch.__version__} on cpu ({torch.get_num_threads()} threads), "
        f"{Path(a.log).name}: {data.n_users} users, {data.n_items} items; batch 128, "
        f"max_len 50; {a.rounds} alternating blocks of {a.steps} steps per mode"
    )
    rows = []
    for shape in a.shapes.split(","):
        layers, d = (int(v) for v in shape.lower().split("x"))
        r = measure(data, layers, d, modes, a)
        rows.append(r)
        cells = "  ".join(
            f"{m} {r['steps_per_s'][m]:.2f}/s ({r['targets_per_s'][m]:,.0f} targets/s, "
            f"x {r['ratio_to_plain'][m]:.2f})"
            for m in modes
        )
        print(f"{r['shape']:>8s}: {cells}", flush=True)
    if a.json:
        Path(a.json).write_text(json.dumps({"log": a.log, "rows": rows}, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
