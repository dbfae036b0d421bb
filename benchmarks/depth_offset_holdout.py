"""One width law with a depth offset, out of sample (amazon-beauty, issue 12).

Two depths at many widths cannot determine the Performance Law's N factor (its exponent
needs three depths).  The law fits one width curve with an intercept per depth instead
(docs/performance-law.md, "Two depths at many widths").  Is pooling worth it against
the alternatives a user has, and does the backtest pick the right pooled form?

The 1- and 2-layer runs of the amazon-beauty scan (benchmarks/results_issue12, seed
means) are fitted on the widths up to an origin and predict the wider runs at both
depths, by:

- ``pooled free`` / ``pooled p2``: the width law with a depth offset (p free, p = 2),
  which the Performance Law binds to on two depths;
- ``auto``: the form perflaw chooses by its backtest on the fitted widths (pooled p2,
  pooled free or carry-forward), as ``perflaw fit`` does;
- ``per-depth p2``: a width law per depth, where a depth has the 3 widths it needs
  (otherwise that depth's runs are not predicted by it);
- ``carry``: perflaw's carry-forward (the baseline its backtest compares with): the
  trained run below the predicted one along d_emb, the widest at or below its width.

MAPE is over the runs every method predicted, so the columns are paired.

    python benchmarks/depth_offset_holdout.py
"""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import pandas as pd

from perflaw.errors import DataError
from perflaw.fitting import FormSelector, LawFitter

ROOT = Path(__file__).resolve().parents[1]
TABLE = ROOT / "benchmarks" / "results_issue12" / "amazon-beauty-sweep.csv"
XY = ["layers", "d_emb"]


def _pooled(tr, te, metric, form):
    """Two depths: the law binds to one width curve with an intercept per depth."""
    f = (
        FormSelector(LawFitter(scale="auto"), form=form)
        .fit(tr[XY], tr[metric].to_numpy(), metric=metric)
        .best_
    )
    return np.asarray(f.predict(te[XY], warn=False), float), f


def _per_depth(tr, te, metric):
    out = np.full(len(te), np.nan)
    for depth, g in tr.groupby("layers"):
        rows = (te["layers"] == depth).to_numpy()
        if not rows.any() or g["d_emb"].nunique() < 3:
            continue
        f = (
            FormSelector(LawFitter("performance", scale="auto"), form="p2")
            .fit(g[XY], g[metric].to_numpy(), metric=metric)
            .best_
        )
        out[rows] = np.asarray(f.predict(te[rows][XY], warn=False), float)
    return out


def main() -> None:
    runs = pd.read_csv(TABLE)
    means = runs[runs["layers"] <= 2].groupby(XY, as_index=False)[["hr@10", "ndcg@10"]].mean()
    print(f"{TABLE.name}: layers 1 and 2, {len(means)} configurations (seed means)")
    rows = []
    for metric in ("ndcg@10", "hr@10"):
        for origin in (128, 160):
            tr = means[means["d_emb"] <= origin].reset_index(drop=True)
            te = means[means["d_emb"] > origin].reset_index(drop=True)
            preds, chosen, reach = {}, "", np.inf
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                for name, form in (
                    ("pooled free", "free"),
                    ("pooled p2", "p2"),
                    ("auto", "auto"),
                    ("per-depth p2", None),
                    ("carry", "carry"),
                ):
                    try:
                        if form is None:
                            preds[name] = _per_depth(tr, te, metric)
                        else:
                            preds[name], fitted = _pooled(tr, te, metric, form)
                            if form == "auto":
                                chosen = fitted.form_
                                # the widest d its backtest ever predicted that far past
                                cal = fitted.calibration_
                                reach = cal["axis_max"] * 2 ** cal["max_horizon"]
                    except DataError as exc:
                        print(f"  {metric} d <= {origin}: {name} not fitted ({exc})")
                        preds[name] = np.full(len(te), np.nan)
            obs = te[metric].to_numpy()
            for name, p in preds.items():
                ape = np.abs(p / obs - 1)
                rows.append(
                    {
                        "metric": metric,
                        "origin": origin,
                        "method": f"auto ({chosen})" if name == "auto" else name,
                        "n": int(np.isfinite(ape).sum()),
                        "mape_own": 100 * np.nanmean(ape) if np.isfinite(ape).any() else np.nan,
                        "_ape": ape,
                        "_within": (te["d_emb"] <= reach * (1 + 1e-9)).to_numpy(),
                    }
                )
    table = pd.DataFrame(rows)
    # paired: the runs every method predicted (pooled and carry predict every one)
    for _, g in table.groupby(["metric", "origin"], sort=False):
        common = np.all([np.isfinite(a) for a in g["_ape"]], axis=0)
        table.loc[g.index, "n_common"] = int(common.sum())
        table.loc[g.index, "mape_common"] = [
            100 * a[common].mean() if common.any() else np.nan for a in g["_ape"]
        ]
    print("held out: every run wider than the origin, at both depths; MAPE in %")
    print(
        table.drop(columns=["_ape", "_within"]).to_string(
            index=False, float_format=lambda v: f"{v:.2f}", na_rep="-"
        )
    )
    # pooled forms and carry-forward predict every held-out run: compare them on all
    carry = table[table.method == "carry"].set_index(["metric", "origin"])["mape_own"]
    for form in ("pooled free", "pooled p2", "auto"):
        sub = table[table.method.str.startswith(form)]
        wins = [
            f"{r.metric} d<={r.origin}"
            for r in sub.itertuples()
            if r.mape_own < carry[(r.metric, r.origin)]
        ]
        print(f"{form} beats carry-forward at: {', '.join(wins) or 'none'}")
    auto = table[table.method.str.startswith("auto")]
    losses = [
        f"{r.metric} d<={r.origin} ({r.mape_own:.1f} % vs {carry[(r.metric, r.origin)]:.1f} %)"
        for r in auto.itertuples()
        if r.mape_own > carry[(r.metric, r.origin)] + 1e-9
    ]
    print(f"auto loses to carry-forward at: {', '.join(losses) or 'none'}")
    # predict warns past the distance the chosen form's backtest checked, and
    # recommend-config never picks there: split auto's errors at that reach
    print("auto vs carry-forward, within and beyond the chosen form's backtest reach:")
    for (metric, origin), g in table.groupby(["metric", "origin"], sort=False):
        a = g[g.method.str.startswith("auto")].iloc[0]
        c = g[g.method == "carry"].iloc[0]["_ape"]
        parts = []
        for what, rows in (("within", a["_within"]), ("beyond", ~a["_within"])):
            if rows.any():
                parts.append(
                    f"{what} {100 * a['_ape'][rows].mean():.1f} % vs {100 * c[rows].mean():.1f} %"
                    f" ({int(rows.sum())} run{'' if rows.sum() == 1 else 's'})"
                )
        print(f"  {metric} d<={origin} {a['method']}: {'; '.join(parts)}")


if __name__ == "__main__":
    main()
