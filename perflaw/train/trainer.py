"""One training run: :class:`TrainConfig` and :func:`train_one`.

Budgets are counted in optimizer steps, not epochs (an "epoch" of a small data fraction
can be a handful of steps): validation every ``eval_every`` steps, stop after
``patience`` steps without a better validation NDCG@10 once ``min_steps`` are done, at
``max_steps`` (the cap) or after ``max_seconds``.  The runs table records which one ended
the run (``end``: ``patience``, ``cap`` or ``time``).
"""

from __future__ import annotations

import math
import time
import warnings
from dataclasses import asdict, dataclass, fields

import numpy as np

from perflaw.backbone_registry import BACKBONES
from perflaw.errors import DataError
from perflaw.quality.definition import DPRIME_DEF
from perflaw.train.data import SequenceData, d_prime, training_samples, training_users
from perflaw.train.evaluation import KS, Evaluator

__all__ = ["TrainConfig", "train_one"]


@dataclass(frozen=True)
class TrainConfig:
    """Everything that defines how one model is trained (the grid varies the shape).

    Attributes
    ----------
    backbone, layers, d_emb, heads, dropout, max_len
        The model (``d_emb`` divisible by ``heads``).
    loss : {"ce", "bce"}
        Softmax cross-entropy over all items, or BCE with one sampled negative.
    samples : {"windows", "prefixes"}
        Every prefix of every training sequence is a target either way: ``"windows"``
        = full-sequence loss over windows covering the whole history (default: the same
        quality as ``"prefixes"`` for far fewer forward passes, see docs/science.md §8);
        ``"prefixes"`` = RecBole's augmentation, one sample per prefix.
    batch_size, lr
        Adam on mini-batches of ``batch_size`` samples.
    warmup_steps : int
        Linear learning-rate warm-up from 0 over this many steps (0: none).
    decay : {"none", "cosine"}
        After warm-up, constant or cosine decay from ``lr`` to ``decay_floor × lr``.
    decay_steps : int
        Length of the cosine decay in steps after warm-up, then constant at the floor;
        0 (default): decay until ``max_steps``.  Runs stopped by patience rarely get near
        ``max_steps``, so a cosine to ``max_steps`` barely decays; set this to about
        where runs stop (see docs/science.md §8).
    decay_floor : float
        The decay's end as a fraction of ``lr`` (in [0, 1); default 0).
    eval_every, patience, min_steps, max_steps : int
        Optimizer steps between validations; steps without improvement before stopping;
        steps always trained; the cap.
    patience_from : {"min_steps", "best"}
        Where the patience starts counting: ``"min_steps"`` (default) from the best
        validation step or from ``min_steps``, whichever is later, so a validation peak
        inside the minimum budget (the popularity plateau: the model first learns item
        popularity, then stalls before it learns sequences) cannot end the run before
        ``min_steps + patience``; ``"best"`` from the best validation step alone (tables
        made before this field existed; there ``min_steps`` only delays the stop).  Both
        end every run whose best step is at or after ``min_steps`` at the same step.
    max_seconds : float or None
        Wall-clock cap of the training loop.
    """

    backbone: str = "sasrec"
    layers: int = 2
    d_emb: int = 64
    heads: int = 1
    dropout: float = 0.2
    max_len: int = 50
    loss: str = "ce"
    samples: str = "windows"
    batch_size: int = 128
    lr: float = 1e-3
    warmup_steps: int = 0
    decay: str = "none"
    decay_steps: int = 0
    decay_floor: float = 0.0
    eval_every: int = 100
    patience: int = 1000
    patience_from: str = "min_steps"
    min_steps: int = 1000
    max_steps: int = 20000
    max_seconds: float | None = None

    def check(self) -> TrainConfig:
        """Raise :class:`DataError` on a bad value; return self."""
        if self.backbone not in BACKBONES:
            raise DataError(
                f"unknown backbone {self.backbone!r}: use one of {', '.join(BACKBONES)}"
            )
        for name in (
            "layers",
            "d_emb",
            "heads",
            "max_len",
            "batch_size",
            "eval_every",
            "patience",
            "max_steps",
        ):
            v = getattr(self, name)
            if isinstance(v, bool) or not float(v).is_integer() or int(v) < 1:
                raise DataError(f"{name} must be a positive integer, got {v!r}")
        for name in ("warmup_steps", "min_steps", "decay_steps"):
            v = getattr(self, name)
            if isinstance(v, bool) or not float(v).is_integer() or int(v) < 0:
                raise DataError(f"{name} must be a non-negative integer, got {v!r}")
        if self.loss not in ("ce", "bce"):
            raise DataError(f"unknown loss {self.loss!r}: use 'ce' or 'bce'")
        if self.samples not in ("windows", "prefixes"):
            raise DataError(
                f"unknown training samples {self.samples!r}: use 'windows' or 'prefixes'"
            )
        if self.patience_from not in ("min_steps", "best"):
            raise DataError(
                f"unknown patience_from {self.patience_from!r}: use 'min_steps' or 'best'"
            )
        if self.decay not in ("none", "cosine"):
            raise DataError(f"unknown decay {self.decay!r}: use 'none' or 'cosine'")
        if not (isinstance(self.decay_floor, (int, float)) and 0 <= self.decay_floor < 1):
            raise DataError(f"decay_floor must be in [0, 1), got {self.decay_floor!r}")
        if not (self.lr > 0 and math.isfinite(self.lr)):
            raise DataError(f"lr must be a positive number, got {self.lr!r}")
        if not 0 <= self.dropout < 1:
            raise DataError(f"dropout must be in [0, 1), got {self.dropout!r}")
        if self.max_seconds is not None and not self.max_seconds > 0:
            raise DataError(f"max_seconds must be positive, got {self.max_seconds!r}")
        if self.d_emb % self.heads:
            raise DataError(f"d_emb {self.d_emb} is not divisible by heads={self.heads}")
        if self.backbone == "llama" and (self.d_emb // self.heads) % 2:
            raise DataError(
                f"llama needs an even head size; d_emb {self.d_emb} / heads {self.heads} is odd"
            )
        return self

    def settings(self) -> str:
        """The training settings (not the grid's shape) as ``key=value`` words: the runs
        table's ``settings`` column; a resumed sweep must have the same.

        Fields added after runs tables existed (:data:`_LATER_FIELDS`) are written only
        when they differ from the value older tables implicitly had, so those keep
        matching.

        Examples
        --------
        >>> "decay_steps" in TrainConfig().settings()
        False
        >>> TrainConfig(decay="cosine", decay_steps=2000).settings().split()[6:9]
        ['decay=cosine', 'decay_steps=2000', 'eval_every=100']
        """
        skip = {"backbone", "layers", "d_emb", "max_len", "loss"}
        return " ".join(
            f"{f.name}={getattr(self, f.name)}"
            for f in fields(self)
            if f.name not in skip
            and not (f.name in _LATER_FIELDS and getattr(self, f.name) == _LATER_FIELDS[f.name])
        )

    def as_dict(self) -> dict:
        return asdict(self)


#: Settings fields that appear in :meth:`TrainConfig.settings` only when not at the value
#: that tables made before the field existed implicitly had (so those tables keep
#: matching; a default that changed, as ``patience_from``'s, is then written out).
_LATER_FIELDS = {"decay_steps": 0, "decay_floor": 0.0, "patience_from": "best"}


def lr_factor(step: int, config: TrainConfig) -> float:
    """Learning-rate multiplier at optimizer step ``step`` (0-based).

    Linear warm-up over ``warmup_steps``, then 1 (``decay="none"``) or a cosine from 1
    to ``decay_floor`` over ``decay_steps`` (0: until ``max_steps``), then the floor.

    Examples
    --------
    >>> c = TrainConfig(warmup_steps=10, decay="cosine", max_steps=110)
    >>> lr_factor(0, c), lr_factor(9, c), round(lr_factor(60, c), 3), lr_factor(110, c)
    (0.1, 1.0, 0.5, 0.0)
    >>> c = TrainConfig(warmup_steps=10, decay="cosine", decay_steps=100, decay_floor=0.1)
    >>> round(lr_factor(60, c), 3), round(lr_factor(110, c), 3), round(lr_factor(5000, c), 3)
    (0.55, 0.1, 0.1)
    """
    if config.warmup_steps and step < config.warmup_steps:
        return (step + 1) / config.warmup_steps
    if config.decay == "cosine":
        span = max(1, config.decay_steps or config.max_steps - config.warmup_steps)
        done = min(1.0, (step - config.warmup_steps) / span)
        floor = config.decay_floor
        return floor + (1 - floor) * 0.5 * (1 + math.cos(math.pi * done))
    return 1.0


class _Forward:
    """The model's forward, through ``torch.compile`` when asked and it works.

    Compilation is lazy, so a missing C++ compiler shows up at the first call: then (or
    when ``torch.compile`` itself raises) one warning is issued and the eager forward is
    used from there on, with torch's random state as it was before the failed call.
    """

    def __init__(self, model, compile: bool):
        import torch

        self.model = model
        self.fn = model
        self.first = False
        if compile:
            try:
                self.fn = torch.compile(model)
                self.first = True
            except Exception as exc:
                _compile_failed(exc)

    def __call__(self, seq):
        import torch

        if self.fn is self.model:
            return self.model(seq)
        state = torch.random.get_rng_state() if self.first else None
        cuda = (
            torch.cuda.get_rng_state(seq.device)
            if self.first and seq.device.type == "cuda"
            else None
        )
        try:
            out = self.fn(seq)
        except Exception as exc:  # e.g. inductor without a C++ compiler
            _compile_failed(exc)
            self.fn = self.model
            if state is not None:
                torch.random.set_rng_state(state)
            if cuda is not None:
                torch.cuda.set_rng_state(cuda, seq.device)
            out = self.model(seq)
        self.first = False
        return out


def _compile_failed(exc: BaseException) -> None:
    first = (str(exc).strip().splitlines() or [""])[0][:200]
    warnings.warn(
        f"torch.compile is unavailable ({type(exc).__name__}: {first}); training eagerly",
        RuntimeWarning,
        stacklevel=3,
    )


#: Seconds between progress lines while the steps between two validations are slow.
PROGRESS_EVERY_S = 60.0


def nan_metrics() -> dict:
    """The test metrics of a run that has none (it diverged): every one NaN, an empty cell
    in the runs table."""
    return {f"{m}@{k}": math.nan for k in KS for m in ("hr", "ndcg")}


def _curve_summary(curve: list[float], points: int = 8) -> str:
    """Up to ``points`` evenly spaced validation NDCG@10 values (the first and last kept)."""
    if not curve:
        return ""
    idx = np.unique(np.linspace(0, len(curve) - 1, min(points, len(curve))).round().astype(int))
    return " ".join(f"{curve[i]:.4f}" for i in idx)


@dataclass
class TrainingSet:
    """The training samples of one run (:func:`training_set`)."""

    users: np.ndarray  #: the fraction's users
    sequences: list  #: their training sequences (validation and test items cut off)
    inputs: np.ndarray  #: model inputs (n, max_len)
    targets: np.ndarray  #: next-item targets, (n, max_len) for windows, (n,) for prefixes
    per_sample: np.ndarray  #: targets per sample
    positions: np.ndarray  #: non-padding positions each sample runs through
    train_tokens: int  #: targets in all


def end_reason(config: TrainConfig, step: int, best_step: int, timed_out: bool) -> str | None:
    """The stopping rule, checked after a validation at optimizer step ``step``: what ends
    the run (``"patience"``, ``"cap"``, ``"time"``) or ``None`` to go on.

    Examples
    --------
    >>> c = TrainConfig(min_steps=100, patience=50, max_steps=500)
    >>> end_reason(c, 80, 10, False), end_reason(c, 160, 100, False), end_reason(c, 500, 480, False)
    (None, 'patience', 'cap')

    An early peak (best step 10) ends the run at ``min_steps + patience`` by default, at
    ``min_steps`` with ``patience_from="best"``:

    >>> end_reason(c, 100, 10, False), end_reason(c, 150, 10, False)
    (None, 'patience')
    >>> old = TrainConfig(min_steps=100, patience=50, max_steps=500, patience_from="best")
    >>> end_reason(old, 100, 10, False)
    'patience'
    """
    start = best_step
    if config.patience_from == "min_steps":
        start = max(best_step, config.min_steps)
    if step >= config.min_steps and step - start >= config.patience:
        return "patience"
    if step >= config.max_steps:
        return "cap"
    return "time" if timed_out else None


def build_model(config: TrainConfig, n_items: int, device):
    """The backbone ``config`` describes, for ``n_items`` items, on ``device`` (initialised
    from torch's global generator: seed it first)."""
    from perflaw.train import backbones

    return backbones.build(
        config.backbone,
        n_items,
        config.d_emb,
        config.layers,
        config.max_len,
        heads=config.heads,
        dropout=config.dropout,
    ).to(device)


def training_set(data: SequenceData, config: TrainConfig, fraction: float, seed: int):
    """The training samples of the run ``(fraction, seed)``: samples without a target left
    out; :class:`DataError` when none is left."""
    users = training_users(data.n_users, fraction, seed)
    train_seqs = [data.sequences[u][:-2] for u in users]
    inputs, targets = training_samples(train_seqs, config.max_len, config.samples)
    windows = config.samples == "windows"
    per_sample = (targets != 0).sum(1) if windows else np.ones(len(targets), np.int64)
    keep = per_sample > 0
    inputs, targets, per_sample = inputs[keep], targets[keep], per_sample[keep]
    train_tokens = int(per_sample.sum())
    if train_tokens == 0:
        raise DataError(f"data_fraction {fraction} leaves no training targets")
    positions = (inputs != 0).sum(1)
    return TrainingSet(users, train_seqs, inputs, targets, per_sample, positions, train_tokens)


def run_record(
    data: SequenceData,
    config: TrainConfig,
    ts: TrainingSet,
    *,
    steps: int,
    targets_seen: int,
    positions_seen: int,
    best: float,
    best_step: int,
    end: str,
    curve: list[float],
    metrics: dict,
    device,
    start: float,
    also: dict | None = None,
) -> dict:
    """The runs-table fields of one finished run (FLOPs, epochs, D′, the curve summary);
    ``seconds`` = ``time.perf_counter()`` now (D′ measured) minus ``start``."""
    from perflaw.decide.params import count_parameters  # (here: decide.params reads our registry)

    counted = count_parameters(
        config.layers,
        config.d_emb,
        arch=config.backbone,
        n_items=data.n_items,
        max_len=config.max_len,
    )
    # Training FLOPs ≈ 6 × (parameters each processed position runs through + the output
    # rows each target scores) (docs/science.md §6): blocks + its item and position rows per
    # position; all items (ce) or 2 (bce) per target.  Attention's T² term is left out.
    out_rows = data.n_items + 1 if config.loss == "ce" else 2
    flops = 6.0 * (
        positions_seen * (counted.non_embedding + 2 * config.d_emb)
        + targets_seen * config.d_emb * out_rows
    )
    import torch

    threads = torch.get_num_threads()
    dp = d_prime(ts.sequences, max(len(s) for s in ts.sequences))
    # D′'s numba kernels run in parallel and reset torch's CPU threads to every core:
    # put back what the caller (sweep --threads) chose.
    torch.set_num_threads(threads)
    return {
        "params_total": counted.total,
        "params_non_embedding": counted.non_embedding,
        "train_users": int(len(ts.users)),
        "train_tokens": ts.train_tokens,
        # The model trains on every prefix of the whole training history, so D′ is measured
        # on whole training sequences (not truncated to max_len), and the row says so.
        "d_prime": dp,
        "d_prime_def": DPRIME_DEF,
        "flops": flops,
        "steps": steps,
        "epochs": round(targets_seen / ts.train_tokens, 3),
        "best_step": best_step,
        "end": end,
        "val_ndcg@10": best,
        "val_curve": _curve_summary(curve),
        # every validation value, for the tracker sinks (perflaw.train.tracking); not a
        # runs-table column (the table keeps the summary above)
        "val_curve_full": [float(v) for v in curve],
        **metrics,
        "device": str(device),
        "seconds": round(time.perf_counter() - start, 2),
        **({"also": also} if also is not None else {}),
    }


def train_one(
    data: SequenceData,
    config: TrainConfig,
    *,
    fraction: float,
    seed: int,
    valid: Evaluator,
    test: Evaluator,
    device=None,
    log=None,
    label: str = "",
    also: dict | None = None,
    autocast: bool | None = None,
    compile: bool = False,
) -> dict:
    """Train one model and score it; return the runs-table fields of the run.

    Parameters
    ----------
    data : SequenceData
    config : TrainConfig
    fraction : float
        Share of the users whose training data is used (:func:`training_users`).
    seed : int
        Seeds the initialisation, batch order, dropout and the fraction's users.
    valid, test : Evaluator
        Validation (every ``eval_every`` steps, early stopping) and test (once, best
        weights).
    device : str or torch.device, optional
        Default ``"cuda"`` when available, else ``"cpu"``.  On CUDA the forward passes
        run under bf16 autocast.
    log : callable, optional
        Called with one progress line after each validation.
    also : dict of str to Evaluator, optional
        Further test evaluations of the best weights (e.g. masked and unmasked); their
        metrics come back under ``"also"``.
    autocast : bool, optional
        Run forward passes under bf16 autocast; default: on CUDA only (on CPU it is
        slower, but the same code path, so tests exercise it there).
    compile : bool
        Run the training forward passes through ``torch.compile`` (evaluation stays
        eager).  A speed option, not a setting: it is not in :meth:`TrainConfig.settings`,
        but compiled dropout draws other masks, so a run is not bit-identical to an eager
        one.  Falls back to eager with one warning when compilation fails (inductor on
        CPU needs a C++ compiler).  See docs/validation.md for when it pays.
    """
    import torch

    config.check()
    start = time.perf_counter()
    device = torch.device(device or ("cuda" if torch.cuda.is_available() else "cpu"))
    autocast = device.type == "cuda" if autocast is None else bool(autocast)
    torch.manual_seed(seed)
    gen = torch.Generator().manual_seed(seed)
    ts = training_set(data, config, fraction, seed)
    inputs, targets, per_sample, positions = ts.inputs, ts.targets, ts.per_sample, ts.positions
    windows = config.samples == "windows"

    model = build_model(config, data.n_items, device)
    forward = _Forward(model, compile)
    opt = torch.optim.Adam(model.parameters(), lr=config.lr)
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda s: lr_factor(s, config))
    # The whole training set lives on the device; batches are index gathers.
    X = torch.as_tensor(inputs, device=device)
    Y = torch.as_tensor(targets, device=device)
    n = len(X)

    best, best_step, best_state = -1.0, 0, None
    curve: list[float] = []
    step, targets_seen, positions_seen, end = 0, 0, 0, None
    value = torch.zeros(())
    # Set on the device when a step's loss is NaN or infinite, read at validations (no
    # sync per step): a diverged model scores every item NaN, and a ranking that counts
    # the items scored above the target counts none -- HR@10 = 1.0, the "best" run.
    nonfinite = torch.zeros((), dtype=torch.bool, device=device)
    last_said = time.perf_counter()
    while end is None:
        perm = torch.randperm(n, generator=gen)
        perm_np = perm.numpy()
        perm_dev = perm.to(device)
        for lo in range(0, n, config.batch_size):
            idx = perm_dev[lo : lo + config.batch_size]
            cpu_idx = perm_np[lo : lo + config.batch_size]
            targets_seen += int(per_sample[cpu_idx].sum())
            positions_seen += int(positions[cpu_idx].sum())
            model.train()
            seq, tgt = X[idx], Y[idx]
            with torch.autocast(device.type, dtype=torch.bfloat16, enabled=autocast):
                hidden = forward(seq)
                if windows:
                    real = tgt != 0
                    value = model.loss(hidden[real], tgt[real], config.loss)
                else:
                    value = model.loss(hidden[:, -1], tgt, config.loss)
            nonfinite |= ~torch.isfinite(value.detach())
            opt.zero_grad(set_to_none=True)
            value.backward()
            opt.step()
            sched.step()
            step += 1
            last = step >= config.max_steps
            now = time.perf_counter()
            timed_out = config.max_seconds is not None and now - start > config.max_seconds
            if step % config.eval_every and not last and not timed_out:
                if log and now - last_said > PROGRESS_EVERY_S:  # slow steps: say they go on
                    last_said = now
                    upcoming = step + config.eval_every - step % config.eval_every
                    log(
                        f"{label} step {step} ({(now - start) / step:.2f} s/step; "
                        f"next validation at step {upcoming})"
                    )
                continue
            last_said = now
            if bool(nonfinite) or not all(
                bool(torch.isfinite(p).all()) for p in model.parameters()
            ):
                end = "diverged"
                if log:
                    log(f"{label} step {step}: the loss is not finite -- the run diverged")
                break
            score = valid.metrics(model, device, autocast=autocast)["ndcg@10"]
            curve.append(score)
            if score > best:
                best, best_step = score, step
                best_state = {k: v.detach().clone() for k, v in model.state_dict().items()}
            if log:
                log(
                    f"{label} step {step} loss {value.item():.4f} val ndcg@10 {score:.4f} "
                    f"(best {best:.4f} @ {best_step})"
                )
            end = end_reason(config, step, best_step, timed_out)
            if end:
                break
    if end == "diverged":  # no metric: nothing it scored means anything
        metrics = nan_metrics()
        extra = {k: nan_metrics() for k in also or {}}
        best, best_step = math.nan, 0
    else:
        model.load_state_dict(best_state)
        metrics = test.metrics(model, device, autocast=autocast)
        extra = {k: ev.metrics(model, device, autocast=autocast) for k, ev in (also or {}).items()}
    return run_record(
        data,
        config,
        ts,
        steps=step,
        targets_seen=targets_seen,
        positions_seen=positions_seen,
        best=best,
        best_step=best_step,
        end=end,
        curve=curve,
        metrics=metrics,
        device=device,
        start=start,
        also=extra if also else None,
    )
