"""``perflaw report``: one self-contained HTML page about a runs table (perflaw.report)."""

from __future__ import annotations

import click

from perflaw.cli._sources import source_options, source_settings


@click.command()
@click.argument("runs", type=click.Path(dir_okay=False))
@source_options
@click.option("--metric", "-m", required=True, help="Metric column, case-insensitive.")
@click.option(
    "--out",
    default="perflaw-report.html",
    show_default=True,
    type=click.Path(dir_okay=False),
    help="The HTML file to write.",
)
@click.option(
    "--log",
    "log",
    type=click.Path(dir_okay=False),
    help="The interaction log the runs were trained on: adds its quality (ApEn, D′).",
)
@click.option("--where", help="Keep only runs matching e.g. 'data_fraction==1'.")
@click.option("--budget", help="Maximum parameter count for the decision (e.g. 2M).")
@click.option("--n-items", type=int, help="Items in the catalogue (default: from --log).")
@click.option("--max-len", type=int, help="Sequence length (default: the runs' max_len).")
@click.option("--seed", type=int, default=0, show_default=True, help="Seed of every draw.")
def report(runs, metric, out, log, where, budget, n_items, max_len, seed):
    """Write one HTML page about RUNS (a table, or a tracker source such as
    mlflow:EXPERIMENT): the decision first (what to train next, how sure), the law kept
    and why, its backtest against the plain baselines, the prediction surface with
    intervals and the trained edge, and with --log the data's quality; each figure with
    a one-line reading.  The page needs no network to view (figures are embedded)."""
    from perflaw.files import check_output
    from perflaw.report import build_report, write_report

    inputs = [runs, log]
    check_output(out, inputs, option="--out")  # before any work
    result = build_report(
        runs,
        metric=metric,
        log=log,
        where=where,
        budget=budget,
        n_items=n_items,
        max_len=max_len,
        seed=seed,
        **source_settings(),
    )
    for line in result.warnings:
        click.echo(f"warning: {line}", err=True)
    write_report(result, out, inputs)
    click.echo(f"decision: {result.decision}")
    click.echo(f"wrote the report to {out}")
