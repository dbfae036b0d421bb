"""Packed training (``perflaw sweep --pack K``) vs K separate runs, in one process.

For each shape (``LAYERSxD_EMB``) it trains K runs (seeds 0…K-1, all the data, the
default ``TrainConfig`` otherwise: SASRec, max_len 50, batch 128, dropout 0.2, CE) once
with ``train_one`` each, one after the other, and once as one pack with
``train_packed``, and prints optimizer steps per second of all K models together and the
ratio packed / separate.  Both trainers are timed as they are (setup, validation, test and
D′ included) at ``--steps`` and at ``--base-steps`` optimizer steps with a single
validation at the end; the difference of the two wall times is the time of the extra
steps, so the fixed costs cancel out.

    python benchmarks/bench_pack.py [--log ../shared/data/ml-100k.parquet]
        [--shapes 1x32,2x64] [--pack 4] [--steps 120] [--base-steps 20]
        [--device cpu|cuda] [--threads 1] [--json out.json]
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from dataclasses import replace
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from perflaw.train import TrainConfig, load_sequences  # noqa: E402
from perflaw.train.evaluation import Evaluator  # noqa: E402
from perflaw.train.packed import train_packed  # noqa: E402
from perflaw.train.sweep import check_device  # noqa: E402
from perflaw.train.trainer import train_one  # noqa: E402


def _timed(fn) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def _sync(device: str) -> None:
    if device.startswith("cuda"):
        import torch

        torch.cuda.synchronize()


def measure(data, config: TrainConfig, k: int, steps: int, base: int, device: str) -> dict:
    """Steps per second (all K models together) of K separate runs and of one pack."""
    valid = Evaluator(data, "valid", config.max_len, mask_seen=False)
    test = Evaluator(data, "test", config.max_len, mask_seen=False)
    runs = [(1.0, seed) for seed in range(k)]

    def separate(n: int) -> None:
        cfg = replace(config, max_steps=n, min_steps=0, eval_every=n)
        for fraction, seed in runs:
            train_one(
                data, cfg, fraction=fraction, seed=seed, valid=valid, test=test, device=device
            )
        _sync(device)

    def packed(n: int) -> None:
        cfg = replace(config, max_steps=n, min_steps=0, eval_every=n)
        train_packed(data, cfg, runs, valid=valid, test=test, device=device)
        _sync(device)

    packed(base)  # warm-up: first calls (allocator, kernels, the evaluators' device copies)
    separate(base)
    out = {}
    for name, fn in (("separate", separate), ("packed", packed)):
        extra = _timed(lambda fn=fn: fn(steps)) - _timed(lambda fn=fn: fn(base))
        out[f"{name}_steps_per_s"] = k * (steps - base) / extra
    out["ratio"] = out["packed_steps_per_s"] / out["separate_steps_per_s"]
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--log", default=str(Path(__file__).parents[2] / "shared/data/ml-100k.parquet"))
    ap.add_argument("--shapes", default="1x32,2x64", help="LAYERSxD_EMB, comma-separated")
    ap.add_argument("--pack", type=int, default=4, help="K: models per pack")
    ap.add_argument("--steps", type=int, default=120)
    ap.add_argument("--base-steps", type=int, default=20)
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--threads", type=int, default=None)
    ap.add_argument("--json", default=None)
    args = ap.parse_args()
    import torch

    if args.threads:
        torch.set_num_threads(args.threads)
    device = check_device(args.device)
    data = load_sequences(args.log)
    results = []
    for shape in args.shapes.split(","):
        layers, d = (int(v) for v in shape.lower().split("x"))
        config = TrainConfig(layers=layers, d_emb=d)
        r = measure(data, config, args.pack, args.steps, args.base_steps, device)
        r = {"log": Path(args.log).stem, "layers": layers, "d_emb": d, "k": args.pack, **r}
        r["device"] = device
        r["threads"] = torch.get_num_threads()
        results.append(r)
        print(
            f"{r['log']} {layers}L d{d} K={args.pack} on {device} "
            f"({r['threads']} thread(s)): separate {r['separate_steps_per_s']:.2f} "
            f"steps/s, packed {r['packed_steps_per_s']:.2f} steps/s, "
            f"ratio {r['ratio']:.2f}",
            flush=True,
        )
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
