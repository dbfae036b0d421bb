"""One width law with a depth offset, out of sample (amazon-beauty, issue 12).

Two depths at many widths cannot determine the Performance Law's N factor (its exponent
needs three depths).  ``perflaw fit --group-by layers --joint free`` fits one width curve
with an intercept per depth instead (docs/performance-law.md, "Two depths at many
widths").  Is pooling worth it against the alternatives a user has?

The 1- and 2-layer runs of the amazon-beauty scan (benchmarks/results_issue12, seed
means) are fitted on the widths up to an origin and predict the wider runs at both
depths, by:

- ``pooled free`` / ``pooled p2``: the width law with a depth offset (p free, p = 2);
- ``per-depth p2``: a width law per depth, where a depth has the 3 widths it needs
  (otherwise that depth's runs are not predicted by it);
- ``carry``: carry-forward, the widest trained run at the same depth.

MAPE is over the runs every method predicted, so the columns are paired.

    python benchmarks/depth_offset_holdout.py
"""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import pandas as pd

from perflaw.errors import DataError
from perflaw.fit import LawFitter

ROOT = Path(__file__).resolve().parents[1]
TABLE = ROOT / "benchmarks" / "results_issue12" / "amazon-beauty-sweep.csv"
XY = ["layers", "d_emb"]


def _labels(frame: pd.DataFrame) -> np.ndarray:
    return np.array([f"layers={int(v)}" for v in frame["layers"]])


def _pooled(tr, te, metric, p):
    opts = {"data_term": "free"} | ({"p": 2.0} if p == 2 else {})
    f = LawFitter("performance", form=None, scale="auto", **opts)
    f.fit(tr[XY], tr[metric].to_numpy(), groups=_labels(tr), metric=metric)
    return np.asarray(f.predict(te[XY], groups=_labels(te), warn=False), float)


def _per_depth(tr, te, metric):
    out = np.full(len(te), np.nan)
    for depth, g in tr.groupby("layers"):
        rows = (te["layers"] == depth).to_numpy()
        if not rows.any() or g["d_emb"].nunique() < 3:
            continue
        f = LawFitter("performance", form="p2", scale="auto").fit(
            g[XY], g[metric].to_numpy(), metric=metric
        )
        out[rows] = np.asarray(f.predict(te[rows][XY], warn=False), float)
    return out


def _carry(tr, te, metric):
    out = np.full(len(te), np.nan)
    for i, (depth, _) in enumerate(zip(te["layers"], te["d_emb"])):
        g = tr[tr["layers"] == depth]
        if len(g):
            out[i] = g.loc[g["d_emb"].idxmax(), metric]
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
            preds = {}
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                for name, fn in (
                    ("pooled free", lambda: _pooled(tr, te, metric, None)),
                    ("pooled p2", lambda: _pooled(tr, te, metric, 2)),
                    ("per-depth p2", lambda: _per_depth(tr, te, metric)),
                    ("carry", lambda: _carry(tr, te, metric)),
                ):
                    try:
                        preds[name] = fn()
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
                        "method": name,
                        "n": int(np.isfinite(ape).sum()),
                        "mape_own": 100 * np.nanmean(ape) if np.isfinite(ape).any() else np.nan,
                        "_ape": ape,
                    }
                )
    table = pd.DataFrame(rows)
    # paired: the runs every method predicted (pooled and carry predict every one)
    for (metric, origin), g in table.groupby(["metric", "origin"], sort=False):
        common = np.all([np.isfinite(a) for a in g["_ape"]], axis=0)
        table.loc[g.index, "n_common"] = int(common.sum())
        table.loc[g.index, "mape_common"] = [
            100 * a[common].mean() if common.any() else np.nan for a in g["_ape"]
        ]
    print("held out: every run wider than the origin, at both depths; MAPE in %")
    print(
        table.drop(columns="_ape").to_string(
            index=False, float_format=lambda v: f"{v:.2f}", na_rep="-"
        )
    )
    # pooled forms and carry-forward predict every held-out run: compare them on all
    carry = table[table.method == "carry"].set_index(["metric", "origin"])["mape_own"]
    for form in ("pooled free", "pooled p2"):
        sub = table[table.method == form]
        wins = [
            f"{r.metric} d<={r.origin}"
            for r in sub.itertuples()
            if r.mape_own < carry[(r.metric, r.origin)]
        ]
        print(f"{form} beats carry-forward at: {', '.join(wins) or 'none'}")


if __name__ == "__main__":
    main()
