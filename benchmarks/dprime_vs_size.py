"""Does D′ predict model quality better than plain data size?  (issue 41)

Reads the runs table ``benchmarks/data/dprime_vs_size_runs.csv`` (one small SASRec
configuration on five logs × three user fractions × three seeds; the command that
trained it is in docs/dprime-vs-size.md) and the data measures of each run's training
data, ``benchmarks/data/dprime_vs_size_measures.csv``.  Then, leaving one log out at a
time, it predicts that log's HR@10 and NDCG@10 (seed means, one point per fraction)
from the other logs' points with one-variable least squares on each predictor:

* ``interactions`` — log of the training targets (the run's ``train_tokens``);
* ``dprime_items`` — log of D′ over item ids (the runs table's ``d_prime``);
* ``length_only`` — log of Σ|S|² over the training sequences: what D′ over item ids
  reduces to when no user repeats a window (docs/science.md §2);
* ``mean_length`` — log of the mean training sequence length;
* ``dprime_popularity10`` / ``dprime_cluster20`` — log of D′ over token maps
  (perflaw.quality.tokens), built from each run's own training data;
* ``shannon`` / ``lempel_ziv`` / ``compression`` — the companion measures (bits, nats,
  zlib ratio) of the training data, as they are;
* ``constant`` — the other logs' mean.

It prints the mean absolute error per held-out log and per predictor, and writes it to
``benchmarks/data/dprime_vs_size_lolo.csv``.

    python benchmarks/dprime_vs_size.py              # the table, from the committed files
    python benchmarks/dprime_vs_size.py --measure    # recompute the measures first
                                                     # (needs ../shared/data)
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

DATA = ROOT / "benchmarks" / "data"
RUNS = DATA / "dprime_vs_size_runs.csv"
MEASURES = DATA / "dprime_vs_size_measures.csv"
LOLO = DATA / "dprime_vs_size_lolo.csv"
SHARED = ROOT.parent / "shared" / "data"
TOKEN_MAPS = {"popularity10": "popularity:10", "cluster20": "cluster:20"}
#: predictor -> (column of the merged table, log-transform?)
PREDICTORS = {
    "interactions": ("train_tokens", True),
    "dprime_items": ("d_prime", True),
    "length_only": ("sum_sq_length", True),
    "mean_length": ("mean_length", True),
    "dprime_popularity10": ("dprime_popularity10", True),
    "dprime_cluster20": ("dprime_cluster20", True),
    "shannon": ("shannon_entropy", False),
    "lempel_ziv": ("actual_entropy", False),
    "compression": ("compression_ratio", False),
}
METRICS = ("hr@10", "ndcg@10")


def training_frame(data, fraction: float, seed: int):
    """The run's training sequences as a (user, item, time) frame, as the trainer
    takes them: the users of ``training_users``, each without its last two items."""
    import polars as pl

    from perflaw.train.data import training_users

    users = training_users(data.n_users, fraction, seed)
    seqs = [data.sequences[u][:-2] for u in users]
    lengths = [len(s) for s in seqs]
    return pl.DataFrame(
        {
            "user": np.repeat(np.arange(len(seqs)), lengths),
            "item": np.concatenate(seqs),
            "time": np.concatenate([np.arange(n) for n in lengths]),
        }
    )


def measure_runs(runs: pd.DataFrame, data_dir: Path) -> pd.DataFrame:
    """D′ over item ids and over each token map, and the companions, per training set."""
    from perflaw.quality import measure
    from perflaw.quality.tokens import build_token_map
    from perflaw.train.data import load_sequences

    rows = []
    keys = runs[["dataset", "data_fraction", "seed"]].drop_duplicates()
    for dataset, group in keys.groupby("dataset"):
        data = load_sequences(data_dir / f"{dataset}.parquet")
        for fraction, seed in group[["data_fraction", "seed"]].itertuples(index=False):
            frame = training_frame(data, float(fraction), int(seed))
            base = measure(frame, compression_chunks=None).summary
            row = {
                "dataset": dataset,
                "data_fraction": fraction,
                "seed": seed,
                "tokens": base["tokens"],
                "dprime_items_check": base["d_prime"],
                "repeat_users_items": base["repeat_users"],
                "shannon_entropy": base["shannon_entropy"],
                "actual_entropy": base["actual_entropy"],
                "compression_ratio": base["compression_ratio"],
            }
            for name, spec in TOKEN_MAPS.items():
                tm = build_token_map(frame, spec, seed=0)
                s = measure(frame, token_map=tm, companions=False).summary
                row[f"dprime_{name}"] = s["d_prime"]
                row[f"repeat_users_{name}"] = s["repeat_users"]
            row["users"] = base["users"]
            row.update(length_stats(frame))
            rows.append(row)
            print(f"measured {dataset} fraction={fraction} seed={seed}", file=sys.stderr)
    return pd.DataFrame(rows)


def length_stats(frame) -> dict:
    """Σ|S|² and the mean length of a training frame's sequences."""
    lengths = frame.group_by("user").len().get_column("len").to_numpy().astype(float)
    return {"sum_sq_length": float((lengths**2).sum()), "mean_length": float(lengths.mean())}


def add_length_stats(measures: pd.DataFrame, data_dir: Path) -> pd.DataFrame:
    """Fill the length columns of a measures file made before they existed."""
    from perflaw.train.data import load_sequences

    if {"sum_sq_length", "mean_length"} <= set(measures.columns):
        return measures
    rows = []
    for dataset, group in measures.groupby("dataset", sort=False):
        data = load_sequences(data_dir / f"{dataset}.parquet")
        for fraction, seed in group[["data_fraction", "seed"]].itertuples(index=False):
            rows.append(length_stats(training_frame(data, float(fraction), int(seed))))
    out = measures.copy()
    order = [i for _, g in measures.groupby("dataset", sort=False) for i in g.index]
    for key in ("sum_sq_length", "mean_length"):
        out.loc[order, key] = [r[key] for r in rows]
    return out


def points(runs: pd.DataFrame, measures: pd.DataFrame) -> pd.DataFrame:
    """Seed means per (log, fraction): the metric and every predictor."""
    keys = ["dataset", "data_fraction"]
    # the measures file may hold fewer seeds than the runs (measuring is slow): the
    # measures of a (log, fraction) are the mean over the seeds measured
    per_point = measures.drop(columns="seed").groupby(keys, as_index=False).mean()
    run_cols = sorted({"train_tokens", "d_prime", *METRICS})
    means = runs.groupby(keys, as_index=False)[run_cols].mean()
    seeds = runs.groupby(keys).size().rename("seeds").reset_index()
    return means.merge(seeds, on=keys).merge(per_point, on=keys, how="inner")


def lolo(pts: pd.DataFrame) -> pd.DataFrame:
    """Mean absolute error of each predictor on each held-out log."""
    out = []
    for metric in METRICS:
        for held in sorted(pts["dataset"].unique()):
            train, test = pts[pts["dataset"] != held], pts[pts["dataset"] == held]
            y = train[metric].to_numpy()
            row = {
                "metric": metric,
                "held_out": held,
                "constant": np.abs(test[metric] - y.mean()).mean(),
            }
            for name, (col, log) in PREDICTORS.items():
                x = train[col].to_numpy(float)
                xt = test[col].to_numpy(float)
                if log:
                    x, xt = np.log(x), np.log(xt)
                slope, intercept = np.polyfit(x, y, 1)
                row[name] = float(np.abs(test[metric].to_numpy() - (intercept + slope * xt)).mean())
            out.append(row)
    return pd.DataFrame(out)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--measure", action="store_true", help="recompute the measures file")
    ap.add_argument("--data-dir", type=Path, default=SHARED, help="where the logs are")
    ap.add_argument("--markdown", action="store_true", help="print markdown tables")
    args = ap.parse_args(argv)
    runs = pd.read_csv(RUNS)
    if args.measure or not MEASURES.exists():
        measure_runs(runs, args.data_dir).to_csv(MEASURES, index=False, float_format="%.10g")
    measures = pd.read_csv(MEASURES)
    if not {"sum_sq_length", "mean_length"} <= set(measures.columns):
        measures = add_length_stats(measures, args.data_dir)
        measures.to_csv(MEASURES, index=False, float_format="%.10g")
    pts = points(runs, measures)
    table = lolo(pts)
    table.to_csv(LOLO, index=False, float_format="%.5f")
    pd.set_option("display.width", 200)
    names = ["constant", *PREDICTORS]
    print(f"{len(runs)} runs; seeds per (log, fraction): {pts['seeds'].min()}-{pts['seeds'].max()}")
    for metric in METRICS:
        part = table[table["metric"] == metric].set_index("held_out")[names]
        # five logs are five paired comparisons: how often each predictor beats the
        # constant on a held-out log says more than a mean a single log can swing
        wins = part.lt(part["constant"], axis=0).sum()
        part.loc["mean"] = part.mean()
        if args.markdown:
            print(f"\n{metric}, mean absolute error (lower is better)\n")
            print("| held-out log | " + " | ".join(names) + " |")
            print("|---|" + "---:|" * len(names))
            for log, r in part.iterrows():
                best = r.min()
                cells = [f"**{v:.3f}**" if v == best else f"{v:.3f}" for v in r]
                print(f"| {log} | " + " | ".join(cells) + " |")
            n = len(part) - 1
            cells = ["–"] + [f"{int(wins[c])} of {n}" for c in names[1:]]
            print("| logs where it beats the constant | " + " | ".join(cells) + " |")
            continue
        print(f"\nleave-one-log-out mean absolute error of {metric} (lower is better)")
        print(part.to_string(float_format=lambda v: f"{v:.4f}"))
        print(
            "held-out logs where it beats the constant: "
            + ", ".join(f"{c} {int(wins[c])}" for c in names[1:])
        )
        means = part.loc["mean"]
        print(
            f"best: {means.idxmin()} ({means.min():.4f}); "
            f"interactions {means['interactions']:.4f}; constant {means['constant']:.4f}"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
