"""The loop as an Optuna sampler: :class:`PerflawSampler` (needs ``perflaw[optuna]``).

An Optuna user keeps their own objective and study; the sampler proposes what
``perflaw next`` would (:func:`perflaw.decide.acquire.next_runs`): the seed design first,
then the untried configuration of the grid with the highest expected improvement per unit
cost.  Trials running in other processes (any Optuna storage: SQLite, the journal file,
an RDB server) are treated as pending, so parallel workers do not crowd one cell.

The two parameters must be asked as ``trial.suggest_categorical("layers", LAYERS)`` and
``trial.suggest_categorical("d_emb", D_EMB)`` with the sampler's grid; any other
parameter is sampled at random.  :meth:`PerflawSampler.decision` gives the loop's stop
line for a study, and :class:`StopWhenDone` stops ``study.optimize`` on it.

Examples
--------
>>> import optuna
>>> from perflaw.optuna import PerflawSampler, StopWhenDone
>>> optuna.logging.set_verbosity(optuna.logging.WARNING)
>>> sampler = PerflawSampler([4, 8, 16], [32, 64])
>>> study = optuna.create_study(direction="maximize", sampler=sampler)
>>> def objective(trial):
...     n = trial.suggest_categorical("layers", [4, 8, 16])
...     d = trial.suggest_categorical("d_emb", [32, 64])
...     return 0.3 - 0.001 * (n - 8) ** 2 + 0.0001 * d
>>> study.optimize(objective, n_trials=6)
>>> [(t.params["layers"], t.params["d_emb"]) for t in study.trials[:4]]
[(4, 32), (8, 32), (16, 32), (4, 64)]
"""

from __future__ import annotations

import time
import warnings
from collections.abc import Sequence
from typing import Any

try:
    import optuna
    from optuna.distributions import BaseDistribution
    from optuna.exceptions import ExperimentalWarning
    from optuna.samplers import BaseSampler, RandomSampler
    from optuna.storages import fail_stale_trials
    from optuna.study import Study, StudyDirection
    from optuna.trial import FrozenTrial, TrialState
except ImportError as exc:  # pragma: no cover - depends on the extra
    raise ImportError("perflaw.optuna needs Optuna: pip install 'perflaw[optuna]'") from exc

import numpy as np

from perflaw.decide.acquire import Decision, next_runs

_KEY = "perflaw:proposal"


class PerflawSampler(BaseSampler):
    """Propose (layers, d_emb) as the loop does; see the module doc.

    Parameters
    ----------
    layers, d_emb
        The grid (the same lists the objective passes to ``suggest_categorical``).
    cost
        One cost per grid configuration, layers major (default ``layers * d_emb**2``).
    budget
        Total cost the study may spend; proposals that do not fit are not made.
    stop_chance
        The stopping rule's threshold (see :func:`next_runs`).
    seed
        Seed of the random sampler used for any other parameter.
    wait_seconds
        How long a trial waits for earlier running trials to have their cell named
        (see :meth:`before_trial`); after that it decides without them.
    """

    def __init__(
        self,
        layers: Sequence[int],
        d_emb: Sequence[int],
        *,
        cost: Sequence[float] | None = None,
        budget: float | None = None,
        stop_chance: float = 0.05,
        seed: int | None = None,
        names: tuple[str, str] = ("layers", "d_emb"),
        wait_seconds: float = 30.0,
    ) -> None:
        self.layers = [int(v) for v in layers]
        self.d_emb = [int(v) for v in d_emb]
        self.cost = None if cost is None else np.asarray(cost, dtype=float)
        self.budget = budget
        self.stop_chance = stop_chance
        self.names = names
        self.wait_seconds = wait_seconds
        self._random = RandomSampler(seed=seed)
        #: trial number -> (decision, proposal) this process named for it (for a ledger)
        self.proposed: dict[int, tuple[Decision, Any]] = {}

    def decision(self, study: Study, *, exclude: int | None = None) -> Decision:
        """The loop's decision from the study's finished and running trials.

        Running trials whose heartbeat stopped (their process was killed) are failed
        first, so a dead worker's configuration is neither pending forever nor holding
        part of the budget; storages without a heartbeat (the journal file) keep them."""
        _fail_stale(study)
        # one read: a trial finishing between two reads would be in neither
        trials = study.get_trials(deepcopy=False, states=(TrialState.COMPLETE, TrialState.RUNNING))
        done = [t for t in trials if t.state == TrialState.COMPLETE]
        running = [t for t in trials if t.state == TrialState.RUNNING]
        a, b = self.names
        rows = [
            (t.params[a], t.params[b], t.value)
            for t in done
            if a in t.params and b in t.params and t.value is not None
        ]
        pending = []
        for t in running:
            if t.number == exclude:
                continue
            p = t.system_attrs.get(_KEY)
            if p is not None:
                pending.append(tuple(p))
            elif a in t.params and b in t.params:
                pending.append((t.params[a], t.params[b]))
        return next_runs(
            self.layers,
            self.d_emb,
            [r[0] for r in rows],
            [r[1] for r in rows],
            [r[2] for r in rows],
            maximize=study.direction == StudyDirection.MAXIMIZE,
            cost=self.cost,
            budget=self.budget,
            stop_chance=self.stop_chance,
            pending=pending,
        )

    def _wait_for_earlier(self, study: Study, trial: FrozenTrial) -> None:
        # The storage numbers trials in the order they were created, so a trial that names
        # its cell only after every earlier running trial has named its own sees them all
        # as pending: two workers asking at the same instant are never given one cell.
        deadline = time.monotonic() + self.wait_seconds
        while time.monotonic() < deadline:
            unnamed = [
                t
                for t in study.get_trials(deepcopy=False, states=(TrialState.RUNNING,))
                if (t.number, t._trial_id) < (trial.number, trial._trial_id)
                and _KEY not in t.system_attrs
                and not all(n in t.params for n in self.names)
            ]
            if not unnamed:
                return
            time.sleep(0.05)

    def before_trial(self, study: Study, trial: FrozenTrial) -> None:
        self._wait_for_earlier(study, trial)
        d = self.decision(study, exclude=trial.number)
        if d.proposals:
            p = d.proposals[0]
            pick = [p.layers, p.d_emb]
            self.proposed[trial.number] = (d, p)
        else:  # nothing left to propose: repeat the best trained (the user should stop)
            best = d.best_trained or {"layers": self.layers[0], "d_emb": self.d_emb[0]}
            pick = [best["layers"], best["d_emb"]]
        study._storage.set_trial_system_attr(trial._trial_id, _KEY, pick)

    def after_trial(
        self,
        study: Study,
        trial: FrozenTrial,
        state: TrialState,
        values: Sequence[float] | None,
    ) -> None:
        # the entry is for a ledger written while the trial runs; kept past its end, a
        # long user study would hold one decision per trial it ever ran
        self.proposed.pop(trial.number, None)

    def infer_relative_search_space(
        self, study: Study, trial: FrozenTrial
    ) -> dict[str, BaseDistribution]:
        return {}

    def sample_relative(
        self, study: Study, trial: FrozenTrial, search_space: dict[str, BaseDistribution]
    ) -> dict[str, Any]:
        return {}

    def sample_independent(
        self,
        study: Study,
        trial: FrozenTrial,
        param_name: str,
        param_distribution: BaseDistribution,
    ) -> Any:
        pick = trial.system_attrs.get(_KEY)
        if pick is not None and param_name in self.names:
            value = int(pick[self.names.index(param_name)])
            choices = getattr(param_distribution, "choices", None)
            if choices is not None and value not in choices:
                raise ValueError(
                    f"{param_name}={value} is not among the objective's choices {choices}: "
                    "give the sampler the same grid as suggest_categorical"
                )
            return value
        return self._random.sample_independent(study, trial, param_name, param_distribution)


def _fail_stale(study: Study) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ExperimentalWarning)
        fail_stale_trials(study)


class StopWhenDone:
    """A ``study.optimize`` callback: stop when the loop's stopping rule says so."""

    def __init__(self, sampler: PerflawSampler) -> None:
        self.sampler = sampler

    def __call__(self, study: Study, trial: FrozenTrial) -> None:
        if self.sampler.decision(study).stop:
            study.stop()


__all__ = ["PerflawSampler", "StopWhenDone", "optuna"]
