"""Scaling laws on the srt SASRec runs (issue 2 acceptance; numbers in docs/validation.md).

    python benchmarks/srt_scaling.py [--bootstrap 200]

Runs: ../shared/data/runs/srt_sasrec_scaling_runs.csv (Zivic et al., SIGIR 2024), the
runs trained with 100 sampled negatives (test losses differ between 100 and 300
negatives, so losses are compared within one setting).  For each metric (test NDCG@5,
test loss) and each parameter count (total, non-embedding):

* Chinchilla fitted on every data size, and with the largest data size (8.2M
  interactions) held out, with the relative error per held-out run;
* the power law in the parameter count at each data size;
* the power law of the best validation loss in the parameter count, per data size;
* the compute-optimal allocation the NDCG fit implies (bootstrap by model shape).
"""

from __future__ import annotations

import argparse
import os
import sys
import warnings
from pathlib import Path

import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from perflaw.decide.allocation import allocate  # noqa: E402
from perflaw.fitting import LawFitter  # noqa: E402

# the team data beside the checkout (../shared/data), or where PERFLAW_SHARED_DATA says
SHARED_DATA = Path(os.environ.get("PERFLAW_SHARED_DATA", ROOT.parent / "shared" / "data"))
RUNS = SHARED_DATA / "runs" / "srt_sasrec_scaling_runs.csv"
COUNTS = {"total": "model_total_params", "non-embedding": "model_non_emb_params"}
METRICS = {"test_ndcg_at_5": "one_minus", "test_eval_loss": "none"}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--bootstrap", type=int, default=200)
    args = ap.parse_args()
    print(f"load average: {os.getloadavg()[0]:.2f}")
    runs = pd.read_csv(RUNS)
    df = runs[runs.nce_num_negatives == 100].reset_index(drop=True)
    print(f"{len(df)} runs with 100 negatives; data sizes {sorted(df.n_inters.unique().tolist())}")
    warnings.simplefilter("ignore")
    rows, held = [], []
    for metric, tr in METRICS.items():
        for count, col in COUNTS.items():
            X = df.assign(N=df[col].astype(float), D=df.n_inters.astype(float))
            opts = dict(transform=tr, N_label=col, D_label="n_inters")
            full = LawFitter("chinchilla", seed=0, **opts).fit(X, df[metric], metric=metric)
            ho = LawFitter("chinchilla", seed=0, **opts).fit(
                X, df[metric], metric=metric, holdout="n_inters>=8e6"
            )
            p = full.params_
            rows.append(
                {
                    "metric": metric,
                    "N": count,
                    "r2": full.diagnostics_["r2"],
                    "rmse": full.diagnostics_["rmse"],
                    "E": p.E,
                    "A": p.A,
                    "B": p.B,
                    "alpha": p.alpha,
                    "beta": p.beta,
                    "starts_best": f"{full.n_best_starts_}/{full.n_starts_}",
                    "holdout_r2_fit": ho.diagnostics_["r2"],
                    "holdout_mape": ho.holdout_metrics_["mape"],
                    "holdout_max_ape": ho.holdout_metrics_["max_ape"],
                    "warnings": len(full.warnings_),
                }
            )
            h = ho.holdout_[
                [
                    "N",
                    "layers" if "layers" in ho.holdout_ else "n_layers",
                    "hidden_size",
                    "observed",
                    "predicted",
                    "pct_error",
                ]
            ].copy()
            h.insert(0, "fit", f"{metric} ~ {count}")
            held.append(h)
            if metric == "test_ndcg_at_5" and count == "total":
                ndcg_total = (X, opts)
    pd.set_option("display.width", 200)
    pd.set_option("display.max_columns", 30)
    print("\nChinchilla fits (all data sizes) and holdout of the largest data size (8.2M):")
    print(pd.DataFrame(rows).to_string(index=False, float_format=lambda v: f"{v:.4g}"))
    print("\nHeld-out runs (n_inters = 8,178,335), relative error in %:")
    print(pd.concat(held).to_string(index=False, float_format=lambda v: f"{v:.4g}"))

    print("\nPower law in the parameter count, per data size (R², alpha):")
    prow = []
    for metric, tr in dict(METRICS, valid_eval_loss_min="none").items():
        for count, col in COUNTS.items():
            for n, sub in df.groupby("n_inters"):
                if sub[col].nunique() < 4:
                    continue
                try:
                    f = LawFitter("power", transform=tr, x_label=col).fit(
                        {"x": sub[col].to_numpy(float)}, sub[metric].to_numpy(), metric=metric
                    )
                    prow.append(
                        {
                            "metric": metric,
                            "N": count,
                            "n_inters": n,
                            "points": len(sub),
                            "r2": f.diagnostics_["r2"],
                            "E": f.params_.E,
                            "x0": f.params_.x0,
                            "alpha": f.params_.alpha,
                        }
                    )
                except Exception as exc:  # noqa: BLE001 - report and go on
                    prow.append(
                        {
                            "metric": metric,
                            "N": count,
                            "n_inters": n,
                            "points": len(sub),
                            "error": str(exc)[:80],
                        }
                    )
    print(pd.DataFrame(prow).to_string(index=False, float_format=lambda v: f"{v:.4g}"))

    X, opts = ndcg_total
    # clustered runs: resample whole model shapes (layers x width) across data sizes
    groups = (X.n_layers.astype(str) + "x" + X.hidden_size.astype(str)).to_numpy()
    f = LawFitter("chinchilla", seed=0, bootstrap=args.bootstrap, bootstrap_by="group", **opts).fit(
        X, df.test_ndcg_at_5, groups=groups, metric="test_ndcg_at_5"
    )
    print(
        f"\nNDCG@5 ~ total parameters, {args.bootstrap} bootstrap refits by model shape "
        f"({f.n_bootstrap_failed_} failed):"
    )
    print(f.summary_.to_string(float_format=lambda v: f"{v:.4g}"))
    print("\nCompute-optimal allocation it implies (C = 6 N D, N total parameters):")
    arows = []
    for C in (1e15, 1e16, 1e17, 1e18):
        a = allocate(f, C, n_items=85682, max_len=50)
        arows.append(
            {
                "C": C,
                "n_opt": a.n_opt,
                "n_lo": a.ci["n_opt"][0],
                "n_hi": a.ci["n_opt"][1],
                "d_opt": a.d_opt,
                "d_lo": a.ci["d_opt"][0],
                "d_hi": a.ci["d_opt"][1],
                "D/N": a.tokens_per_param,
                "config": f"{a.config['layers']}L/{a.config['d_emb']}d",
            }
        )
    print(pd.DataFrame(arows).to_string(index=False, float_format=lambda v: f"{v:.3g}"))
    for note in a.notes:
        print("note:", note)


if __name__ == "__main__":
    main()
