"""How well a fit describes its runs: goodness of fit, prediction errors, the parameter
covariance (and what it cannot identify), and the plain-words warnings of a fit."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

from perflaw.errors import DataError
from perflaw.laws.base import Law
from perflaw.laws.scales import higher_is_better


def goodness_of_fit(y: np.ndarray, yhat: np.ndarray, k: int) -> dict[str, float]:
    r = y - yhat
    n = len(y)
    sse = float(r @ r)
    sst = float(((y - y.mean()) ** 2).sum())
    r2 = 1.0 - sse / sst if sst > 0 else np.nan
    adj = 1.0 - (1.0 - r2) * (n - 1) / (n - k) if n > k else np.nan
    nz = y != 0
    mape = float(np.mean(np.abs(r[nz] / y[nz])) * 100) if nz.any() else np.nan
    ll = n * math.log(sse / n) if sse > 0 else -np.inf
    return {
        "n_points": n,
        "n_params": k,
        "r2": r2,
        "adj_r2": adj,
        "rmse": math.sqrt(sse / n),
        "mae": float(np.mean(np.abs(r))),
        "mape": mape,
        "aic": ll + 2 * k,
        "bic": ll + k * math.log(n),
        "sse": sse,
    }


def error_metrics(observed: np.ndarray, predicted: np.ndarray) -> dict[str, float]:
    """MAE, RMSE, MAPE (%) and maximum absolute percentage error of predictions."""
    o, p = np.asarray(observed, float), np.asarray(predicted, float)
    r = o - p
    ape = np.abs(r / o) * 100
    return {
        "n_points": len(o),
        "mae": float(np.mean(np.abs(r))),
        "rmse": float(np.sqrt(np.mean(r * r))),
        "mape": float(np.mean(ape)),
        "max_ape": float(np.max(ape)),
    }


def numeric_jacobian(law: Law, theta: np.ndarray, X: dict) -> np.ndarray:
    """The law's Jacobian, or forward differences where it declares none."""
    J = law.jacobian(theta, X)
    if J is not None:
        return np.asarray(J, dtype=float)
    eps = 1e-6 * (np.abs(theta) + 1e-3)
    base = law.formula(theta, X)
    cols = []
    for i in range(len(theta)):
        t = theta.copy()
        t[i] += eps[i]
        cols.append((law.formula(t, X) - base) / eps[i])
    return np.column_stack(cols)


def covariance(law: Law, J: np.ndarray, zresiduals: np.ndarray) -> tuple[np.ndarray, list, list]:
    """Wald covariance of the parameters, the parameters not identified (a near-null
    direction of the Jacobian) and the inert ones (no effect on any prediction)."""
    n, k = J.shape
    s2 = float(zresiduals @ zresiduals) / max(n - k, 1)
    if law.nonparametric:
        return np.zeros((k, k)), [], []
    # a parameter with no effect on any prediction (the exponent of a power term the
    # Performance Law's bound holds at 0) is inert, not a flat direction that moves
    # predictions: it is left out of the check and shown without an interval
    names = np.array(law.param_names)
    active = np.any(J != 0, axis=0)
    inert = names[~active].tolist()
    # parameters along a near-null direction of the Jacobian are not identified: their
    # Wald standard errors would be meaningless (often near zero)
    Ja = J[:, active]
    scale = np.sqrt((Ja * Ja).sum(axis=0))
    _, sv, Vt = np.linalg.svd(Ja / scale, full_matrices=False)
    null = sv < max(sv.max(initial=0.0), 1e-300) * 1e-7
    unidentified = []
    if null.any():
        weight = (Vt[null] ** 2).sum(axis=0)
        unidentified = [nm for nm, w in zip(names[active], weight) if w > 0.05]
    return s2 * np.linalg.pinv(J.T @ J), unidentified, inert


def diagnose(f) -> list[str]:
    """Plain-words warnings: the law's own (``Law.diagnose(theta, ranges)``, optional:
    narrow ranges, implausible exponents ...), then strongly correlated parameters and
    outliers, which any law gets."""
    law_diag = getattr(f.law_, "diagnose", None)
    out = list(law_diag(f.theta_, f.ranges_)) if law_diag else []
    names = list(f.law_.param_names)
    boot = f.bootstrap_params_
    with np.errstate(invalid="ignore", divide="ignore"):
        if boot is not None and len(boot) > 10:
            C = np.corrcoef(boot, rowvar=False)
            src = "bootstrap"
        else:
            sd = np.sqrt(np.clip(np.diag(f.cov_), 0, None))
            C = f.cov_ / np.outer(sd, sd)
            src = "covariance"
    if f.law_.nonparametric:
        C = np.eye(len(names))
    elif np.any(np.abs(C[np.isfinite(C)]) > 1 + 1e-6) or (
        np.linalg.eigvalsh((f.cov_ + f.cov_.T) / 2).min()
        < -1e-9 * max(1e-300, np.abs(f.cov_).max())
    ):
        out.append(
            f"the parameter {src} matrix is not positive semi-definite (the fit "
            "is on a ridge): correlations are not reported and Wald intervals are "
            "unreliable"
        )
        C = np.eye(len(names))
    C = np.clip(C, -1.0, 1.0)
    pairs = [
        (abs(C[i, j]), i, j)
        for i in range(len(names))
        for j in range(i + 1, len(names))
        if np.isfinite(C[i, j]) and abs(C[i, j]) > 0.95
    ]
    for r, i, j in sorted(pairs, reverse=True)[:3]:
        out.append(
            f"{names[i]} and {names[j]} are strongly correlated (|r| = {r:.3f}, "
            f"{src}): a ridge in the loss, so their individual values are poorly "
            "determined; predictions may still be fine"
        )
    if f.unidentified_:
        out.append(
            "not identified by the data (a flat direction of the loss): "
            + ", ".join(f.unidentified_[:6])
            + ("..." if len(f.unidentified_) > 6 else "")
            + "; their intervals are not reported"
        )
    n, k = len(f.y_), f.law_.n_params
    if not f.law_.nonparametric and n < 2 * k:
        out.append(
            f"{k} parameters for {n} runs: more parameters than the data can "
            "reliably carry (use a simpler --form)"
        )
    r = f.residuals_
    mad = 1.4826 * float(np.median(np.abs(r - np.median(r))))
    if mad > 0 and len(r) >= 8 and not f.law_.nonparametric:
        z = (r - np.median(r)) / mad
        idx = np.flatnonzero(np.abs(z) > 4)
        for i in idx[np.argsort(-np.abs(z[idx]))][:5]:
            where = ", ".join(f"{c}={v[i]:.4g}" for c, v in f.X_.items() if c != "group")
            out.append(
                f"outlier at {where}: observed {f.y_[i]:.4g}, fitted "
                f"{f.fitted_[i]:.4g} (robust z = {z[i]:.1f}); kept in the fit "
                "(drop it with exclude= / --exclude if it is a failed run)"
            )
        if len(idx) > 5:
            out.append(f"... and {len(idx) - 5} more outlier(s)")
    return out


def bound_notes(law: Law, theta: np.ndarray) -> list[str]:
    """A note for every parameter that ended at one of its bounds."""
    out = []
    lo, hi = law.bounds()
    for i, name in enumerate(law.param_names):
        for edge in (lo[i], hi[i]):
            if np.isfinite(edge) and abs(theta[i] - edge) <= 1e-6 * max(1.0, abs(edge)):
                out.append(
                    f"{name} is at its bound {edge:g}: the optimum may lie beyond it (a flat "
                    "direction of the fit)"
                )
    return out


def holdout_table(frame: pd.DataFrame, observed: np.ndarray, pred: pd.DataFrame) -> pd.DataFrame:
    """The held-out rows with their observed value, prediction, interval and error."""
    out = frame.copy()
    out["observed"] = observed
    out["predicted"] = pred["prediction"].to_numpy()
    out["lower"], out["upper"] = pred["lower"].to_numpy(), pred["upper"].to_numpy()
    out["error"] = out["predicted"] - out["observed"]
    out["pct_error"] = 100 * out["error"] / out["observed"]
    return out


def best_run(
    X: dict, y: np.ndarray, groups: np.ndarray | None, metric: str | None, among=None
) -> dict | None:
    """The best run (highest score, lowest loss) of ``X``/``y``, or of the rows ``among``
    (a boolean mask) selects: its inputs (integral sizes as ints), its group (a joint
    fit's) and ``observed``; None when there is none."""
    y = np.asarray(y, float)
    among = np.ones(len(y), bool) if among is None else np.asarray(among, bool)
    if not among.any():
        return None
    score = np.where(among, y if higher_is_better(metric) else -y, -np.inf)
    i = int(np.argmax(score))
    out: dict = {c: float(np.asarray(v)[i]) for c, v in X.items() if c != "group"}
    for c in ("layers", "d_emb"):
        if c in out and float(out[c]).is_integer():
            out[c] = int(out[c])
    if groups is not None:  # a joint fit: whose run it is
        out["group"] = str(np.asarray(groups)[i])
    out["observed"] = float(y[i])
    return out


def check_identified(law: Law, X: dict, n: int) -> None:
    """A one-line :class:`DataError` when ``n`` runs at inputs ``X`` cannot determine the
    law's parameters."""
    why = law.identifiable(X)
    if why:
        raise DataError(
            f"law {law.name!r} is not identified by these runs: {why} (pin or drop the "
            "term, or choose a simpler form, e.g. --form carry)"
        )
    k = law.n_params
    if n - k < law.min_dof and not law.nonparametric:
        raise DataError(
            f"law {law.name!r} has {k} parameters and needs at least {k + 1} runs; got {n}"
        )


def runs_identification(law: Law, frame: pd.DataFrame, y) -> list[str]:
    """What the runs cannot tell ``law`` (:func:`perflaw.runs.identification_problems`
    over the law's inputs): a one-line :class:`DataError` for one run or every run at one
    configuration; the warning lines for an input with one value (its terms are not
    identified, whatever R² says)."""
    from perflaw.runs import Runs, identification_problems

    inputs = [c for c in law.inputs if c in frame.columns and c != "group"]
    runs = Runs(frame[inputs].reset_index(drop=True), np.asarray(y, float), "", source="")
    refusals, notes = identification_problems(runs, inputs)
    if refusals:
        raise DataError(refusals[0])
    return notes
