"""Peer check of the trainer: perflaw vs RecBole 1.2.1's SASRec on ml-100k (issue 12).

Configuration (the issue's): SASRec, 2 layers, d 64, 1 head, d_ff 64, max_len 50,
dropout 0.2, softmax CE, Adam 1e-3, batch 128, leave-one-out, full ranking; seeds 0-2;
perflaw with its default stopping rule.  Prints HR@10 / NDCG@10 masked (items seen before
the target excluded) and unmasked (only padding excluded, RecBole's convention), mean ±
std over seeds, steps, end reason and seconds, and RecBole's figures when it is importable
(``pip install 'perflaw[recbole]'``; its numpy-2 and torch.load quirks are patched here).

    python benchmarks/bench_trainer.py [--log ../shared/data/ml-100k.parquet]
        [--seeds 0,1,2] [--samples windows|prefixes] [--device cuda] [--recbole]
        [--warmup-steps N] [--decay none|cosine] [--decay-steps N] [--decay-floor F]
        [--json out.json]
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from perflaw.train import TrainConfig, load_sequences  # noqa: E402
from perflaw.train.evaluation import Evaluator  # noqa: E402
from perflaw.train.sweep import check_device  # noqa: E402
from perflaw.train.trainer import train_one  # noqa: E402

#: RecBole SASRec, same configuration, from the issue (seeds 0-2, 2-core CPU box).
ISSUE_RECBOLE = {
    "hr@10 unmasked": (0.121, 0.013),
    "ndcg@10 unmasked": (0.057, 0.005),
    "hr@10 masked": (0.181, 0.018),
    "ndcg@10 masked": (0.098, 0.011),
}


def run_perflaw(
    log: str, seeds, config: TrainConfig, device: str, say=print, verbose: bool = False
) -> list[dict]:
    data = load_sequences(log)
    rows = []
    for seed in seeds:
        valid = Evaluator(data, "valid", config.max_len, mask_seen=False, seed=seed)
        test = Evaluator(data, "test", config.max_len, mask_seen=False, seed=seed)
        masked = Evaluator(data, "test", config.max_len, mask_seen=True, seed=seed)
        r = train_one(
            data,
            config,
            fraction=1.0,
            seed=seed,
            valid=valid,
            test=test,
            device=device,
            also={"masked": masked},
            log=lambda m: say(m, flush=True) if verbose else None,
        )
        row = {
            "seed": seed,
            "hr@10 unmasked": r["hr@10"],
            "ndcg@10 unmasked": r["ndcg@10"],
            "hr@10 masked": r["also"]["masked"]["hr@10"],
            "ndcg@10 masked": r["also"]["masked"]["ndcg@10"],
            "steps": r["steps"],
            "best_step": r["best_step"],
            "end": r["end"],
            "epochs": r["epochs"],
            "seconds": r["seconds"],
        }
        say(json.dumps(row))
        rows.append(row)
    return rows


def run_recbole(log: str, seeds, epochs: int, device: str, say=print) -> list[dict] | None:
    """RecBole SASRec on the same log (None if RecBole is not importable)."""
    try:
        import numpy
        import torch

        # RecBole 1.2.1 uses aliases numpy 2 removed and torch.load without weights_only.
        for alias, real in (
            ("float_", numpy.float64),
            ("complex_", numpy.complex128),
            ("unicode_", numpy.str_),
            ("bool8", numpy.bool_),
        ):
            if not hasattr(numpy, alias):
                setattr(numpy, alias, real)
        _load = torch.load
        torch.load = lambda *a, **k: _load(*a, **{"weights_only": False, **k})
        from recbole.config import Config
        from recbole.data import create_dataset, data_preparation
        from recbole.model.sequential_recommender import SASRec
        from recbole.trainer import Trainer
        from recbole.utils import init_seed
    except ImportError:
        return None
    import tempfile

    import pandas as pd

    df = pd.read_parquet(log)
    tmp = Path(tempfile.mkdtemp())
    name = Path(log).stem
    (tmp / name).mkdir()
    inter = df.rename(
        columns={
            "user_id": "user_id:token",
            "item_id": "item_id:token",
            "timestamp": "timestamp:float",
        }
    )
    inter.to_csv(tmp / name / f"{name}.inter", sep="\t", index=False)
    rows = []
    for seed in seeds:
        cfg = {
            "data_path": str(tmp),
            "dataset": name,
            "seed": seed,
            "reproducibility": True,
            "load_col": {"inter": ["user_id", "item_id", "timestamp"]},
            "USER_ID_FIELD": "user_id",
            "ITEM_ID_FIELD": "item_id",
            "TIME_FIELD": "timestamp",
            "n_layers": 2,
            "n_heads": 1,
            "hidden_size": 64,
            "inner_size": 64,
            "hidden_dropout_prob": 0.2,
            "attn_dropout_prob": 0.2,
            "hidden_act": "relu",
            "MAX_ITEM_LIST_LENGTH": 50,
            "loss_type": "CE",
            "train_neg_sample_args": None,
            "learning_rate": 1e-3,
            "train_batch_size": 128,
            "epochs": epochs,
            "eval_args": {"split": {"LS": "valid_and_test"}, "order": "TO", "mode": "full"},
            "metrics": ["Hit", "NDCG"],
            "topk": [10],
            "valid_metric": "NDCG@10",
            "device": device,
            "use_gpu": device.startswith("cuda"),
            "show_progress": False,
            "checkpoint_dir": str(tmp / "saved"),
        }
        start = time.perf_counter()
        config = Config(model="SASRec", config_dict=cfg)
        init_seed(seed, True)
        dataset = create_dataset(config)
        train, valid, test = data_preparation(config, dataset)
        model = SASRec(config, train.dataset).to(config["device"])
        trainer = Trainer(config, model)
        trainer.fit(train, valid, saved=True, show_progress=False)
        result = trainer.evaluate(test, load_best_model=True, show_progress=False)
        row = {
            "seed": seed,
            "hr@10 unmasked": float(result["hit@10"]),
            "ndcg@10 unmasked": float(result["ndcg@10"]),
            "epochs": epochs,
            "seconds": round(time.perf_counter() - start, 1),
        }
        say(json.dumps(row))
        rows.append(row)
    return rows


def summary(rows: list[dict]) -> dict:
    keys = [k for k in rows[0] if k.startswith(("hr@", "ndcg@"))]
    return {
        k: (float(np.mean([r[k] for r in rows])), float(np.std([r[k] for r in rows], ddof=1)))
        for k in keys
    }


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--log", default="../shared/data/ml-100k.parquet")
    p.add_argument("--seeds", default="0,1,2")
    p.add_argument("--samples", default="windows", choices=["windows", "prefixes"])
    p.add_argument("--device", default=None)
    p.add_argument("--threads", type=int, default=None)
    p.add_argument("--max-steps", type=int, default=None, help="override (smoke tests)")
    p.add_argument("--recbole", action="store_true", help="also train RecBole's SASRec")
    p.add_argument("--recbole-epochs", type=int, default=4)
    p.add_argument("--warmup-steps", type=int, default=0, help="linear lr warm-up")
    p.add_argument("--decay", default="none", choices=["none", "cosine"])
    p.add_argument("--decay-steps", type=int, default=0, help="cosine length (0: max-steps)")
    p.add_argument("--decay-floor", type=float, default=0.0, help="cosine end, share of lr")
    p.add_argument("--json", default=None)
    p.add_argument("--verbose", action="store_true", help="one line per validation")
    a = p.parse_args(argv)
    import torch

    if a.threads:
        torch.set_num_threads(a.threads)
    device = check_device(a.device)
    seeds = [int(s) for s in a.seeds.split(",")]
    config = TrainConfig(
        backbone="sasrec",
        layers=2,
        d_emb=64,
        heads=1,
        dropout=0.2,
        max_len=50,
        loss="ce",
        samples=a.samples,
        batch_size=128,
        lr=1e-3,
        warmup_steps=a.warmup_steps,
        decay=a.decay,
        decay_steps=a.decay_steps,
        decay_floor=a.decay_floor,
    )
    if a.max_steps:
        config = TrainConfig(
            **{
                **config.as_dict(),
                "max_steps": a.max_steps,
                "min_steps": 0,
                "eval_every": a.max_steps,
            }
        )
    print(f"perflaw on {device}: {config}")
    ours = run_perflaw(a.log, seeds, config, device, verbose=a.verbose)
    result = {
        "config": config.as_dict(),
        "device": device,
        "perflaw": ours,
        "perflaw_summary": summary(ours),
        "recbole_issue": ISSUE_RECBOLE,
    }
    if a.recbole:
        theirs = run_recbole(a.log, seeds, a.recbole_epochs, device)
        if theirs is None:
            print("RecBole is not importable: pip install 'perflaw[recbole]'")
        else:
            result["recbole"] = theirs
            result["recbole_summary"] = summary(theirs)
    print(f"{'':28s} {'perflaw':>16s}  {'RecBole (issue)':>16s}")
    for k, (m, s) in result["perflaw_summary"].items():
        ref = ISSUE_RECBOLE.get(k)
        ref_txt = f"{ref[0]:.3f} ± {ref[1]:.3f}" if ref else ""
        verdict = (
            "within 1 sd or higher" if ref and m >= ref[0] - ref[1] else "below" if ref else ""
        )
        print(f"{k:28s} {m:.3f} ± {s:.3f}   {ref_txt:>16s}  {verdict}")
    if "recbole_summary" in result:
        for k, (m, s) in result["recbole_summary"].items():
            print(f"RecBole here: {k:16s} {m:.3f} ± {s:.3f}")
    print(
        f"seconds per run: {[r['seconds'] for r in ours]}; steps: "
        f"{[r['steps'] for r in ours]}; ends: {[r['end'] for r in ours]}"
    )
    if a.json:
        Path(a.json).write_text(json.dumps(result, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
