"""The grid: train every configuration of layers × d_emb × data fraction × seed.

Protocol (docs/science.md §8): leave-one-out (last item test, second-to-last
validation, the rest training), data fractions as nested seeded subsets of the training
users (validation and test always every user), every prefix of the training history a
target, budgets in optimizer steps, early stopping on validation NDCG@10, test metrics of
the best validation step.
"""

from __future__ import annotations

import itertools
import os
import sys
import time
import warnings
from collections.abc import Callable, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from perflaw.backbone_registry import BACKBONES
from perflaw.errors import DataError, PerflawError
from perflaw.train import claims, shards
from perflaw.train import runs_table as rt
from perflaw.train.data import SequenceData, load_sequences
from perflaw.train.device import check_device, default_threads
from perflaw.train.evaluation import SAMPLING, Evaluator, eval_name, popularity_metrics
from perflaw.train.packed import train_packed
from perflaw.train.trainer import TrainConfig, train_one

#: A run whose best validation NDCG@10 is below this multiple of the popularity ranker's
#: is reported as having learned popularity only.  A best validation is the maximum of many
#: noisy ones: on ml-latest-small plateau runs read 0.87-1.6x popularity and the weakest
#: runs that left the plateau 1.45x and up, so 1.25x names only the certain cases
#: (docs/science.md §8, early peaks); perflaw fit's early-peak warning names the others.
PLATEAU_MARGIN = 1.25

__all__ = ["check_device", "sweep"]


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
    shard: tuple[int, int] | None = None,
    wait: bool = False,
    claim_expiry: float = claims.EXPIRY_S,
    poll: float = 30.0,
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
        Names from :data:`perflaw.backbone_registry.BACKBONES`.
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
    shard : (int, int), optional
        ``(i, n)``: train only shard ``i`` (0-based) of ``n`` of the grid
        (:func:`perflaw.train.shards.shard_rows`), into its own table
        ``<out stem>.shard-<i>-of-<n><suffix>``; merge the shards' tables with
        :func:`perflaw.train.shards.merge_tables` (``perflaw runs merge``).
    wait : bool
        When configurations are still being trained by other live processes sharing
        ``out``, wait for them (checking every ``poll`` seconds; a claim whose owner dies
        or expires is taken over and trained here) instead of returning.
    claim_expiry : float
        Seconds without a heartbeat after which another host's claim is stale
        (:mod:`perflaw.train.claims`).
    on_run : callable, optional
        Called with each finished run's row (the runs-table columns) and its validation
        curve as ``(step, value)`` pairs, after the row is written: the tracker sinks of
        ``--log-to`` (:class:`perflaw.train.tracking.Tracking`).

    Returns
    -------
    pandas.DataFrame
        The runs table (with ``out``: every row of the file).  ``attrs["not_run"]`` lists
        the configurations of the grid that are not in the table when the call ends
        and that no live process is training; ``attrs["running_elsewhere"]`` those that
        live processes are training (each with a ``holder`` description); a warning says
        so.
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
    if not (isinstance(claim_expiry, (int, float)) and claim_expiry > 0):
        raise DataError(f"claim_expiry must be a positive number of seconds, got {claim_expiry!r}")
    if shard is not None:
        shard = shards.check_shard(shard)
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
    if shard is not None and out_path is not None:
        out_path = shards.shard_out(out_path, *shard)
    done = pd.DataFrame(columns=rt.RUNS_COLUMNS)
    if out_path is not None and out_path.exists() and out_path.stat().st_size > 0:
        # checks the columns first (a table of an older version is not appended to)
        done = rt.read_runs_file(out_path, report=False, legacy=False)
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

    if threads is None:
        threads, why = default_threads()
        if progress:
            _say(f"sweep: {threads} torch thread(s) ({why}); --threads to choose")
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
    if shard is not None:
        grid = shards.shard_rows(grid, *shard)
        if progress:
            _say(
                f"sweep: shard {shard[0]} of {shard[1]} (0-based): {len(grid)} configuration(s)"
                + (f", table {out_path}" if out_path is not None else "")
            )
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

    heartbeat = claims.Heartbeat(min(60.0, claim_expiry / 5))
    tokens: dict[Path, str] = {}
    elsewhere: dict[tuple, claims.Holder] = {}  # key -> live holder, last seen

    def claim(i: int, row: dict) -> tuple[bool, Path | None]:
        """Whether to run ``row`` here, and its claim file (with ``out``)."""
        if out_path is None:
            return True, None
        # Several processes may share one --out: skip what another one finished or is
        # running, re-checking after claiming.
        budget = (base.max_steps, base.max_seconds)
        k = rt.key(row)
        if k in rt.finished_keys(out_path, *budget):
            return False, None
        got = claims.claim(out_path, k, expiry=claim_expiry)
        if isinstance(got, claims.Holder):
            elsewhere[k] = got
            if progress:
                _say(f"{label_of(i, row)}: being trained by {got.describe()}")
            return False, None
        claimed, token = got
        if k in rt.finished_keys(out_path, *budget):
            claims.release(out_path, claimed, token)
            return False, None
        elsewhere.pop(k, None)
        tokens[claimed] = token
        heartbeat.add(claimed, token)
        return True, claimed

    def unclaim(claimed: Path | None) -> None:
        if out_path is not None and claimed is not None and claimed in tokens:
            heartbeat.remove(claimed)
            claims.release(out_path, claimed, tokens.pop(claimed))

    rows: list[dict] = []
    popularity: dict = {}  # seed -> the popularity ranker's validation NDCG@10
    plateau: list[str] = []
    diverged: list[str] = []

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
        if full["end"] == "diverged":
            diverged.append(
                f"layers={row['layers']} d_emb={row['d_emb']} "
                f"fraction={row['data_fraction']:g} seed={row['seed']} (at step {full['steps']})"
            )
            return
        pop = popularity_ndcg(row["seed"])
        if full["val_ndcg@10"] < PLATEAU_MARGIN * pop:
            plateau.append(
                f"layers={row['layers']} d_emb={row['d_emb']} "
                f"fraction={row['data_fraction']:g} seed={row['seed']} "
                f"({full['val_ndcg@10']:.4f} vs {pop:.4f}, {full['end']} at step {full['steps']})"
            )

    def run(todo: list[dict]) -> None:
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
                        base,
                        backbone=first["backbone"],
                        layers=first["layers"],
                        d_emb=first["d_emb"],
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
                                f"fraction={r['data_fraction']:g} seed={r['seed']}"
                                for _, r, _ in batch
                            )
                        )

                    def done(j: int, result: dict, batch=batch) -> None:
                        i, row, claimed = batch[j]
                        finish(i, row, result)
                        unclaim(claimed)  # finished: its row is in the table

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
                        unclaim(claimed)

    def missing_rows() -> list[dict]:
        if out_path is None:
            return []
        # (no table yet: every configuration is missing -- all claimed elsewhere, say)
        have = rt.finished_keys(out_path, base.max_steps, base.max_seconds)
        return [row for row in grid if rt.key(row) not in have]

    try:
        run(todo)
        # The end: configurations missing from the table are either being trained by live
        # processes (wait for them with ``wait``, else leave them to their owners), or
        # were released without a row (their process stopped): train those here.
        retried = 0
        while out_path is not None:
            missing = missing_rows()
            held = {
                rt.key(r): claims.holder(out_path, rt.key(r), expiry=claim_expiry) for r in missing
            }
            free = [r for r in missing if held[rt.key(r)] is None]
            if free and retried < 3:
                retried += 1
                run(free)
                continue
            if not (wait and len(free) < len(missing)):
                break
            first = next(h for h in held.values() if h is not None)
            if progress:
                _say(
                    f"sweep: waiting for {len(missing) - len(free)} configuration(s) being "
                    f"trained by other processes, e.g. by {first.describe()}; checking "
                    f"every {poll:g} s"
                )
            time.sleep(poll)
            retried = 0
    finally:
        heartbeat.stop()
        for claimed in list(tokens):
            unclaim(claimed)

    table, not_run, running = rt.grid_accounting(out_path, grid, rows, expiry=claim_expiry)
    table.attrs["not_run"] = not_run
    table.attrs["running_elsewhere"] = running
    table.attrs["popularity_val_ndcg@10"] = dict(popularity)
    if plateau:
        warnings.warn(
            f"{len(plateau)} run(s) ended with a best validation NDCG@10 below "
            f"{PLATEAU_MARGIN:g}x that of ranking items by popularity, e.g. {plateau[0]}: "
            "they learned popularity only (still on the plateau when stopped?); a longer "
            "--min-steps lets such runs leave it (docs/science.md §8, early peaks)",
            stacklevel=2,
        )
    if diverged:
        warnings.warn(
            f"{len(diverged)} run(s) diverged (the loss became NaN or infinite), e.g. "
            f"{diverged[0]}: recorded with end = diverged and no metrics, left out of fits; "
            "a smaller --lr or a --warmup-steps may train them",
            stacklevel=2,
        )
    if not_run:
        warnings.warn(
            f"{len(not_run)} of {len(grid)} configurations were not run by this "
            "call and are not in the table, and no live process is training them",
            stacklevel=2,
        )
    if running:
        warnings.warn(
            f"{len(running)} of {len(grid)} configurations are not in the table yet: live "
            f"processes are training them, e.g. {running[0]['holder']}",
            stacklevel=2,
        )
    if heartbeat.lost:
        warnings.warn(
            f"{len(heartbeat.lost)} claim(s) of this process were taken over after their "
            f"expiry ({claim_expiry:g} s without a heartbeat), e.g. {heartbeat.lost[0]}: "
            "another process may have trained the same configuration",
            stacklevel=2,
        )
    return table
