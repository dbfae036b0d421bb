"""Configurations recommend-config named before they were trained, against what they scored.

Each row of ``benchmarks/data/named-runs.csv`` is a prediction recorded before the
configuration was trained: the form ``perflaw fit`` chose on the amazon-beauty runs table
as it was then (``runs_in_table`` runs; backtest along d_emb), its prediction and 95 %
interval for a new configuration's seed mean (``perflaw predict --kind observation``),
and carry-forward's prediction (the baseline). The outcome is the seed mean of the
configuration's runs in ``benchmarks/data/amazon-beauty-sweep.csv``. Printed: one
Markdown row per named configuration and metric, then the coverage of the intervals and
the mean absolute error of the chosen form against carry-forward's on the same runs.

    python benchmarks/named_runs.py
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

DATA = Path(__file__).resolve().parent / "data"


def outcomes() -> pd.DataFrame:
    """Seed means (and seed count) per (layers, d_emb) of the amazon-beauty table."""
    runs = pd.read_csv(DATA / "amazon-beauty-sweep.csv")
    g = runs.groupby(["layers", "d_emb"])
    out = g[["hr@10", "ndcg@10"]].mean()
    out["seeds"] = g.size()
    return out.reset_index()


def table() -> pd.DataFrame:
    named = pd.read_csv(DATA / "named-runs.csv")
    trained = outcomes().melt(
        id_vars=["layers", "d_emb", "seeds"], var_name="metric", value_name="observed"
    )
    t = named.merge(trained, on=["layers", "d_emb", "metric"], how="left")
    t["inside"] = (t["observed"] >= t["lower"]) & (t["observed"] <= t["upper"])
    t["error_form"] = (t["prediction"] - t["observed"]).abs()
    t["error_carry"] = (t["carry"] - t["observed"]).abs()
    return t


def main() -> None:
    t = table()
    print(
        "| named | for | metric | runs in the table | form | predicted [95 %] | carry-forward "
        "| trained (seed mean) | inside |"
    )
    print("|---|---|---|---|---|---|---|---|---|")
    for r in t.itertuples():
        trained = "not trained yet"
        if not pd.isna(r.observed):
            trained = f"{r.observed:.4f} ({int(r.seeds)} seeds)"
        inside = "—" if pd.isna(r.observed) else ("yes" if r.inside else "**no**")
        print(
            f"| {r.layers} × {r.d_emb} | {r.named_for} | {r.metric} | {r.runs_in_table} "
            f"| {r.form} | {r.prediction:.4f} [{r.lower:.4f}, {r.upper:.4f}] | {r.carry:.4f} "
            f"| {trained} | {inside} |"
        )
    done = t.dropna(subset=["observed"])
    print()
    for label, part in (
        ("the metric each was named for", done[done.metric == done.named_for]),
        ("both metrics", done),
    ):
        fitted = part[part.form != "carry"]
        print(
            f"- {label}: {int(part.inside.sum())} of {len(part)} inside their intervals; "
            f"where a fitted form was chosen ({len(fitted)}), mean absolute error "
            f"{fitted.error_form.mean():.5f} against carry-forward's "
            f"{fitted.error_carry.mean():.5f} on the same runs"
        )
    pending = t[t.observed.isna()]
    if len(pending):
        names = sorted({f"{r.layers} × {r.d_emb}" for r in pending.itertuples()})
        print(f"- named but not trained yet: {', '.join(names)}")


if __name__ == "__main__":
    main()
