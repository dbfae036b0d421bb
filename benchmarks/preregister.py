"""Write down what the laws predict for a configuration before it is trained.

    python benchmarks/preregister.py RUNS.csv LAYERS D_EMB --named-for hr@10 \\
        --axis d_emb --out benchmarks/results_issue12/prediction-1x112.json

For each metric (hr@10, ndcg@10) it runs the commands a user would run: ``perflaw fit``
with the backtest's own choice and with each form fixed (carry, p2, free), ``perflaw
predict --kind observation`` for the configuration under each, and ``perflaw
recommend-config`` under the chosen law, and records them with the runs table's commit
and blob, so that the file can be committed before the run exists and the trained seed
mean compared with it afterwards (``amazon_beauty_report.py``).  ``kept`` (the best
trained run the decision compares with) and ``next`` (the run it names) are recorded as
fields; the first six prediction files, written by hand, carry them only inside the
``recommend_config`` text.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import subprocess
import sys
import tempfile
from pathlib import Path

from perflaw.files import write_text

ROOT = Path(__file__).resolve().parents[1]
FORMS = ("carry", "p2", "free")


def perflaw(*args: str) -> dict | list:
    out = subprocess.run(
        [sys.executable, "-m", "perflaw", *args, "--json"],
        capture_output=True,
        text=True,
        cwd=ROOT,
    )
    if out.returncode != 0:
        raise RuntimeError(f"perflaw {' '.join(args)}: {out.stderr.strip() or out.stdout}")
    return json.loads(out.stdout)


def git(*args: str) -> str:
    return subprocess.run(
        ["git", *args], capture_output=True, text=True, cwd=ROOT, check=True
    ).stdout.strip()


def metric_record(runs: str, metric: str, layers: int, d_emb: int, axis: str, tmp: Path):
    chosen_law = tmp / f"{metric}-auto.json"
    fit = perflaw("fit", runs, "-m", metric, "--backtest-axis", axis, "--out", str(chosen_law))
    sel = fit["selection"]
    chosen = sel["form"]
    rec: dict = {"chosen_form": f"{chosen} ({sel['reason']})"}
    for form in FORMS:
        law = tmp / f"{metric}-{form}.json"
        try:
            perflaw(
                "fit", runs, "-m", metric, "--backtest-axis", axis, "--form", form,
                "--out", str(law),
            )  # fmt: skip
            (p,) = perflaw(
                "predict", "--law", str(law), "--layers", str(layers), "--d-emb", str(d_emb),
                "--kind", "observation",
            )  # fmt: skip
            rec[form] = {k: p[k] for k in ("prediction", "lower", "upper")}
        except RuntimeError as e:  # a form that cannot be fitted here is recorded as why
            rec[form] = f"none: {e}"
    decision = perflaw("recommend-config", "--law", str(chosen_law))
    rec["recommend_config"] = decision["decision"]
    rec["kept"] = decision["best_observed"]
    rec["next"] = decision["next"]
    return rec


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("runs", help="runs table, relative to the repository root")
    ap.add_argument("layers", type=int)
    ap.add_argument("d_emb", type=int)
    ap.add_argument("--named-for", required=True, help="the metric whose decision named it")
    ap.add_argument("--axis", default="d_emb", choices=("layers", "d_emb"))
    ap.add_argument("--metrics", default="hr@10,ndcg@10")
    ap.add_argument("--trained", default="", help="the command that will train it")
    ap.add_argument("--out", required=True)
    a = ap.parse_args()
    dest = Path(a.out)
    if dest.exists():
        sys.exit(f"{dest} exists: a prediction file is written once, before the run")
    if git("status", "--porcelain", "--", a.runs):
        sys.exit(
            f"{a.runs} has uncommitted changes: commit the table the predictions are made from"
        )
    n_runs = sum(1 for _ in open(ROOT / a.runs)) - 1
    now = dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC")
    out: dict = {
        "what": (
            f"Predictions for layers {a.layers} x d_emb {a.d_emb}, written before any such "
            f"run was trained ({now}), to check recommend-config's decision for "
            f"{a.named_for.upper()} (benchmarks/preregister.py)"
        ),
        "runs_table": (
            f"{a.runs} as of commit {git('rev-parse', '--short', 'HEAD')} (git blob "
            f"{git('rev-parse', 'HEAD:' + a.runs)}, {n_runs} runs)"
        ),
        "commands": [
            f"perflaw fit {a.runs} -m METRIC --backtest-axis {a.axis} --out law.json  "
            "[and --form carry | p2 | free for each form]",
            f"perflaw predict --law law.json --layers {a.layers} --d-emb {a.d_emb} "
            "--kind observation",
            "perflaw recommend-config --law law.json (the backtest's choice)",
        ],
        "kind": "observation (95 % backtest-calibrated interval for a new configuration's "
        "seed mean)",
        "named_for": a.named_for,
    }
    with tempfile.TemporaryDirectory() as tmp:
        for m in a.metrics.split(","):
            out[m] = metric_record(a.runs, m, a.layers, a.d_emb, a.axis, Path(tmp))
    if a.trained:
        out["trained"] = a.trained
    write_text(dest, json.dumps(out, indent=1, ensure_ascii=False) + "\n")
    print(json.dumps(out, indent=1, ensure_ascii=False))


if __name__ == "__main__":
    main()
