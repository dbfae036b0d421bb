"""Training throughput of ``perflaw sweep --compile`` vs eager (issue 12).

The trainer's own step (``perflaw.train.trainer``: forward through ``torch.compile`` when
asked, the backbone's loss over every real position of the window, Adam), on full
batches of a log's training windows, for a few shapes, in one process.  Per shape and
mode: untimed warm-up steps, then ``--steps`` timed steps (steps/s); for compiled, the
first steps (tracing and code generation of forward and backward) are timed separately
as the compile time.  Prints a table and the compiled / eager ratio.

    python benchmarks/bench_compile.py [--log ../shared/data/ml-100k.parquet]
        [--shapes 1x32,2x64] [--steps 40] [--device cuda] [--threads 1] [--json out.json]
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
from perflaw.train.sweep import check_device  # noqa: E402
from perflaw.train.trainer import _Forward  # noqa: E402


def measure(data, layers: int, d: int, compiled: bool, device, a) -> dict:
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

    def sync() -> None:
        if device.type == "cuda":
            torch.cuda.synchronize(device)

    t = time.perf_counter()
    for i in range(2):  # compiled: tracing + code generation happen here
        step(i)
    sync()
    first = time.perf_counter() - t
    for i in range(a.warmup):
        step(i)
    sync()
    t = time.perf_counter()
    for i in range(a.steps):
        step(i)
    sync()
    sec = time.perf_counter() - t
    return {
        "shape": f"{layers}L d{d}",
        "mode": "compiled" if compiled else "eager",
        "steps_per_s": a.steps / sec,
        "first_2_steps_s": first,
        "compiled_in_use": forward.fn is not model,
    }


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--log", default="../shared/data/ml-100k.parquet")
    p.add_argument("--shapes", default="1x32,2x64", help="LAYERSxD_EMB, comma-separated")
    p.add_argument("--steps", type=int, default=40, help="timed steps per shape and mode")
    p.add_argument("--warmup", type=int, default=5, help="untimed steps before timing")
    p.add_argument("--device", default=None)
    p.add_argument("--threads", type=int, default=None)
    p.add_argument("--json", default=None)
    a = p.parse_args(argv)
    import torch

    if a.threads:
        torch.set_num_threads(a.threads)
    device = torch.device(check_device(a.device))
    data = load_sequences(a.log)
    print(
        f"torch {torch.__version__} on {device} ({torch.get_num_threads()} threads), "
        f"{Path(a.log).name}: {data.n_users} users, {data.n_items} items; "
        f"batch 128, max_len 50, {a.steps} timed steps after {a.warmup} warm-up"
    )
    rows = []
    for shape in a.shapes.split(","):
        layers, d = (int(v) for v in shape.lower().split("x"))
        pair = {}
        for compiled in (False, True):
            r = measure(data, layers, d, compiled, device, a)
            pair[r["mode"]] = r
            rows.append(r)
        e, c = pair["eager"], pair["compiled"]
        compile_s = c["first_2_steps_s"] - 2 / c["steps_per_s"]
        c["compile_s"] = compile_s
        c["ratio"] = c["steps_per_s"] / e["steps_per_s"]
        note = "" if c["compiled_in_use"] else "  (compile failed: eager fallback)"
        print(
            f"{e['shape']:>8s}: eager {e['steps_per_s']:7.2f} steps/s, compiled "
            f"{c['steps_per_s']:7.2f} steps/s (× {c['ratio']:.2f}), compile {compile_s:.1f} s"
            f"{note}",
            flush=True,
        )
    if a.json:
        Path(a.json).write_text(json.dumps({"device": str(device), "rows": rows}, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
