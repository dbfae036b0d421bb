"""How a form is judged against carry-forward on the same backtest predictions: the
paired differences of their errors (a tie at floating-point noise counted as one), the
paired t, whether the verdict turns on one origin, and the clause that says how a form
did."""

from __future__ import annotations

import math

import numpy as np

T_MIN = 1.0  # a form replaces carry-forward only with a paired t above this


def paired_gain(base: np.ndarray, mine: np.ndarray) -> np.ndarray:
    """Carry-forward's absolute errors minus a form's on the same predictions (fitting
    scale; positive: the form is nearer), with differences at floating-point noise set to
    0: two forms that predict the same values to 13 digits tie, whatever the last bits say.

    >>> e = np.array([0.1, 0.2, 0.3])
    >>> paired_gain(e, e * (1 + np.array([1e-16, -2e-16, 3e-16]))).tolist()
    [0.0, 0.0, 0.0]
    """
    base, mine = np.abs(np.asarray(base, float)), np.abs(np.asarray(mine, float))
    d = base - mine
    # a relative 1e-9 is far below any error a backtest can tell apart and far above
    # float rounding (1e-16): what lies under it is rounding of equal predictions
    tie = np.abs(d) <= 1e-9 * np.maximum(np.maximum(base, mine), 1e-300)
    return np.where(tie, 0.0, d)


def paired_t(d: np.ndarray) -> float:
    """Paired t of ``d``, carry-forward's absolute errors minus a form's on the same
    predictions (fitting scale; positive: the form is nearer)."""
    sd = d.std(ddof=1)
    if sd > 0:
        return float(d.mean() / (sd / math.sqrt(len(d))))
    return np.inf if d.mean() > 0 else 0.0


def hinge(d: np.ndarray, origins: np.ndarray) -> tuple[float, float] | None:
    """``(origin, t)`` when leaving out one origin's predictions moves the paired t of
    ``d`` across :data:`T_MIN` (the one that moves it most), else None.  Needs 3 origins,
    so that 2 remain: a verdict is never drawn from one origin."""
    u = np.unique(origins)
    if len(u) < 3:
        return None
    t = paired_t(d)
    flips = []
    for o in u:
        t_without = paired_t(d[origins != o])
        if (t_without > T_MIN) != (t > T_MIN):
            flips.append((abs(t_without - t), float(o), t_without))
    if not flips:
        return None
    _, origin, t_without = max(flips)
    return origin, t_without


def versus_carry(score: dict, axis: str) -> str:
    """One clause: how a form given by the user (``--form``, ``--joint``) did against
    carry-forward in the backtest, from its row of the selection's scores."""
    n, k = int(score.get("n_common") or 0), int(score.get("n_origins_common") or 0)
    if not score.get("n_points"):
        return (
            f"it made no prediction in the backtest along {axis} (not identified by the runs "
            "below any origin), so it was not compared with carry-forward"
        )
    if n < 2 or k < 2:
        return (
            f"it was not compared with carry-forward: {n} predicted run{'' if n == 1 else 's'} "
            f"from {k} origin{'' if k == 1 else 's'} in the backtest along {axis}, 2 from 2 "
            "origins needed"
        )
    t, m, c = score["t_vs_carry"], score["mape_common"], score["carry_mape_common"]
    if t > T_MIN:
        verdict = f"beat carry-forward by {t:.2f} standard errors"
    elif m > c:
        verdict = f"lost to carry-forward (t = {t:.2f})"
    else:
        verdict = f"did not beat carry-forward by a standard error (t = {t:.2f})"
    return (
        f"in the backtest along {axis} it {verdict}: MAPE {m:.2f} % vs {c:.2f} % on the "
        f"same {n} runs from {k} origins"
    )
