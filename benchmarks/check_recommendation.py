"""Fit the Performance Law on a sweep's seed means, ask recommend-config, train the pick.

The trained check of issue 12: the configuration recommend-config ranks first under the
budget (the best prediction of its ``top``; the decision may instead keep a trained run
that nothing is predicted to beat) is trained with fresh seeds
(not used by the fit) at data fraction 1, and its mean test metric is compared with the
interval ``perflaw recommend-config`` gave.  Writes ``means.csv``, ``fit.json``,
``law.json``, ``recommend.json``, ``check.csv`` and ``check.json`` into ``--out``.

    python benchmarks/check_recommendation.py --runs RUNS.csv --log LOG.parquet \
        --budget-from 4 64 [--metric ndcg@10] [--seeds 3,4,5] [--device cuda] --out DIR
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from perflaw.decide.params import count_parameters  # noqa: E402
from perflaw.train.runs_table import read_runs_file, seed_means  # noqa: E402
from perflaw.train.trainer import _LATER_FIELDS  # noqa: E402


def perflaw(*args: str) -> str:
    res = subprocess.run([sys.executable, "-m", "perflaw", *args], capture_output=True, text=True)
    if res.returncode not in (0, 3):
        raise SystemExit(f"perflaw {' '.join(args)} failed: {res.stderr.strip()[-2000:]}")
    return res.stdout


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--runs", required=True)
    p.add_argument("--log", required=True)
    p.add_argument(
        "--budget-from",
        nargs=2,
        type=int,
        metavar=("LAYERS", "D_EMB"),
        help="parameter budget = the total parameters of this configuration",
    )
    p.add_argument("--metric", default="ndcg@10")
    p.add_argument("--seeds", default="3,4,5")
    p.add_argument("--bootstrap", type=int, default=200)
    p.add_argument("--device", default=None)
    p.add_argument("--out", required=True)
    p.add_argument("--max-steps", default=None)  # smoke-test overrides, passed to sweep
    p.add_argument("--min-steps", default=None)
    p.add_argument("--eval-every", default=None)
    p.add_argument("--max-len", default=None)
    p.add_argument("--threads", default=None)
    a = p.parse_args(argv)
    out = Path(a.out)
    out.mkdir(parents=True, exist_ok=True)

    table = read_runs_file(a.runs)
    means = seed_means(table)
    means.to_csv(out / "means.csv", index=False)
    dataset = str(table["dataset"].iloc[0])
    n_items = (
        int(
            round(
                (
                    table["params_total"].iloc[0]
                    - count_parameters(
                        int(table["layers"].iloc[0]),
                        int(table["d_emb"].iloc[0]),
                        arch="sasrec",
                        n_items=0,
                        max_len=int(table["max_len"].iloc[0]),
                    ).total
                )
                / table["d_emb"].iloc[0]
            )
        )
        - 1
    )
    max_len = int(table["max_len"].iloc[0])
    fit = perflaw(
        "fit",
        str(out / "means.csv"),
        "--metric",
        a.metric,
        "--group-by",
        "data_fraction",
        "--joint",
        "dprime",
        "--d-prime-col",
        "d_prime",
        "--bootstrap",
        str(a.bootstrap),
        "--out",
        str(out / "law.json"),
        "--json",
    )
    (out / "fit.json").write_text(fit)
    layers, d = a.budget_from
    budget = count_parameters(layers, d, arch="sasrec", n_items=n_items, max_len=max_len).total
    d_full = float(
        means.loc[means["data_fraction"] == means["data_fraction"].max(), "d_prime"].mean()
    )
    rec = json.loads(
        perflaw(
            "recommend-config",
            "--law",
            str(out / "law.json"),
            "--budget",
            str(budget),
            "--n-items",
            str(n_items),
            "--max-len",
            str(max_len),
            "--d-prime",
            str(d_full),
            "--json",
        )
    )
    (out / "recommend.json").write_text(json.dumps(rec, indent=1))
    # the configuration ranked first by prediction (the table's row 1 is the decision's
    # pick, which may keep a trained run; the metrics here are higher-is-better)
    pick = max(
        (r for r in rec["top"] if r["prediction"] is not None and r["supported"]),
        key=lambda r: r["prediction"],
    )
    print(
        f"budget {budget} params (= {layers} layers x d {d}); pick layers={pick['layers']} "
        f"d_emb={pick['d_emb']}: predicted {a.metric} {pick['prediction']:.4f} "
        f"[{pick.get('lower')}, {pick.get('upper')}]",
        flush=True,
    )

    settings = dict(w.split("=", 1) for w in str(table["settings"].iloc[0]).split())
    for k, v in _LATER_FIELDS.items():  # fields the table predates: the value it implies
        settings.setdefault(k, str(v))
    args = [
        "sweep",
        a.log,
        "--backbone",
        "sasrec",
        "--layers",
        str(pick["layers"]),
        "--d-emb",
        str(pick["d_emb"]),
        "--data-fraction",
        "1",
        "--max-len",
        str(max_len),
        "--loss",
        str(table["objective"].iloc[0]),
        "--quiet",
        "--csv",
    ]
    for k, v in settings.items():
        if v != "None":
            args += [f"--{k.replace('_', '-')}", v]
    overrides = {
        "--max-steps": a.max_steps,
        "--min-steps": a.min_steps,
        "--eval-every": a.eval_every,
        "--max-len": a.max_len,
        "--threads": a.threads,
    }
    for k, v in overrides.items():
        if v is not None:
            if k in args:
                args[args.index(k) + 1] = v
            else:
                args += [k, v]
    if str(table["eval"].iloc[0]) == "full-masked":
        args.append("--mask-seen")
    if a.device:
        args += ["--device", a.device]
    check_out = out / "check.csv"
    procs = [
        subprocess.Popen(
            [sys.executable, "-m", "perflaw", *args, "--seed", s, "--out", str(check_out)],
            stdout=subprocess.DEVNULL,
        )
        for s in a.seeds.split(",")
    ]
    for pr in procs:
        pr.wait()
    trained = read_runs_file(check_out)
    values = trained[a.metric].to_numpy(float)
    lo, hi = pick.get("lower"), pick.get("upper")
    mean = float(values.mean())
    result = {
        "budget_params": budget,
        "pick": pick,
        "seeds": a.seeds,
        "trained": values.tolist(),
        "trained_mean": mean,
        "trained_sd": float(values.std(ddof=1)) if len(values) > 1 else None,
        "inside_interval": (lo is not None and hi is not None and lo <= mean <= hi),
        "best_run_in_table": float(
            means.loc[means["data_fraction"] == means["data_fraction"].max(), a.metric].max()
        ),
        "dataset": dataset,
    }
    (out / "check.json").write_text(json.dumps(result, indent=1))
    print(json.dumps(result), flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
