"""The issue-9 "Done when" protocol on every published Performance-Law panel.

For every panel of ``performance_law_grid.csv``, both metrics, and every cut among
``layers <= 12``, ``<= 16``, ``<= 32`` that leaves at least three layer counts to fit and
deeper runs to predict, it runs exactly what a user runs::

    perflaw fit RUNS --metric M --where panel==P --holdout "layers>CUT" --json --no-save

and scores the held-out runs against the carry-forward baseline (the value at the deepest
fitted layer count for the same d_emb).  Then, from the law fitted on the smallest such
part of each panel, ``perflaw recommend-config --layers <grid> --d-emb <grid> --json``
over the panel's whole grid, scored by regret (% of the grid's best value) against
simply taking the best run already trained.  Finally ``--form free`` R² against the
published R².

    python benchmarks/backtest_panels.py [RUNS_DIR]

``RUNS_DIR`` defaults to ``../shared/data/runs``.  Set ``PERFLAW_SRC`` to a directory
holding another checkout's ``perflaw`` package to measure that code instead (that is how
the "before" figures of docs/validation.md were made, on commit 51b7e68, whose
recommend-config needs ``--budget``; the script passes a budget no grid reaches there).
"""

from __future__ import annotations

import json
import os
import sys
import tempfile
import warnings
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, os.environ.get("PERFLAW_SRC") or str(Path(__file__).resolve().parents[1]))

from click.testing import CliRunner  # noqa: E402

from perflaw.cli import main as cli  # noqa: E402

CUTS = (12, 16, 32)
METRICS = ("hr@10", "ndcg@10")


def run(*args: str) -> dict:
    res = CliRunner().invoke(cli, list(args))
    if res.exit_code != 0:
        raise SystemExit(f"perflaw {' '.join(args)} failed: {res.output}")
    out = res.stdout if hasattr(res, "stdout") else res.output
    return json.loads(out)


def cases(df: pd.DataFrame):
    for panel, g in df.groupby("panel"):
        for cut in CUTS:
            fitted = g[g.layers <= cut]
            if fitted.layers.nunique() >= 3 and (g.layers > cut).any():
                yield int(panel), cut


def main() -> None:
    root = Path(sys.argv[1] if len(sys.argv) > 1 else "../shared/data/runs")
    runs = str(root / "performance_law_grid.csv")
    df = pd.read_csv(runs)
    pub = pd.read_csv(root / "performance_law_grid_published_r2.csv")
    rows, outside, inside, total = [], 0, 0, 0
    for panel, cut in cases(df):
        g = df[df.panel == panel]
        for metric in METRICS:
            obj = run(
                "fit",
                runs,
                "--metric",
                metric,
                "--where",
                f"panel=={panel}",
                "--holdout",
                f"layers>{cut}",
                "--json",
                "--no-save",
            )
            pts = pd.DataFrame(obj["holdout"]["points"])
            last = g[g.layers <= cut]
            last = last[last.layers == last.layers.max()].set_index("d_emb")[metric]
            carry = last.loc[pts.d_emb].to_numpy()
            obs = pts.observed.to_numpy()
            ape = np.abs(pts.predicted - obs) / obs * 100
            carry_ape = np.abs(carry - obs) / obs * 100
            ends = pts[["predicted", "lower", "upper"]].to_numpy(float)
            outside += int(((ends < 0) | (ends > 1) | ~np.isfinite(ends)).sum())
            inside += int(((obs >= pts.lower) & (obs <= pts.upper)).sum())
            total += len(pts)
            rows.append(
                dict(
                    panel=panel,
                    metric=metric,
                    cut=f"<= {cut}",
                    form=obj.get("form", obj.get("law")),
                    mape=ape.mean(),
                    carry_mape=carry_ape.mean(),
                    ratio=ape.mean() / carry_ape.mean(),
                )
            )
    t = pd.DataFrame(rows)
    print(
        "## Held-out deeper runs: default `perflaw fit --holdout 'layers>CUT'` vs carry-forward\n"
    )
    print("| panel | metric | fitted | form | MAPE % | carry-forward MAPE % | ratio |")
    print("|---|---|---|---|---|---|---|")
    for r in t.itertuples():
        print(
            f"| {r.panel} | {r.metric} | layers {r.cut} | {r.form} | {r.mape:.2f} | "
            f"{r.carry_mape:.2f} | {r.ratio:.2f} |"
        )
    print(
        f"\nmedian MAPE: default {t.mape.median():.2f} %, carry-forward "
        f"{t.carry_mape.median():.2f} %; worst ratio to carry's error {t.ratio.max():.2f}; "
        f"coverage of the 95 % intervals {100 * inside / total:.1f} % ({inside}/{total}); "
        f"predictions or interval ends outside [0, 1]: {outside}\n"
    )

    print("## recommend-config over the whole grid, law fitted on the smallest part\n")
    print("| panel | metric | fitted | pick | regret % | best trained | regret % | grid best |")
    print("|---|---|---|---|---|---|---|---|")
    reg = []
    first = {}
    for panel, cut in cases(df):
        first.setdefault(panel, cut)
    with tempfile.TemporaryDirectory() as tmp:
        law = str(Path(tmp) / "law.json")
        for panel, cut in first.items():
            g = df[df.panel == panel]
            layers = ",".join(str(v) for v in sorted(g.layers.unique()))
            widths = ",".join(str(v) for v in sorted(g.d_emb.unique()))
            for metric in METRICS:
                run(
                    "fit",
                    runs,
                    "--metric",
                    metric,
                    "--where",
                    f"panel=={panel} & layers<={cut}",
                    "--out",
                    law,
                    "--json",
                )
                try:
                    obj = run(
                        "recommend-config",
                        "--law",
                        law,
                        "--layers",
                        layers,
                        "--d-emb",
                        widths,
                        "--json",
                    )
                except SystemExit:  # the code before issue 9 needed a budget
                    obj = run(
                        "recommend-config",
                        "--law",
                        law,
                        "--layers",
                        layers,
                        "--d-emb",
                        widths,
                        "--budget",
                        "1e18",
                        "--json",
                    )
                pick = obj.get("recommendation") or obj["top"][0]
                truth = g.set_index(["layers", "d_emb"])[metric]
                best = truth.max()
                trained = g[g.layers <= cut]
                bt = trained.loc[trained[metric].idxmax()]
                r_pick = 100 * (best - truth.loc[(int(pick["layers"]), int(pick["d_emb"]))]) / best
                r_bt = 100 * (best - bt[metric]) / best
                gb = truth.idxmax()
                reg.append(dict(panel=panel, metric=metric, pick=r_pick, trained=r_bt))
                print(
                    f"| {panel} | {metric} | layers <= {cut} | {int(pick['layers'])}×"
                    f"{int(pick['d_emb'])} | {r_pick:.2f} | {int(bt.layers)}×{int(bt.d_emb)} | "
                    f"{r_bt:.2f} | {gb[0]}×{gb[1]} |"
                )
    r = pd.DataFrame(reg)
    per = r.groupby("panel")[["pick", "trained"]].mean()
    print(
        f"\nmean regret: recommend-config {r.pick.mean():.2f} %, best run already trained "
        f"{r.trained.mean():.2f} %; per panel (pick / trained): "
        + ", ".join(f"{p}: {a:.2f} / {b:.2f}" for p, (a, b) in per.iterrows())
        + "\n"
    )

    print("## `--form free` R² against the published R²\n")
    print("| panel | metric | published | perflaw --form free | difference |")
    print("|---|---|---|---|---|")
    pub = pub[pub.law == "PerformanceLaw"]
    worst = np.inf
    for p in pub.itertuples():
        metric = p.metric.lower()
        args = [
            "fit",
            runs,
            "--metric",
            metric,
            "--where",
            f"panel=={p.panel}",
            "--json",
            "--no-save",
        ]
        try:
            obj = run(*args, "--form", "free")
        except SystemExit:  # before issue 9 the default was p free
            obj = run(*args)
        diff = obj["r2"] - p.published_r2
        worst = min(worst, diff)
        print(f"| {p.panel} | {metric} | {p.published_r2:.4f} | {obj['r2']:.4f} | {diff:+.4f} |")
    print(f"\nworst difference {worst:+.4f} (must be >= -0.005)")


if __name__ == "__main__":
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        main()
