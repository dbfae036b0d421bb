"""``perflaw next`` and ``perflaw ledger``: the loop's next runs, and its track record."""

from __future__ import annotations

import click

from perflaw.cli._options import where_option
from perflaw.cli._output import human_number, output_options, render, table_string

_COST_HELP = (
    "Cost of a run: compute (layers*d_emb**2, default), params (12*layers*d_emb**2) or a "
    "column of the runs table (untried runs scaled from compute by the trained runs' ratio)."
)


@click.command(name="next")
@click.argument("runs", type=click.Path(dir_okay=False))
@click.option("-m", "--metric", required=True, help="Metric column to maximise (a loss: minimise).")
@click.option(
    "--layers", "layers_range", required=True, help="The grid's layers: 'a,b,c' or 'a:b[:step]'."
)
@click.option(
    "--d-emb", "d_range", required=True, help="The grid's d_emb: 'a,b,c' or 'a:b[:step]'."
)
@click.option(
    "--batch",
    default=1,
    show_default=True,
    type=click.IntRange(1),
    help="Proposals (one per worker).",
)
@click.option("--cost", default="compute", show_default=True, help=_COST_HELP)
@click.option(
    "--budget",
    default=None,
    help="Total cost you will spend, trained runs included: an amount (3e6, 20M) or a "
    "share of the grid's cost (25%). Proposals must fit in what is left.",
)
@click.option(
    "--stop-chance",
    default=0.05,
    show_default=True,
    type=click.FloatRange(0, 1),
    help="Stop when the chance that an untried run beats the best trained by more than "
    "the noise is below this.",
)
@where_option("data_fraction==1 & seed<3")
@click.option(
    "--ledger/--no-ledger",
    default=True,
    show_default=True,
    help="Write the proposals to RUNS.ledger.jsonl beside the runs table before training.",
)
@output_options
def next_run(
    runs, metric, layers_range, d_range, batch, cost, budget, stop_chance, where, ledger, fmt
):
    """What to train next on your grid, and whether to stop.

    RUNS is the runs table (CSV, parquet, JSON); if it does not exist yet the loop starts
    with its seed design.  Every proposal is a configuration of the grid --layers x
    --d-emb, ranked by expected improvement over the best trained run per unit cost.
    """
    from perflaw.decide.budget import parse_range
    from perflaw.decide.loop import next_from_table

    d = next_from_table(
        runs,
        metric=metric,
        grid_layers=parse_range(layers_range, "--layers"),
        grid_d_emb=parse_range(d_range, "--d-emb"),
        batch=batch,
        cost=cost,
        budget=budget,
        stop_chance=stop_chance,
        write_ledger=ledger,
        where=where,
    )
    records = [p.as_dict() for p in d.proposals]
    if fmt == "json":
        click.echo(render(records, fmt, json_obj=d.as_dict()))
        return
    if fmt == "csv":
        click.echo(render(records, fmt))
        return
    bt = d.best_trained
    lines = [
        ("stop: " if d.stop else "go on: ") + d.reason,
        "best trained: "
        + (f"{bt['layers']} x {bt['d_emb']} = {human_number(bt['value'])}" if bt else "none yet"),
        f"spent {human_number(d.spent)} of the grid's {human_number(d.grid_cost)} "
        f"({human_number(d.spent / d.grid_cost, percent=True)})",
    ]
    click.echo("\n".join(lines))
    if records:
        click.echo("")
        click.echo(table_string([{k: human_number(v) for k, v in r.items()} for r in records]))


@click.command(name="ledger")
@click.argument("runs", type=click.Path(dir_okay=False))
@click.option("-m", "--metric", default=None, help="Metric (default: the ledger's).")
@where_option("data_fraction==1")
@output_options
def ledger(runs, metric, where, fmt):
    """Score the loop's track record: its proposals against the runs trained since.

    Error, bias and coverage of the loop's 95 % intervals, beside carry-forward (the best
    trained value at the time) and a constant (the mean then) given the same widths, and
    the interval width against the spread of the observed values.
    """
    from perflaw.decide.loop import score_ledger

    s = score_ledger(runs, metric, where=where)
    records = [
        {"predictor": name, **s[name]}
        for name in ("loop", "carry_forward", "constant")
        if name in s
    ]
    if fmt == "json":
        click.echo(render(records, fmt, json_obj=s))
        return
    if fmt == "csv":
        click.echo(render(records, fmt))
        return
    click.echo(
        f"{s['scored']} of {s['proposals']} proposals trained since and scored ({s['metric']})"
    )
    if records:
        click.echo(
            f"mean 95 % interval width {human_number(s['mean_width'])} against an observed sd "
            f"of {human_number(s['observed_sd'])} (ratio {human_number(s['width_over_sd'])})"
        )
        click.echo(table_string(records))
