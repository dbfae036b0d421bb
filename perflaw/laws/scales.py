"""The one scale vocabulary and the one metric-name rule every law and the fitter use.

A metric is fitted on one of three scales:

========== =============================================================================
none       the metric as it is (a loss, or any value)
logit      :math:`\\log(y / (1 - y))`: a rate in (0, 1) (HR@K, NDCG@K) whose predictions
           and interval ends then stay inside (0, 1) (the Performance-Law forms)
one_minus  :math:`1 - y`: a higher-is-better rate turned into a loss that falls with
           size (the power and Chinchilla laws describe a loss)
========== =============================================================================

and a metric's name says whether it is a score to maximise (HR, NDCG, recall ...) or a
loss to minimise (``loss``, ``perplexity``): :func:`higher_is_better`.  A name is a rate
when it names one (:data:`RATE_NAMES`) or carries ``@k``: :func:`is_rate_name`.
"""

from __future__ import annotations

import re

import numpy as np

from perflaw.errors import DataError

#: every scale a law is fitted on
SCALES = ("none", "logit", "one_minus")
#: words naming a rate in (0, 1)
RATE_NAMES = re.compile(r"(hr|hit|ndcg|recall|mrr|precision|auc|map|acc|coverage)", re.I)


def higher_is_better(metric: str | None) -> bool:
    """Whether a metric is a score to maximise (HR, NDCG ...) rather than a loss.

    >>> [higher_is_better(m) for m in ("HR@10", "test_ndcg_at_5", "eval_loss", None)]
    [True, True, False, True]
    """
    m = str(metric or "").lower()
    return not ("loss" in m or "perplexity" in m)


def is_rate_name(metric: str | None) -> bool:
    """Whether a metric's name says it is a higher-is-better rate in (0, 1).

    >>> [is_rate_name(m) for m in ("HR@10", "test_ndcg_at_5", "eval_loss", "score@5", "y")]
    [True, True, False, True, False]
    """
    m = str(metric or "")
    return higher_is_better(m) and (bool(RATE_NAMES.search(m)) or "@" in m)


def bounded_metric(metric: str | None, y: np.ndarray) -> bool:
    """A rate in (0, 1): a rate's name (:func:`is_rate_name`) and every value strictly
    inside (0, 1)."""
    y = np.asarray(y, dtype=float)
    return is_rate_name(metric) and y.size > 0 and bool(np.all((y > 0) & (y < 1)))


def check_scale(
    scale: str, allowed: tuple[str, ...] = SCALES, *, auto: bool = False, what: str = "scale"
) -> str:
    """``scale`` if it is one of ``allowed`` (and ``"auto"`` when ``auto``), else a one-line
    :class:`DataError` naming the choices.

    >>> check_scale("one_minus", ("none", "one_minus"))
    'one_minus'
    >>> check_scale("logit", ("none", "one_minus"))
    Traceback (most recent call last):
    ...
    perflaw.errors.DataError: unknown scale 'logit': use none or one_minus
    """
    choices = (("auto",) if auto else ()) + tuple(allowed)
    if scale not in choices:
        listed = ", ".join(choices[:-1]) + " or " + choices[-1] if len(choices) > 1 else choices[0]
        raise DataError(f"unknown {what} {scale!r}: use {listed}")
    return scale


def to_scale(y: np.ndarray, scale: str) -> np.ndarray:
    """The metric on the fitting scale.

    >>> to_scale(np.array([0.25, 0.5]), "one_minus").tolist(), to_scale(np.array([0.5]), "logit")
    ([0.75, 0.5], array([0.]))
    """
    y = np.asarray(y, dtype=float)
    if scale == "logit":
        # a prediction that rounded to exactly 0 or 1 (a law extrapolated far past its
        # runs) maps to the largest logit a float resolves (±36.7), not to ±inf: its error
        # stays finite, and still dominates the calibration and the comparison it enters
        # (observed values are checked to lie inside (0, 1) before any fit)
        half_ulp = np.finfo(float).eps / 2
        y = np.clip(y, half_ulp, 1 - half_ulp)
        return np.log(y / (1 - y))
    if scale == "one_minus":
        return 1.0 - y
    return y


def from_scale(z: np.ndarray, scale: str) -> np.ndarray:
    """Inverse of :func:`to_scale`.

    >>> from_scale(to_scale(np.array([0.1, 0.9]), "logit"), "logit").round(12).tolist()
    [0.1, 0.9]
    """
    z = np.asarray(z, dtype=float)
    if scale == "logit":
        with np.errstate(over="ignore"):
            return 1.0 / (1.0 + np.exp(-z))
    if scale == "one_minus":
        return 1.0 - z
    return z


def resolve_scale(scale: str, law, metric: str | None, y: np.ndarray) -> str:
    """``auto`` → the law's guess (:meth:`~perflaw.laws.base.Law.guess_transform`);
    an explicit ``logit`` is checked against the values (every one inside (0, 1))."""
    check_scale(scale, ("none", "logit"), auto=True, what="transform")
    if scale == "auto":
        return law.guess_transform(metric, y)
    if scale == "logit" and not np.all((np.asarray(y) > 0) & (np.asarray(y) < 1)):
        raise DataError(
            f"transform 'logit' needs every value of {metric or 'y'!r} strictly between 0 and 1"
        )
    return scale


def guess_loss_scale(metric: str | None) -> str:
    """The scale a loss-shaped law (power, Chinchilla) describes a metric on:
    ``one_minus`` for a higher-is-better rate, ``none`` for a loss.

    >>> [guess_loss_scale(m) for m in ("test_ndcg_at_5", "HR@10", "test_eval_loss")]
    ['one_minus', 'one_minus', 'none']
    """
    return "one_minus" if is_rate_name(metric) else "none"


def scale_text(scale: str, metric: str = "y") -> str:
    """Plain words for the output: how the metric was transformed before fitting."""
    if scale == "one_minus":
        return f"fitted to 1 - {metric} (higher-is-better metric turned into a loss)"
    if scale == "logit":
        return f"fitted to logit({metric})"
    return f"fitted to {metric} as is"
