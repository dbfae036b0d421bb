"""The grid: train every configuration of layers × d_emb × data fraction × seed.

Protocol (docs/science.md §4; see ``docs/sweep.md``): leave-one-out (last item test, second-to-last
validation, the rest training), data fractions as nested seeded subsets of the training
users (validation and test always every user), every prefix of the training history a
target, budgets in optimizer steps, early stopping on validation NDCG@10, test metrics of
the best validation step.
"""

from __future__ import annotations

import itertools
import os
import re
import sys
import warnings
from collections.abc import Callable, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from perflaw.errors import DataError, PerflawError
from perflaw.train import runs_table as rt
from perflaw.train.data import SequenceData, load_sequences
from perflaw.train.evaluation import SAMPLING, Evaluator, eval_name, popularity_metrics
from perflaw.train.packed import train_packed
from perflaw.train.registry import BACKBONES
from perflaw.train.trainer import TrainConfig, train_one

#: A run whose best validation NDCG@10 is below this multiple of the popularity ranker's
#: is reported as having learned popularity only.  A best validation is the maximum of many
#: noisy ones: on ml-latest-small plateau runs read 0.87-1.6x popularity and the weakest
#: runs that left the plateau 1.45x and up, so 1.25x names only the certain cases
#: (docs/sweep.md, "Early peaks"); perflaw fit's early-peak warning names the others.
PLATEAU_MARGIN = 1.25

__all__ = ["check_device", "sweep"]

_DEVICE = re.compile(r"^(cpu|cuda(:\d+)?|mps)$")


def check_device(device: str | None) -> str:
    """Validate a device string before torch sees it; return the device to use.

    Raises
    ------
    DataError
        Not ``cpu``, ``cuda``, ``cuda:N`` or ``mps``; or CUDA asked for and absent, or
        ``cuda:N`` beyond the devices present.
    """
    import torch

    if device is None:
        return "cuda" if torch.cuda.is_available() else "cpu"
    device = str(device).strip()
    if not _DEVICE.match(device):
        raise DataError(f"--device {device!r} is not a device: use cpu, cuda, cuda:N or mps")
    if device.startswith("cuda"):
        if not torch.cuda.is_available():
            raise DataError(f"--device {device!r}: CUDA is not available on this machine")
        n = torch.cuda.device_count()
        if ":" in device and int(device.split(":")[1]) >= n:
            raise DataError(f"--device {device!r}: this machine has {n} CUDA device(s)")
    if device == "mps" and not (
        getattr(torch.backends, "mps", None) and torch.backends.mps.is_available()
    ):
        raise DataError("--device 'mps': MPS is not available on this machine")
    return device


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


def _seeds(values) -> list[int]:
    values = [values] if np.isscalar(values) else list(values)
    if not values:
        raise DataError("seeds needs at least one value")
    out = []
    for v in values:
        if isinstance(v, bool) or not float(v).is_integer() or int(v) < 0:
            raise DataError(f"seeds must be non-negative integers, got {v!r}")
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


def _say(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def sweep(
    log,
    *,
    layers: Sequence[int] = (1, 2),
    d_emb: Sequence[int] = (16, 32),
    data_fraction: Sequence[float] = (1.0,),
    backbone: str | Sequence[str] = "sasrec",
    seeds: Sequence[int] = (0,),
    config: TrainConfig | None = None,
    mask_seen: bool = False,
    eval_negatives: int | None = None,
    eval_sampling: str = "uniform",
    out: str | os.PathLike | None = None,
    device: str | None = None,
    threads: int | None = None,
    progress: bool = True,
    name: str | None = None,
    drop_null_ids: bool = False,
    pack: int = 1,
    compile: bool = False,
    on_run: Callable[[dict, list[tuple[int, float]]], None] | None = None,
    **settings,
) -> pd.DataFrame:
    """Train every configuration of a layers × d_emb × data-fraction × seed grid.

    Parameters
    ----------
    log : str, pathlib.Path, pandas.DataFrame or SequenceData
        Interaction log (see :func:`perflaw.train.data.load_sequences`).
    layers, d_emb : sequence of int
        Depths and widths of the grid.
    data_fraction : sequence of float
        Fractions of the users (in (0, 1]) whose training data is used.
    backbone : str or sequence of str
        Names from :data:`perflaw.train.registry.BACKBONES`.
    seeds : sequence of int
        One run per seed and configuration (non-negative; the seed also picks the data
        fraction's users and the sampled negatives).
    config : TrainConfig, optional
        Training settings (its shape fields are replaced by the grid's); keyword
        ``settings`` (e.g. ``max_steps=500``) override its fields.
    mask_seen : bool
        Full ranking: leave the items seen before the target out (default False: every
        item but padding is ranked, RecBole's convention for sequential models).
    eval_negatives : int, optional
        Rank each target among this many sampled negatives instead of all items.
    eval_sampling : {"uniform", "popularity"}
        How sampled negatives are drawn.
    out : path, optional
        Runs table (CSV), one whole row appended per finished run; configurations already
        there are skipped (resume), torn lines are set aside to ``<out>.rejected``.
        Processes sharing ``out`` split the grid through claim files.
    device : str, optional
        ``cpu``, ``cuda``, ``cuda:N`` or ``mps``; default cuda when present.
    threads : int, optional
        Torch CPU threads.
    progress : bool
        Progress lines on stderr.
    name : str, optional
        Dataset name for the runs table (default: the log's file stem).
    drop_null_ids : bool
        Drop log rows with a null/NaN user or item id (default: refuse them).
    pack : int
        Train up to this many configurations of one shape (backbone, layers, d_emb: its
        seeds and data fractions) together in this process, as one stack of models
        (:func:`perflaw.train.packed.train_packed`), so that small models keep a GPU
        busy.  1 (default): one run at a time, in the grid's order.
    compile : bool
        Training forward passes through ``torch.compile`` (a speed option, not in the
        ``settings`` column; see :func:`perflaw.train.trainer.train_one`).  Not with
        ``pack`` > 1 (a packed stack runs its forward under ``vmap``).
    on_run : callable, optional
        Called with each finished run's row (the runs-table columns) and its validation
        curve as ``(step, value)`` pairs, after the row is written: the tracker sinks of
        ``--log-to`` (:class:`perflaw.train.tracking.Tracking`).

    Returns
    -------
    pandas.DataFrame
        The runs table (with ``out``: every row of the file).  ``attrs["not_run"]`` lists
        the configurations of the grid that are not in the table when the call ends
        (claimed by another live process); a warning says so.
        ``attrs["popularity_val_ndcg@10"]`` maps each seed to the validation NDCG@10 of
        ranking items by their training counts (:func:`popularity_metrics`); runs of this
        call whose best validation NDCG@10 stays below ``PLATEAU_MARGIN`` times it are
        named in a warning (they learned popularity only).
    """
    if (
        isinstance(pack, bool)
        or not isinstance(pack, (int, float, np.integer, np.floating))
        or not float(pack).is_integer()
        or int(pack) < 1
    ):
        raise DataError(f"pack must be a positive integer, got {pack!r}")
    pack = int(pack)
    if compile and pack > 1:
        raise DataError("compile cannot be combined with pack > 1: use one or the other")
    layers_ = _positive_ints("layers", layers)
    d_embs = _positive_ints("d_emb", d_emb)
    fractions = _fractions(data_fraction)
    backbones = [backbone] if isinstance(backbone, str) else list(backbone)
    for b in backbones:
        if b not in BACKBONES:
            raise DataError(f"unknown backbone {b!r}: use one of {', '.join(BACKBONES)}")
    seeds_ = _seeds(seeds)
    base = config or TrainConfig()
    unknown = set(settings) - set(base.as_dict())
    if unknown:
        raise TypeError(f"sweep() got unexpected keyword(s) {', '.join(sorted(unknown))}")
    base = replace(base, **settings)
    for bb, n_layers, d in itertools.product(backbones, layers_, d_embs):
        replace(base, backbone=bb, layers=n_layers, d_emb=d).check()
    if eval_negatives is not None:
        eval_negatives = _positive_ints("eval_negatives", eval_negatives)[0]
    if eval_sampling not in SAMPLING:
        raise DataError(f"unknown eval sampling {eval_sampling!r}: use uniform or popularity")
    evaluation = eval_name(mask_seen, eval_negatives, eval_sampling)

    try:
        import torch
    except ImportError:
        raise PerflawError(
            "perflaw sweep needs PyTorch: pip install 'perflaw[train]' (or torch)"
        ) from None
    device = check_device(device)

    data = (
        log
        if isinstance(log, SequenceData)
        else load_sequences(log, name=name, drop_null_ids=drop_null_ids)
    )
    if name:
        data.name = name
    if eval_negatives is not None and eval_negatives >= data.n_items:
        raise DataError(
            f"eval_negatives {eval_negatives} must be below the number of items {data.n_items}"
        )
    settings_text = base.settings()

    out_path = Path(out) if out is not None else None
    done = pd.DataFrame(columns=rt.RUNS_COLUMNS)
    if out_path is not None and out_path.exists() and out_path.stat().st_size > 0:
        done = rt.read_runs_file(out_path, report=False)  # checks the columns first
        moved = rt.set_aside_bad_lines(out_path)
        if moved:
            warnings.warn(
                f"{out_path}: {moved} torn or malformed line(s) (a run killed while "
                f"writing?) set aside to {out_path.name}.rejected",
                stacklevel=2,
            )
            if progress:
                _say(
                    f"sweep: {moved} torn line(s) of {out_path} set aside to "
                    f"{out_path.name}.rejected"
                )
        # a different cap is a different budget, not a different rule (training_rule)
        rule = rt.training_rule(settings_text)
        other = done[
            (done["settings"].map(rt.training_rule) != rule)
            | (done["eval"] != evaluation)
            | (done["objective"] != base.loss)
        ]
        if len(other):
            first = other.iloc[0]
            hint = "use another --out"
            older = replace(base, patience_from="best").settings()
            if rt.training_rule(first["settings"]) == rt.training_rule(older) != rule:
                hint = "it predates --patience-from: resume it with --patience-from best"
            raise DataError(
                f"{str(out_path)!r} holds runs made with other settings "
                f"({first['settings']}, eval={first['eval']}, "
                f"loss={first['objective']}); {hint}"
            )
    # runs that ended on a smaller cap (or time limit) than this one are trained again
    # and their rows replaced: what fit's "raise --max-steps" asks for
    extend = rt.extendable(done, base.max_steps, base.max_seconds)
    finished = rt.finished_in(done) - extend

    if threads is not None:
        torch.set_num_threads(_positive_ints("threads", threads)[0])

    grid: list[dict[str, Any]] = [
        dict(
            dataset=data.name,
            backbone=bb,
            layers=n_layers,
            d_emb=d,
            data_fraction=frac,
            max_len=base.max_len,
            seed=seed,
        )
        for seed, frac, bb, n_layers, d in itertools.product(
            seeds_, fractions, backbones, layers_, d_embs
        )
    ]
    todo = [row for row in grid if rt.key(row) not in finished]
    if progress:
        _say(
            f"sweep: {len(grid)} configurations, {len(grid) - len(todo)} already in "
            f"{out_path if out_path else 'the table'}, {len(todo)} to run on {device}"
        )
        longer = sum(rt.key(row) in extend for row in todo)
        if longer:
            _say(
                f"sweep: {longer} of them ended on a smaller cap (or time limit) and are "
                f"trained again with this one; their rows are replaced, the old ones kept "
                f"in {out_path}.replaced"
            )

    evaluators: dict = {}

    def evaluators_of(seed: int) -> tuple[Evaluator, Evaluator]:
        if seed not in evaluators:
            evaluators[seed] = tuple(
                Evaluator(
                    data,
                    split,
                    base.max_len,
                    mask_seen=mask_seen,
                    negatives=eval_negatives,
                    sampling=eval_sampling,
                    seed=seed,
                )
                for split in ("valid", "test")
            )
        return evaluators[seed]

    def label_of(i: int, row: dict) -> str:
        return (
            f"[{i}/{len(todo)}] {row['backbone']} layers={row['layers']} "
            f"d_emb={row['d_emb']} fraction={row['data_fraction']:g} seed={row['seed']}"
        )

    def claim(i: int, row: dict) -> tuple[bool, Path | None]:
        """Whether to run ``row`` here, and its claim file (with ``out``)."""
        if out_path is None:
            return True, None
        # Several processes may share one --out: skip what another one finished or is
        # running, re-checking after claiming.
        budget = (base.max_steps, base.max_seconds)
        if rt.key(row) in rt.finished_keys(out_path, *budget):
            return False, None
        claimed = rt.claim(out_path, rt.key(row))
        if claimed is None or rt.key(row) in rt.finished_keys(out_path, *budget):
            if progress:
                _say(
                    f"[{i}/{len(todo)}] layers={row['layers']} d_emb={row['d_emb']} "
                    f"fraction={row['data_fraction']:g}: done or running elsewhere"
                )
            if claimed is not None:
                claimed.unlink(missing_ok=True)
            return False, None
        return True, claimed

    rows: list[dict] = []
    popularity: dict = {}  # seed -> the popularity ranker's validation NDCG@10
    plateau: list[str] = []

    def popularity_ndcg(seed: int) -> float:
        if seed not in popularity:
            popularity[seed] = popularity_metrics(evaluators_of(seed)[0], data, device)["ndcg@10"]
        return popularity[seed]

    def finish(i: int, row: dict, result: dict) -> None:
        full = {
            **row,
            **result,
            "eval": evaluation,
            "objective": base.loss,
            "settings": settings_text,
        }
        full = {c: full[c] for c in rt.RUNS_COLUMNS}
        if progress:
            _say(
                f"{label_of(i, row)} done in {full['seconds']:.1f}s ({full['end']} at step "
                f"{full['steps']}, best {full['best_step']}): test ndcg@10 "
                f"{full['ndcg@10']:.4f} hr@10 {full['hr@10']:.4f}"
            )
        if out_path is not None:
            if rt.key(row) in extend:  # the longer run takes the capped one's place
                rt.replace_row(out_path, full)
            else:
                rt.append_row(out_path, full)
        rows.append(full)
        if on_run is not None:
            from perflaw.train.tracking import curve_steps

            on_run(
                dict(full),
                curve_steps(result.get("val_curve_full", []), base.eval_every, full["steps"]),
            )
        pop = popularity_ndcg(row["seed"])
        if full["val_ndcg@10"] < PLATEAU_MARGIN * pop:
            plateau.append(
                f"layers={row['layers']} d_emb={row['d_emb']} "
                f"fraction={row['data_fraction']:g} seed={row['seed']} "
                f"({full['val_ndcg@10']:.4f} vs {pop:.4f}, {full['end']} at step {full['steps']})"
            )

    # pack=1: the grid's order, one run at a time.  pack>1: the pending configurations of
    # one shape (backbone, layers, d_emb) — its seeds and fractions — up to `pack` at a time.
    groups: dict = {}
    for i, row in enumerate(todo, 1):
        shape = (row["backbone"], row["layers"], row["d_emb"]) if pack > 1 else i
        groups.setdefault(shape, []).append((i, row))
    for members in groups.values():
        pending = list(members)
        while pending:
            batch: list[tuple[int, dict, Path | None]] = []
            while pending and len(batch) < pack:
                i, row = pending.pop(0)
                ok, claimed = claim(i, row)
                if ok:
                    batch.append((i, row, claimed))
            if not batch:
                break
            try:
                first = batch[0][1]
                cfg = replace(
                    base, backbone=first["backbone"], layers=first["layers"], d_emb=first["d_emb"]
                )
                if len(batch) == 1:
                    i, row, _ = batch[0]
                    valid, test = evaluators_of(row["seed"])
                    result = train_one(
                        data,
                        cfg,
                        fraction=row["data_fraction"],
                        seed=row["seed"],
                        valid=valid,
                        test=test,
                        device=device,
                        log=_say if progress else None,
                        label=label_of(i, row),
                        compile=compile,
                    )
                    finish(i, row, result)
                    continue
                if progress:
                    _say(
                        f"pack of {len(batch)}: {first['backbone']} layers={first['layers']} "
                        f"d_emb={first['d_emb']}, "
                        + ", ".join(
                            f"fraction={r['data_fraction']:g} seed={r['seed']}" for _, r, _ in batch
                        )
                    )

                def done(j: int, result: dict, batch=batch) -> None:
                    i, row, claimed = batch[j]
                    finish(i, row, result)
                    if claimed is not None:  # finished: its row is in the table
                        claimed.unlink(missing_ok=True)

                train_packed(
                    data,
                    cfg,
                    [(r["data_fraction"], r["seed"]) for _, r, _ in batch],
                    valid=[evaluators_of(r["seed"])[0] for _, r, _ in batch],
                    test=[evaluators_of(r["seed"])[1] for _, r, _ in batch],
                    device=device,
                    log=_say if progress else None,
                    labels=[label_of(i, r) for i, r, _ in batch],
                    on_done=done,
                )
            finally:
                for _, _, claimed in batch:
                    if claimed is not None:
                        claimed.unlink(missing_ok=True)
    if out_path is not None and out_path.exists():
        table = rt.read_runs_file(out_path)
        have = {rt.key(r) for _, r in table.iterrows()}
    else:
        table = pd.DataFrame(rows, columns=rt.RUNS_COLUMNS)
        have = {rt.key(r) for r in rows}
    not_run = [row for row in grid if rt.key(row) not in have]
    table.attrs["not_run"] = not_run
    table.attrs["popularity_val_ndcg@10"] = dict(popularity)
    if plateau:
        warnings.warn(
            f"{len(plateau)} run(s) ended with a best validation NDCG@10 below "
            f"{PLATEAU_MARGIN:g}x that of ranking items by popularity, e.g. {plateau[0]}: "
            "they learned popularity only (still on the plateau when stopped?); a longer "
            "--min-steps lets such runs leave it (docs/sweep.md, Early peaks)",
            stacklevel=2,
        )
    if not_run:
        warnings.warn(
            f"{len(not_run)} of {len(grid)} configurations were not run by this "
            "call and are not in the table (claimed by another live process?)",
            stacklevel=2,
        )
    return table
