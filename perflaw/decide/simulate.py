"""Replay the loop over a finished grid: how much compute would it have saved?

Every method starts from the loop's seed design (:func:`perflaw.decide.acquire.seed_design`)
and then trains one configuration at a time, each "trained" by looking its value up in the
finished grid, optionally with run-to-run noise added to what the method observes (one
draw per configuration and noise seed; regret is always measured on the true value of the
configuration the method would pick).  The methods:

* ``perflaw``: :func:`perflaw.decide.acquire.next_runs`, batch 1; its pick is the best
  trained run it reports (highest posterior mean among trained runs); ``perflaw_measured``
  is the same runs with the best measured one picked.
* ``greedy``: the cheapest untried grid neighbour (one step along one axis) of the best
  run so far; when the best has none left, of the next best, and so on.
* ``random``: the untried configurations in a random order (the mean over many orders).
* ``cheapest``: the untried configurations cheapest first.
* ``tpe``: Optuna's TPE sampler over the grid's two categorical axes (the mean over seeds;
  needs ``perflaw[optuna]``); a configuration it asks for twice costs nothing the second time.

Baselines pick the best observed run.  Regret is ``(best - picked) / |best|`` in the
maximised direction; compute is a share of the grid's total.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from perflaw.decide.acquire import grid_cost, next_runs, seed_design
from perflaw.errors import DataError

METHODS = ("perflaw", "greedy", "random", "cheapest", "tpe")


@dataclass
class World:
    """A finished grid: configurations, true values (maximised), costs."""

    layers: np.ndarray
    d_emb: np.ndarray
    value: np.ndarray
    cost: np.ndarray
    grid_layers: np.ndarray
    grid_d_emb: np.ndarray

    @classmethod
    def from_frame(cls, frame, metric: str, maximize: bool, cost: str = "compute") -> World:
        for col in ("layers", "d_emb", metric):
            if col not in frame.columns:
                raise DataError(f"the grid has no column {col!r}")
        g = frame.groupby(["layers", "d_emb"], as_index=False)[metric].mean()
        gl = np.array(sorted(g["layers"].unique()), dtype=int)
        gd = np.array(sorted(g["d_emb"].unique()), dtype=int)
        if len(g) != len(gl) * len(gd):
            raise DataError(
                f"the grid is not complete: {len(g)} configurations of "
                f"{len(gl)} layer counts x {len(gd)} widths"
            )
        g = g.sort_values(["layers", "d_emb"])
        if g[metric].isna().any():
            raise DataError(f"column {metric!r} has missing values")
        sign = 1.0 if maximize else -1.0
        lay = g["layers"].to_numpy(int)
        de = g["d_emb"].to_numpy(int)
        c = grid_cost(lay, de) if cost in ("compute", "params") else None
        if c is None:
            if cost not in frame.columns:
                raise DataError(f"the grid has no cost column {cost!r}")
            c = frame.groupby(["layers", "d_emb"])[cost].mean().loc[list(zip(lay, de))]
            c = np.asarray(c, dtype=float)
        return cls(lay, de, sign * g[metric].to_numpy(float), np.asarray(c, float), gl, gd)

    @property
    def index(self) -> dict[tuple[int, int], int]:
        return {(int(a), int(b)): i for i, (a, b) in enumerate(zip(self.layers, self.d_emb))}

    def seed(self) -> list[int]:
        idx = self.index
        return [idx[c] for c in seed_design(self.grid_layers, self.grid_d_emb)]


@dataclass
class Trace:
    """One replay: the order of runs, and the pick after each run (grid indices)."""

    order: np.ndarray
    picks: np.ndarray


def _best_observed_picks(order: np.ndarray, observed: np.ndarray) -> np.ndarray:
    obs = observed[order]
    running = np.maximum.accumulate(obs)
    # the index of the running maximum (first occurrence of it)
    arg = np.array([int(np.argmax(obs[: k + 1])) for k in range(len(obs))])
    assert np.allclose(obs[arg], running)
    return order[arg]


def run_greedy(world: World, observed: np.ndarray) -> Trace:
    seed = world.seed()
    nl, nd = len(world.grid_layers), len(world.grid_d_emb)
    done = np.zeros(len(world.value), bool)
    done[seed] = True
    order = list(seed)
    while not done.all():
        tried = np.array(order)
        ranked = tried[np.argsort(-observed[tried], kind="stable")]
        pick = None
        for b in ranked:
            i, j = divmod(int(b), nd)
            nb = [(i + di, j + dj) for di, dj in ((1, 0), (-1, 0), (0, 1), (0, -1))]
            cand = [a * nd + c for a, c in nb if 0 <= a < nl and 0 <= c < nd]
            cand = [c for c in cand if not done[c]]
            if cand:
                pick = min(cand, key=lambda c: (world.cost[c], c))
                break
        if pick is None:  # unreachable on a full grid, kept for safety
            pick = int(np.flatnonzero(~done)[0])
        done[pick] = True
        order.append(pick)
    o = np.array(order)
    return Trace(o, _best_observed_picks(o, observed))


def run_cheapest(world: World, observed: np.ndarray) -> Trace:
    seed = world.seed()
    rest = [i for i in np.argsort(world.cost, kind="stable") if i not in set(seed)]
    o = np.array(seed + rest)
    return Trace(o, _best_observed_picks(o, observed))


def run_random(world: World, observed: np.ndarray, rng: np.random.Generator) -> Trace:
    seed = world.seed()
    rest = np.array([i for i in range(len(world.value)) if i not in set(seed)])
    o = np.concatenate([seed, rng.permutation(rest)]).astype(int)
    return Trace(o, _best_observed_picks(o, observed))


def _loop_decisions(world: World, observed: np.ndarray, budget, stop_chance: float):
    """The loop's decisions, one per step, each after training its first proposal (the
    value looked up in ``observed``); the last has no proposal or says stop."""
    order: list[int] = []
    idx = world.index
    while True:
        d = next_runs(
            world.grid_layers,
            world.grid_d_emb,
            world.layers[order],
            world.d_emb[order],
            observed[order],
            cost=world.cost,
            budget=budget,
            stop_chance=stop_chance,
        )
        yield d, order
        if d.stop or not d.proposals:
            return
        p = d.proposals[0]
        order.append(idx[(p.layers, p.d_emb)])


def _pick(world: World, d) -> int:
    """The grid index of the decision's best trained run."""
    bt = d.best_trained
    assert bt is not None
    return world.index[(bt["layers"], bt["d_emb"])]


def run_perflaw(world: World, observed: np.ndarray, budget: float | None = None) -> Trace:
    picks: list[int] = []
    order: list[int] = []
    for d, order in _loop_decisions(world, observed, budget, stop_chance=0.0):
        if order:
            picks.append(_pick(world, d))
    return Trace(np.array(order), np.array(picks))


def stop_point(
    world: World, observed: np.ndarray, budget: float = 0.25, stop_chance: float = 0.05
) -> tuple[float, float, bool]:
    """Run the loop with its stopping rule and a budget (a share of the grid's compute):
    (share spent when it stops, regret of its pick then, whether the rule stopped it
    before the budget did)."""
    amount = budget * float(world.cost.sum())
    for d, _ in _loop_decisions(world, observed, amount, stop_chance):
        if d.stop or not d.proposals:
            pick = _pick(world, d)
            regret = (world.value.max() - world.value[pick]) / abs(world.value.max())
            ruled = d.chance_better_left is not None and d.chance_better_left < stop_chance
            return d.spent / float(world.cost.sum()), float(regret), bool(ruled)
    raise AssertionError("the loop ends with a stop or no proposal")  # pragma: no cover


def run_tpe(world: World, observed: np.ndarray, seed: int, max_trials: int = 400) -> Trace:
    try:
        import optuna
    except ImportError as exc:  # pragma: no cover - depends on the extra
        raise DataError("the tpe baseline needs Optuna: pip install 'perflaw[optuna]'") from exc
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    idx = world.index
    sampler = optuna.samplers.TPESampler(seed=seed)
    study = optuna.create_study(direction="maximize", sampler=sampler)
    gl = [int(v) for v in world.grid_layers]
    gd = [int(v) for v in world.grid_d_emb]
    for i in world.seed():
        study.enqueue_trial({"layers": int(world.layers[i]), "d_emb": int(world.d_emb[i])})
    order: list[int] = []
    seen: set[int] = set()
    for _ in range(max_trials):
        if len(seen) == len(world.value):
            break
        trial = study.ask()
        c = idx[(trial.suggest_categorical("layers", gl), trial.suggest_categorical("d_emb", gd))]
        if c not in seen:
            seen.add(c)
            order.append(c)
        study.tell(trial, float(observed[c]))
    o = np.array(order)
    return Trace(o, _best_observed_picks(o, observed))


def regret_curve(world: World, trace: Trace, shares: np.ndarray) -> np.ndarray:
    """Regret of the pick once the spent compute reaches each share (runs that finish
    within it), as a fraction of the grid's best."""
    best = world.value.max()
    spent = np.cumsum(world.cost[trace.order]) / world.cost.sum()
    out = np.empty(len(shares))
    for k, s in enumerate(shares):
        n = int(np.searchsorted(spent, s + 1e-12, side="right"))
        if n == 0:
            out[k] = np.nan
            continue
        out[k] = (best - world.value[trace.picks[n - 1]]) / abs(best)
    return out


def compute_to_reach(world: World, trace: Trace, within: float = 0.01) -> float:
    """Share of the grid's compute spent when a trained run first comes within ``within``."""
    best = world.value.max()
    good = (best - world.value[trace.order]) / abs(best) <= within + 1e-12
    spent = np.cumsum(world.cost[trace.order]) / world.cost.sum()
    k = int(np.argmax(good)) if good.any() else -1
    return float(spent[k]) if k >= 0 else float("nan")


@dataclass
class SimulationResult:
    """Per method: regret at each compute share (mean over noise seeds / orders) and the
    mean compute to first reach within ``within`` of the best."""

    shares: np.ndarray
    regret: dict[str, np.ndarray]
    to_reach: dict[str, float]
    seed_share: float
    budget: float

    def at_budget(self) -> dict[str, float]:
        k = int(np.argmin(np.abs(self.shares - self.budget)))
        return {m: float(r[k]) for m, r in self.regret.items()}


def simulate(
    world: World,
    *,
    budget: float = 0.25,
    noise: float = 0.0,
    noise_seeds: int = 20,
    random_orders: int = 2000,
    tpe_seeds: int = 10,
    methods: tuple[str, ...] = METHODS,
    within: float = 0.01,
    shares: np.ndarray | None = None,
) -> SimulationResult:
    """Replay every method over ``world`` (see the module doc).

    ``noise`` is the relative run-to-run sd (0.01: 1 %); with noise every method is
    replayed on ``noise_seeds`` noisy copies of the grid and averaged.
    """
    if not 0 < budget <= 1:
        raise DataError(f"--budget is a share of the grid's compute in (0, 1], got {budget}")
    if noise < 0:
        raise DataError(f"--noise must be >= 0, got {noise}")
    unknown = set(methods) - set(METHODS)
    if unknown:
        raise DataError(f"unknown method {sorted(unknown)}: use {', '.join(METHODS)}")
    if shares is None:
        shares = np.unique(np.round(np.concatenate([np.linspace(0.05, 1, 20), [budget]]), 6))
    seed_share = float(world.cost[world.seed()].sum() / world.cost.sum())
    copies = noise_seeds if noise > 0 else 1
    # separate streams: the noise a method sees does not depend on which methods run
    noise_rng, order_rng = np.random.default_rng(0), np.random.default_rng(1)
    keys = [*methods, *(["perflaw_measured"] if "perflaw" in methods else [])]
    curves: dict[str, list[np.ndarray]] = {m: [] for m in keys}
    reach: dict[str, list[float]] = {m: [] for m in keys}
    for c in range(copies):
        eps = noise_rng.standard_normal(len(world.value)) if noise > 0 else 0.0
        observed = world.value * (1.0 + noise * eps)
        traces: dict[str, list[Trace]] = {}
        if "perflaw" in methods:
            t = run_perflaw(world, observed)
            traces["perflaw"] = [t]
            # the same runs, picking the best measured one instead of the mixture's best
            traces["perflaw_measured"] = [Trace(t.order, _best_observed_picks(t.order, observed))]
        if "greedy" in methods:
            traces["greedy"] = [run_greedy(world, observed)]
        if "cheapest" in methods:
            traces["cheapest"] = [run_cheapest(world, observed)]
        if "random" in methods:
            n = max(1, random_orders // copies)
            traces["random"] = [run_random(world, observed, order_rng) for _ in range(n)]
        if "tpe" in methods:
            n = tpe_seeds if noise == 0 else 1  # a new TPE seed per noise copy
            traces["tpe"] = [run_tpe(world, observed, seed=100 * c + s) for s in range(n)]
        for m, ts in traces.items():
            curves[m].extend(regret_curve(world, t, shares) for t in ts)
            reach[m].extend(compute_to_reach(world, t, within) for t in ts)
    return SimulationResult(
        shares=shares,
        regret={m: np.nanmean(np.array(v), axis=0) for m, v in curves.items()},
        to_reach={m: float(np.mean(v)) for m, v in reach.items()},
        seed_share=seed_share,
        budget=budget,
    )


def simulate_loop(
    frame, metric: str, *, maximize: bool | None = None, cost: str = "compute", **options
) -> SimulationResult:
    """:func:`simulate` on a finished grid given as a DataFrame (one row per run; replicates
    averaged): ``perflaw simulate``'s API."""
    from perflaw.laws.base import higher_is_better

    up = higher_is_better(metric) if maximize is None else maximize
    return simulate(World.from_frame(frame, metric, up, cost), **options)
