"""Train small sequential recommenders over a grid and write the runs table (``perflaw sweep``).

The runs table is what :mod:`perflaw fit <perflaw.fit>` reads: one row per finished
training run, with the model shape (``layers``, ``d_emb``, ``backbone``), its size
(``params_total``, ``params_non_embedding``), the data it saw (``data_fraction``,
``train_tokens``, ``d_prime``), its cost (``flops``, ``seconds``) and its quality
(``hr@10``, ``ndcg@10``, ``hr@50``, ``ndcg@50``, measured as stated in ``eval``).

Protocol (spec §4; see ``docs/sweep.md``):

* sequences are each user's items in time order (stable: ties keep file order); users
  with fewer than 3 interactions are dropped;
* leave-one-out: the last item is the test target, the second-to-last the validation
  target, the rest is training data;
* a data fraction keeps a seeded random subset of the users for *training* (nested:
  the users of fraction 0.25 are among those of 0.5); validation and test always use
  every user, so runs at different fractions are scored on the same targets; the item
  vocabulary is always the whole log's, so a model's size does not depend on the
  fraction;
* training uses each training user's last ``max_len + 1`` training items (inputs
  ``max_len``, next-item targets shifted by one), full softmax cross-entropy over all
  items (or ``loss="bce"``: one uniformly sampled negative per position, as in SASRec);
* early stopping on validation NDCG@10 (``patience`` epochs without improvement), the
  best epoch's weights are scored on the test targets;
* evaluation ranks the target among all items the user has not interacted with before
  (full ranking, the default), or among ``eval_negatives`` uniformly sampled unseen
  items (``eval="sampled-N"``; not comparable with full ranking).

Torch is imported only when a run starts, so ``import perflaw`` stays light.
"""

from __future__ import annotations

import hashlib
import itertools
import math
import os
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable, Sequence

import numpy as np
import pandas as pd

from perflaw.errors import DataError, PerflawError
from perflaw.decide.params import ARCHITECTURES, count_parameters

__all__ = ["RUNS_COLUMNS", "SequenceData", "load_sequences", "sweep"]

#: Columns of the runs table, in order.
RUNS_COLUMNS = [
    "dataset",
    "backbone",
    "layers",
    "d_emb",
    "data_fraction",
    "max_len",
    "seed",
    "params_total",
    "params_non_embedding",
    "train_users",
    "train_tokens",
    "d_prime",
    "flops",
    "epochs",
    "best_epoch",
    "val_ndcg@10",
    "hr@10",
    "ndcg@10",
    "hr@50",
    "ndcg@50",
    "eval",
    "objective",
    "seconds",
    "settings",
]

#: The columns that identify one configuration (a rerun skips rows already present).
KEY_COLUMNS = ["dataset", "backbone", "layers", "d_emb", "data_fraction", "max_len", "seed"]

_KS = (10, 50)


# ------------------------------------------------------------------------------ data
@dataclass
class SequenceData:
    """Users' item sequences in time order, items coded ``1 … n_items`` (0 = padding).

    Attributes
    ----------
    sequences : list of numpy.ndarray
        One int64 array per user (users with at least 3 interactions), in time order.
    n_items : int
        Number of distinct items in the whole log (the size of every model's item table
        is ``n_items + 1``).
    name : str
        Dataset name written to the runs table (the file stem).
    """

    sequences: list
    n_items: int
    name: str = "log"

    @property
    def n_users(self) -> int:
        return len(self.sequences)


def load_sequences(log, *, name: str | None = None) -> SequenceData:
    """Read an interaction log into per-user item sequences.

    Parameters
    ----------
    log : str, pathlib.Path or pandas.DataFrame
        A log file in any format :func:`perflaw.io.read_log` reads (parquet, CSV/TSV,
        RecBole ``.inter``, SASRec text; columns found by name), or a frame with columns
        ``user_id``, ``item_id`` and optionally ``timestamp`` (without it, row order is
        the sequence order).
    name : str, optional
        Dataset name for the runs table; defaults to the file stem (``"log"`` for a frame).

    Returns
    -------
    SequenceData

    Examples
    --------
    >>> df = pd.DataFrame({"user_id": [1, 1, 1, 2, 2, 2, 3],
    ...                    "item_id": [10, 11, 12, 11, 13, 10, 10],
    ...                    "timestamp": [3, 1, 2, 1, 1, 2, 1]})
    >>> data = load_sequences(df)
    >>> data.n_users, data.n_items          # user 3 has < 3 interactions: dropped
    (2, 4)
    >>> [s.tolist() for s in data.sequences]
    [[2, 3, 1], [2, 4, 1]]
    """
    if isinstance(log, pd.DataFrame):
        df = log
        name = name or "log"
    else:
        from perflaw.io import read_log

        path = Path(log)
        df = read_log(path).to_pandas()
        df = df.rename(columns={"user": "user_id", "item": "item_id", "time": "timestamp"})
        name = name or path.stem
    missing = [c for c in ("user_id", "item_id") if c not in df.columns]
    if missing:
        raise DataError(
            f"log {name!r} lacks column(s) {', '.join(missing)}; "
            "it needs user_id, item_id and optionally timestamp"
        )
    if len(df) == 0:
        raise DataError(f"log {name!r} has no rows")
    users = pd.factorize(df["user_id"])[0]
    item_codes, uniques = pd.factorize(df["item_id"])
    items = item_codes.astype(np.int64) + 1
    if "timestamp" in df.columns:
        ts = df["timestamp"].to_numpy()
        order = np.lexsort((np.arange(len(df)), ts, users))
    else:
        order = np.lexsort((np.arange(len(df)), users))
    users, items = users[order], items[order]
    cuts = np.flatnonzero(np.diff(users)) + 1
    sequences = [s for s in np.split(items, cuts) if len(s) >= 3]
    if not sequences:
        raise DataError(f"log {name!r}: no user has the 3 interactions leave-one-out needs")
    return SequenceData(sequences, int(len(uniques)), name)


def _training_users(n_users: int, fraction: float, seed: int) -> np.ndarray:
    """Indices of the users kept at ``fraction`` (nested across fractions for one seed)."""
    perm = np.random.default_rng(seed).permutation(n_users)
    k = max(1, int(round(fraction * n_users)))
    return np.sort(perm[:k])


def _left_pad(rows: Iterable[np.ndarray], width: int) -> np.ndarray:
    rows = list(rows)
    out = np.zeros((len(rows), width), dtype=np.int64)
    for i, r in enumerate(rows):
        r = r[-width:]
        if len(r):
            out[i, width - len(r):] = r
    return out


def d_prime(train_sequences: Sequence[np.ndarray], max_len: int, m: int = 2) -> float:
    """D′ = Σ_u |S_u|·ApEn′(S_u) of the training sequences truncated to their last ``max_len``.

    Computed by :func:`perflaw.quality.measure` (spec §2–3: the authors' ``|·|`` form,
    r = 0, per-user D′, sequences with ApEn = 0 left out of the sum).

    Examples
    --------
    >>> round(d_prime([np.array([1, 2, 1, 2, 3])], max_len=50), 4)
    84.9019
    """
    from perflaw.quality.report import measure

    users = np.repeat(np.arange(len(train_sequences)), [len(s) for s in train_sequences])
    frame = pd.DataFrame({"user_id": users, "item_id": np.concatenate(list(train_sequences))})
    report = measure(frame, m=m, max_len=max_len, dprime="per-user", companions=False)
    return float(report.summary["d_prime"])


# -------------------------------------------------------------------------- checking
def _positive_ints(name: str, values) -> list[int]:
    values = [values] if np.isscalar(values) else list(values)
    if not values:
        raise DataError(f"{name} needs at least one value")
    out = []
    for v in values:
        if isinstance(v, bool) or not float(v).is_integer() or int(v) < 1:
            raise DataError(f"{name} values must be positive integers, got {v!r}")
        out.append(int(v))
    return list(dict.fromkeys(out))


def _fractions(values) -> list[float]:
    values = [values] if np.isscalar(values) else list(values)
    if not values:
        raise DataError("data_fraction needs at least one value")
    out = []
    for v in values:
        v = float(v)
        if not 0 < v <= 1:
            raise DataError(f"data_fraction values must be in (0, 1], got {v!r}")
        out.append(v)
    return list(dict.fromkeys(out))


def _settings_string(**settings) -> str:
    return " ".join(f"{k}={v}" for k, v in settings.items())


# ------------------------------------------------------------------------ evaluation
def _rank_metrics(ranks: np.ndarray) -> dict:
    """HR@K and NDCG@K from 0-based ranks of the targets."""
    out = {}
    for k in _KS:
        hit = ranks < k
        out[f"hr@{k}"] = float(hit.mean())
        out[f"ndcg@{k}"] = float(np.where(hit, 1.0 / np.log2(ranks + 2.0), 0.0).mean())
    return out


class _Evaluator:
    """Inputs, targets and candidate sets of one split (validation or test)."""

    def __init__(self, data: SequenceData, split: str, max_len: int,
                 negatives: int | None, seed: int):
        cut = 2 if split == "valid" else 1
        self.inputs = _left_pad((s[:-cut] for s in data.sequences), max_len)
        self.targets = np.array([s[-cut] for s in data.sequences], dtype=np.int64)
        # Items seen before the target are not ranked (except the target itself).
        self.history = [np.unique(s[:-cut]) for s in data.sequences]
        self.n_items = data.n_items
        self.negatives = None
        if negatives:
            rng = np.random.default_rng([seed, cut])
            all_items = np.arange(1, data.n_items + 1)
            negs = []
            for h, t in zip(self.history, self.targets):
                pool = np.setdiff1d(all_items, np.append(h, t), assume_unique=False)
                negs.append(rng.choice(pool, size=negatives, replace=len(pool) < negatives))
            self.negatives = np.stack(negs)

    def ranks(self, model, device, batch_size: int = 256) -> np.ndarray:
        import torch

        out = []
        model.eval()
        with torch.no_grad():
            for lo in range(0, len(self.targets), batch_size):
                hi = min(lo + batch_size, len(self.targets))
                seq = torch.as_tensor(self.inputs[lo:hi], device=device)
                scores = model.scores(model(seq)[:, -1, :]).float().cpu().numpy()
                tgt = self.targets[lo:hi]
                pos = scores[np.arange(hi - lo), tgt]
                if self.negatives is not None:
                    neg = np.take_along_axis(scores, self.negatives[lo:hi], axis=1)
                    out.append((neg > pos[:, None]).sum(1))
                    continue
                scores[:, 0] = -np.inf
                for i, h in enumerate(self.history[lo:hi]):
                    scores[i, h] = -np.inf
                scores[np.arange(hi - lo), tgt] = pos
                out.append((scores > pos[:, None]).sum(1))
        return np.concatenate(out)

    def metrics(self, model, device) -> dict:
        return _rank_metrics(self.ranks(model, device))


# -------------------------------------------------------------------------- training
def _train_one(data: SequenceData, *, backbone: str, layers: int, d_emb: int,
               fraction: float, max_len: int, seed: int, epochs: int, patience: int,
               batch_size: int, lr: float, dropout: float, loss: str, heads: int,
               valid: _Evaluator, test: _Evaluator, device, progress, label: str) -> dict:
    import torch
    import torch.nn.functional as F

    from perflaw import _backbones

    start = time.perf_counter()
    torch.manual_seed(seed)
    rng = np.random.default_rng(seed)
    users = _training_users(data.n_users, fraction, seed)
    train_seqs = [data.sequences[u][:-2] for u in users]
    windows = _left_pad(train_seqs, max_len + 1)
    inputs, targets = windows[:, :-1], windows[:, 1:]
    keep = (targets != 0).any(1)
    inputs, targets = inputs[keep], targets[keep]
    train_tokens = int((targets != 0).sum())
    if train_tokens == 0:
        raise DataError(f"data_fraction {fraction} leaves no training targets")

    model = _backbones.build(backbone, data.n_items, d_emb, layers, max_len,
                             heads=heads, dropout=dropout).to(device)
    counted = count_parameters(layers, d_emb, arch=backbone, n_items=data.n_items,
                               max_len=max_len)
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    # Training FLOPs ≈ 6 × parameters touched per target × targets (spec §6): the blocks,
    # the input item row and position row, and the output rows scored (all items for
    # softmax, the positive and the negative for BCE).
    out_rows = data.n_items + 1 if loss == "ce" else 2
    flops_per_epoch = 6.0 * train_tokens * (counted.non_embedding + d_emb * (2 + out_rows))

    best, best_epoch, best_state, stale, epoch = -1.0, 0, None, 0, 0
    for epoch in range(1, epochs + 1):
        model.train()
        order = rng.permutation(len(inputs))
        for lo in range(0, len(order), batch_size):
            idx = order[lo:lo + batch_size]
            seq = torch.as_tensor(inputs[idx], device=device)
            tgt = torch.as_tensor(targets[idx], device=device)
            hidden = model(seq)
            if loss == "ce":
                real = tgt != 0  # score only the positions that have a target
                logits = model.scores(hidden[real])
                logits[:, 0] = float("-inf")
                value = F.cross_entropy(logits, tgt[real])
            else:
                neg = torch.randint(1, data.n_items + 1, tgt.shape, device=device)
                w = model.items.weight
                pos_s = (hidden * w[tgt]).sum(-1)
                neg_s = (hidden * w[neg]).sum(-1)
                mask = (tgt != 0).float()
                value = ((F.softplus(-pos_s) + F.softplus(neg_s)) * mask).sum() / mask.sum()
            opt.zero_grad(set_to_none=True)
            value.backward()
            opt.step()
        score = valid.metrics(model, device)["ndcg@10"]
        if score > best:
            best, best_epoch, stale = score, epoch, 0
            best_state = {k: v.detach().clone() for k, v in model.state_dict().items()}
        else:
            stale += 1
        if progress:
            _say(f"{label} epoch {epoch}/{epochs} loss {value.item():.4f} "
                 f"val ndcg@10 {score:.4f} (best {best:.4f} @ {best_epoch})")
        if stale >= patience:
            break
    model.load_state_dict(best_state)
    metrics = test.metrics(model, device)
    return {
        "params_total": counted.total,
        "params_non_embedding": counted.non_embedding,
        "train_users": int(len(users)),
        "train_tokens": train_tokens,
        "d_prime": d_prime(train_seqs, max_len),
        "flops": flops_per_epoch * epoch,
        "epochs": epoch,
        "best_epoch": best_epoch,
        "val_ndcg@10": best,
        **metrics,
        "seconds": round(time.perf_counter() - start, 2),
    }


def _say(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


# ----------------------------------------------------------------------------- sweep
def _read_runs(out: Path) -> pd.DataFrame:
    try:
        done = pd.read_csv(out)
    except pd.errors.EmptyDataError:
        return pd.DataFrame(columns=RUNS_COLUMNS)
    except Exception as exc:  # noqa: BLE001
        raise DataError(f"cannot read existing runs table {str(out)!r}: {exc}") from None
    if list(done.columns) != RUNS_COLUMNS:
        raise DataError(
            f"{str(out)!r} is not a perflaw sweep runs table (its columns differ); "
            "use another --out"
        )
    return done


def _key(row) -> tuple:
    return (str(row["dataset"]), str(row["backbone"]), int(row["layers"]), int(row["d_emb"]),
            round(float(row["data_fraction"]), 9), int(row["max_len"]), int(row["seed"]))


def sweep(
    log,
    *,
    layers: Sequence[int] = (1, 2),
    d_emb: Sequence[int] = (16, 32),
    data_fraction: Sequence[float] = (1.0,),
    backbone: str | Sequence[str] = "sasrec",
    seeds: Sequence[int] = (0,),
    max_len: int = 50,
    epochs: int = 20,
    patience: int = 3,
    batch_size: int = 128,
    lr: float = 1e-3,
    dropout: float = 0.2,
    loss: str = "ce",
    heads: int = 1,
    eval_negatives: int | None = None,
    out: str | os.PathLike | None = None,
    device: str | None = None,
    threads: int | None = None,
    progress: bool = True,
    name: str | None = None,
) -> pd.DataFrame:
    """Train every configuration of a layers × d_emb × data-fraction grid; return the runs.

    Parameters
    ----------
    log : str, pathlib.Path, pandas.DataFrame or SequenceData
        Interaction log (see :func:`load_sequences`).
    layers, d_emb : sequence of int
        Depths and widths of the grid.
    data_fraction : sequence of float
        Fractions of the users (in (0, 1]) whose training data is used.
    backbone : str or sequence of str
        ``"sasrec"``, ``"llama"`` or ``"hstu"`` (see :mod:`perflaw._backbones`).
    seeds : sequence of int
        One run per seed and configuration (the seed also picks the data fraction's users).
    max_len : int
        Maximum sequence length (inputs are the last ``max_len`` items).
    epochs, patience : int
        Maximum epochs; stop after ``patience`` epochs without a better validation NDCG@10.
    batch_size, lr, dropout, heads : int, float, float, int
        Training settings (Adam); ``d_emb`` must be divisible by ``heads``.
    loss : {"ce", "bce"}
        Full softmax cross-entropy, or BCE with one sampled negative per position.
    eval_negatives : int, optional
        Rank each target among this many sampled unseen items instead of all items
        (``eval`` column ``sampled-N``; the authors use 2499).  Default: full ranking.
    out : path, optional
        Runs table (CSV).  Each finished run is appended at once; configurations already
        in the file (same dataset, backbone, layers, d_emb, data_fraction, max_len, seed)
        are skipped, so an interrupted sweep resumes.  The file must have been written
        with the same training settings.  Processes sharing ``out`` split the grid: each
        claims a configuration (``<out>.running/<hash>`` holding its pid) before running
        it and skips those finished or claimed by a live process.
    device : str, optional
        Torch device; default ``"cuda"`` when available, else ``"cpu"``.
    threads : int, optional
        Torch CPU threads (default: torch's choice, all cores).
    progress : bool
        Print one line per epoch to stderr.
    name : str, optional
        Dataset name for the runs table (default: the log's file stem).

    Returns
    -------
    pandas.DataFrame
        The runs table, columns :data:`RUNS_COLUMNS`: with ``out``, every row of the file
        (previous runs and other processes' runs included); without, this call's runs.

    Raises
    ------
    DataError
        Unreadable log, bad grid values, or an ``out`` file from other settings.
    PerflawError
        Torch is not installed (install ``perflaw[train]``).
    """
    layers_ = _positive_ints("layers", layers)
    d_embs = _positive_ints("d_emb", d_emb)
    fractions = _fractions(data_fraction)
    backbones = [backbone] if isinstance(backbone, str) else list(backbone)
    for b in backbones:
        if b not in ARCHITECTURES:
            raise DataError(f"unknown backbone {b!r}: use one of {', '.join(ARCHITECTURES)}")
    seeds_ = [int(s) for s in ([seeds] if np.isscalar(seeds) else seeds)]
    max_len, epochs, batch_size, heads = (
        _positive_ints(n, v)[0] for n, v in
        (("max_len", max_len), ("epochs", epochs), ("batch_size", batch_size), ("heads", heads))
    )
    patience = _positive_ints("patience", patience)[0]
    if loss not in ("ce", "bce"):
        raise DataError(f"unknown loss {loss!r}: use 'ce' or 'bce'")
    if not (lr > 0 and math.isfinite(lr)):
        raise DataError(f"lr must be a positive number, got {lr!r}")
    if not 0 <= dropout < 1:
        raise DataError(f"dropout must be in [0, 1), got {dropout!r}")
    for d in d_embs:
        if d % heads:
            raise DataError(f"d_emb {d} is not divisible by heads={heads}")
        if "llama" in backbones and (d // heads) % 2:
            raise DataError(f"llama needs an even head size; d_emb {d} / heads {heads} is odd")
    if eval_negatives is not None:
        eval_negatives = _positive_ints("eval_negatives", eval_negatives)[0]
    eval_name = "full" if eval_negatives is None else f"sampled-{eval_negatives}"

    try:
        import torch
    except ImportError:
        raise PerflawError(
            "perflaw sweep needs PyTorch: pip install 'perflaw[train]' (or torch)"
        ) from None

    data = log if isinstance(log, SequenceData) else load_sequences(log, name=name)
    if name:
        data.name = name
    if eval_negatives is not None and eval_negatives >= data.n_items:
        raise DataError(
            f"eval_negatives {eval_negatives} must be below the number of items {data.n_items}"
        )
    settings = _settings_string(epochs=epochs, patience=patience, batch_size=batch_size, lr=lr,
                                dropout=dropout, heads=heads)

    out_path = Path(out) if out is not None else None
    done = pd.DataFrame(columns=RUNS_COLUMNS)
    if out_path is not None and out_path.exists() and out_path.stat().st_size > 0:
        done = _read_runs(out_path)
        other = done[(done["settings"] != settings) | (done["eval"] != eval_name)
                     | (done["objective"] != loss)]
        if len(other):
            raise DataError(
                f"{str(out_path)!r} holds runs made with other settings "
                f"({other.iloc[0]['settings']}, eval={other.iloc[0]['eval']}, "
                f"loss={other.iloc[0]['objective']}); use another --out"
            )
    finished = {_key(r) for _, r in done.iterrows()}

    if threads is not None:
        torch.set_num_threads(_positive_ints("threads", threads)[0])
    device = torch.device(device or ("cuda" if torch.cuda.is_available() else "cpu"))

    grid = list(itertools.product(seeds_, fractions, backbones, layers_, d_embs))
    todo = []
    for seed, frac, bb, n_layers, d in grid:
        row = dict(dataset=data.name, backbone=bb, layers=n_layers, d_emb=d,
                   data_fraction=frac, max_len=max_len, seed=seed)
        if _key(row) not in finished:
            todo.append(row)
    if progress:
        _say(f"sweep: {len(grid)} configurations, {len(grid) - len(todo)} already in "
             f"{out_path if out_path else 'the table'}, {len(todo)} to run on {device}")

    evaluators: dict = {}
    rows = []
    for i, row in enumerate(todo, 1):
        claim = None
        if out_path is not None:
            # Several processes may share one --out: skip what another one finished or
            # is running (a claim file holding its pid), re-checking after claiming.
            if _key(row) in _finished(out_path):
                continue
            claim = _claim(out_path, _key(row))
            if claim is None or _key(row) in _finished(out_path):
                if progress:
                    _say(f"[{i}/{len(todo)}] layers={row['layers']} d_emb={row['d_emb']} "
                         f"fraction={row['data_fraction']:g}: done or running elsewhere")
                if claim is not None:
                    claim.unlink(missing_ok=True)
                continue
        try:
            rows.append(_run_one(data, row, i, len(todo), evaluators, out_path,
                                 max_len=max_len, eval_negatives=eval_negatives,
                                 epochs=epochs, patience=patience, batch_size=batch_size,
                                 lr=lr, dropout=dropout, loss=loss, heads=heads,
                                 device=device, progress=progress, eval_name=eval_name,
                                 settings=settings))
        finally:
            if claim is not None:
                claim.unlink(missing_ok=True)
    if out_path is not None and out_path.exists():
        return _read_runs(out_path)
    return pd.DataFrame(rows, columns=RUNS_COLUMNS)


def _finished(out: Path) -> set:
    if not out.exists() or out.stat().st_size == 0:
        return set()
    return {_key(r) for _, r in _read_runs(out).iterrows()}


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _claim(out: Path, key: tuple, retry: bool = True) -> Path | None:
    """Create ``<out>.running/<hash>`` holding our pid; None if a live process holds it."""
    folder = out.with_name(out.name + ".running")
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / hashlib.sha1(repr(key).encode()).hexdigest()[:16]
    try:
        fd = os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY)
    except FileExistsError:
        try:
            pid = int(path.read_text().strip() or 0)
        except (OSError, ValueError):
            pid = 0
        if pid and pid != os.getpid() and _alive(pid):
            return None
        if not retry:
            return None
        path.unlink(missing_ok=True)  # left by a process that died: take it over
        return _claim(out, key, retry=False)
    os.write(fd, str(os.getpid()).encode())
    os.close(fd)
    return path


def _run_one(data, row, i, n, evaluators, out_path, *, max_len, eval_negatives, epochs,
             patience, batch_size, lr, dropout, loss, heads, device, progress, eval_name,
             settings) -> dict:
    seed = row["seed"]
    if seed not in evaluators:
        evaluators[seed] = (
            _Evaluator(data, "valid", max_len, eval_negatives, seed),
            _Evaluator(data, "test", max_len, eval_negatives, seed),
        )
    valid, test = evaluators[seed]
    label = (f"[{i}/{n}] {row['backbone']} layers={row['layers']} "
             f"d_emb={row['d_emb']} fraction={row['data_fraction']:g} seed={seed}")
    result = _train_one(
        data, backbone=row["backbone"], layers=row["layers"], d_emb=row["d_emb"],
        fraction=row["data_fraction"], max_len=max_len, seed=seed, epochs=epochs,
        patience=patience, batch_size=batch_size, lr=lr, dropout=dropout, loss=loss,
        heads=heads, valid=valid, test=test, device=device, progress=progress,
        label=label,
    )
    full = {**row, **result, "eval": eval_name, "objective": loss, "settings": settings}
    full = {c: full[c] for c in RUNS_COLUMNS}
    if progress:
        _say(f"{label} done in {full['seconds']:.1f}s: test ndcg@10 {full['ndcg@10']:.4f} "
             f"hr@10 {full['hr@10']:.4f}")
    if out_path is not None:
        _append(out_path, full)
    return full


def _append(path: Path, row: dict) -> None:
    """Append one row (writing the header first if the file is new or empty)."""
    header = not path.exists() or path.stat().st_size == 0
    if header:
        path.parent.mkdir(parents=True, exist_ok=True)
    frame = pd.DataFrame([row], columns=RUNS_COLUMNS)
    with open(path, "a", newline="") as fh:
        frame.to_csv(fh, header=header, index=False)
        fh.flush()
        os.fsync(fh.fileno())
