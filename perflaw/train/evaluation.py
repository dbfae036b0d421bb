"""Leave-one-out ranking metrics: full ranking (seen items masked or not) or sampled negatives.

Everything runs in torch on the model's device, in large batches; a run evaluates its
validation split every ``eval_every`` optimizer steps and its test split once.
"""

from __future__ import annotations

import numpy as np

from perflaw.errors import DataError
from perflaw.train.data import SequenceData, left_pad

__all__ = ["KS", "Evaluator", "eval_name", "popularity_metrics", "rank_metrics"]

#: The cut-offs K of HR@K and NDCG@K in the runs table.
KS = (5, 10, 20, 50)

SAMPLING = ("uniform", "popularity")


def eval_name(mask_seen: bool, negatives: int | None, sampling: str = "uniform") -> str:
    """The ``eval`` column: ``full-masked``, ``full-unmasked`` or ``sampled-<sampling>-N``.

    Examples
    --------
    >>> eval_name(False, None), eval_name(True, None), eval_name(True, 100, "popularity")
    ('full-unmasked', 'full-masked', 'sampled-popularity-100')
    """
    if negatives:
        return f"sampled-{sampling}-{negatives}"
    return "full-masked" if mask_seen else "full-unmasked"


def rank_metrics(ranks: np.ndarray, ks=KS) -> dict:
    """HR@K and NDCG@K from 0-based ranks of the targets.

    Examples
    --------
    >>> m = rank_metrics(np.array([0, 3, 60]), ks=(10,))
    >>> round(m["hr@10"], 4), round(m["ndcg@10"], 4)
    (0.6667, 0.4769)
    """
    out = {}
    for k in ks:
        hit = ranks < k
        out[f"hr@{k}"] = float(hit.mean())
        out[f"ndcg@{k}"] = float(np.where(hit, 1.0 / np.log2(ranks + 2.0), 0.0).mean())
    return out


def item_popularity(data: SequenceData) -> np.ndarray:
    """Counts of each item code (index 0 = padding, count 0) in the training parts of all
    sequences (validation and test targets left out)."""
    train = np.concatenate([s[:-2] for s in data.sequences])
    return np.bincount(train, minlength=data.n_items + 1).astype(np.float64)


def sample_negatives(
    history_codes: np.ndarray,
    targets: np.ndarray,
    n_items: int,
    n: int,
    rng: np.random.Generator,
    p: np.ndarray | None = None,
) -> np.ndarray:
    """``n`` negatives per row, drawn (with replacement) from items 1…n_items with
    probabilities ``p`` (uniform when None), redrawn while seen or equal to the target.

    ``history_codes`` are ``row * (n_items + 1) + item`` of every (row, seen item) pair.
    """
    rows = len(targets)
    items = np.arange(1, n_items + 1)
    probs = None if p is None else p[1:] / p[1:].sum()
    neg = rng.choice(items, size=(rows, n), p=probs)
    width = n_items + 1
    seen = np.concatenate([history_codes, np.arange(rows) * width + targets])
    seen.sort()
    for _ in range(1000):
        codes = np.arange(rows)[:, None] * width + neg
        bad = np.isin(codes, seen)
        if not bad.any():
            return neg
        neg[bad] = rng.choice(items, size=int(bad.sum()), p=probs)
    raise DataError("could not draw unseen negatives: too few unseen items per user")


class Evaluator:
    """Inputs, targets and candidate sets of one split (``"valid"`` or ``"test"``).

    Parameters
    ----------
    data : SequenceData
    split : {"valid", "test"}
        Validation target = second-to-last item, test target = last item.
    max_len : int
    mask_seen : bool
        Full ranking only: leave the items the user interacted with before the target out
        of the ranking (the target itself stays).  False ranks against every item but
        padding (RecBole's convention for sequential models).
    negatives : int, optional
        Rank the target among this many sampled negatives (never seen before the target,
        never the target) instead of all items.
    sampling : {"uniform", "popularity"}
        How negatives are drawn: uniformly, or in proportion to the items' training
        counts.
    seed : int
        Seeds the negatives.
    """

    def __init__(
        self,
        data: SequenceData,
        split: str,
        max_len: int,
        *,
        mask_seen: bool,
        negatives: int | None = None,
        sampling: str = "uniform",
        seed: int = 0,
    ):
        cut = 2 if split == "valid" else 1
        self.inputs = left_pad((s[:-cut] for s in data.sequences), max_len)
        self.targets = np.array([s[-cut] for s in data.sequences], dtype=np.int64)
        self.n_items = data.n_items
        self.mask_seen = mask_seen
        hist = [np.unique(s[:-cut]) for s in data.sequences]
        self.hist_offsets = np.concatenate([[0], np.cumsum([len(h) for h in hist])])
        self.hist_items = np.concatenate(hist).astype(np.int64)
        self.hist_rows = np.repeat(np.arange(len(hist)), np.diff(self.hist_offsets))
        self.negatives = None
        if negatives:
            if sampling not in SAMPLING:
                raise DataError(
                    f"unknown negative sampling {sampling!r}: use uniform or popularity"
                )
            rng = np.random.default_rng([seed, cut])
            p = item_popularity(data) + 1.0 if sampling == "popularity" else None
            codes = self.hist_rows * (data.n_items + 1) + self.hist_items
            self.negatives = sample_negatives(codes, self.targets, data.n_items, negatives, rng, p)
        self._device_cache: dict = {}

    def _on(self, device):
        import torch

        key = str(device)
        if key not in self._device_cache:
            self._device_cache = {
                key: {
                    "inputs": torch.as_tensor(self.inputs, device=device),
                    "targets": torch.as_tensor(self.targets, device=device),
                    "hist_items": torch.as_tensor(self.hist_items, device=device),
                    "hist_rows": torch.as_tensor(self.hist_rows, device=device),
                    "negatives": (
                        None
                        if self.negatives is None
                        else torch.as_tensor(self.negatives, device=device)
                    ),
                }
            }
        return self._device_cache[key]

    def ranks(
        self, model, device, batch_size: int | None = None, autocast: bool = False
    ) -> np.ndarray:
        """0-based rank of each target (number of candidates scored strictly higher)."""
        import torch

        dev = torch.device(device)
        if batch_size is None:
            batch_size = 4096 if dev.type == "cuda" else 512
        t = self._on(dev)
        out = []
        model.eval()
        with torch.no_grad():
            for lo in range(0, len(self.targets), batch_size):
                hi = min(lo + batch_size, len(self.targets))
                with torch.autocast(dev.type, dtype=torch.bfloat16, enabled=autocast):
                    hidden = model(t["inputs"][lo:hi])[:, -1, :]
                # Scores in float32 even under bf16 autocast: bf16 scores tie often, and
                # ties count in the target's favour.
                scores = model.scores(hidden.float())
                tgt = t["targets"][lo:hi]
                rows = torch.arange(hi - lo, device=dev)
                pos = scores[rows, tgt]
                if t["negatives"] is not None:
                    neg = scores.gather(1, t["negatives"][lo:hi])
                    out.append((neg > pos[:, None]).sum(1))
                    continue
                scores[:, 0] = float("-inf")
                if self.mask_seen:
                    a, b = self.hist_offsets[lo], self.hist_offsets[hi]
                    scores[t["hist_rows"][a:b] - lo, t["hist_items"][a:b]] = float("-inf")
                    scores[rows, tgt] = pos
                out.append((scores > pos[:, None]).sum(1))
        return torch.cat(out).cpu().numpy()

    def metrics(self, model, device, **kwargs) -> dict:
        return rank_metrics(self.ranks(model, device, **kwargs))


class _FixedScores:
    """Quacks like a backbone for :meth:`Evaluator.ranks`: every input gets the same
    item scores."""

    def __init__(self, scores):
        self.scores_ = scores

    def eval(self):
        return self

    def __call__(self, inputs):
        import torch

        return torch.zeros((inputs.shape[0], inputs.shape[1], 1), device=inputs.device)

    def scores(self, hidden):
        return self.scores_.to(hidden.device).expand(hidden.shape[0], -1).clone()


def popularity_metrics(evaluator: Evaluator, data: SequenceData, device="cpu") -> dict:
    """HR@K and NDCG@K of ranking every item by its training count, on ``evaluator``'s
    split with its candidates (masking, sampled negatives): the level a model reaches when
    it has learned item popularity and nothing of the sequences — the *popularity
    plateau* that runs cut short stop on (docs/science.md §8, early peaks).

    Examples
    --------
    >>> from perflaw.train.data import load_sequences
    >>> import pandas as pd
    >>> log = pd.DataFrame({"user": [1] * 4 + [2] * 4, "item": [1, 2, 1, 1, 2, 1, 1, 2],
    ...                     "time": list(range(8))})
    >>> data = load_sequences(log)
    >>> valid = Evaluator(data, "valid", 5, mask_seen=False)
    >>> popularity_metrics(valid, data)["hr@5"]
    1.0
    """
    import torch

    counts = torch.as_tensor(item_popularity(data), dtype=torch.float32)
    return evaluator.metrics(_FixedScores(counts), device)
