"""Are the Performance Law's predictions from a fit with one residual degree of freedom
worse than from fits with more?  (issue 12, "Residual degrees of freedom at an origin")

On the tables of benchmarks/calibration_coverage.py, at every origin along each table's
axis: p2, free and carry-forward fitted on the runs at or below it (no backtest inside)
predict the larger runs.  Printed: the absolute percentage errors by the law's residual
degrees of freedom at that origin (runs minus parameters) and by distance (doublings past
the origin), with carry-forward's on the same runs beside them.  About 20 seconds.

    python benchmarks/origin_dof_errors.py
"""

from __future__ import annotations

import sys
import warnings
from pathlib import Path

import numpy as np
import pandas as pd

from perflaw.errors import ConvergenceError, DataError
from perflaw.fitting import FormSelector, LawFitter
from perflaw.laws.forms import form_law

sys.path.insert(0, str(Path(__file__).resolve().parent))
from calibration_coverage import XY, tables  # noqa: E402


def predictions(frame: pd.DataFrame, axis: str, metric: str, origin: float, form: str):
    """(prediction, residual dof) of ``form`` fitted at or below ``origin``; None if the
    form cannot be fitted there or has no term along ``axis``."""
    tr, te = frame[frame[axis] <= origin], frame[frame[axis] > origin]
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            f = LawFitter(form_law(form, axis), scale="logit")
            FormSelector(f, form=form).fit(tr[XY], tr[metric], metric=metric)
            if not f.law_.varies_with(axis):
                return None
            return np.asarray(f.predict(te[XY], warn=False)), len(tr) - f.law_.n_params
    except (ConvergenceError, DataError, np.linalg.LinAlgError):
        return None


def main() -> None:
    out = []
    for name, frame, axis in tables():
        for metric in ("hr@10", "ndcg@10"):
            for v in np.sort(frame[axis].unique())[:-1]:
                carry = predictions(frame, axis, metric, v, "carry")
                if carry is None:
                    continue
                te = frame[frame[axis] > v]
                obs = te[metric].to_numpy(float)
                ape_carry = np.abs(carry[0] - obs) / obs * 100
                h = np.log2(te[axis].to_numpy(float) / v)
                for form in ("p2", "free"):
                    got = predictions(frame, axis, metric, v, form)
                    if got is None:
                        continue
                    ape = np.abs(got[0] - obs) / obs * 100
                    out.append(
                        pd.DataFrame(
                            dict(
                                table=name,
                                metric=metric,
                                form=form,
                                origin=v,
                                dof=got[1],
                                h=h,
                                ape=ape,
                                ape_carry=ape_carry,
                            )
                        )
                    )
    d = pd.concat(out, ignore_index=True)
    d["dof"] = np.where(d.dof <= 1, d.dof.astype(str), "2+")
    d["distance"] = np.where(d.h <= 1, "<= 1 doubling", "> 1 doubling")
    d["fit"] = list(zip(d.table, d.metric, d.origin))
    agg = dict(
        runs=("ape", "size"),
        fits=("fit", "nunique"),
        law_mape=("ape", "mean"),
        carry_mape=("ape_carry", "mean"),
    )
    pd.set_option("display.width", 120)
    print("MAPE (%) of the larger runs, by the law's residual degrees of freedom at the origin")
    print(d.groupby(["form", "dof"]).agg(**agg).round(2), "\n")
    print(d.groupby(["form", "dof", "distance"]).agg(**agg).round(2), "\n")
    print(d.groupby(["table", "form", "dof"]).agg(**agg).round(2))


if __name__ == "__main__":
    main()
