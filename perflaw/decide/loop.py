"""The loop from a runs table: read the runs, decide, keep a ledger of every proposal.

:func:`next_from_table` is what ``perflaw next`` runs: the trained runs come from the
runs table (a missing table is a loop that has not started), the grid and the costs from
the caller.  Before a proposal is trained it is written to a ledger beside the runs table
(``runs.csv`` → ``runs.ledger.jsonl``), one JSON object per proposal with what the loop
predicted and what a carry-forward and a constant would have said at the same moment, so
that :func:`score_ledger` can later judge the track record against those plain baselines.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import numpy as np

from perflaw.decide.acquire import Decision, grid_cost, next_runs
from perflaw.errors import DataError
from perflaw.files import write_text
from perflaw.laws.base import higher_is_better


def parse_grid_budget(text: str | None) -> tuple[float | None, float | None]:
    """``"25%"`` (a share of the grid's cost) or an amount (``"3e6"``, ``"20M"``):
    ``(amount, share)``, one of them None.

    >>> parse_grid_budget("25%"), parse_grid_budget("3e6")
    ((None, 0.25), (3000000.0, None))
    """
    if text is None:
        return None, None
    t = str(text).strip()
    if t.endswith("%"):
        try:
            share = float(t[:-1])
        except ValueError:
            raise DataError(f"cannot parse budget {text!r}: use 25% or an amount") from None
        if not 0 < share <= 100:
            raise DataError(f"budget share must be in (0, 100] %, got {text!r}")
        return None, share / 100.0
    from perflaw.decide.budget import parse_budget

    return parse_budget(t), None


def read_loop_runs(
    path: str | Path, metric: str, where: str | None = None
) -> tuple[np.ndarray, np.ndarray, np.ndarray, Any]:
    """(layers, d_emb, values, frame) of the trained runs; empty when there are none yet."""
    import pandas as pd

    from perflaw.runs import read_table, runs_from_frame

    p = Path(path)
    if not p.exists() or (p.is_file() and p.stat().st_size == 0):
        e = np.array([], dtype=float)
        return e.astype(int), e.astype(int), e, pd.DataFrame()
    frame = read_table(p)
    if frame.empty:
        e = np.array([], dtype=float)
        return e.astype(int), e.astype(int), e, frame
    runs = runs_from_frame(frame, metric=metric, where=where, source=f"runs table {str(p)!r}")
    if where:  # the cost column, if any, is read from the same rows
        from perflaw.conditions import parse_condition

        frame = frame[parse_condition(where, frame)].reset_index(drop=True)
    return (
        runs.X["layers"].to_numpy().astype(int),
        runs.X["d_emb"].to_numpy().astype(int),
        np.asarray(runs.y, dtype=float),
        frame,
    )


def _costs(kind: str, gl, gd, layers, d_emb, frame) -> np.ndarray:
    all_l = np.repeat(gl, len(gd))
    all_d = np.tile(gd, len(gl))
    if kind in ("compute", "params"):
        return grid_cost(all_l, all_d, kind)
    # a measured column: untried configurations are scaled from layers * d_emb**2 by the
    # median ratio the trained runs show (the column's unit, whatever it is)
    if kind not in getattr(frame, "columns", []):
        raise DataError(f"--cost {kind!r}: not compute, params, nor a column of the runs table")
    measured = np.asarray(frame[kind], dtype=float)
    base = grid_cost(layers, d_emb)
    ok = np.isfinite(measured) & (measured > 0)
    if not ok.any():
        raise DataError(f"--cost column {kind!r} has no positive value")
    return float(np.median(measured[ok] / base[ok])) * grid_cost(all_l, all_d)


def ledger_path(runs_path: str | Path) -> Path:
    p = Path(runs_path)
    return p.with_name(p.stem + ".ledger.jsonl")


def next_from_table(
    runs_path: str | Path,
    *,
    metric: str,
    grid_layers,
    grid_d_emb,
    batch: int = 1,
    cost: str = "compute",
    budget: str | None = None,
    stop_chance: float = 0.05,
    write_ledger: bool = True,
    where: str | None = None,
) -> Decision:
    """The loop's decision for the runs in ``runs_path`` (see :func:`next_runs`)."""
    gl = np.array(sorted({int(v) for v in grid_layers}))
    gd = np.array(sorted({int(v) for v in grid_d_emb}))
    layers, d_emb, values, frame = read_loop_runs(runs_path, metric, where)
    costs = _costs(cost, gl, gd, layers, d_emb, frame)
    amount, share = parse_grid_budget(budget)
    decision = next_runs(
        gl,
        gd,
        layers,
        d_emb,
        values,
        maximize=higher_is_better(metric),
        batch=batch,
        cost=costs,
        budget=amount,
        budget_share=share,
        stop_chance=stop_chance,
    )
    if write_ledger and decision.proposals and not decision.stop:
        append_ledger(runs_path, metric, decision, values, higher_is_better(metric))
    return decision


def append_ledger(runs_path, metric, decision: Decision, values, maximize: bool) -> None:
    """Write ``decision``'s proposals to the ledger beside ``runs_path`` (before they are
    trained), with what carry-forward and a constant said at the same moment.  The
    ledger is rewritten whole (atomically) under the ledger's lock, so processes sharing
    it (``sweep --adaptive --storage``) never lose each other's lines."""
    from perflaw.train.claims import table_lock

    path = ledger_path(runs_path)
    with table_lock(path):
        _append_locked(path, runs_path, metric, decision, values, maximize)


def _append_locked(path: Path, runs_path, metric, decision, values, maximize: bool) -> None:
    old = path.read_text(encoding="utf-8") if path.exists() else ""
    best = decision.best_trained["value"] if decision.best_trained else None
    constant = float(np.mean(values)) if len(values) else None
    lines = []
    for p in decision.proposals:
        lines.append(
            json.dumps(
                {
                    "metric": metric,
                    "layers": p.layers,
                    "d_emb": p.d_emb,
                    "predicted": None if math.isnan(p.predicted) else p.predicted,
                    "lower": None if math.isnan(p.lower) else p.lower,
                    "upper": None if math.isnan(p.upper) else p.upper,
                    "p_beat": None if math.isnan(p.p_beat) else p.p_beat,
                    "carry_forward": best,
                    "constant": constant,
                    "runs_before": len(values),
                    "higher_is_better": maximize,
                }
            )
        )
    write_text(path, old + "".join(line + "\n" for line in lines), inputs=[runs_path])


def score_ledger(
    runs_path: str | Path, metric: str | None = None, *, where: str | None = None
) -> dict[str, Any]:
    """The track record of the ledger beside ``runs_path``, once its runs exist.

    For every proposal with a prediction whose configuration has been trained since (the
    mean of its runs), three predictors are scored alike: the loop (its point and 95 %
    interval), carry-forward (the best trained value when the proposal was made) and a
    constant (the mean of the trained values then), the last two with the loop's interval
    width around their point, so coverage is compared at equal width.  Widths are set
    against the spread (sd) of the observed values of the proposals: an interval wider than
    that spread covers by being wide, not by being right.
    """
    path = ledger_path(runs_path)
    if not path.exists():
        raise DataError(f"no ledger beside {str(runs_path)!r} (looked for {str(path)!r})")
    entries = []
    for k, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        if not line.strip():
            continue
        try:
            entries.append(json.loads(line))
        except json.JSONDecodeError:
            raise DataError(f"ledger {str(path)!r} line {k} is not JSON") from None
    metric = metric or (entries[0]["metric"] if entries else None)
    if metric is None:
        raise DataError(f"ledger {str(path)!r} is empty")
    layers, d_emb, values, _ = read_loop_runs(runs_path, metric, where)
    observed: dict[tuple[int, int], list[float]] = {}
    for a, b, v in zip(layers, d_emb, values, strict=True):
        observed.setdefault((int(a), int(b)), []).append(float(v))
    rows = []
    for e in entries:
        key = (int(e["layers"]), int(e["d_emb"]))
        if e.get("metric") != metric or e.get("predicted") is None or key not in observed:
            continue
        rows.append((e, float(np.mean(observed[key]))))
    out: dict[str, Any] = {"metric": metric, "proposals": len(entries), "scored": len(rows)}
    if not rows:
        return out
    obs = np.array([o for _, o in rows])
    width = np.array([e["upper"] - e["lower"] for e, _ in rows])
    spread = float(np.std(obs, ddof=1)) if len(obs) > 1 else float("nan")
    out["observed_sd"] = spread
    out["mean_width"] = float(np.mean(width))
    out["width_over_sd"] = float(np.mean(width) / spread) if spread > 0 else None
    for name, point in (
        ("loop", np.array([e["predicted"] for e, _ in rows])),
        (
            "carry_forward",
            np.array(
                [np.nan if e["carry_forward"] is None else e["carry_forward"] for e, _ in rows]
            ),
        ),
        (
            "constant",
            np.array([np.nan if e["constant"] is None else e["constant"] for e, _ in rows]),
        ),
    ):
        if name == "loop":
            lo = np.array([e["lower"] for e, _ in rows])
            hi = np.array([e["upper"] for e, _ in rows])
        else:
            lo, hi = point - width / 2, point + width / 2
        err = obs - point
        out[name] = {
            "mae": float(np.nanmean(np.abs(err))),
            "bias": float(np.nanmean(err)),
            "coverage": float(np.nanmean((obs >= lo) & (obs <= hi))),
        }
    return out
