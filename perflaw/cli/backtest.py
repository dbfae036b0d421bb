"""``perflaw backtest``: fit the smaller sizes, predict the larger, for every candidate form."""

from __future__ import annotations

import sys

import click

from perflaw.cli._laws_common import DEFAULT_RUNS
from perflaw.cli._output import output_options, render, to_json
from perflaw.errors import DataError


@click.command()
@click.argument("runs", required=False, default=DEFAULT_RUNS, type=click.Path(dir_okay=False))
@click.option("--metric", "-m", required=True, help="Metric column, case-insensitive.")
@click.option("--where", help="Keep only rows matching e.g. 'panel==0'.")
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
    runs, metric, where, axis, forms, layers_col, d_emb_col, transform, level, seed, plot_path, fmt
):
    """Rolling-origin backtest: for each size v on --axis but the last, fit every form on
    the runs with size <= v and predict the larger ones; report per form the mean and
    maximum absolute percentage error and the coverage of its calibrated intervals,
    beside the carry-forward and log-linear baselines.
    """
    from perflaw.backtest import backtest as run_backtest
    from perflaw.runs import average_replicates, read_table, runs_from_frame

    if not 0 < level < 1:
        raise DataError(f"--level must be strictly between 0 and 1, got {level:g}")
    if plot_path:
        from perflaw.plot import check_figure_path

        check_figure_path(plot_path, [runs], option="--plot")  # before any work
    frame = read_table(runs)
    table = runs_from_frame(
        frame,
        metric=metric,
        layers_col=layers_col,
        d_emb_col=d_emb_col,
        where=where,
        source=f"runs table {str(runs)!r}",
    )
    from perflaw.io import find_any  # the one column lookup

    seed_col = find_any(frame.columns, ("seed",))
    if seed_col is not None:
        from perflaw.fit import parse_condition

        kept = frame[parse_condition(where, frame)] if where else frame
        table, _, _ = average_replicates(table, kept[seed_col].to_numpy())
    res = run_backtest(
        table.X[["layers", "d_emb"]],
        table.y,
        metric=table.metric,
        forms=forms or None,
        axis=axis,
        transform=transform,
        seed=seed,
        level=level,
        progress=sys.stderr.isatty(),
    )
    records = []
    for r in res.summary.to_dict(orient="records"):
        r = dict(r, metric=table.metric, level=level)
        if r["form"] in res.skipped:
            r["skipped"] = res.skipped[r["form"]]
        records.append(r)
    if plot_path:
        from perflaw.plot import plot_backtest, save_figure

        save_figure(plot_backtest(res), plot_path, [runs])
        click.echo(f"saved the figure to {plot_path}", err=True)
    if fmt == "json":
        click.echo(to_json(records))
        return
    if fmt == "csv":
        click.echo(render(records, "csv"))
        return
    click.echo(
        f"{table.metric}: rolling-origin backtest along {res.axis} ({len(table.y)} runs, "
        f"{res.points.origin.nunique() if len(res.points) else 0} origins, fitted on the "
        f"{res.transform} scale); lower MAPE is better, carry-forward is the baseline"
    )
    rows = [
        {
            "form": r["form"],
            "kind": r["kind"],
            "predicted runs": r["n_points"],
            "MAPE %": r["mape"],
            "max APE %": r["max_ape"],
            f"coverage of {100 * level:g}% intervals": r["coverage"],
        }
        for r in records
    ]
    click.echo(render(rows, "table"))
    for form, why in res.skipped.items():
        click.echo(f"note: {form} not fitted at every origin ({why})")
