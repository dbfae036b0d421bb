"""Past the trained edge, where a law turns down, how far does it fall?  (issue 12)

A fitted law that predicts a larger configuration as worse than the largest one trained
(the Performance Law past its optimum, a log-linear slope fitted to a falling metric) is
extrapolating its fall, which its backtest checked least.  On each runs table of
``calibration_coverage.py`` (the ml-1m panels, amazon-beauty's 1-2-layer width scan,
ml-latest-small at fraction 1), for each form and each outer origin, the form is fitted on
the runs at or below the origin and predicts the larger runs.  Where it falls past the
edge, three points are scored against the trained runs: the law's own value, its level
at the edge, and a point a fraction ``lam`` of the way from the first to the second
(logit scale); ``lam = 1/2`` is what ``LawFitter.predict`` now predicts there.  Then
every form's MAPE on all the runs it predicted, with and without the halving, against
carry-forward (paired t of the absolute logit errors, as the backtest's selection rule).
About five minutes.

    python benchmarks/edge_damping.py
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parent))
from calibration_coverage import XY, fitted_at, splits, tables  # noqa: E402

from perflaw.errors import DataError  # noqa: E402
from perflaw.fitting.intervals import edge_decline  # noqa: E402
from perflaw.laws.scales import to_scale as transform_forward  # noqa: E402

FORMS = ("carry", "saturating", "loglinear", "p2", "free")
LAMS = np.linspace(0, 1, 21)


def predictions() -> pd.DataFrame:
    rec = []
    for name, frame, axis in tables():
        for metric in ("hr@10", "ndcg@10"):
            for v, tr, te in splits(frame, axis):
                obs = te[metric].to_numpy(float)
                zo = transform_forward(obs, "logit")
                for form in FORMS:
                    f = fitted_at(form, axis, tr, metric)
                    if f is None:
                        continue
                    Xd = {c: te[c].to_numpy(float) for c in XY}
                    try:  # the law's own value: predict() would already halve its fall
                        z = np.asarray(f.law_.formula(f.theta_, Xd), float)
                    except DataError:  # e.g. an intercept per depth, asked for a new depth
                        continue
                    edge = {"axis": axis, "axis_max": float(v)}
                    ze, falls = edge_decline(f.law_, f.theta_, Xd, edge, metric, z)
                    for i in range(len(te)):
                        rec.append(
                            dict(table=name, axis=axis, metric=metric, origin=v, form=form,
                                 row=i, obs=obs[i], z=z[i], ze=ze[i], zo=zo[i],
                                 falls=bool(falls[i]))
                        )  # fmt: skip
    return pd.DataFrame(rec)


def ape(d: pd.DataFrame, lam: float, only_falls: bool = True) -> np.ndarray:
    shift = lam * (d.ze - d.z)
    z = d.z + (shift if not only_falls else np.where(d.falls, shift, 0.0))
    return 100 * np.abs(1 / (1 + np.exp(-z)) / d.obs - 1)


def paired_t(x: np.ndarray) -> float:
    x = np.asarray(x, float)
    sd = x.std(ddof=1) if len(x) > 1 else 0.0
    return float(x.mean() / (sd / np.sqrt(len(x)))) if sd > 0 else float("nan")


def main() -> None:
    d = predictions()
    pd.set_option("display.width", 200)
    falls = d[d.falls & (d.form != "carry")]
    print("predictions past the trained edge where the law falls: % error of the point a")
    print("fraction lam of the way from the law's value to its level at the edge (logit)")
    rows = []
    groups = [(k, g) for k, g in falls.groupby(["table", "metric", "form"])]
    groups += [(("all tables", "", form), g) for form, g in falls.groupby("form")]
    groups += [(("all tables", "", "all forms"), falls)]
    rest = falls[~falls.table.str.startswith("amazon")]
    groups += [(("all but amazon-beauty", "", "all forms"), rest)]
    for key, g in groups:
        e = np.array([ape(g, lam).mean() for lam in LAMS])
        rows.append((*key, len(g), e[0], e[10], e[20], LAMS[int(np.argmin(e))], e.min()))
    cols = ["table", "metric", "form", "n", "law", "half-way", "edge", "best lam", "at best"]
    print(pd.DataFrame(rows, columns=cols).round(2).to_string(index=False))
    print()
    print("every prediction of each form, MAPE % with and without the halving, and carry-")
    print("forward on the same runs; t: paired t of |logit error| against carry-forward")
    carry = d[d.form == "carry"].set_index(["table", "axis", "metric", "origin", "row"])
    out = []
    for (tb, ax, met, form), g in d[d.form != "carry"].groupby(["table", "axis", "metric", "form"]):
        g = g.set_index(["table", "axis", "metric", "origin", "row"])
        c = carry.reindex(g.index)
        ok = c.z.notna().to_numpy()
        g, c = g[ok], c[ok]
        e_law = np.abs(g.z - g.zo)
        e_half = np.abs(np.where(g.falls, (g.z + g.ze) / 2, g.z) - g.zo)
        e_carry = np.abs(c.z - c.zo)
        out.append(
            dict(table=tb, axis=ax, metric=met, form=form, runs=len(g), falls=int(g.falls.sum()),
                 mape_law=ape(g, 0).mean(), mape_halved=ape(g, 0.5).mean(),
                 mape_carry=ape(c, 0).mean(), t_law=paired_t(e_carry - e_law),
                 t_halved=paired_t(e_carry - e_half))
        )  # fmt: skip
    print(pd.DataFrame(out).round(2).to_string(index=False))


if __name__ == "__main__":
    main()
