"""``perflaw fit``, ``predict``, ``recommend-config`` and ``plot``: thin layers over
:class:`perflaw.fit.LawFitter` and :func:`perflaw.decide.budget.recommend`."""

from __future__ import annotations

import itertools
import warnings
from contextlib import contextmanager

import click
import numpy as np
import pandas as pd

from perflaw.decide.params import ARCHITECTURES
from perflaw.cli._output import output_options, render, to_json
from perflaw.cli.scaling import flops_options, is_scaling_law, scaling_fit_options, \
    scaling_predict_options
from perflaw.errors import DataError

DEFAULT_RUNS = "runs.csv"
DEFAULT_LAW = "perflaw-law.json"
_GROUPISH = {"panel", "dataset", "dataset_name", "max_seq_len", "max_len", "seq_len", "group"}


@contextmanager
def _warnings_to_stderr():
    """Show library warnings as one ``warning:`` line each on stderr."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        yield
    seen = set()
    for w in caught:
        msg = str(w.message)
        if msg not in seen:
            seen.add(msg)
            click.echo(f"warning: {msg}", err=True)


def _floats(text: str | None, what: str) -> list[float] | None:
    if text is None:
        return None
    try:
        values = [float(v) for v in str(text).split(",") if v.strip()]
    except ValueError:
        raise DataError(f"cannot parse {what} {text!r}: give comma-separated numbers") from None
    if not values:
        raise DataError(f"{what} is empty")
    return values


def _fit_record(key: dict, fitter, *, with_ci: bool) -> dict:
    d = fitter.to_dict()
    rec = dict(key)
    rec.update({
        "law": d["law"], "metric": d["metric"], "n_points": d["n_points"], "r2": d["r2"],
        "adj_r2": d["diagnostics"]["adj_r2"], "rmse": d["diagnostics"]["rmse"],
        "mape": d["diagnostics"]["mape"], "aic": d["diagnostics"]["aic"],
        "bic": d["diagnostics"]["bic"], "params": d["params"], "derived": d["derived"],
        "starts": d["starts"], "notes": d["notes"], "options": d["law_options"],
    })
    if with_ci:
        rec["ci"] = d["ci"]
        rec["derived_ci"] = d["derived_ci"]
        rec["level"] = d["level"]
    if d["holdout"]:
        rec["holdout"] = dict(d["holdout"], condition=d["fit_options"]["holdout"],
                              points=fitter.holdout_.to_dict(orient="records"))
    if d["loo"]:
        rec["loo"] = d["loo"]
    return rec


def _flat(rec: dict) -> dict:
    out = {k: v for k, v in rec.items() if not isinstance(v, (dict, list))}
    out.update(rec["params"])
    for k in ("N_opt", "d_opt"):
        if k in rec["derived"]:
            out[k] = rec["derived"][k]
    if "holdout" in rec:
        out["holdout_mape"] = rec["holdout"]["mape"]
    if "loo" in rec:
        out["loo_mape"] = rec["loo"]["mape"]
    return out


@click.command()
@click.argument("runs", required=False, default=DEFAULT_RUNS, type=click.Path(dir_okay=False))
@click.option("--metric", "-m", help="Metric column, case-insensitive (e.g. ndcg@10). "
              "Optional when the table has a single metric column.")
@click.option("--law", "law_name", default="performance", show_default=True, help="Law to fit.")
@click.option("--p", "p", type=float, default=None,
              help="Pin the constant p (the authors' script uses 2); default: free per factor.")
@click.option("--q", "q", type=float, default=None, help="Pin q of the data factor (default p).")
@click.option("--group-by", help="Comma-separated columns; one fit per group (e.g. panel).")
@click.option("--joint", type=click.Choice(["free", "dprime"]), default=None,
              help="One joint fit across the --group-by groups with shared N and d factors: "
              "'free' = a free data term per group, 'dprime' = the data term from D′.")
@click.option("--d-prime-col", help="Column holding D′ (quality-adjusted data size).")
@click.option("--apen", "apen_json", type=click.Path(dir_okay=False),
              help="JSON from `perflaw apen --json`; D′ is joined by dataset name.")
@click.option("--dataset-col", default="dataset", show_default=True,
              help="Column naming the dataset (for --apen).")
@click.option("--layers-col", help="Layers column (default: found by name).")
@click.option("--d-emb-col", help="Embedding-dimension column (default: found by name).")
@click.option("--where", help="Keep only rows matching e.g. 'max_seq_len==100'.")
@click.option("--loss", type=click.Choice(["l2", "huber"]), default="l2", show_default=True)
@click.option("--huber-delta", type=float, default=None,
              help="Huber threshold (default 1.345 × MAD of L2 residuals).")
@click.option("--starts", "n_random", type=int, default=4, show_default=True,
              help="Seeded random starts added to the deterministic grid.")
@click.option("--seed", type=int, default=0, show_default=True)
@click.option("--bootstrap", type=int, default=0, show_default=True,
              help="Bootstrap refits for percentile intervals (e.g. 1000).")
@click.option("--bootstrap-by", default="row", show_default=True,
              help="row, or group (whole --group-by groups); power/chinchilla: row, model "
              "(whole model sizes, for clustered runs) or column name(s), e.g. "
              "n_layers,hidden_size.")
@click.option("--level", type=float, default=0.95, show_default=True, help="Interval level.")
@click.option("--holdout", help="Hold out rows matching e.g. 'layers>=24', fit the rest and "
              "report the error on them.")
@click.option("--loo", is_flag=True, help="Also run leave-one-out validation.")
@click.option("--out", "out", default=DEFAULT_LAW, show_default=True,
              type=click.Path(dir_okay=False), help="Where to save the fitted law.")
@click.option("--no-save", is_flag=True, help="Do not write the law file.")
@click.option("--plot", "plot_path", type=click.Path(dir_okay=False),
              help="Save an observed-vs-fitted figure (one panel per group).")
@scaling_fit_options
@output_options
def fit(runs, metric, law_name, p, q, group_by, joint, d_prime_col, apen_json, dataset_col,
        layers_col, d_emb_col, where, loss, huber_delta, n_random, seed, bootstrap,
        bootstrap_by, level, holdout, loo, out, no_save, plot_path, fmt, x_col, params_col,
        data_col, transform, exclude):
    """Fit a law to a table of training runs (default: ./runs.csv) and save it.

    With no --out the law is saved to ./perflaw-law.json, which `perflaw predict` and
    `perflaw recommend-config` read by default.

    --law power (--x-col) and --law chinchilla (--params-col, --data-col) fit loss
    scaling laws; several --data-col compare data columns (e.g. raw interactions vs D′).
    """
    from perflaw.fit import LawFitter, save_fits
    from perflaw.runs import metric_columns, read_runs, read_table

    if is_scaling_law(law_name):
        from perflaw.cli.scaling import run_fit

        settings = dict(loss=loss, huber_delta=huber_delta, n_random_starts=n_random, seed=seed,
                        bootstrap=bootstrap, level=level)
        return run_fit(runs=runs, metric=metric, law_name=law_name.lower(), group_by=group_by,
                       where=where, x_col=x_col, params_col=params_col, data_cols=data_col,
                       transform=transform, exclude=exclude, holdout=holdout, loo=loo,
                       bootstrap=bootstrap, bootstrap_by=bootstrap_by, settings=settings,
                       out=out, no_save=no_save, plot_path=plot_path, fmt=fmt,
                       apen_json=apen_json, dataset_col=dataset_col)
    if x_col or params_col or data_col:
        raise DataError("--x-col, --params-col and --data-col are options of --law power / "
                        "--law chinchilla")

    if metric is None:
        found = metric_columns(read_table(runs).columns)
        if len(found) != 1:
            raise DataError(f"choose a metric with --metric: {runs!r} has metric columns "
                            f"{', '.join(found) or 'none'}")
        metric = found[0]
    if joint and not group_by:
        raise DataError("--joint needs --group-by (the groups the joint fit spans)")
    if joint == "dprime" and not (d_prime_col or apen_json):
        raise DataError("--joint dprime needs D′: give --d-prime-col or --apen")
    if not group_by:
        frame = read_table(runs)
        if where:
            from perflaw.fit import parse_condition

            frame = frame[parse_condition(where, frame)]
        mixed = [c for c in frame.columns if str(c).lower() in _GROUPISH and frame[c].nunique() > 1]
    else:
        mixed = []
    table = read_runs(runs, metric=metric, layers_col=layers_col, d_emb_col=d_emb_col,
                      group_by=group_by, d_prime_col=d_prime_col, apen_json=apen_json,
                      dataset_col=dataset_col, where=where)
    law_opts = {}
    if p is not None:
        law_opts["p"] = p
    if q is not None:
        law_opts["q"] = q
    if joint:
        law_opts["data_term"] = joint
    settings = dict(loss=loss, huber_delta=huber_delta, n_random_starts=n_random, seed=seed,
                    bootstrap=bootstrap, bootstrap_by=bootstrap_by, level=level, **law_opts)
    fits = []
    with _warnings_to_stderr():
        if joint or not table.group_cols:
            groups = table.group_labels()
            if bootstrap_by == "group" and groups is None:
                raise DataError("--bootstrap-by group needs --group-by")
            f = LawFitter(law_name, **settings).fit(table.X, table.y, groups=groups,
                                                    metric=table.metric, holdout=holdout, loo=loo,
                                                    exclude=exclude)
            fits.append(({}, f))
        else:
            if bootstrap_by == "group":
                raise DataError("--bootstrap-by group needs --joint (per-group fits have one group)")
            for key, sub in table.groups():
                try:
                    f = LawFitter(law_name, **settings).fit(sub.X, sub.y, metric=table.metric,
                                                            holdout=holdout, loo=loo,
                                                            exclude=exclude)
                except DataError as exc:
                    label = ", ".join(f"{k}={v}" for k, v in key.items())
                    raise DataError(f"group {label}: {exc}") from None
                fits.append((key, f))
    if mixed:  # only once the fit succeeded, so that errors stay one line
        click.echo(f"warning: column(s) {', '.join(map(str, mixed))} vary in {runs}: "
                   "fitting all rows as one group (use --group-by or --where)", err=True)
    records = [_fit_record(k, f, with_ci=bool(bootstrap)) for k, f in fits]
    if not no_save:
        save_fits(fits, out)
    if plot_path:
        _save_fit_plots(fits, plot_path)
    emit_fit_results(fits, records, fmt, law_name=law_name, metric=table.metric,
                     grouped=bool(table.group_cols and not joint),
                     saved_to=None if no_save else out, plot_path=plot_path)


def emit_fit_results(fits, records, fmt, *, law_name, metric, grouped, saved_to, plot_path,
                     per_fit=None, comparison=None) -> None:
    """Print fitted laws as JSON, CSV or readable summaries (every ``fit`` variant).

    ``per_fit(fitter)`` may echo extra lines under a summary; ``comparison`` (records) is
    added to the JSON and printed as a table after the summaries.
    """
    if fmt == "json":
        if grouped:
            obj = {"law": law_name, "metric": str(metric), "groups": records}
            if comparison:
                obj["comparison"] = comparison
        else:
            obj = records[0]
        if saved_to is not None:
            obj = dict(obj, saved_to=str(saved_to))
        click.echo(to_json(obj))
    elif fmt == "csv":
        click.echo(render([_flat(r) for r in records], "csv"))
    else:
        for key, f in fits:
            if key:
                click.echo("== " + ", ".join(f"{k}={v}" for k, v in key.items()))
            click.echo(f.summary_text())
            if per_fit is not None:
                per_fit(f)
            click.echo("")
        if comparison:
            click.echo("comparison of the data columns (lower AIC is better):")
            click.echo(render(comparison, "table"))
    if saved_to is not None:
        click.echo(f"saved the law to {saved_to}", err=True)
    if plot_path:
        click.echo(f"saved the figure to {plot_path}", err=True)


def _save_fit_plots(fits, path):
    from perflaw.plot import plot_fitter, save_fit_grid

    def draw(ax, label, f):
        r2 = f.diagnostics_["r2"]
        plot_fitter(f, "fit", ax=ax, title=f"{label or f.metric_} (R² = {r2:.3f})")

    save_fit_grid(fits, path, draw)


def _select(fits, group: str | None, law_path: str):
    """Keep the fits whose group key matches ``--group`` (``k=v[,k=v]`` or a bare value)."""
    if not group:
        return fits
    wanted = {}
    for part in group.split(","):
        if "=" in part:
            k, v = part.split("=", 1)
            wanted[k.strip()] = v.strip()
        else:
            wanted[None] = part.strip()
    out = []
    for key, f in fits:
        vals = {k: str(v) for k, v in key.items()}
        if all((vals.get(k) == v) if k is not None else (v in vals.values())
               for k, v in wanted.items()):
            out.append((key, f))
    if not out:
        labels = ["; ".join(f"{k}={v}" for k, v in key.items()) for key, _ in fits]
        raise DataError(f"no group {group!r} in {law_path!r}; it has "
                        f"{', '.join(l for l in labels if l) or 'a single ungrouped fit'}")
    return out


def _joint_groups(f, group):
    """Group labels for a joint fit with a free term per group."""
    law_groups = getattr(f.law_, "groups", None)
    if not law_groups or "group" not in f.law_.inputs:
        return [None]
    if group:
        chosen = [g for g in law_groups if g == group or group in g.split(",")]
        if not chosen:
            raise DataError(f"no group {group!r} in the joint law; it has {', '.join(law_groups)}")
        return chosen
    return law_groups


@click.command()
@click.option("--law", "law_path", default=DEFAULT_LAW, show_default=True,
              type=click.Path(dir_okay=False), help="Law file written by `perflaw fit`.")
@click.option("--layers", help="Comma-separated numbers of layers, e.g. 8,16 (required for "
              "the performance law).")
@click.option("--d-emb", "d_emb", help="Comma-separated embedding dims (required for the "
              "performance law).")
@click.option("--d-prime", "d_prime", help="Comma-separated D′ values (laws with a D′ term).")
@click.option("--group", help="Only this group of a grouped law file (e.g. 'panel=0').")
@click.option("--level", type=float, default=None, help="Interval level (default: the fit's).")
@click.option("--kind", type=click.Choice(["mean", "observation"]), default="mean",
              show_default=True, help="Interval for the expected metric or for a new run.")
@scaling_predict_options
@output_options
def predict(law_path, layers, d_emb, d_prime, group, level, kind, fmt, x_values, n_params,
            data):
    """Predict the metric for every combination of --layers × --d-emb, with intervals.

    Power laws take --x, chinchilla laws --n-params × --data.
    """
    from perflaw.fit import load_fits

    fits = _select(load_fits(law_path), group, law_path)
    if any(is_scaling_law(f.law_.name) for _, f in fits):
        from perflaw.cli.scaling import run_predict

        return run_predict(fits, x_values=x_values, n_params=n_params, data=data, level=level,
                           kind=kind, fmt=fmt)
    if layers is None or d_emb is None:
        raise DataError("--layers and --d-emb are required for the performance law")
    L = _floats(layers, "--layers")
    D = _floats(d_emb, "--d-emb")
    P = _floats(d_prime, "--d-prime")
    records = []
    with _warnings_to_stderr():
        for key, f in fits:
            needs_dp = "d_prime" in f.law_.inputs
            if needs_dp and P is None:
                raise DataError(f"the law in {law_path!r} has a D′ term: give --d-prime")
            combos = list(itertools.product(L, D, P if needs_dp else [None]))
            frame = pd.DataFrame({"layers": [c[0] for c in combos], "d_emb": [c[1] for c in combos]})
            if needs_dp:
                frame["d_prime"] = [c[2] for c in combos]
            for g in _joint_groups(f, group):
                res = f.predict(frame, groups=g, interval=True, level=level, kind=kind)
                for i in range(len(frame)):
                    rec = dict(key)
                    if g is not None:
                        rec["group"] = g
                    rec.update({c: frame.iloc[i][c] for c in frame.columns})
                    rec.update({"metric": f.metric_, "prediction": res["prediction"].iloc[i],
                                "lower": res["lower"].iloc[i], "upper": res["upper"].iloc[i],
                                "interval": res["interval"].iloc[i]})
                    for c in ("layers", "d_emb"):
                        if float(rec[c]).is_integer():
                            rec[c] = int(rec[c])
                    records.append(rec)
    click.echo(render(records, fmt))


def _budget_options(func):
    opts = [
        click.option("--law", "law_path", default=DEFAULT_LAW, show_default=True,
                     type=click.Path(dir_okay=False), help="Law file written by `perflaw fit`."),
        click.option("--budget", required=True, help="Parameter budget: 20M, 1.5e9, 300k ..."),
        click.option("--arch", type=click.Choice(list(ARCHITECTURES)), default="sasrec",
                     show_default=True, help="Backbone for parameter counting (spec §6)."),
        click.option("--n-items", type=int, default=0, show_default=True,
                     help="Items in the catalogue (item-table size; 0 leaves it out)."),
        click.option("--max-len", type=int, default=0, show_default=True,
                     help="Maximum sequence length (position table for sasrec)."),
        click.option("--count", type=click.Choice(["total", "non-embedding"]), default="total",
                     show_default=True, help="Which parameter count the budget limits."),
        click.option("--heads", type=int, default=1, show_default=True,
                     help="Attention heads; d_emb must be divisible by it."),
        click.option("--layers", "layers_range",
                     help="Layers to consider: 'a:b[:step]' or 'a,b,c' (default: fitted range)."),
        click.option("--d-emb", "d_range",
                     help="d_emb to consider: 'a:b[:step]' or list (default: multiples of "
                          "lcm(8, heads) in the fitted range)."),
        click.option("--d-prime", "d_prime", type=float, help="D′ for laws with a D′ term."),
        click.option("--group", help="Only this group of a grouped law file."),
    ]
    for opt in reversed(opts):
        func = opt(func)
    return func


def _recommend_all(law_path, budget, arch, n_items, max_len, count, heads, layers_range,
                   d_range, d_prime, group, top):
    from perflaw.decide.budget import parse_range, recommend
    from perflaw.fit import load_fits

    fits = _select(load_fits(law_path), group, law_path)
    layers = parse_range(layers_range, "--layers") if layers_range else None
    d_emb = parse_range(d_range, "--d-emb") if d_range else None
    out = []
    for key, f in fits:
        extra = None
        if "d_prime" in f.law_.inputs:
            if d_prime is None:
                raise DataError(f"the law in {law_path!r} has a D′ term: give --d-prime")
            extra = {"d_prime": d_prime}
        for g in _joint_groups(f, group):
            rec = recommend(f, budget, layers=layers, d_emb=d_emb, heads=heads, arch=arch,
                            n_items=n_items, max_len=max_len, count=count, top=top,
                            extra_inputs=extra, group=g)
            label = dict(key)
            if g is not None:
                label["group"] = g
            out.append((label, f, rec))
    return out


@click.command("recommend-config")
@_budget_options
@click.option("--top", type=int, default=5, show_default=True, help="Configurations to list.")
@click.option("--plot", "plot_path", type=click.Path(dir_okay=False),
              help="Save the budget-frontier figure.")
@flops_options
@output_options
def recommend_config(law_path, budget, arch, n_items, max_len, count, heads, layers_range,
                     d_range, d_prime, group, top, plot_path, budget_kind, flops_per_param_token,
                     embedder_share, embedder_flops_weight, level, fmt):
    """Best (layers, d_emb) under a parameter budget, by the fitted law.

    With --budget-kind flops (a chinchilla law): the compute-optimal N and D for a
    training-FLOPs budget, with intervals, and the (layers, d_emb) closest to N_opt.
    """
    if budget_kind == "flops":
        from click.core import ParameterSource

        from perflaw.cli.scaling import run_flops

        src = click.get_current_context().get_parameter_source("count")
        return run_flops(law_path=law_path, budget=budget, arch=arch, n_items=n_items,
                         max_len=max_len, count=None if src == ParameterSource.DEFAULT else count,
                         heads=heads, layers_range=layers_range, d_range=d_range, group=group,
                         k=flops_per_param_token, embedder_share=embedder_share,
                         embedder_flops_weight=embedder_flops_weight, level=level, fmt=fmt)
    results = _recommend_all(law_path, budget, arch, n_items, max_len, count, heads,
                             layers_range, d_range, d_prime, group, top)
    if plot_path:
        from perflaw.plot import _plt, plot_recommendation

        plt = _plt()
        fig, axes = plt.subplots(1, len(results), figsize=(6 * len(results), 4.4), squeeze=False)
        for ax, (label, f, rec) in zip(axes.ravel(), results):
            title = ", ".join(f"{k}={v}" for k, v in label.items()) or None
            plot_recommendation(rec, ax=ax, title=title)
        fig.savefig(plot_path, dpi=110)
        plt.close(fig)
        click.echo(f"saved the figure to {plot_path}", err=True)
    if fmt == "json":
        objs = []
        for label, f, rec in results:
            objs.append(dict(label, metric=f.metric_, budget=rec.budget, count=rec.count,
                             budget_binds=rec.budget_binds, unconstrained=rec.unconstrained,
                             top=rec.top.to_dict(orient="records"), notes=rec.notes))
        click.echo(to_json(objs[0] if len(objs) == 1 else objs))
        return
    rows = []
    for label, f, rec in results:
        for i, r in enumerate(rec.top.to_dict(orient="records"), 1):
            rows.append(dict(label, rank=i, **r))
    if fmt == "csv":
        click.echo(render(rows, "csv"))
        return
    click.echo(render(rows, "table"))
    for label, f, rec in results:
        u = rec.unconstrained
        head = ", ".join(f"{k}={v}" for k, v in label.items())
        click.echo("")
        if head:
            click.echo(f"[{head}]")
        click.echo(f"unconstrained best in the enumeration: {u['layers']} layers, d_emb "
                   f"{u['d_emb']} ({u['params']:,} {rec.count} parameters, predicted "
                   f"{u['prediction']:.4g})")
        if "closed_form_N_opt" in u:
            click.echo(f"closed-form optimum of the law: N* = {u['closed_form_N_opt']:.4g}, "
                       f"d* = {u['closed_form_d_opt']:.4g} (nan: no interior optimum)")
        click.echo(f"the budget {rec.budget:,.0f} {'binds' if rec.budget_binds else 'does not bind'}")
        if np.all(np.isnan(rec.top["p_best"].to_numpy(float))):
            click.echo("p_best needs a law fitted with --bootstrap")
        for note in rec.notes:
            click.echo(f"note: {note}")


@click.command()
@click.option("--law", "law_path", default=DEFAULT_LAW, show_default=True,
              type=click.Path(dir_okay=False), help="Law file written by `perflaw fit`.")
@click.option("--kind", type=click.Choice(["fit", "residuals", "frontier"]), default="fit",
              show_default=True, help="Observed vs fitted, residuals, or the budget frontier "
              "(needs --budget).")
@click.option("--out", "out", default="perflaw-plot.png", show_default=True,
              type=click.Path(dir_okay=False))
@click.option("--budget", help="Budget for --kind frontier.")
@click.option("--arch", type=click.Choice(list(ARCHITECTURES)), default="sasrec")
@click.option("--n-items", type=int, default=0)
@click.option("--max-len", type=int, default=0)
@click.option("--count", type=click.Choice(["total", "non-embedding"]), default="total")
@click.option("--heads", type=int, default=1)
@click.option("--group", help="Only this group of a grouped law file.")
def plot(law_path, kind, out, budget, arch, n_items, max_len, count, heads, group):
    """Save a figure of a fitted law (PNG, PDF or SVG by the --out extension)."""
    from perflaw.fit import load_fits
    from perflaw.plot import _plt, plot_fitter, plot_recommendation

    plt = _plt()
    if kind == "frontier":
        if not budget:
            raise DataError("--kind frontier needs --budget")
        results = _recommend_all(law_path, budget, arch, n_items, max_len, count, heads,
                                 None, None, None, group, 5)
        fig, axes = plt.subplots(1, len(results), figsize=(6 * len(results), 4.4), squeeze=False)
        for ax, (label, f, rec) in zip(axes.ravel(), results):
            plot_recommendation(rec, ax=ax,
                                title=", ".join(f"{k}={v}" for k, v in label.items()) or None)
    else:
        fits = _select(load_fits(law_path), group, law_path)
        fig, axes = plt.subplots(1, len(fits), figsize=(6 * len(fits), 4.4), squeeze=False)
        for ax, (key, f) in zip(axes.ravel(), fits):
            label = ", ".join(f"{k}={v}" for k, v in key.items())
            if is_scaling_law(f.law_.name):
                from perflaw.cli.scaling import plot_scaling

                plot_scaling(f, ax, kind, label)
                continue
            plot_fitter(f, kind, ax=ax, title=label or None)
    fig.savefig(out, dpi=110)
    plt.close(fig)
    click.echo(f"saved the figure to {out}")
