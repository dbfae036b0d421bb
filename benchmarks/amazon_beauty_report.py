"""Regenerate docs/sweep.md's amazon-beauty section from the committed runs table.

Every number in that section comes from benchmarks/results_issue12/amazon-beauty-sweep.csv
(made by benchmarks/amazon_beauty_sweep.sh) through perflaw's own fit and backtest, so
the section can be rebuilt whenever the scan grows:

    python benchmarks/amazon_beauty_report.py            # rewrite the section in place
    python benchmarks/amazon_beauty_report.py --print    # print it only
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
import tempfile
import warnings
from pathlib import Path

import pandas as pd

from perflaw.files import atomic_write_text
from perflaw.fitting.selection import backtest

ROOT = Path(__file__).resolve().parents[1]
CSV = "benchmarks/results_issue12/amazon-beauty-sweep.csv"
DOC = ROOT / "docs" / "sweep.md"
#: the 1 x 16 and 1 x 32 runs stopped at the 6,000-step cap, replaced by converged ones
CAPPED = "benchmarks/results_issue12/amazon-beauty-capped-6000.csv"
HEAD = "## A larger log: amazon-beauty (size scan, CPU)"
NEXT = "## Packing: several runs in one process"
METRICS = ("ndcg@10", "hr@10")
RESULTS = ROOT / "benchmarks" / "results_issue12"
#: runs recommend-config named next, whose predictions were committed before they were
#: trained: (file, layers, d_emb, the metric whose recommendation named the run)
CHECKS = (
    ("prediction-1x160.json", 1, 160, "ndcg@10"),
    ("prediction-1x72.json", 1, 72, "hr@10"),
    ("prediction-1x80.json", 1, 80, "hr@10"),
    ("prediction-1x88.json", 1, 88, "hr@10"),
    ("prediction-1x96.json", 1, 96, "hr@10"),
    ("prediction-1x56.json", 1, 56, "hr@10"),
    ("prediction-1x104.json", 1, 104, "hr@10"),
    ("prediction-1x112.json", 1, 112, "hr@10"),
    ("prediction-1x120.json", 1, 120, "hr@10"),
    ("prediction-1x136.json", 1, 136, "hr@10"),
    ("prediction-1x48.json", 1, 48, "hr@10"),
    ("prediction-2x80.json", 2, 80, "hr@10"),
    ("prediction-2x88.json", 2, 88, "hr@10"),
    ("prediction-2x72.json", 2, 72, "hr@10"),
)


def perflaw_json(*args: str) -> dict:
    save = [] if "--out" in args else ["--no-save"]
    cmd = [sys.executable, "-m", "perflaw", "fit", CSV, *save, "--json", *args]
    return json.loads(
        subprocess.run(cmd, capture_output=True, text=True, cwd=ROOT, check=True).stdout
    )


def fit_and_recommend(metric: str) -> tuple[dict, str]:
    """The law fitted with --backtest-axis d_emb (its JSON) and `recommend-config`'s
    one-line decision on it: one fit, saved to a temporary law file."""
    with tempfile.TemporaryDirectory() as tmp:
        law = str(Path(tmp) / "law.json")
        fit = perflaw_json("-m", metric, "--backtest-axis", "d_emb", "--out", law)
        out = subprocess.run(
            [sys.executable, "-m", "perflaw", "recommend-config", "--law", law, "--json"],
            capture_output=True,
            text=True,
            cwd=ROOT,
            check=True,
        ).stdout
    return fit, json.loads(out)["decision"]


def narrow_models(narrow: pd.DataFrame, full: pd.DataFrame) -> str:
    """The reading on the narrow widths, retrained past the 6,000-step cap: their steps
    and how far the capped runs (kept in CAPPED) fell short."""
    capped = pd.read_csv(ROOT / CAPPED)
    parts = []
    for e in (16, 32):
        now, was = narrow[narrow.d_emb == e], capped[capped.d_emb == e]
        parts.append(
            f"1 × {e} ended on patience after {now.steps.min():,}–{now.steps.max():,} steps "
            f"(best at {'/'.join(f'{v:,}' for v in now.best_step)}), NDCG@10 "
            f"{was['ndcg@10'].mean():.4f} → **{now['ndcg@10'].mean():.4f}** and HR@10 "
            f"{was['hr@10'].mean():.4f} → **{now['hr@10'].mean():.4f}**"
        )
    # single seeds of other widths that ended on the cap, retrained the same way
    singles = []
    for _, was in capped[~capped.d_emb.isin([16, 32])].iterrows():
        now = full[
            (full.layers == was.layers) & (full.d_emb == was.d_emb) & (full.seed == was.seed)
        ].iloc[0]
        singles.append(
            f"{was.layers} × {was.d_emb} seed {was.seed} (best step {was.best_step:,} at the "
            f"cap) ended on {now.end} at {now.steps:,} steps with its best at "
            f"{now.best_step:,}: NDCG@10 {was['ndcg@10']:.4f} → {now['ndcg@10']:.4f}, HR@10 "
            f"{was['hr@10']:.4f} → {now['hr@10']:.4f}"
        )
    also = (
        "  The other run"
        + (" that had" if len(singles) == 1 else "s that had")
        + " stopped on the cap, retrained the same way: "
        + "; ".join(singles)
        + ".\n"
        if singles
        else ""
    )
    return (
        "- **Narrow models train slowly.** At the 6,000-step cap every seed of 1 × 16 and\n"
        "  1 × 32 was still improving (`end = cap`, which `perflaw fit` warns about). Retrained\n"
        "  with a 30,000-step cap (the same seeds; the capped rows are kept in\n"
        f"  `{CAPPED}`): " + "; ".join(parts) + ". The capped runs\n"
        "  under-stated the narrow end of the width curve, and the law was fitted to them\n"
        "  until 2026-12-02. Wide models peak early.\n" + also
    )


def braces(values) -> str:
    values = list(values)
    if len(values) == 1:
        return f"{values[0]:g}"
    return "{" + ", ".join(f"{v:g}" for v in values) + "}"


def recommendation_check(d: pd.DataFrame, noise: dict) -> str:
    """The runs recommend-config named next, trained: each seed mean against the
    predictions written down before the run was trained (CHECKS)."""
    rows, summary, files = [], [], []
    for name, n, e, named_for in CHECKS:
        x = d[(d.layers == n) & (d.d_emb == e)]
        if x.empty:
            continue
        pre = json.loads((RESULTS / name).read_text())
        files.append(f"`benchmarks/results_issue12/{name}`")
        before = re.search(r"\d+ runs", pre["runs_table"]).group(0)  # the table it was fit to
        for mt in METRICS:
            p = pre[mt]
            chosen = p["chosen_form"].split()[0]
            # a form with no prediction is recorded as the reason (a string)
            forms = [f for f in ("p2", "free", "carry") if isinstance(p.get(f), dict)]
            law = p[chosen]
            obs = float(x[mt].mean())
            spread = f" ± {x[mt].std():.4f}" if len(x) > 1 else ""
            inside = law["lower"] <= obs <= law["upper"]
            nearest = min(forms, key=lambda f, p=p, obs=obs: abs(p[f]["prediction"] - obs))
            # against the run recommend-config kept then, for this metric: a field in the
            # files preregister.py writes; in the first six, written by hand, only the
            # text: "keeps 1 x 96" or "layers 1 × d_emb 96" (recommend-config's)
            if "kept" in p:
                n0, e0 = p["kept"]["layers"], p["kept"]["d_emb"]
            else:
                kept = re.search(r"(\d+) [x×] (?:d_emb )?(\d+)", p["recommend_config"])
                n0, e0 = int(kept.group(1)), int(kept.group(2))
            ref = d[(d.layers == n0) & (d.d_emb == e0)]
            gap = obs - float(ref[mt].mean())
            z = gap / (noise[mt] * (1 / len(x) + 1 / len(ref)) ** 0.5)
            others = "; ".join(f"{f} {p[f]['prediction']:.4f}" for f in forms if f != chosen)
            rows.append(
                f"| {n} × {e} ({len(x)} seeds) | {mt.upper()}{' (named)' if mt == named_for else ''} "
                f"| {chosen} {law['prediction']:.4f} [{law['lower']:.4f}, {law['upper']:.4f}] "
                f"| {others} | {obs:.4f}{spread} | "
                f"{' / '.join(f'{v:.4f}' for v in x.sort_values('seed')[mt])} | "
                f"{'yes' if inside else '**no**'} | {nearest} | {n0} × {e0}: {gap:+.4f} "
                f"(z = {z:+.1f}) |"
            )
            if mt == named_for:
                if "next" in p:
                    chance = f"{100 * p['next']['chance_to_beat']:.0f}"
                else:
                    text = p["recommend_config"]
                    chance = re.search(r"chance to beat it (\d+) %", text).group(1)
                held = "holds" if z < 2 else "does not hold"
                summary.append(
                    f"{n} × {e}, named for {mt.upper()} by the {chosen} law fitted to {before} "
                    f"({chance} % to beat {n0} × {e0}), lands {'inside' if inside else 'outside'} "
                    f"its interval, {gap:+.4f} from {n0} × {e0} (z = {z:+.1f}): the decision, "
                    f"that nothing beats {n0} × {e0} by more than the noise, {held}"
                )
    if not rows:
        return ""
    return (
        """**Recommendations, checked by training them.** `recommend-config` names, when nothing
is predicted to beat the best trained run by more than the noise, the untried run most
likely to do so. Such runs were trained after their predictions were committed
("""
        + ", ".join(files)
        + """), with the scan's settings. The intervals are
the fit's 95 % backtest-calibrated ones for a new configuration's seed mean; "nearest" is
the form whose point prediction was nearest.

| run | metric | form chosen: prediction [95 %] | the other forms | observed (seed mean) | per seed | inside | nearest | vs the run kept then |
|---|---|---|---|---|---|---|---|---|
"""
        + "\n".join(rows)
        + "\n\n"
        + "; ".join(summary)
        + ".\n\n"
    )


def main() -> str:
    d = pd.read_csv(ROOT / CSV)
    g = d.groupby(["layers", "d_emb"])
    M = g[["ndcg@10", "hr@10", "val_ndcg@10", "best_step"]].mean()
    S = g[["ndcg@10", "hr@10"]].std()
    N = g.size()

    def m(n, e, c="ndcg@10"):
        return float(M.loc[(n, e), c])

    def ms(n, e, c="ndcg@10"):
        s = f"{m(n, e, c):.4f}"
        return s + (f" ± {S.loc[(n, e), c]:.4f}" if N[(n, e)] > 1 else " (1 seed)")

    rows = []
    for (n, e), x in g:
        x = x.sort_values("seed")

        def c(col, x=x):
            v = x[col]
            return f"{v.mean():.4f}" + (f" ± {v.std():.4f}" if len(v) > 1 else "")

        rows.append(
            f"| {n} × {e} | {x.params_total.iloc[0]:,} | {len(x)} | "
            f"{' / '.join(str(s) for s in x.best_step)} | {' / '.join(x.end)} | "
            f"{c('val_ndcg@10')} | {c('hr@10')} | **{c('ndcg@10')}** | "
            f"{' / '.join(f'{v:.4f}' for v in x['ndcg@10'])} | {x.seconds.mean() / 60:.0f} |"
        )
    table = "\n".join(
        [
            "| layers × d_emb | parameters | seeds | best step | end | val NDCG@10 | "
            "test HR@10 | test NDCG@10 | per seed | min/run |",
            "|---|---|---|---|---|---|---|---|---|---|",
            *rows,
        ]
    )
    fits = {(mt, "layers"): perflaw_json("-m", mt, "--backtest-axis", "layers") for mt in METRICS}
    rec = {}
    for mt in METRICS:
        fits[(mt, "d_emb")], rec[mt] = fit_and_recommend(mt)
    p2 = {mt: perflaw_json("-m", mt, "--form", "p2", "--backtest-axis", "d_emb") for mt in METRICS}
    one = {mt: perflaw_json("-m", mt, "--where", "layers==1") for mt in METRICS}
    noise = {mt: fits[(mt, "layers")]["noise_sd"] for mt in METRICS}

    def score(mt, ax, form):
        sel = fits[(mt, ax)]["selection"]
        return next(s for s in sel["scores"] if s["form"] == form), sel

    means = d.groupby(["layers", "d_emb"], as_index=False)[list(METRICS)].mean()
    bt = {}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for mt in METRICS:
            r = backtest(
                means[["layers", "d_emb"]],
                means[mt].to_numpy(),
                metric=mt,
                forms=["p2", "carry", "free"],
                axis="d_emb",
            )
            bt[mt] = r.points.set_index(["form", "origin", "layers", "d_emb"])

    def interval(r, digits=4):
        if pd.isna(r.lower) or pd.isna(r.upper):
            return "none (not identified)"
        return f"[{r.lower:.{digits}f}, {r.upper:.{digits}f}]"

    def pt(mt, form, origin, de):
        r = bt[mt].loc[(form, origin, 1.0, de)]
        return r.iloc[0] if isinstance(r, pd.DataFrame) else r

    widths1 = sorted(d[d.layers == 1].d_emb.unique())
    deep = d[d.layers > 1]
    cross = [f"1 layer × d_emb {braces(widths1)}"] + [
        f"{braces(sorted(x.layers.unique()))} layers × d {e:g}" for e, x in deep.groupby("d_emb")
    ]
    short = [f"{n} × {e}" for (n, e), k in N.items() if k < 3]
    runs, hours = len(d), d.seconds.sum() / 3600
    L = []
    A = L.append
    A(HEAD + "\n")
    A(
        f"""The bundled log has 671 test users, and its law found no optimum (above). Does a log with
**33× as many test users** rank sizes, and does an optimum show? amazon-beauty
(`../shared/data`, 22,363 users, 12,101 items, 198,502 rows, sequences of 5–204 items, mean
8.9; research use only, so its runs table is in the repo and the log is not):
`LOG=../shared/data/amazon-beauty.parquet bash benchmarks/amazon_beauty_sweep.sh`, a cross
rather than a grid — {", ".join(cross)} —
at fraction 1, seeds in the order 0, 1, 2 so that an interrupted scan covers the range
(d 512 joined the scan once d 256 looked like the optimum, and 2 layers at d 128 and 256
once the question was whether depth pays at the best widths: `DEPTHS=2
DEPTH_WIDTHS=128,256`). Settings as the bundled sweep (SASRec, max_len 50, CE, windows,
unmasked full ranking, patience 500 from `--min-steps 1500`) but `--eval-every 100
--max-steps 6000` (an epoch of windows is 176 steps here), and `--max-steps 30000` for the
narrow widths 16 and 32, which were still improving at 6,000 (below). Runs table:
`benchmarks/results_issue12/amazon-beauty-sweep.csv` (2026-12-01/02, the 2-core CPU, torch
2.13, one thread per run; {runs} runs, {hours:.1f} core-hours{"; fewer than 3 seeds, for time: " + ", ".join(short) if short else ""}).
Popularity ranking reads test HR@10 0.0120 / NDCG@10 0.0055 (validation NDCG@10 0.0081).
This section is generated from the table by `python benchmarks/amazon_beauty_report.py`.
"""
    )
    A(table + "\n")
    A(
        """(Mean ± standard deviation over seeds; "min/run" is wall time per run with two runs
sharing the 2 cores.)
"""
    )
    A("Reading:\n")
    hr_flat = [m(1, e, "hr@10") for e in (32, 64, 128)]
    peak = max(widths1, key=lambda e: m(1, e))  # the best 1-layer width on NDCG@10
    # the prose below states these; stop rather than print them if the table disagrees
    top = {mt: sorted(widths1, key=lambda e, mt=mt: -m(1, e, mt))[:2] for mt in METRICS}
    narrow = d[(d.layers == 1) & (d.d_emb <= 32)]
    claims = {
        "NDCG@10 peaks at d 128-256": all(128 <= e <= 256 for e in top["ndcg@10"]),
        "HR@10 peaks at d 64-128": all(64 <= e <= 128 for e in top["hr@10"]),
        "d 512 is worse than d 256 on both": all(m(1, 512, mt) < m(1, 256, mt) for mt in METRICS),
        "d 512 is below d 64 on NDCG@10": m(1, 512) < m(1, 64),
        "1 x 16 and 1 x 32 converged": (narrow.end == "patience").all(),
    }
    wrong = [k for k, ok in claims.items() if not ok]
    if wrong:
        raise SystemExit(f"the table no longer supports: {'; '.join(wrong)}: rewrite the prose")
    A(
        f"""- **This log ranks sizes.** `perflaw fit` reads run-to-run noise {noise["ndcg@10"]:.5f} NDCG@10 and
  {noise["hr@10"]:.4f} HR@10 (one run), against ±0.004 NDCG@10 on ml-latest-small at a similar level, so
  the width effect from d 16 to d 128 ({m(1, 16):.4f} → {m(1, 128):.4f}) is many standard deviations.
- **Width has an optimum inside the scanned range, on both metrics.** NDCG@10 rises from
  d 16 to d {peak} ({ms(1, peak)}) and **falls at d 512** ({ms(1, 512)}, below d 64); HR@10 is
  flat from d 32 to d 128 ({min(hr_flat):.4f}–{max(hr_flat):.4f}) and falls at d 256 ({ms(1, 256, "hr@10")}) and
  d 512 ({ms(1, 512, "hr@10")}). The widest model over-fits early: 1 × 512 peaks on validation
  at step {m(1, 512, "best_step"):.0f} (mean), lower than d 256 (validation NDCG@10 {m(1, 512, "val_ndcg@10"):.4f} vs
  {m(1, 256, "val_ndcg@10"):.4f}), while its training loss keeps falling. This is the decay the
  Performance Law models, and the two metrics place the optimum differently: d 64–128
  for HR@10, d 128–256 for NDCG@10 (`--metric` decides)."""
    )
    depth_lines = []
    for e, x in d.groupby("d_emb"):
        layers = sorted(x.layers.unique())
        if len(layers) < 2:
            continue
        parts = []
        lo, hi = layers[0], layers[-1]
        for mt in METRICS:
            vals = ", ".join(f"{m(n, e, mt):.4f}" for n in layers)
            gain = m(hi, e, mt) - m(lo, e, mt)
            sd = noise[mt] * (1 / N[(hi, e)] + 1 / N[(lo, e)]) ** 0.5
            parts.append(f"{mt.upper()} {vals} ({lo:g} → {hi:g}: z = {gain / sd:+.1f})")
        depth_lines.append(f"  d {e:g} with {braces(layers)} layers: " + "; ".join(parts))
    A(
        "- **Depth**, at the widths with more than one layer count (seed means; z is the\n"
        "  difference of the shallowest and deepest seed means over its standard deviation from\n"
        "  the one-run noise above):\n" + ";\n".join(depth_lines) + "."
    )
    A(narrow_models(narrow, d))
    c_l, sel_l = score("ndcg@10", "layers", "carry")
    ch_l, _ = score("hr@10", "layers", "carry")
    if any(fits[(mt, "layers")]["form"] != "carry" for mt in METRICS):
        raise SystemExit(
            "the table no longer supports: carry-forward along layers; rewrite the prose"
        )
    parts = []
    for form, what in (("p2", "the Performance Law with p = 2"), ("free", "the law with p free")):
        sc = {mt: score(mt, "d_emb", form)[0] for mt in METRICS}
        if not all(sc[mt]["n_common"] for mt in METRICS):
            continue
        parts.append(
            f"{what} (`{form}`) on {sc['ndcg@10']['n_common']} runs, NDCG@10 MAPE "
            + f"{sc['ndcg@10']['mape_common']:.1f} % vs {sc['ndcg@10']['carry_mape_common']:.1f} %"
            + f" (t = {sc['ndcg@10']['t_vs_carry']:.2f}) and HR@10 "
            + f"{sc['hr@10']['mape_common']:.1f} % vs {sc['hr@10']['carry_mape_common']:.1f} %"
            + f" (t = {sc['hr@10']['t_vs_carry']:.2f})"
        )
    for mt in METRICS:  # a form that blew up somewhere: say where, not just its MAPE
        for form in ("p2", "free"):
            if form not in bt[mt].index.get_level_values("form"):
                continue
            w = bt[mt].loc[form].reset_index()
            w = w.assign(ape=(w.predicted - w.observed).abs() / w.observed * 100)
            w = w.sort_values("ape").iloc[-1]
            if w.ape > 100:
                parts.append(
                    f"{form}'s {mt.upper()} MAPE comes from fits that extrapolate wildly: its "
                    f"worst, from d ≤ {w.origin:g}, put {w.layers:g} × {w.d_emb:g} at "
                    f"{w.predicted:.3f} for an observed {w.observed:.4f}"
                )
    compared = "; ".join(parts)
    name = {"carry": "carry-forward"}
    verdict = {mt: name.get(f, f) for mt in METRICS for f in [fits[(mt, "d_emb")]["form"]]}
    along_layers = {mt: name.get(f, f) for mt in METRICS for f in [fits[(mt, "layers")]["form"]]}
    A(
        f"""**The law against carry-forward, out of sample.** `perflaw fit` (rolling origin along
layers, the default here: 3 layer counts) keeps **{along_layers["ndcg@10"]}** for NDCG@10 and
**{along_layers["hr@10"]}** for HR@10 ({sel_l["n_origins"]} origins, {c_l["n_points"]} predicted runs; carry-forward MAPE
{c_l["mape"]:.1f} % NDCG@10, {ch_l["mape"]:.1f} % HR@10). Along width (`perflaw fit --backtest-axis d_emb`:
fit the narrower widths, predict the wider ones) the choice is **{verdict["ndcg@10"]}** for NDCG@10
and **{verdict["hr@10"]}** for HR@10. Each fitted form is scored against carry-forward on the runs
both predicted: {compared}. Along the 1-layer widths (seed means), p2 and carry-forward:

| metric | origin | predicted | observed | p2 | its 95 % interval | carry-forward |
|---|---|---|---|---|---|---|
"""
    )
    tbl = []
    for mt in METRICS:
        for origin, de in ((128.0, 256.0), (128.0, 512.0), (256.0, 512.0)):
            a, b = pt(mt, "p2", origin, de), pt(mt, "carry", origin, de)
            tbl.append(
                f"| {mt.upper()} | d ≤ {origin:g} | 1 × {de:g} | {a.observed:.4f} | {a.predicted:.4f} | "
                f"{interval(a)} | {b.predicted:.4f} |"
            )
    L[-1] += "\n".join(tbl) + "\n"
    closer = [
        mt.upper()
        for mt in METRICS
        if abs(pt(mt, "p2", 256.0, 512.0).predicted - pt(mt, "p2", 256.0, 512.0).observed)
        < abs(pt(mt, "carry", 256.0, 512.0).predicted - pt(mt, "carry", 256.0, 512.0).observed)
    ]
    closer_txt = (
        ("closer than carry-forward on " + " and ".join(closer))
        if closer
        else "no closer than carry-forward"
    )
    n128 = int((means.d_emb <= 128).sum())
    iv = {mt: interval(pt(mt, "p2", 128.0, 256.0), 3) for mt in METRICS}
    at256 = (
        "it gives no interval at d 256 (its parameters are not identified from these runs)"
        if all(v.startswith("none") for v in iv.values())
        else f"interval at d 256 is {iv['ndcg@10']} for NDCG@10 and {iv['hr@10']} for HR@10"
    )
    overshoot = all(
        pt(mt, "p2", 128.0, de).predicted < pt(mt, "p2", 128.0, de).observed
        for mt in METRICS
        for de in (256.0, 512.0)
    )
    turn = all(
        pt(mt, "p2", 128.0, de).predicted < m(1, 128, mt) for mt in METRICS for de in (256.0, 512.0)
    )
    best = {mt: fits[(mt, "layers")]["best_observed"] for mt in METRICS}
    o = {mt: one[mt]["selection"] for mt in METRICS}
    op = {mt: next(s for s in o[mt]["scores"] if s["form"] == "p2") for mt in METRICS}
    A(
        f"""From the runs at d ≤ 128 ({n128} configurations for the law's 5 parameters) the law {"**sees the turn** — it predicts d 256 and d 512 below d 128, which carry-forward cannot" if turn else "does not see the turn"}{" — but overshoots it: every prediction lies below the observed value" if overshoot else ""}; its
{at256}. From the runs at d ≤ 256 it
predicts d 512 {closer_txt}. The 1-layer runs alone (`--where 'layers==1'`, a scan in
width only, which gets the law's d factor alone and a backtest along d_emb) give {"the same" if all(one[mt]["form"] == fits[(mt, "d_emb")]["form"] for mt in METRICS) else "a different"}
verdict: p2 at {op["ndcg@10"]["mape_common"]:.1f} % vs {op["ndcg@10"]["carry_mape_common"]:.1f} % NDCG@10 and {op["hr@10"]["mape_common"]:.1f} % vs {op["hr@10"]["carry_mape_common"]:.1f} % HR@10 on the same runs, form
**{name.get(one["ndcg@10"]["form"], one["ndcg@10"]["form"])}** / **{name.get(one["hr@10"]["form"], one["hr@10"]["form"])}**. Fitted to every run (in sample, `--form p2`), the law puts the width
optimum at d* = {p2["ndcg@10"]["derived"]["d_opt"]:.0f} for NDCG@10 and {p2["hr@10"]["derived"]["d_opt"]:.0f} for HR@10, where the trained runs put it (in sample).

The decision. With the default fit (along layers: carry-forward) `recommend-config` keeps
the best trained run ({best["ndcg@10"]["layers"]} × {best["ndcg@10"]["d_emb"]} on NDCG@10, {best["hr@10"]["layers"]} × {best["hr@10"]["d_emb"]} on HR@10) and says that carry-forward
cannot rank untried configurations. With the law fitted along width (`perflaw fit
--backtest-axis d_emb`, then `perflaw recommend-config`):

{chr(10).join(f"- {mt.upper()} ({name.get(fits[(mt, 'd_emb')]['form'], fits[(mt, 'd_emb')]['form'])}): {rec[mt]}" for mt in METRICS)}

{recommendation_check(d, noise)}So on a log whose test users can rank configurations, item 5 of issue 12 gets its answer in
width: **an optimum shows — d_emb 128–256 on NDCG@10, 64–128 on HR@10 — and d 512 is worse
on both**. Fitting and backtesting the full Performance Law needs a layers × d_emb grid
(8–16 layers at several widths, about an hour a run on this CPU): `WIDTHS=16,32,64,128,256,512,1024
DEPTHS=2,4,8,16 DEPTH_WIDTHS=64,128,256 bash benchmarks/amazon_beauty_sweep.sh` on a GPU
extends the same table.
"""
    )
    return "\n".join(L)


if __name__ == "__main__":
    section = main()
    if "--print" in sys.argv:
        print(section)
    else:
        s = DOC.read_text()
        a, b = s.index(HEAD), s.index(NEXT)
        atomic_write_text(DOC, s[:a] + section.rstrip() + "\n\n" + s[b:])
        print(f"rewrote the amazon-beauty section of {DOC.relative_to(ROOT)}")
