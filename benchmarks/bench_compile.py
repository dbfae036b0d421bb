"""Training throughput of ``perflaw sweep --compile`` vs eager (issue 12).

The trainer's own step (``perflaw.train.trainer``: forward through ``torch.compile`` when
asked, the backbone's loss over every real position of the window, Adam), on full
batches of a log's training windows, for a few shapes, in one process.  Per shape and
mode: untimed warm-up steps, then timed blocks of ``--steps`` steps; for compiled, the
first steps (tracing and code generation of forward and backward) are timed separately
as the compile time (with a fresh inductor cache unless ``--warm-cache``).  Eager and
compiled are timed in alternating blocks (medians), so a shared machine's load changes
hit both alike.  Prints steps/s and the compiled / eager ratio per shape.

    python benchmarks/bench_compile.py [--log ../shared/data/ml-100k.parquet]
        [--shapes 1x32,2x64] [--steps 10] [--rounds 5] [--device cuda] [--threads 1]
        [--warm-cache] [--json out.json]
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from perflaw.train import TrainConfig, load_sequences  # noqa: E402
from perflaw.train.data import training_samples  # noqa: E402
from perflaw.train.sweep import check_device  # noqa: E402
from perflaw.train.trainer import _Forward  # noqa: E402


def setup(data, layers: int, d: int, compiled: bool, device):
    """A model, its optimizer and a step function (the trainer's step)."""
    import numpy as np
    import torch

    from perflaw.train import backbones

    cfg = TrainConfig(layers=layers, d_emb=d)
    torch.manual_seed(0)
    train_seqs = [s[:-2] for s in data.sequences]
    inputs, targets = training_samples(train_seqs, cfg.max_len, "windows")
    keep = (targets != 0).sum(1) > 0
    X = torch.as_tensor(inputs[keep], device=device)
    Y = torch.as_tensor(targets[keep], device=device)
    rng = np.random.default_rng(0)
    batches = [
        torch.as_tensor(rng.choice(len(X), cfg.batch_size, replace=False), device=device)
        for _ in range(8)
    ]
    model = backbones.build(
        "sasrec", data.n_items, d, layers, cfg.max_len, heads=1, dropout=cfg.dropout
    ).to(device)
    model.train()
    forward = _Forward(model, compiled)
    opt = torch.optim.Adam(model.parameters(), lr=cfg.lr)
    autocast = device.type == "cuda"

    def step(i: int) -> None:
        idx = batches[i % len(batches)]
        seq, tgt = X[idx], Y[idx]
        with torch.autocast(device.type, dtype=torch.bfloat16, enabled=autocast):
            hidden = forward(seq)
            real = tgt != 0
            value = model.loss(hidden[real], tgt[real], "ce")
        opt.zero_grad(set_to_none=True)
        value.backward()
        opt.step()

    return step, lambda: forward.fn is not model


def timed(step, n: int, device) -> float:
    import torch

    def sync() -> None:
        if device.type == "cuda":
            torch.cuda.synchronize(device)

    sync()
    t = time.perf_counter()
    for i in range(n):
        step(i)
    sync()
    return time.perf_counter() - t


def measure(data, layers: int, d: int, device, a) -> dict:
    """Eager and compiled models of one shape, timed in alternating blocks (so load
    changes on a shared machine hit both alike); medians of the blocks' steps/s."""
    import numpy as np

    steps, uses = {}, {}
    first = {}
    for mode in ("eager", "compiled"):
        steps[mode], uses[mode] = setup(data, layers, d, mode == "compiled", device)
        first[mode] = timed(steps[mode], 2, device)  # compiled: tracing + code generation
        timed(steps[mode], a.warmup, device)
    rates: dict[str, list[float]] = {"eager": [], "compiled": []}
    for _ in range(a.rounds):
        for mode in ("eager", "compiled"):
            rates[mode].append(a.steps / timed(steps[mode], a.steps, device))
    eager, comp = (float(np.median(rates[m])) for m in ("eager", "compiled"))
    return {
        "shape": f"{layers}L d{d}",
        "eager_steps_per_s": eager,
        "compiled_steps_per_s": comp,
        "ratio": comp / eager,
        "eager_blocks": rates["eager"],
        "compiled_blocks": rates["compiled"],
        # the first two compiled steps less two steady ones: tracing + code generation
        "compile_s": first["compiled"] - 2 / comp,
        "compiled_in_use": uses["compiled"](),
    }


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--log", default="../shared/data/ml-100k.parquet")
    p.add_argument("--shapes", default="1x32,2x64", help="LAYERSxD_EMB, comma-separated")
    p.add_argument("--steps", type=int, default=10, help="steps per timed block")
    p.add_argument("--rounds", type=int, default=5, help="timed blocks per mode")
    p.add_argument("--warmup", type=int, default=5, help="untimed steps before timing")
    p.add_argument("--device", default=None)
    p.add_argument("--threads", type=int, default=None)
    p.add_argument(
        "--warm-cache",
        action="store_true",
        help="keep inductor's on-disk cache (default: a fresh one, so compile_s is cold)",
    )
    p.add_argument("--json", default=None)
    a = p.parse_args(argv)
    if not a.warm_cache:  # before torch reads them
        fresh = tempfile.mkdtemp(prefix="perflaw-compile-")
        os.environ["TORCHINDUCTOR_CACHE_DIR"] = fresh
        os.environ["TRITON_CACHE_DIR"] = os.path.join(fresh, "triton")
    import torch

    if a.threads:
        torch.set_num_threads(a.threads)
    device = torch.device(check_device(a.device))
    data = load_sequences(a.log)
    print(
        f"torch {torch.__version__} on {device} ({torch.get_num_threads()} threads), "
        f"{Path(a.log).name}: {data.n_users} users, {data.n_items} items; "
        f"batch 128, max_len 50, {a.rounds} alternating blocks of {a.steps} steps per "
        f"mode after {a.warmup} warm-up steps; "
        f"{'warm' if a.warm_cache else 'fresh'} compile cache"
    )
    rows = []
    for shape in a.shapes.split(","):
        layers, d = (int(v) for v in shape.lower().split("x"))
        r = measure(data, layers, d, device, a)
        rows.append(r)
        note = "" if r["compiled_in_use"] else "  (compile failed: eager fallback)"
        print(
            f"{r['shape']:>8s}: eager {r['eager_steps_per_s']:7.2f} steps/s, compiled "
            f"{r['compiled_steps_per_s']:7.2f} steps/s (x {r['ratio']:.2f}), "
            f"compile {r['compile_s']:.1f} s{note}",
            flush=True,
        )
    if a.json:
        Path(a.json).write_text(json.dumps({"device": str(device), "rows": rows}, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
