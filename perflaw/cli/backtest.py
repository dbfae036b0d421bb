"""``perflaw backtest``: fit the smaller sizes, predict the larger, for every candidate form."""

from __future__ import annotations

import sys

import click

from perflaw.cli._laws_common import DEFAULT_RUNS
from perflaw.cli._options import where_option
from perflaw.cli._output import human_number, output_options, render, to_json
from perflaw.cli._sources import source_options
from perflaw.errors import DataError


def _coverage_cell(coverage: float, n: int) -> str:
    """'20 of 24 (83 %)': the predicted runs inside their interval, for the table."""
    if not n or coverage != coverage:  # NaN: no interval was given
        return "—"
    return f"{round(coverage * n)} of {n} ({100 * coverage:.0f} %)"


@click.command()
@click.argument("runs", required=False, default=DEFAULT_RUNS, type=click.Path(dir_okay=False))
@source_options
@click.option("--metric", "-m", required=True, help="Metric column, case-insensitive.")
@where_option("panel==0")
@click.option(
    "--axis",
    type=click.Choice(["auto", "layers", "d_emb"]),
    default="auto",
    show_default=True,
    help="Size axis of the rolling origin. auto: layers, or d_emb when the runs have "
    "fewer than 3 layer counts and more widths.",
)
@click.option(
    "--form",
    "forms",
    multiple=True,
    help="Candidate form (repeat): carry, saturating, loglinear, p2, free ...; "
    "default: every form, baselines included.",
)
@click.option(
    "--group-by",
    help="Comma-separated columns: one backtest per group, or with --joint one joint law "
    "across them.",
)
@click.option(
    "--joint",
    type=click.Choice(["free", "dprime"]),
    default=None,
    help="Backtest one joint fit across the --group-by groups (as `perflaw fit --joint`) "
    "against carry-forward within each group.",
)
@click.option("--d-prime-col", help="Column holding D′ (for --joint dprime).")
@click.option(
    "--p",
    "p",
    type=float,
    default=None,
    help="Pin the constant p of the joint Performance Law (as `perflaw fit --p`).",
)
@click.option("--layers-col", help="Layers column (default: found by name).")
@click.option("--d-emb-col", help="Embedding-dimension column (default: found by name).")
@click.option(
    "--transform",
    type=click.Choice(["auto", "none", "logit"]),
    default="auto",
    show_default=True,
    help="Fitting scale (auto: logit for HR/NDCG-like rates).",
)
@click.option(
    "--level",
    type=float,
    default=0.95,
    show_default=True,
    help="Level of the intervals whose coverage is measured.",
)
@click.option(
    "--seed",
    type=int,
    default=0,
    show_default=True,
    help="Seed of the multi-start fits and bootstrap resamples.",
)
@click.option(
    "--plot",
    "plot_path",
    type=click.Path(dir_okay=False),
    help="Save a figure: error against the distance extrapolated, per form.",
)
@output_options
def backtest(
    runs,
    metric,
    where,
    axis,
    forms,
    group_by,
    joint,
    d_prime_col,
    p,
    layers_col,
    d_emb_col,
    transform,
    level,
    seed,
    plot_path,
    fmt,
):
    """Rolling-origin backtest: for each size v on --axis but the last, fit every form on
    the runs with size <= v and predict the larger ones; report per form the mean and
    maximum absolute percentage error and the coverage of its calibrated intervals,
    beside the carry-forward and log-linear baselines.  With --joint, the joint law of
    `perflaw fit --joint` against carry-forward within each group.
    """
    from perflaw.cli._sources import source_settings
    from perflaw.fitting.selection import backtest as run_backtest
    from perflaw.replicates import average_replicates
    from perflaw.runs import read_table, runs_from_frame

    if not 0 < level < 1:
        raise DataError(f"--level must be strictly between 0 and 1, got {level:g}")
    if joint and not group_by:
        raise DataError("--joint needs --group-by (the groups the joint fit spans)")
    if joint == "dprime" and not d_prime_col:
        raise DataError("--joint dprime needs D′: give --d-prime-col")
    if joint and forms:
        raise DataError("--form and --joint exclude each other: --joint backtests the joint law")
    if (p is not None or d_prime_col) and not joint:
        raise DataError("--p and --d-prime-col are options of --joint")
    if plot_path:
        from perflaw.plot import check_figure_path

        check_figure_path(plot_path, [runs], option="--plot")  # before any work
    frame = read_table(runs, **source_settings())
    table = runs_from_frame(
        frame,
        metric=metric,
        layers_col=layers_col,
        d_emb_col=d_emb_col,
        group_by=group_by,
        d_prime_col=d_prime_col,
        where=where,
        source=f"runs table {str(runs)!r}",
    )
    if table.seeds is not None:
        table, _, _ = average_replicates(table, table.seeds)
    law_opts = {"data_term": joint, **({} if p is None else {"p": p})} if joint else None
    cols = ["layers", "d_emb", *(["d_prime"] if joint == "dprime" else [])]
    parts = (
        [({}, table)]
        if joint or not table.group_cols
        else [(key, sub) for key, sub in table.groups()]
    )
    results = []  # (key, its label, its runs, its backtest)
    for key, sub in parts:
        label = ", ".join(f"{k}={v}" for k, v in key.items())
        try:
            res = run_backtest(
                sub.X[cols],
                sub.y,
                metric=table.metric,
                forms=forms or None,
                axis=axis,
                transform=transform,
                seed=seed,
                level=level,
                progress=sys.stderr.isatty(),
                groups=sub.group_labels() if joint else None,
                joint=law_opts,
            )
        except DataError as exc:
            raise DataError(f"group {label}: {exc}" if label else str(exc)) from None
        results.append((key, label, sub, res))
    records = []
    for key, _, _, res in results:
        for r in res.summary.to_dict(orient="records"):
            r = dict(key, **r, metric=table.metric, level=level)
            if r["form"] in res.skipped:
                r["skipped"] = res.skipped[r["form"]]
            records.append(r)
    if plot_path:
        from perflaw.plot import plot_backtest, save_figure

        if len(results) > 1:
            raise DataError("--plot draws one backtest: pick a group with --where, or --joint")
        save_figure(plot_backtest(results[0][3]), plot_path, [runs])
        click.echo(f"saved the figure to {plot_path}", err=True)
    if fmt == "json":
        click.echo(to_json(records))
        return
    if fmt == "csv":
        click.echo(render(records, "csv"))
        return
    for i, (_, label, sub, res) in enumerate(results):
        what = f"the joint fit ({joint} data term) across {group_by}, " if joint else ""
        within = ", within each group" if joint else ""
        click.echo(
            ("\n" if i else "")
            + f"{table.metric}{f' ({label})' if label else ''}: rolling-origin backtest along "
            f"{res.axis} ({what}{len(sub.y)} runs, "
            f"{res.points.origin.nunique() if len(res.points) else 0} origins, fitted on the "
            f"{res.transform} scale); lower MAPE is better, carry-forward is the baseline"
            f"{within}"
        )
        rows = [
            {
                "form": r["form"],
                "kind": r["kind"],
                "predicted runs": r["n_points"],
                "MAPE %": human_number(r["mape"], digits=3),
                "max APE %": human_number(r["max_ape"], digits=3),
                f"inside its {100 * level:g}% interval": _coverage_cell(
                    r["coverage"], r["n_intervals"]
                ),
            }
            for r in res.summary.to_dict(orient="records")
        ]
        click.echo(render(rows, "table"))
        for form, why in res.skipped.items():
            click.echo(f"note: {form} not fitted at every origin ({why})")
        for r in res.summary.itertuples():
            if r.n_points and r.coverage != r.coverage:  # NaN: no interval anywhere
                click.echo(
                    f"note: {r.form} gave no prediction interval (too few sizes below each "
                    "origin to calibrate one, and parameters not identified in sample): its "
                    "coverage is not measured"
                )
