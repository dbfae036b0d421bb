"""The scaling-law side of ``perflaw fit`` and ``perflaw recommend-config``.

``perflaw fit --law power|chinchilla`` and ``perflaw recommend-config --budget-kind flops``
are dispatched here from the command modules (:mod:`perflaw.cli.fit` ...) so that the
Performance-Law commands stay as they are.  Columns are named by option (``--x-col``,
``--params-col``, ``--data-col``); several ``--data-col`` (e.g. raw interactions and D′)
fit one law per data column and print a comparison (R², AIC, holdout error).
"""

from __future__ import annotations

import math
import warnings

import click
import numpy as np
import pandas as pd

from perflaw.cli._output import render, to_json
from perflaw.errors import DataError

#: the laws of named columns (a law declaring ``column_options``), named here so that
#: ``perflaw --help`` need not import the laws
SCALING_LAWS = ("power", "chinchilla")


def scaling_fit_options(func):
    """Options of ``perflaw fit`` used by the power and chinchilla laws."""
    opts = [
        click.option(
            "--x-col",
            help="power law: the size column x (total or non-embedding "
            "parameters, interactions, D′, FLOPs).",
        ),
        click.option(
            "--params-col",
            help="chinchilla: the parameter-count column N (say in "
            "its name whether it is total or non-embedding).",
        ),
        click.option(
            "--data-col",
            multiple=True,
            help="chinchilla: the data-size column D "
            "(raw interactions or D′). Repeat to fit one law per column and compare "
            "them (R², AIC, holdout error).",
        ),
        click.option(
            "--transform",
            type=click.Choice(["auto", "none", "one_minus", "logit"]),
            default="auto",
            show_default=True,
            help="Scale the metric is fitted on. Performance-Law forms: logit keeps "
            "HR/NDCG predictions and intervals inside (0, 1); auto: logit for such "
            "rates, none otherwise. power/chinchilla: as is (a loss) or 1 - metric "
            "(one_minus; auto picks it for HR/NDCG/recall/MRR-like names).",
        ),
        click.option(
            "--exclude",
            help="Drop rows matching e.g. 'n_inters<1e5' (power/"
            "chinchilla: any column; performance: layers, d_emb) before fitting; "
            "recorded in the saved law.",
        ),
    ]
    for opt in reversed(opts):
        func = opt(func)
    return func


def _col(frame: pd.DataFrame, name: str | None, option: str) -> str:
    if not name:
        raise DataError(f"{option} is required for this law")
    from perflaw.io import find_column  # the one column lookup

    return find_column(frame.columns, name, option=option)


def _positive(frame: pd.DataFrame, col: str, option: str) -> np.ndarray:
    raw = frame[col]
    v = pd.to_numeric(raw, errors="coerce").to_numpy(float)
    bad = ~np.isfinite(v)
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        raise DataError(
            f"column {col!r} ({option}) has a missing or non-numeric value "
            f"{raw.iloc[i]!r} (row {i + 1})"
        )
    if np.any(v <= 0):
        i = int(np.flatnonzero(v <= 0)[0])
        raise DataError(f"column {col!r} ({option}) must be positive; found {v[i]:g} (row {i + 1})")
    return v


def _fit_one(
    frame,
    law_name,
    metric_col,
    transform,
    settings,
    *,
    x_col=None,
    params_col=None,
    data_col=None,
    holdout=None,
    loo=False,
    exclude=None,
    bootstrap_by="row",
):
    from perflaw.fitting.fitter import LawFitter
    from perflaw.laws import LAWS

    law_cls = LAWS[law_name]
    given = {"--x-col": x_col, "--params-col": params_col, "--data-col": data_col}
    X = frame.copy()
    law_opts = {}
    for name, option in law_cls.column_options.items():  # the law declares its columns
        X[name] = _positive(frame, given[option], option)
        law_opts[law_cls.label_options[name]] = given[option]
    model_key = law_cls.inputs[0]  # the model-size input (x, or N)
    y = frame[metric_col]
    groups = None
    by = bootstrap_by
    if bootstrap_by == "model":
        groups = X[model_key].map(lambda v: f"{v:.12g}").to_numpy()
        by = "group"
    elif bootstrap_by not in ("row", "group"):
        cols = [
            _col(frame, c.strip(), "--bootstrap-by") for c in bootstrap_by.split(",") if c.strip()
        ]
        groups = frame[cols].astype(str).agg(",".join, axis=1).to_numpy()
        by = "group"
    elif bootstrap_by == "group":
        raise DataError(
            "--bootstrap-by for power/chinchilla: use row, model (the model-size "
            "column) or a column name"
        )
    f = LawFitter(law_name, transform=transform, bootstrap_by=by, **law_opts, **settings)
    return f.fit(
        X, y, groups=groups, metric=str(metric_col), holdout=holdout, loo=loo, exclude=exclude
    )


def _record(key: dict, fitter, with_ci: bool) -> dict:
    from perflaw.cli._laws_common import _fit_record

    rec = _fit_record(key, fitter, with_ci=with_ci)
    law = fitter.law_
    rec["loss"] = fitter.cost_
    rec["objective"] = getattr(law, "objective_text", None) or fitter.loss
    rec["transform"] = law.transform
    rec["columns"] = {c: law.input_labels[c] for c in law.inputs}
    rec["warnings"] = list(fitter.warnings_)
    if fitter.exclude_:
        rec["exclude"] = {"condition": fitter.exclude_, "n_rows": fitter.n_excluded_}
    return rec


def _compare_row(key: dict, rec: dict) -> dict:
    row = dict(key)
    row.update(
        {
            "r2": rec["r2"],
            "adj_r2": rec["adj_r2"],
            "rmse": rec["rmse"],
            "aic": rec["aic"],
            "bic": rec["bic"],
            "n_points": rec["n_points"],
        }
    )
    if "holdout" in rec:
        row["holdout_mape"] = rec["holdout"]["mape"]
        row["holdout_max_ape"] = rec["holdout"]["max_ape"]
    return row


def run_fit(
    *,
    runs,
    metric,
    law_name,
    group_by,
    where,
    x_col,
    params_col,
    data_cols,
    transform,
    exclude,
    holdout,
    loo,
    bootstrap,
    bootstrap_by,
    settings,
    out,
    no_save,
    plot_path,
    fmt,
    apen_json=None,
    dataset_col="dataset",
):
    """``perflaw fit --law power|chinchilla``: read, fit (per group / per data column), render."""
    from perflaw.cli._laws_common import _metric, _warnings_to_stderr
    from perflaw.cli._sources import source_settings
    from perflaw.conditions import parse_condition
    from perflaw.fitting.lawfile import save_fits
    from perflaw.runs import metric_columns, read_table

    frame = read_table(runs, **source_settings())
    if frame.empty:
        raise DataError(f"runs table {runs!r} has no rows")
    if apen_json:  # D′ per dataset from `perflaw apen --json`, as a column d_prime
        from perflaw.runs import apen_dprime, dprime_per_row

        table = apen_dprime(apen_json)
        dcol = _col(frame, dataset_col, "--dataset-col")
        frame = frame.assign(d_prime=dprime_per_row(table, frame[dcol], apen_json))
    if where:
        frame = frame[parse_condition(where, frame)].reset_index(drop=True)
        if frame.empty:
            raise DataError(f"no runs in {runs!r} match {where!r}")
    metric = _metric(metric, frame.columns, runs)
    from perflaw.io import find_column  # the one column lookup

    try:
        mcol = find_column(frame.columns, str(metric))
    except DataError:
        raise DataError(
            f"metric {metric!r} not found in {runs!r}; metric columns are "
            f"{', '.join(map(str, metric_columns(frame.columns))) or 'none'}"
        ) from None
    from perflaw.laws import LAWS

    own = LAWS[law_name].column_options.values()  # the options the law declares
    given = {"--x-col": x_col, "--params-col": params_col, "--data-col": data_cols}
    others = [o for o, v in given.items() if v and o not in own]
    if others:
        raise DataError(f"--law {law_name} takes {' and '.join(own)} (not {'/'.join(others)})")
    if "--x-col" in own:
        x_col = _col(frame, x_col, "--x-col")
    if "--params-col" in own:
        params_col = _col(frame, params_col, "--params-col")
    if "--data-col" not in own:
        data_cols = [None]
    elif not data_cols:
        raise DataError(f"--data-col is required for --law {law_name}")
    else:
        data_cols = [_col(frame, c, "--data-col") for c in data_cols]
    from perflaw.laws.scales import guess_loss_scale

    tr = guess_loss_scale(str(mcol)) if transform == "auto" else transform
    gcols = [g.strip() for g in (group_by or "").split(",") if g.strip()]
    gcols = [_col(frame, g, "--group-by") for g in gcols]
    # the runs table's boundary checks (perflaw.runs): exact repeats fitted once, a
    # constant metric refused (whole table and each group)
    from perflaw.io import find_any
    from perflaw.runs import RunsTableWarning, check_not_constant, drop_duplicated_runs

    # another seed with the same score is another run (perflaw.runs.runs_from_frame)
    seed_col = find_any(frame.columns, ("seed",))
    used = [c for c in [mcol, x_col, params_col, *data_cols, *gcols, seed_col] if c is not None]
    with warnings.catch_warnings(record=True) as read_notes:  # carried by every format
        warnings.simplefilter("always", RunsTableWarning)
        frame = drop_duplicated_runs(frame, list(dict.fromkeys(used)), f"runs table {runs!r}")
    check_not_constant(pd.to_numeric(frame[mcol], errors="coerce").to_numpy(float), str(mcol), "")
    parts = (
        [({}, frame)]
        if not gcols
        else [
            (
                {c: (k if isinstance(k, tuple) else (k,))[i] for i, c in enumerate(gcols)},
                sub.reset_index(drop=True),
            )
            for k, sub in frame.groupby(gcols, sort=False)
        ]
    )
    for gkey, sub in parts:
        if gkey:
            check_not_constant(
                pd.to_numeric(sub[mcol], errors="coerce").to_numpy(float),
                str(mcol),
                " in group " + ", ".join(f"{k}={v}" for k, v in gkey.items()),
            )
    fits = []
    # the fitter's identification warnings are in each fit's warnings, printed with it
    with _warnings_to_stderr(skip=(RunsTableWarning,)):
        for gkey, sub in parts:
            for dcol in data_cols:
                key = {k: (v.item() if hasattr(v, "item") else v) for k, v in gkey.items()}
                if len(data_cols) > 1:
                    key["data_col"] = dcol
                try:
                    f = _fit_one(
                        sub,
                        law_name,
                        mcol,
                        tr,
                        settings,
                        x_col=x_col,
                        params_col=params_col,
                        data_col=dcol,
                        holdout=holdout,
                        loo=loo,
                        exclude=exclude,
                        bootstrap_by=bootstrap_by,
                    )
                except DataError as exc:
                    label = ", ".join(f"{k}={v}" for k, v in key.items())
                    raise DataError(f"{label}: {exc}" if label else str(exc)) from None
                fits.append((key, f))
    extra = [str(w.message) for w in read_notes]
    for _, f in fits:
        f.warnings_ = extra + list(f.warnings_)
    if fmt != "table":  # the summaries print them; JSON and CSV carry them too
        for line in dict.fromkeys(
            [*extra, *(w for _, f in fits for w in getattr(f, "identification_", []))]
        ):
            click.echo(f"warning: {line}", err=True)
    records = [_record(k, f, bool(bootstrap)) for k, f in fits]
    if not no_save:
        save_fits(fits, out, inputs=[runs])
    if plot_path:
        _plot(fits, plot_path)
    compare = (
        [_compare_row(k, r) for (k, _), r in zip(fits, records)] if len(data_cols) > 1 else None
    )
    from perflaw.cli._laws_common import emit_fit_results

    emit_fit_results(
        fits,
        records,
        fmt,
        law_name=law_name,
        metric=mcol,
        grouped=len(records) > 1,
        saved_to=None if no_save else out,
        plot_path=plot_path,
        per_fit=_echo_holdout,
        comparison=compare,
    )


def _echo_holdout(f) -> None:
    if f.holdout_ is None:
        return
    labels = {c: f.law_.input_labels[c] for c in f.law_.inputs}
    table = f.holdout_[list(labels) + ["observed", "predicted", "pct_error"]]
    click.echo(render(table.rename(columns=labels).to_dict(orient="records"), "table"))


def _plot(fits, path):
    """Observed vs fitted for scaling laws (one panel per fit)."""
    from perflaw.plot import plot_fitter, save_fit_grid

    save_fit_grid(
        fits, path, lambda ax, label, f: plot_fitter(f, "fit", ax=ax, title=label or None)
    )


# ----------------------------------------------------------------------------------------
def flops_options(func):
    """Options of ``perflaw recommend-config`` for a FLOPs budget (chinchilla laws)."""
    opts = [
        click.option(
            "--budget-kind",
            type=click.Choice(["params", "flops"]),
            default="params",
            show_default=True,
            help="params: a parameter budget (Performance Law); "
            "flops: a training-FLOPs budget split between N and D by a chinchilla law.",
        ),
        click.option(
            "--flops-per-param-token",
            type=float,
            default=6.0,
            show_default=True,
            help="k in C = k·N·D (6: forward + backward).",
        ),
        click.option(
            "--embedder-share",
            type=float,
            default=0.0,
            show_default=True,
            help="Share of N reserved for the item/event embedder (Gabrielsson's "
            "compute-optimal s* ≈ 0.02); (layers, d_emb) then match the rest.",
        ),
        click.option(
            "--embedder-flops-weight",
            type=float,
            default=1.0,
            show_default=True,
            help="FLOPs of an embedder parameter relative to a backbone one: 1 dense "
            "(Chinchilla's 6ND), 0 only looked-up rows, >1 also run on candidates.",
        ),
        click.option(
            "--level", type=float, default=None, help="Interval level (default: the fit's)."
        ),
    ]
    for opt in reversed(opts):
        func = opt(func)
    return func


def run_flops(
    *,
    law_path,
    budget,
    arch,
    n_items,
    max_len,
    count,
    heads,
    layers_range,
    d_range,
    group,
    k,
    embedder_share,
    embedder_flops_weight,
    level,
    fmt,
):
    """``perflaw recommend-config --budget-kind flops``."""
    from perflaw.cli._laws_common import _select, _warnings_to_stderr
    from perflaw.decide.allocation import allocate
    from perflaw.decide.budget import parse_budget, parse_range
    from perflaw.fitting.fitter import load_fits

    C = parse_budget(budget)
    fits = _select(load_fits(law_path), group, law_path)
    layers = parse_range(layers_range, "--layers") if layers_range else None
    d_emb = parse_range(d_range, "--d-emb") if d_range else None
    results = []
    with _warnings_to_stderr():
        for key, f in fits:
            a = allocate(
                f,
                C,
                k=k,
                embedder_share=embedder_share,
                embedder_flops_weight=embedder_flops_weight,
                level=level,
                count=count,
                arch=arch,
                n_items=n_items,
                max_len=max_len,
                heads=heads,
                layers=layers,
                d_emb=d_emb,
            )
            results.append((key, f, a))
    objs = [dict(key, law=f.law_.name, metric=f.metric_, **a.to_dict()) for key, f, a in results]
    if fmt == "json":
        click.echo(to_json(objs[0] if len(objs) == 1 else objs))
        return
    rows = []
    for key, _f, a in results:
        row = dict(key)
        for q in ("n_opt", "d_opt", "tokens_per_param"):
            row[q] = getattr(a, q)
            row[f"{q}_lower"], row[f"{q}_upper"] = a.ci[q]
        row.update(
            {
                "layers": a.config["layers"],
                "d_emb": a.config["d_emb"],
                "config_params": a.config["params"],
            }
        )
        rows.append(row)
    if fmt == "csv":
        click.echo(render(rows, "csv"))
        return
    for key, f, a in results:
        head = ", ".join(f"{k}={v}" for k, v in key.items())
        if head:
            click.echo(f"[{head}]")
        lv = f"{100 * a.level:g}%"
        if not a.identified:  # the decision first: there is none
            click.echo(
                f"FLOPs budget {a.budget:.3g} (law: {f.law_.name}, metric {f.metric_}): "
                "no allocation recommended"
            )
            lo, hi = a.ci["n_opt"]
            click.echo(f"  N_opt (parameters)   somewhere in [{lo:.3g}, {hi:.3g}] ({lv})")
            for note in a.notes:
                click.echo(f"note: {note}")
            click.echo("")
            continue
        click.echo(
            f"FLOPs budget {a.budget:.3g} (law: {f.law_.name}, metric {f.metric_}; "
            f"{lv} intervals, {a.interval})"
        )
        for q, label in (
            ("n_opt", "N_opt (parameters)"),
            ("d_opt", "D_opt (data)"),
            ("tokens_per_param", "D_opt / N_opt"),
        ):
            lo, hi = a.ci[q]
            click.echo(f"  {label:<20} {getattr(a, q):.4g}   [{lo:.4g}, {hi:.4g}]")
        if a.embedder_share:
            click.echo(
                f"  embedder             {a.n_embedder:.4g} parameters "
                f"(share {a.embedder_share:g}); backbone {a.n_backbone:.4g}"
            )
        c = a.config
        click.echo(
            f"  closest configuration: {c['layers']} layers, d_emb {c['d_emb']} "
            f"({c['params']:,} {c['count']} parameters, {c['ratio_to_target']:.2f}× "
            "the target)"
        )
        alts = [
            f"{x['layers']}L/{x['d_emb']}d"
            for x in c["alternatives"]
            if (x["layers"], x["d_emb"]) != (c["layers"], c["d_emb"])
        ]
        if alts:
            click.echo(f"  other shapes within 10 %: {', '.join(alts)}")
        click.echo(f"  FLOPs accounting: {a.accounting}")
        for note in a.notes:
            click.echo(f"note: {note}")
        click.echo("")


def is_scaling_law(name: str) -> bool:
    return str(name).lower() in SCALING_LAWS


def finite(v) -> bool:
    return v is not None and math.isfinite(float(v))


# ----------------------------------------------------------------------------------------
def scaling_predict_options(func):
    """Options of ``perflaw predict`` for power and chinchilla laws."""
    opts = [
        click.option("--x", "x_values", help="power law: comma-separated sizes x, e.g. 1e7,1e8."),
        click.option("--n-params", help="chinchilla: comma-separated parameter counts N."),
        click.option(
            "--data",
            help="chinchilla: comma-separated data sizes D (same units as "
            "the fit: interactions or D′).",
        ),
    ]
    for opt in reversed(opts):
        func = opt(func)
    return func


def run_predict(fits, *, x_values, n_params, data, level, kind, fmt):
    """``perflaw predict`` for power/chinchilla law files: every combination, with intervals."""
    import itertools

    from perflaw.cli._laws_common import _floats, _prediction_fields, _warnings_to_stderr

    records = []
    with _warnings_to_stderr():
        for key, f in fits:
            law = f.law_
            if not law.predict_options:
                raise DataError(
                    "a law file mixing performance and scaling laws: pick one with --group"
                )
            given = {"--x": x_values, "--n-params": n_params, "--data": data}
            values = {c: _floats(given[o], o) for c, o in law.predict_options.items()}
            if any(v is None for v in values.values()):
                raise DataError(
                    f"the {law.name} law needs "
                    + " and ".join(
                        f"{o} ({c} = {law.input_labels[c]})" for c, o in law.predict_options.items()
                    )
                )
            frame = pd.DataFrame(list(itertools.product(*values.values())), columns=list(values))
            cols = {c: law.input_labels[c] for c in values}
            for c in frame.columns:
                if np.any(frame[c] <= 0):
                    raise DataError(f"{cols[c]} must be positive; got {frame[c].min():g}")
            res = f.predict(frame, interval=True, level=level, kind=kind)
            for i in range(len(frame)):
                rec = dict(key)
                rec.update({cols[c]: frame.iloc[i][c] for c in frame.columns})
                rec.update(_prediction_fields(f, res, i))
                records.append(rec)
    click.echo(render(records, fmt))
