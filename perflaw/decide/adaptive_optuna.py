"""``perflaw sweep --adaptive --storage URL``: the loop's trials kept in an Optuna storage.

Several processes, on one machine or many, share one study through Optuna's machinery:
each asks :class:`perflaw.optuna.PerflawSampler` for a configuration (the running trials of
the others are pending cells, never proposed twice), trains it with the same
``train(layers, d_emb)`` the table-driven loop uses (all seeds; rows appended to the runs
table, which stays the export every other command reads), tells the study the seed mean
of the metric, and stops on the loop's stopping rule or the budget.  Rerunning resumes the
same study.  Needs ``perflaw[optuna]``.

Storages: a SQLite URL (``sqlite:///loop.db``) or a plain file path (a SQLite file), a path
ending in ``.journal`` (Optuna's journal file, for a shared file system without a
database), any other RDB URL (``postgresql://…``) for several machines.  RDB trials beat a
heartbeat, so the trial of a killed process is marked failed after a grace period and its
configuration proposed again.
"""

from __future__ import annotations

import math
import time
import warnings
from collections.abc import Callable, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np

from perflaw.decide.acquire import Decision, grid_cost
from perflaw.decide.adaptive import _say, progress_line
from perflaw.decide.loop import append_ledger, parse_grid_budget
from perflaw.errors import DataError, Terminated
from perflaw.laws.base import higher_is_better

HEARTBEAT_SECONDS = 60
GRACE_SECONDS = 180


def _optuna() -> Any:
    try:
        import optuna
    except ImportError:
        raise DataError("--storage needs Optuna: pip install 'perflaw[optuna]'") from None
    return optuna


def open_storage(url: str) -> Any:
    """The Optuna storage a ``--storage`` value names (see the module doc)."""
    optuna = _optuna()
    if "://" not in url and url.endswith(".journal"):
        from optuna.storages import JournalStorage

        try:
            from optuna.storages.journal import JournalFileBackend
        except ImportError:  # Optuna < 4
            from optuna.storages import JournalFileStorage as JournalFileBackend

        return JournalStorage(JournalFileBackend(url))
    if "://" not in url:  # a plain path: a SQLite file
        url = "sqlite:///" + str(Path(url).resolve())
    from sqlalchemy.exc import DBAPIError

    for attempt in range(5):
        try:
            with warnings.catch_warnings():  # the heartbeat is "experimental" since Optuna 2.9
                warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
                return optuna.storages.RDBStorage(
                    url, heartbeat_interval=HEARTBEAT_SECONDS, grace_period=GRACE_SECONDS
                )
        except DBAPIError as exc:
            # processes starting together on a new database race to create Optuna's
            # tables (PostgreSQL: a duplicate key in pg_type): the loser tries again
            error: Exception = exc
            time.sleep(0.5 * (attempt + 1))
        except Exception as exc:  # a bad URL, a missing driver
            error = exc
            break
    text = str(error).strip()
    first = text.splitlines()[0] if text else type(error).__name__
    raise DataError(f"--storage {url!r}: cannot open it ({first})")


def _seed_mean(runs: Any, metric: str, layers: int, d_emb: int, match: dict) -> float:
    keep = (runs["layers"] == layers) & (runs["d_emb"] == d_emb)
    for column, value in match.items():  # other fractions or backbones of the same table
        if column in runs.columns:
            keep &= runs[column] == value
    rows = runs[keep]
    if rows.empty or metric not in rows.columns:
        raise DataError(
            f"no row for layers={layers} d_emb={d_emb} with {metric!r} in the runs table "
            "after training it"
        )
    return float(np.nanmean(rows[metric].to_numpy(dtype=float)))


def optuna_sweep(
    train: Callable[[int, int], Any],
    out: str | Path,
    *,
    storage: str,
    study_name: str = "perflaw-sweep",
    layers: Sequence[int],
    d_emb: Sequence[int],
    metric: str = "ndcg@10",
    budget: str | None = None,
    stop_chance: float = 0.05,
    progress: bool = True,
    match: dict[str, Any] | None = None,
) -> Decision:
    """Run the loop over ``layers × d_emb`` with its trials in the Optuna ``storage``.

    ``train(layers, d_emb)`` trains one configuration (all its seeds), appends its rows to
    ``out`` and returns the runs table; the study is told the mean of ``metric`` over
    them (only rows whose columns equal ``match``, e.g. the sweep's data fraction).
    Returns the study's last decision (its ``reason`` says why the loop ended).
    """
    optuna = _optuna()
    from perflaw.optuna import PerflawSampler, StopWhenDone

    gl = sorted({int(v) for v in layers})
    gd = sorted({int(v) for v in d_emb})
    amount, share = parse_grid_budget(budget)
    if share is not None:
        amount = share * float(np.sum(grid_cost(np.repeat(gl, len(gd)), np.tile(gd, len(gl)))))
    sampler = PerflawSampler(gl, gd, budget=amount, stop_chance=stop_chance)
    maximize = higher_is_better(metric)
    direction = "maximize" if maximize else "minimize"
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    study = optuna.create_study(
        storage=open_storage(storage),
        study_name=study_name,
        direction=direction,
        sampler=sampler,
        load_if_exists=True,
    )
    _check_same_loop(study, {"layers": gl, "d_emb": gd, "metric": metric}, storage)

    def objective(trial: Any) -> float:
        n = trial.suggest_categorical("layers", gl)
        d = trial.suggest_categorical("d_emb", gd)
        done = study.get_trials(deepcopy=False, states=(optuna.trial.TrialState.COMPLETE,))
        if any((t.params.get("layers"), t.params.get("d_emb")) == (n, d) for t in done):
            # the sampler had nothing left to propose and repeated a trained cell
            raise optuna.TrialPruned(f"{n} x {d} is already in the study")
        made = sampler.proposed.pop(trial.number, None)
        if made is not None and (made[1].layers, made[1].d_emb) == (n, d):
            # the ledger gets the proposal before it is trained, as `perflaw next` writes it
            values = [t.value for t in done if t.value is not None]
            append_ledger(out, metric, replace(made[0], proposals=[made[1]]), values, maximize)
        if progress:
            _say(f"perflaw sweep --adaptive: trial {trial.number}: training {n} x {d}")
        try:
            rows = train(n, d)
        except Terminated:
            # Optuna fails a trial on Exception or KeyboardInterrupt only: a worker stopped
            # by SIGTERM would leave its trial running, its configuration pending for the
            # others and its cost held against the budget
            study.tell(trial, state=optuna.trial.TrialState.FAIL)
            raise
        value = _seed_mean(rows, metric, n, d, match or {})
        if not math.isfinite(value):
            raise DataError(f"{metric} of layers={n} d_emb={d} is not a number in {out}")
        return value

    stop = StopWhenDone(sampler)
    decision = sampler.decision(study)
    for _ in range(2 * len(gl) * len(gd) + 1):  # each round trains a new cell or ends
        if progress:
            _say(progress_line(decision))
        if decision.stop or not decision.proposals:
            break
        study.optimize(objective, n_trials=1, callbacks=[stop])
        decision = sampler.decision(study)
    return decision


def _check_same_loop(study: Any, loop: dict[str, Any], storage: str) -> None:
    """A study of another grid or metric under the same name is refused, not mixed in."""
    saved = study.user_attrs.get("perflaw:loop")
    if saved is None:
        study.set_user_attr("perflaw:loop", loop)
    elif saved != loop:
        raise DataError(
            f"--storage {storage} --study {study.study_name}: this study is a loop over "
            f"layers {saved['layers']}, d_emb {saved['d_emb']}, metric {saved['metric']}, "
            f"not layers {loop['layers']}, d_emb {loop['d_emb']}, metric {loop['metric']}; "
            "name another --study"
        )
