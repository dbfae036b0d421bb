"""The rows a fit reads: inputs, metric and group labels checked once, and split by a
condition (``exclude``, ``holdout``) into the rows kept and the rows set aside."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np
import pandas as pd

from perflaw.conditions import parse_condition
from perflaw.errors import DataError
from perflaw.laws.base import Law


@dataclass
class Rows:
    """Inputs (a DataFrame), the metric and the group label of each row (or None)."""

    frame: pd.DataFrame
    y: np.ndarray
    groups: np.ndarray | None

    @classmethod
    def of(cls, X, y, groups, metric: str | None) -> Rows:
        """Check and standardise what a fit was given: one metric value per row, every
        one a number, one group label per row."""
        frame = X.copy() if isinstance(X, pd.DataFrame) else pd.DataFrame(dict(X))
        yv = pd.to_numeric(pd.Series(np.asarray(y).ravel()), errors="coerce").to_numpy(float)
        if len(yv) != len(frame):
            raise DataError(f"X has {len(frame)} rows but y has {len(yv)}")
        if not np.all(np.isfinite(yv)):
            bad = int((~np.isfinite(yv)).sum())
            raise DataError(f"metric {metric or 'y'!r} has {bad} missing or non-numeric value(s)")
        glabels = None if groups is None else np.asarray(groups).astype(str).ravel()
        if glabels is not None and len(glabels) != len(frame):
            raise DataError(f"groups has {len(glabels)} labels for {len(frame)} rows")
        return cls(frame, yv, glabels)

    def take(self, mask: np.ndarray) -> Rows:
        return Rows(
            self.frame[mask].reset_index(drop=True),
            self.y[mask],
            None if self.groups is None else self.groups[mask],
        )

    def split(self, condition: str, what: str) -> tuple[Rows, Rows]:
        """``(rows kept, rows matching condition)``: an ``exclude`` must keep some rows, a
        ``holdout`` must leave rows on both sides."""
        mask = parse_condition(condition, self.frame)
        if what == "exclude" and mask.all():
            raise DataError(f"exclude {condition!r} drops all {len(mask)} rows")
        if what == "holdout" and (mask.all() or not mask.any()):
            raise DataError(
                f"holdout {condition!r} selects {int(mask.sum())} of {len(mask)} rows: "
                "it must leave rows on both sides"
            )
        return self.take(~mask), self.take(mask)


def _as_inputs(X, names: Iterable[str]) -> dict[str, np.ndarray]:
    out = {}
    for name in names:
        if isinstance(X, pd.DataFrame):
            if name not in X.columns:
                raise DataError(f"input column {name!r} is missing")
            col = X[name]
        else:
            if name not in X:
                raise DataError(f"input {name!r} is missing")
            col = X[name]
        arr = pd.to_numeric(pd.Series(np.asarray(col).ravel()), errors="coerce").to_numpy(float)
        out[name] = arr
    return out


def law_inputs(law: Law, frame: pd.DataFrame, groups=None) -> dict[str, np.ndarray]:
    """The inputs ``law`` reads from ``frame``, checked (present, numeric, finite, in the
    law's domain), with the group code of each row for a law with per-group terms
    (``groups``: a label per row, each one of the law's groups)."""
    glabels = None if groups is None else np.asarray(groups).astype(str).ravel()
    names = [n for n in law.inputs if n != "group"]
    X = _as_inputs(frame, names)
    for n, v in X.items():
        if not np.all(np.isfinite(v)):
            raise DataError(f"input column {n!r} has missing or non-numeric values")
    if "group" in law.inputs:
        if glabels is None:
            raise DataError(f"law {law.name!r} with per-group terms needs group labels")
        known = {g: i for i, g in enumerate(law.groups)}
        unknown = sorted(set(glabels.tolist()) - set(known))
        if unknown:
            raise DataError(
                f"unknown group(s) {', '.join(unknown)}: fitted groups are {', '.join(law.groups)}"
            )
        X["group"] = np.array([known[g] for g in glabels], dtype=float)
    law.check(X)
    return X
