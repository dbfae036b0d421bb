"""The loop's acquisition and stopping rules: what to train next on the user's grid.

For every untried configuration of the user's (layers, d_emb) grid — and nothing outside
it — the value of training it next is its expected improvement over the best trained run
per unit cost, under the evidence-weighted mixture of :mod:`perflaw.decide.surrogate`.
A batch of K is chosen one at a time, each pick conditioning the mixture as if it had come
out as predicted, so the K proposals spread instead of crowding one cell.

The loop stops when the chance that any untried configuration (affordable within the
budget, when one is given) beats the best trained run by more than the run-to-run noise is
below ``stop_chance`` (5 % by default), or when nothing affordable is left.

With too few runs for the mixture to say anything, the loop proposes a seed design: the
three smallest layer counts at the narrowest width and up to four widths (the narrowest,
the widest and two between) at the smallest layer count.  Why that design: it is the
cheapest set of runs that varies each axis alone at three or more levels, which is what a
rise-then-fall (a hill, the shape the published grids show) needs along each axis to be
identifiable; the cost grows with width squared, so depth is explored at the narrowest
width, and width only at the shallowest depth.  On a 6 × 4 grid it costs 4.9 % of the
grid's compute.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
from scipy.stats import norm

from perflaw.decide.surrogate import GridPosterior, fit_posterior, grid_coordinates
from perflaw.errors import DataError
from perflaw.replicates import run_noise

#: the cost columns ``--cost`` understands besides a column of the runs table
COSTS = ("compute", "params")


def grid_cost(layers: Any, d_emb: Any, kind: str = "compute") -> np.ndarray:
    """Cost of each configuration: ``layers * d_emb**2`` (compute, the default) or the
    transformer blocks' parameters (``12 * layers * d_emb**2``, the same ranking)."""
    layers = np.asarray(layers, dtype=float)
    d_emb = np.asarray(d_emb, dtype=float)
    if kind == "compute":
        return layers * d_emb**2
    if kind == "params":
        return 12.0 * layers * d_emb**2
    raise DataError(f"unknown cost {kind!r}: use one of {', '.join(COSTS)} or a column name")


def seed_design(grid_layers, grid_d_emb) -> list[tuple[int, int]]:
    """The cheapest runs that make a hill identifiable along each axis (see module doc).

    >>> seed_design([4, 8, 12, 16, 24, 32], [25, 50, 75, 100])
    [(4, 25), (8, 25), (12, 25), (4, 50), (4, 75), (4, 100)]
    """
    layers = sorted({int(v) for v in grid_layers})
    widths = sorted({int(v) for v in grid_d_emb})
    if len(widths) <= 4:
        chosen = widths
    else:  # the ends and two between, evenly spaced by position
        idx = np.unique(np.round(np.linspace(0, len(widths) - 1, 4)).astype(int))
        chosen = [widths[i] for i in idx]
    design = [(n, widths[0]) for n in layers[:3]]
    design += [(layers[0], w) for w in chosen if w != widths[0]]
    return design


@dataclass
class Proposal:
    layers: int
    d_emb: int
    predicted: float
    lower: float
    upper: float
    p_beat: float
    gain_per_cost: float
    cost: float

    def as_dict(self) -> dict[str, Any]:
        return {
            "layers": self.layers,
            "d_emb": self.d_emb,
            "predicted": self.predicted,
            "lower": self.lower,
            "upper": self.upper,
            "p_beat": self.p_beat,
            "gain_per_cost": self.gain_per_cost,
        }


@dataclass
class Decision:
    """What the loop says now: stop or not, why, the best trained run, the next runs."""

    stop: bool
    reason: str
    best_trained: dict[str, Any] | None
    proposals: list[Proposal]
    spent: float
    grid_cost: float
    chance_better_left: float | None = None
    seed: bool = False
    extra: dict[str, Any] = field(default_factory=dict)
    #: run-to-run noise of one run the stopping rule used (seed replicates when any)
    noise: float | None = None

    def as_dict(self) -> dict[str, Any]:
        return {
            "stop": self.stop,
            "reason": self.reason,
            "best_trained": None
            if self.best_trained is None
            else {k: self.best_trained[k] for k in ("layers", "d_emb", "value")},
            "proposals": [p.as_dict() for p in self.proposals],
            "spent": self.spent,
            "grid_cost": self.grid_cost,
        }


def _expected_improvement(post: GridPosterior, idx: np.ndarray, best: float) -> np.ndarray:
    """E[max(f - best, 0)] under the mixture, exactly (a weighted sum over the forms)."""
    mu = post.mean[:, idx]
    sd = np.sqrt(np.diagonal(post.cov, axis1=1, axis2=2)[:, idx].clip(1e-300))
    u = (mu - best) / sd
    ei = sd * (u * norm.cdf(u) + norm.pdf(u))
    return post.weights @ ei


def _p_beat(post: GridPosterior, idx: np.ndarray, best: float) -> np.ndarray:
    mu = post.mean[:, idx]
    sd = np.sqrt(np.diagonal(post.cov, axis1=1, axis2=2)[:, idx].clip(1e-300))
    return post.weights @ norm.sf((best - mu) / sd)


def next_runs(
    grid_layers,
    grid_d_emb,
    layers,
    d_emb,
    values,
    *,
    maximize: bool = True,
    batch: int = 1,
    cost: np.ndarray | None = None,
    budget: float | None = None,
    stop_chance: float = 0.05,
    n_draws: int = 2000,
    seed: int = 0,
    step: int = 1,
    pending=(),
    budget_share: float | None = None,
) -> Decision:
    """What to train next on the grid ``grid_layers × grid_d_emb`` given trained runs.

    Parameters
    ----------
    grid_layers, grid_d_emb
        The user's grid: every configuration is one of their product.
    layers, d_emb, values
        The trained runs (replicates of a configuration are averaged).
    maximize
        Whether the metric is a score (True) or a loss.
    batch
        How many proposals (for that many workers).
    cost
        Cost of each grid configuration, in the order of the product ``layers`` major
        (default ``layers * d_emb**2``).
    budget
        Total compute the user will spend, trained runs included; proposals that do not fit
        in what is left are not made.
    stop_chance
        Stop when the chance that an untried configuration beats the best trained run by
        more than the noise is below this.
    budget_share
        The budget as a share of the grid's cost (instead of ``budget``).
    pending
        ``(layers, d_emb)`` pairs being trained now by other workers: never proposed again,
        and the mixture is conditioned on them as if they came out as predicted.

    Returns
    -------
    Decision

    Examples
    --------
    >>> d = next_runs([4, 8], [16, 32], [], [], [])
    >>> d.stop, [(p.layers, p.d_emb) for p in d.proposals], d.seed
    (False, [(4, 16)], True)
    """
    gl = np.array(sorted({int(v) for v in grid_layers}))
    gd = np.array(sorted({int(v) for v in grid_d_emb}))
    if len(gl) == 0 or len(gd) == 0:
        raise DataError("the grid is empty: give at least one layer count and one d_emb")
    all_l = np.repeat(gl, len(gd))
    all_d = np.tile(gd, len(gl))
    costs = grid_cost(all_l, all_d) if cost is None else np.asarray(cost, dtype=float)
    if costs.shape != all_l.shape or not np.all(costs > 0):
        raise DataError("costs must be positive, one per grid configuration")
    total = float(costs.sum())
    if batch < 1:
        raise DataError(f"--batch must be at least 1, got {batch}")

    # replicates averaged; runs outside the grid still count as spent but are not candidates
    layers = np.asarray(layers, dtype=int)
    d_emb = np.asarray(d_emb, dtype=int)
    sign = 1.0 if maximize else -1.0
    vals = sign * np.asarray(values, dtype=float)
    pos = {(int(a), int(b)): i for i, (a, b) in enumerate(zip(all_l, all_d, strict=True))}
    trained: dict[int, list[float]] = {}
    outside = []
    for a, b, v in zip(layers, d_emb, vals, strict=True):
        i = pos.get((int(a), int(b)))
        if i is None:
            outside.append((int(a), int(b)))
        elif np.isfinite(v):
            trained.setdefault(i, []).append(float(v))
    spent = float(sum(costs[i] * len(v) for i, v in trained.items()))
    # replicates (seeds) multiply every run's cost: the grid's cost is that of training
    # each configuration as often as the trained ones were (the median count)
    reps = float(np.median([len(v) for v in trained.values()])) if trained else 1.0
    total *= reps
    if budget_share is not None:
        budget = budget_share * total
    spent += float(sum(grid_cost([a], [b])[0] for a, b in outside)) if cost is None else 0.0
    left = None if budget is None else budget - spent
    busy = {pos[(int(a), int(b))] for a, b in pending if (int(a), int(b)) in pos}
    busy -= set(trained)
    if left is not None:
        left -= float(sum(costs[i] for i in busy))
    untried = np.array([i for i in range(len(all_l)) if i not in trained], dtype=int)
    free = np.array([i for i in untried if i not in busy], dtype=int)
    affordable = free if left is None else free[costs[free] <= left]

    def best_row(i: int, value: float) -> dict[str, Any]:
        return {"layers": int(all_l[i]), "d_emb": int(all_d[i]), "value": sign * value}

    seed_cells = [pos[c] for c in seed_design(gl, gd)]
    missing_seed = [i for i in seed_cells if i not in trained and i in set(affordable.tolist())]
    few = len(trained) < 2 and len(affordable) > 0  # too few to fit, seed busy elsewhere
    if (len(trained) + len(busy) < len(seed_cells) and missing_seed) or few:
        if not missing_seed:
            missing_seed = list(affordable)
        missing_seed.sort(key=lambda i: costs[i])
        seeds = [
            Proposal(int(all_l[i]), int(all_d[i]), np.nan, np.nan, np.nan, np.nan, np.nan, costs[i])
            for i in missing_seed[:batch]
        ]
        best = None
        if trained:
            i = max(trained, key=lambda j: np.mean(trained[j]))
            best = best_row(i, float(np.mean(trained[i])))
        return Decision(
            False,
            f"seed design: {len(trained)} of its {len(seed_cells)} runs trained; the "
            "cheapest runs that vary depth and width each at three levels or more",
            best,
            seeds,
            spent,
            total,
            seed=True,
        )

    if not trained:  # nothing trained and no seed run fits in the budget
        return Decision(
            True,
            "no configuration of the grid fits in the budget "
            f"(the cheapest costs {float(costs.min()):,.6g})",
            None,
            [],
            spent,
            total,
            chance_better_left=float("nan"),
        )
    ti = np.array(sorted(trained), dtype=int)
    y_mean = np.array([np.mean(trained[i]) for i in ti])
    # replicates are listed one by one: the mixture sees their spread as noise
    xi = np.concatenate([[i] * len(trained[i]) for i in ti]).astype(int)
    yi = np.concatenate([trained[i] for i in ti])
    x_all = grid_coordinates(all_l, all_d, gl, gd)
    query = np.concatenate([ti, untried])
    post = fit_posterior(x_all[xi], yi, x_all[query])
    # the best trained run is the one the mixture rates highest (its posterior mean), not
    # the highest measured: a lucky noisy run neither becomes the pick nor raises the bar
    # an untried run must clear.  On the published grids with 1 % noise this pick ends
    # nearer the best than the best measured run; without noise it can sit a little below
    # a sharp best (docs/loop.md gives both)
    k_best = int(np.argmax(post.mixture_mean[: len(ti)]))
    incumbent = float(post.mixture_mean[k_best])
    best = best_row(int(ti[k_best]), float(y_mean[k_best]))
    best["predicted"] = sign * incumbent
    # the noise an untried run must clear: the pooled spread of seed replicates when the
    # table has them (the number `fit` and `recommend-config` quote too), else the
    # mixture's own estimate of it
    replicated = run_noise(trained.values())
    noise = replicated if replicated is not None else float(post.weights @ post.noise_sd)
    noise_text = (
        f"{noise:.3g}, the pooled sd of seed replicates"
        if replicated is not None
        else f"{noise:.3g}, estimated by the mixture: no configuration has two seeds"
    )

    if len(affordable) == 0:
        why = (
            "every configuration of the grid is trained"
            if len(untried) == 0
            else ("no untried configuration fits in what is left of the budget")
        )
        return Decision(True, why, best, [], spent, total, chance_better_left=0.0)

    # the chance that any affordable untried run beats the best trained by more than noise
    local = {int(g): k for k, g in enumerate(query)}
    a_local = np.array([local[int(i)] for i in affordable])
    chance = float("nan")
    if stop_chance > 0:
        draws = post.joint_draws(n_draws, seed)
        chance = float(np.mean(draws[:, a_local].max(axis=1) > draws[:, k_best] + noise))

    # candidates: untried cells one grid step (diagonals too) from the best trained run by
    # the mixture; when it has none left, from the next best, and so on (a trust region
    # around the incumbent: the mixture ranks the cells there, and never jumps to a far
    # corner it can only extrapolate to)
    nd = len(gd)
    a_set = {int(query[k]): int(k) for k in a_local}
    regions: list[list[int]] = []
    for k in np.argsort(-post.mixture_mean[: len(ti)], kind="stable"):
        r0, c0 = divmod(int(ti[k]), nd)
        regions.append(
            [
                a_set[r * nd + c]
                for r in range(r0 - step, r0 + step + 1)
                for c in range(c0 - step, c0 + step + 1)
                if 0 <= r < len(gl) and 0 <= c < nd and (r * nd + c) in a_set
            ]
        )
    regions.append([int(k) for k in a_local])
    props: list[Proposal] = []
    cur = post
    for g in busy:  # other workers' runs: as if they came out as predicted
        cur = cur.condition_on(local[int(g)])
    taken: set[int] = set()
    quant = post.quantiles((0.025, 0.975), seed=seed)
    for _ in range(min(batch, len(a_local))):
        idx = np.array(next(r for r in ([k for k in r if k not in taken] for r in regions) if r))
        ei = _expected_improvement(cur, idx, incumbent)
        value = ei / costs[query[idx]]
        j = int(idx[int(np.argmax(value))])
        g = int(query[j])
        p_beat = float(_p_beat(post, np.array([j]), incumbent)[0])
        lo, hi = sign * quant[0, j], sign * quant[1, j]
        props.append(
            Proposal(
                int(all_l[g]),
                int(all_d[g]),
                sign * float(post.mixture_mean[j]),
                float(min(lo, hi)),
                float(max(lo, hi)),
                p_beat,
                float(np.max(value)),
                float(costs[g]),
            )
        )
        taken.add(j)
        cur = cur.condition_on(j)
    if chance < stop_chance:
        return Decision(
            True,
            f"the chance that an untried configuration beats the best trained run by more "
            f"than the noise ({noise_text}) is {chance:.1%}, below {stop_chance:.0%}",
            best,
            props,
            spent,
            total,
            chance_better_left=chance,
            noise=noise,
        )
    if not np.isfinite(chance):
        return Decision(False, "no stopping rule asked", best, props, spent, total)
    return Decision(
        False,
        f"a {chance:.0%} chance that an untried configuration beats the best trained run "
        f"by more than the noise ({noise_text}); the proposals have the highest expected "
        "improvement per unit cost",
        best,
        props,
        spent,
        total,
        chance_better_left=chance,
        noise=noise,
    )
