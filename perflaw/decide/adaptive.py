"""``perflaw sweep --adaptive``: the loop end to end, seed design → train → next → train …

The runs table is the loop's only state: every decision is made from the rows it holds
(:func:`perflaw.decide.loop.next_from_table`), each proposal is written to the ledger
before it is trained, and the trainer appends one row per finished run.  So a crash loses
at most the run being trained: rerunning the same command reads the table and goes on
where it stopped (the trainer skips configurations already in the table).

The loop ends when the stopping rule says so (the chance that an untried configuration
beats the best trained run by more than the noise is below ``stop_chance``), when nothing
affordable is left in the budget, or when the grid is trained.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from perflaw.decide.acquire import Decision
from perflaw.decide.loop import next_from_table
from perflaw.errors import DataError


def _say(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def adaptive_sweep(
    train: Callable[[int, int], Any],
    out: str | Path,
    *,
    layers: Sequence[int],
    d_emb: Sequence[int],
    metric: str = "ndcg@10",
    budget: str | None = None,
    stop_chance: float = 0.05,
    batch: int = 1,
    progress: bool = True,
    max_rounds: int = 1000,
) -> Decision:
    """Run the loop over the grid ``layers × d_emb``, training with ``train``.

    Parameters
    ----------
    train
        ``train(layers, d_emb)`` trains one configuration and appends its row(s) to
        ``out`` (``perflaw sweep`` passes its trainer).
    out
        The runs table: read before every decision, written by ``train``.
    budget
        Total cost, trained runs included: ``"50%"`` of the grid's cost or an amount of
        ``layers * d_emb**2``.

    Returns
    -------
    Decision
        The last decision (its ``stop`` and ``reason`` say why the loop ended).
    """
    if out is None:
        raise DataError("--adaptive needs --out: the runs table is the loop's state")
    decision: Decision | None = None
    for _ in range(max_rounds):
        decision = next_from_table(
            out,
            metric=metric,
            grid_layers=layers,
            grid_d_emb=d_emb,
            batch=batch,
            budget=budget,
            stop_chance=stop_chance,
        )
        if progress:
            _say(progress_line(decision))
        if decision.stop or not decision.proposals:
            break
        for p in decision.proposals:
            if progress:
                _say(f"perflaw sweep --adaptive: training {p.layers} x {p.d_emb}")
            train(p.layers, p.d_emb)
    assert decision is not None
    return decision


def progress_line(d: Decision) -> str:
    """What was spent, the best so far and the chance a better run is left."""
    share = d.spent / d.grid_cost if d.grid_cost else float("nan")
    best = (
        f"best so far {d.best_trained['layers']} x {d.best_trained['d_emb']} = "
        f"{d.best_trained['value']:.4g}"
        if d.best_trained
        else "no run yet"
    )
    chance = (
        ""
        if d.chance_better_left is None or d.chance_better_left != d.chance_better_left
        else f"; chance a better run is left {d.chance_better_left:.0%}"
    )
    # a seed-design reason names itself ("seed design: 2 of its 6 runs trained; …")
    head = "" if d.seed else ("stop: " if d.stop else "go on: ")
    return (
        f"perflaw sweep --adaptive: spent {share:.1%} of the grid; {best}{chance}; {head}{d.reason}"
    )
