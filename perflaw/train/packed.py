"""Several runs of one shape trained together in one process: :func:`train_packed`.

A small model (1 layer, d = 32) leaves a GPU idle: each optimizer step is a few dozen tiny
kernels and the time goes to Python and kernel launches.  :func:`train_packed` trains K
runs that share the model's shape and :class:`~perflaw.train.trainer.TrainConfig` (they
differ in seed and/or data fraction) as one stack: the K models' parameters are stacked
into tensors of shape ``[K, ...]`` (``torch.func.stack_module_state``), the forward pass
runs once for all of them under ``torch.func.vmap``, the loss is taken on each run's real
targets with batched matrix products, so every kernel does K models' work, and one
``torch.optim.Adam`` steps the stacked tensors (Adam is elementwise, so this is exactly K
independent Adams).

Each run stays what :func:`~perflaw.train.trainer.train_one` would make of it:

* its own initialisation (the model is built right after ``torch.manual_seed(seed)``), its
  own training users (:func:`~perflaw.train.data.training_users`), its own batch order (a
  ``torch.Generator`` seeded with its seed, re-permuted when *its* epoch ends; a short
  last batch is padded with all-padding samples whose targets are ignored by the loss);
* its own validation every ``eval_every`` steps and its own early stopping: a run that
  ends (patience, cap, time) is scored on test at once and leaves the stack (the others
  continue with their Adam state), so later steps cannot change its record.

With ``dropout=0`` a packed run reproduces ``train_one`` to float rounding (a test checks
it).  With dropout, and for ``loss="bce"`` (the sampled negatives), the random draws come
from torch's global generator in another order than in ``train_one``: the runs are
reproducible for a given pack, but not draw-for-draw equal to unpacked ones.
"""

from __future__ import annotations

import copy
import math
import time
from collections.abc import Callable, Sequence

import numpy as np

from perflaw.errors import DataError
from perflaw.train.data import SequenceData
from perflaw.train.evaluation import Evaluator
from perflaw.train.trainer import (
    TrainConfig,
    build_model,
    end_reason,
    lr_factor,
    nan_metrics,
    run_record,
    training_set,
)

__all__ = ["train_packed"]


def _per_run(name: str, value, k: int) -> list:
    """One Evaluator (shared) or one per run."""
    if isinstance(value, Evaluator):
        return [value] * k
    values = list(value)
    if len(values) != k or not all(isinstance(v, Evaluator) for v in values):
        raise DataError(f"{name} must be one Evaluator or {k} (one per run), got {value!r}")
    return values


def _check_runs(runs) -> list[tuple[float, int]]:
    out = []
    for run in runs:
        try:
            fraction, seed = run
        except (TypeError, ValueError):
            raise DataError(f"each packed run is (fraction, seed), got {run!r}") from None
        if isinstance(seed, bool) or not float(seed).is_integer() or int(seed) < 0:
            raise DataError(f"packed run seeds must be non-negative integers, got {seed!r}")
        if not 0 < float(fraction) <= 1:
            raise DataError(f"packed run fractions must be in (0, 1], got {fraction!r}")
        out.append((float(fraction), int(seed)))
    if not out:
        raise DataError("train_packed needs at least one (fraction, seed) run")
    return out


def _stack_loss(weight, hidden, targets, counts, kind: str, n_items: int):
    """Each run's mean next-item loss over its real targets, shape ``(K,)``.

    ``weight``: the stacked item tables ``(K, n_items + 1, d)``; ``hidden``: hidden states
    ``(K, N, d)`` at the targets' positions; ``targets``: ``(K, N)`` item codes, 0 where a
    run has fewer than N targets; ``counts``: each run's real targets.  The same loss as
    ``_Backbone.loss`` on the real rows: CE over items 1…n_items (the padding column left
    out rather than set to -inf), or BCE against one uniformly drawn item.
    """
    import torch
    import torch.nn.functional as F

    from perflaw.train.backbones import chunked_cross_entropy

    K, N = targets.shape
    if kind == "ce" and hidden.device.type == "cpu":  # as _Backbone.loss on a CPU
        return torch.stack(
            [
                chunked_cross_entropy(hidden[i, :c], weight[i], targets[i, :c])
                for i, c in enumerate(counts.tolist())
            ]
        )
    if kind == "ce":
        logits = torch.bmm(hidden, weight[:, 1:].transpose(1, 2)).float()
        per = F.cross_entropy(
            logits.reshape(K * N, -1), (targets - 1).reshape(-1), ignore_index=-1, reduction="none"
        ).view(K, N)
    else:
        neg = torch.randint(1, n_items + 1, targets.shape, device=targets.device)
        rows = torch.arange(K, device=targets.device)[:, None]
        pos_s = (hidden * weight[rows, targets]).sum(-1).float()
        neg_s = (hidden * weight[rows, neg]).sum(-1).float()
        per = (F.softplus(-pos_s) + F.softplus(neg_s)) * (targets != 0)
    return per.sum(1) / counts


def train_packed(
    data: SequenceData,
    config: TrainConfig,
    runs: Sequence[tuple[float, int]],
    *,
    valid: Evaluator | Sequence[Evaluator],
    test: Evaluator | Sequence[Evaluator],
    device=None,
    log: Callable[[str], None] | None = None,
    labels: Sequence[str] | None = None,
    also: dict | None = None,
    autocast: bool | None = None,
    on_done: Callable[[int, dict], None] | None = None,
) -> list[dict]:
    """Train the runs ``(fraction, seed)`` of one shape together; return their records.

    Parameters
    ----------
    data : SequenceData
    config : TrainConfig
        Shared by every run (backbone, layers, d_emb, max_len and the training settings).
    runs : sequence of (float, int)
        ``(data_fraction, seed)`` of each run.
    valid, test : Evaluator or sequence of Evaluator
        One shared, or one per run (sampled negatives are seeded by the run's seed).
    device : str or torch.device, optional
        Default ``"cuda"`` when available, else ``"cpu"``.
    log : callable, optional
        Called with one progress line per run after each validation.
    labels : sequence of str, optional
        The runs' names in the progress lines.
    also : dict of str to Evaluator (or to a sequence of them, one per run), optional
        Further test evaluations of each run's best weights, under ``"also"``.
    autocast : bool, optional
        bf16 autocast of the forward passes; default: on CUDA only.
    on_done : callable, optional
        Called with ``(i, record)`` as soon as run ``i`` has ended and been scored (runs
        end at different steps), e.g. to append its row at once.

    Returns
    -------
    list of dict
        Per run, in the order of ``runs``, the same fields as
        :func:`~perflaw.train.trainer.train_one`; ``seconds`` is the wall time from the
        start of the pack until the run's record was complete (the runs shared the process,
        so the seconds of one pack's runs overlap and do not add up).

    Raises
    ------
    DataError
        No runs, a bad ``(fraction, seed)``, evaluators or labels not one per run, or a
        fraction without training targets.
    """
    import torch
    from torch.func import functional_call, stack_module_state, vmap

    config.check()
    runs = _check_runs(runs)
    k = len(runs)
    valids, tests = _per_run("valid", valid, k), _per_run("test", test, k)
    alsos = {name: _per_run(f"also[{name!r}]", ev, k) for name, ev in (also or {}).items()}
    labels = list(labels) if labels is not None else [f"fraction={f:g} seed={s}" for f, s in runs]
    if len(labels) != k:
        raise DataError(f"labels must name the {k} runs, got {len(labels)}")
    start = time.perf_counter()
    device = torch.device(device or ("cuda" if torch.cuda.is_available() else "cpu"))
    autocast = device.type == "cuda" if autocast is None else bool(autocast)
    sets = [training_set(data, config, fraction, seed) for fraction, seed in runs]
    models = []
    for _, seed in runs:
        torch.manual_seed(seed)  # each model's initialisation, as in train_one
        models.append(build_model(config, data.n_items, device))
    gens = [torch.Generator().manual_seed(seed) for _, seed in runs]
    windows = config.samples == "windows"

    # One tensor of every run's samples plus one all-padding row (the filler of short
    # batches); a batch is one index gather of shape (models, batch_size).
    offsets = np.cumsum([0] + [len(ts.inputs) for ts in sets])
    filler = int(offsets[-1])
    X = torch.as_tensor(
        np.concatenate([ts.inputs for ts in sets] + [np.zeros((1, config.max_len), np.int64)]),
        device=device,
    )

    # The stack: parameters [K, ...] of the runs still training, a shape-only template.
    params, buffers = stack_module_state(models)
    template = copy.deepcopy(models[0]).to("meta").use_math_attention().train()

    def forward(p, b, seq):
        return functional_call(template, (p, b), (seq,))

    # Only the forward pass is vmapped; the loss is taken on each run's real targets
    # (their positions are known on the host), batched over the stack.
    stacked_forward = vmap(forward, randomness="different")
    pinned = device.type == "cuda"
    opt = torch.optim.Adam(params.values(), lr=config.lr)

    active = list(range(k))  # run index of each slot of the stack
    perms: list[np.ndarray | None] = [None] * k
    cursor = [0] * k
    targets_seen, positions_seen = [0] * k, [0] * k
    best, best_step = [-1.0] * k, [0] * k
    best_state: list[dict | None] = [None] * k
    curves: list[list[float]] = [[] for _ in range(k)]
    results: list[dict | None] = [None] * k
    step = 0
    B = config.batch_size
    losses = torch.zeros(k)
    # per slot: a step's loss was NaN or infinite (read at validations; see train_one)
    slot_bad = torch.zeros(k, dtype=torch.bool, device=device)
    while active:
        A = len(active)
        rows = np.full((A, B), filler, dtype=np.int64)
        picks = []
        for slot, i in enumerate(active):
            ts = sets[i]
            perm = perms[i]
            if perm is None or cursor[i] >= len(perm):
                perm = perms[i] = torch.randperm(len(ts.inputs), generator=gens[i]).numpy()
                cursor[i] = 0
            idx = perm[cursor[i] : cursor[i] + B]
            cursor[i] += B
            targets_seen[i] += int(ts.per_sample[idx].sum())
            positions_seen[i] += int(ts.positions[idx].sum())
            rows[slot, : len(idx)] = idx + offsets[i]
            if windows:  # positions (in the slot's B × T) and codes of its real targets
                flat = ts.targets[idx].reshape(-1)
                at = np.flatnonzero(flat)
                picks.append((at, flat[at]))
            else:
                picks.append((np.arange(len(idx)), ts.targets[idx]))
        n = max(len(w) for w, _ in picks)
        where_h = np.zeros((A, n), np.int64)
        codes_h = np.zeros((A, n), np.int64)
        for slot, (w, c) in enumerate(picks):
            where_h[slot, : len(w)] = w
            codes_h[slot, : len(c)] = c
        counts_h = np.array([[len(w)] for w, _ in picks], np.int64)
        # One host-to-device copy per step (pinned and asynchronous on CUDA).
        host = torch.from_numpy(np.concatenate([rows, where_h, codes_h, counts_h], axis=1))
        if pinned:
            host = host.pin_memory()
        dev = host.to(device, non_blocking=pinned)
        gather, where, codes = dev[:, :B], dev[:, B : B + n], dev[:, B + n : B + 2 * n]
        counts = dev[:, -1]
        for group in opt.param_groups:  # LambdaLR's value at this step, as in train_one
            group["lr"] = config.lr * lr_factor(step, config)
        with torch.autocast(device.type, dtype=torch.bfloat16, enabled=autocast):
            hidden = stacked_forward(params, buffers, X[gather])  # (A, B, T, d)
            if windows:
                d = hidden.shape[-1]
                hidden = hidden.reshape(A, -1, d).gather(1, where[..., None].expand(-1, -1, d))
            else:  # a slot's samples fill its first rows
                hidden = hidden[:, :n, -1]
            losses = _stack_loss(
                params["items.weight"], hidden, codes, counts, config.loss, data.n_items
            )
        slot_bad |= ~torch.isfinite(losses.detach())
        opt.zero_grad(set_to_none=True)
        losses.sum().backward()  # the runs' losses are independent: each gets its own gradient
        opt.step()
        step += 1
        last = step >= config.max_steps
        timed_out = (
            config.max_seconds is not None and time.perf_counter() - start > config.max_seconds
        )
        if step % config.eval_every and not last and not timed_out:
            continue
        ended = []
        for slot, i in enumerate(active):
            model = models[i]
            with torch.no_grad():
                for name, tensor in model.named_parameters():
                    tensor.copy_(params[name][slot])
                for name, buf in model.named_buffers():
                    buf.copy_(buffers[name][slot])
            end: str | None
            if bool(slot_bad[slot]) or not all(
                bool(torch.isfinite(p).all()) for p in model.parameters()
            ):
                end = "diverged"
                if log:
                    log(f"{labels[i]} step {step}: the loss is not finite -- the run diverged")
            else:
                score = valids[i].metrics(model, device, autocast=autocast)["ndcg@10"]
                curves[i].append(score)
                if score > best[i]:
                    best[i], best_step[i] = score, step
                    best_state[i] = {n: v.detach().clone() for n, v in model.state_dict().items()}
                if log:
                    log(
                        f"{labels[i]} step {step} loss {losses[slot].item():.4f} val ndcg@10 "
                        f"{score:.4f} (best {best[i]:.4f} @ {best_step[i]})"
                    )
                end = end_reason(config, step, best_step[i], timed_out)
                if end is None:
                    continue
            ended.append(slot)
            if end == "diverged":
                best_state[i] = None
                best[i], best_step[i] = math.nan, 0
                metrics, extra = nan_metrics(), {n: nan_metrics() for n in alsos}
            else:
                kept = best_state[i]
                assert kept is not None  # the first validation always sets it
                model.load_state_dict(kept)
                best_state[i] = None
                metrics = tests[i].metrics(model, device, autocast=autocast)
                extra = {
                    n: evs[i].metrics(model, device, autocast=autocast) for n, evs in alsos.items()
                }
            record = results[i] = run_record(
                data,
                config,
                sets[i],
                steps=step,
                targets_seen=targets_seen[i],
                positions_seen=positions_seen[i],
                best=best[i],
                best_step=best_step[i],
                end=end,
                curve=curves[i],
                metrics=metrics,
                device=device,
                start=start,
                also=extra if also else None,
            )
            if on_done:
                on_done(i, record)
        if ended:
            keep = [slot for slot in range(len(active)) if slot not in ended]
            active = [active[slot] for slot in keep]
            slot_bad = slot_bad[torch.tensor(keep, dtype=torch.long, device=device)]
            if active:
                params, buffers, opt = _shrink(params, buffers, opt, keep, config.lr)
    return [r for r in results if r is not None]


def _shrink(params: dict, buffers: dict, opt, keep: list[int], lr: float):
    """The stack without the runs that ended: parameters, buffers and Adam's state of the
    slots ``keep`` (Adam's moments are per element, so slicing them is exact)."""
    import torch

    sel = torch.tensor(keep, device=next(iter(params.values())).device)
    new = {n: p.detach().index_select(0, sel).clone().requires_grad_() for n, p in params.items()}
    new_buffers = {n: b.index_select(0, sel).clone() for n, b in buffers.items()}
    new_opt = torch.optim.Adam(new.values(), lr=lr)
    for name, p in params.items():
        state = opt.state.get(p)
        if state:
            new_opt.state[new[name]] = {
                s: v.index_select(0, sel).clone() if v.dim() else v.clone()
                for s, v in state.items()
            }
    return new, new_buffers, new_opt
