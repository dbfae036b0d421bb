"""Markdown tables for docs/performance-law.md: per-panel R² against the published R²,
and extrapolation in depth (fit layers <= 16, predict layers 24 and 32).

    python benchmarks/acceptance_tables.py /path/to/runs/
    (the folder holds performance_law_grid.csv and performance_law_grid_published_r2.csv)
"""

from __future__ import annotations

import sys
import warnings
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from perflaw.fitting import LawFitter  # noqa: E402


def main() -> None:
    root = Path(sys.argv[1] if len(sys.argv) > 1 else "../shared/data/runs")
    df = pd.read_csv(root / "performance_law_grid.csv")
    pub = pd.read_csv(root / "performance_law_grid_published_r2.csv")
    print(
        "| panel | dataset | max len | metric | published R² | perflaw R² (p free) | "
        "difference | perflaw R² (p = 2) | N* | d* |"
    )
    print("|---|---|---|---|---|---|---|---|---|---|")
    for panel, g in df.groupby("panel"):
        for metric in ("hr@10", "ndcg@10"):
            row = pub[
                (pub.panel == panel)
                & (pub.law == "PerformanceLaw")
                & (pub.metric.str.lower() == metric)
            ]
            published = float(row.published_r2.iloc[0])
            f = LawFitter(seed=0).fit(g[["layers", "d_emb"]], g[metric], metric=metric)
            f2 = LawFitter(seed=0, p=2).fit(g[["layers", "d_emb"]], g[metric], metric=metric)
            r2 = f.diagnostics_["r2"]
            n_opt, d_opt = f.derived_["N_opt"], f.derived_["d_opt"]
            fmt = lambda v: "—" if not np.isfinite(v) else f"{v:.3g}"  # noqa: E731
            print(
                f"| {panel} | {g.dataset.iloc[0]} | {g.max_seq_len.iloc[0]} | {metric} | "
                f"{published:.4f} | {r2:.4f} | {r2 - published:+.4f} | "
                f"{f2.diagnostics_['r2']:.4f} | {fmt(n_opt)} | {fmt(d_opt)} |"
            )
    print()
    print(
        "| panel | metric | p | fit points / params | MAPE per held-out depth (MAE) | "
        "max APE | naive MAPE (carry layers = 16 forward) |"
    )
    print("|---|---|---|---|---|---|---|")
    for panel, g in df.groupby("panel"):
        for metric in ("hr@10", "ndcg@10"):
            for p in (None, 2.0):
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore")
                    f = LawFitter(seed=0, p=p).fit(
                        g[["layers", "d_emb"]], g[metric], holdout="layers>16"
                    )
                h = f.holdout_
                cells = []
                for L in sorted(h.layers.unique()):
                    m = h.layers == L
                    cells.append(
                        f"{L}: {np.mean(np.abs(h.pct_error[m])):.2f}% "
                        f"({np.mean(np.abs(h.error[m])):.4f})"
                    )
                base = g[g.layers == 16].set_index("d_emb")[metric]
                naive = (
                    np.mean(np.abs(base.loc[h.d_emb].to_numpy() - h.observed) / h.observed) * 100
                )
                print(
                    f"| {panel} | {metric} | {'free' if p is None else 'p = 2'} | "
                    f"{f.diagnostics_['n_points']} / {f.diagnostics_['n_params']} | "
                    f"{'; '.join(cells)} | {f.holdout_metrics_['max_ape']:.2f}% | {naive:.2f}% |"
                )


if __name__ == "__main__":
    main()
