"""Diagnosis of the RecBole gap (docs/sweep.md, peer check): perflaw's SASRec with RecBole's
embedding path, ml-100k, the issue's configuration, seed 0, CPU, default stopping rule.

v1: N(0, 0.02) initialisation of every Linear and Embedding, LayerNorm on item + position
embeddings instead of the sqrt(d) scale.  v2: v1 without the final LayerNorm.

    python benchmarks/results_recbole/recbole_embedding_variants.py v1|v2
Results: embedding-variants-seed0-cpu.jsonl.
"""

import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

import torch  # noqa: E402
from torch import nn  # noqa: E402

from perflaw.train import TrainConfig, load_sequences  # noqa: E402
from perflaw.train import backbones as bb  # noqa: E402
from perflaw.train.evaluation import Evaluator  # noqa: E402
from perflaw.train.trainer import train_one  # noqa: E402

VARIANT = sys.argv[1]
_init = bb.SASRec.__init__


def init(self, *args, **kwargs):
    _init(self, *args, **kwargs)
    self.in_norm = nn.LayerNorm(self.d_emb, eps=1e-12)
    for m in self.modules():
        if isinstance(m, (nn.Linear, nn.Embedding)):
            m.weight.data.normal_(0.0, 0.02)
        if isinstance(m, nn.Linear) and m.bias is not None:
            m.bias.data.zero_()
    with torch.no_grad():
        self.items.weight[0].zero_()


def forward(self, seq):
    pad = seq == 0
    x = self.items(seq) + self.positions(torch.arange(seq.shape[1], device=seq.device))[None]
    x = self.drop(self.in_norm(x)) * (~pad)[..., None]
    mask = bb._attention_mask(pad)
    for block in self.blocks:
        x = block(x, mask) * (~pad)[..., None]
    return x if VARIANT == "v2" else self.norm(x)


def main():
    torch.set_num_threads(1)
    bb.SASRec.__init__ = init
    bb.SASRec.forward = forward
    data = load_sequences(str(Path(__file__).resolve().parents[3] / "shared/data/ml-100k.parquet"))
    cfg = TrainConfig(layers=2, d_emb=64, heads=1, dropout=0.2, max_len=50)
    valid = Evaluator(data, "valid", 50, mask_seen=False, seed=0)
    test = Evaluator(data, "test", 50, mask_seen=False, seed=0)
    r = train_one(data, cfg, fraction=1.0, seed=0, valid=valid, test=test, device="cpu", log=print)
    keys = ["hr@10", "ndcg@10", "steps", "best_step", "end", "val_ndcg@10", "val_curve", "seconds"]
    print(json.dumps({"variant": VARIANT, **{k: r[k] for k in keys}}))


if __name__ == "__main__":
    main()
