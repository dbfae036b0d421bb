"""``perflaw simulate``: replay the loop over a finished grid against plain baselines."""

from __future__ import annotations

import click

from perflaw.cli._output import human_number, output_options, render, table_string


@click.command(name="simulate")
@click.argument("grid", type=click.Path(dir_okay=False))
@click.option("-m", "--metric", required=True, help="Metric column (a loss: minimised).")
@click.option(
    "--budget", default=0.25, show_default=True, type=float, help="Share of the grid's compute."
)
@click.option(
    "--noise",
    default=0.0,
    show_default=True,
    type=float,
    help="Relative run-to-run sd added to what each method observes (0.01: 1 %).",
)
@click.option(
    "--noise-seeds",
    default=20,
    show_default=True,
    type=click.IntRange(1),
    help="Noisy copies of the grid averaged.",
)
@click.option("--where", default=None, help="Rows of GRID to use, e.g. 'panel==1'.")
@click.option(
    "--methods",
    default="perflaw,greedy,random,cheapest,tpe",
    show_default=True,
    help="Methods to compare (tpe needs perflaw[optuna]).",
)
@click.option(
    "--plot",
    "plot_path",
    default=None,
    type=click.Path(dir_okay=False),
    help="Save regret against compute (PNG, PDF, SVG).",
)
@output_options
def simulate(grid, metric, budget, noise, noise_seeds, where, methods, plot_path, fmt):
    """How much compute would the loop have saved on a finished GRID?

    Every method starts from the loop's seed design and trains one configuration at a time
    (looked up in GRID); the table gives each one's regret (the share below the grid's best
    of the run it would pick) at each share of the grid's compute, and the compute it spent
    to first come within 1 % of the best.
    """
    from perflaw.decide.simulate import World
    from perflaw.decide.simulate import simulate as run
    from perflaw.errors import DataError
    from perflaw.io import find_column
    from perflaw.laws.base import higher_is_better
    from perflaw.runs import read_table

    if plot_path:
        from perflaw.plot import check_figure_path

        check_figure_path(plot_path, inputs=[grid])
    frame = read_table(grid)
    if where:
        from perflaw.conditions import parse_condition

        frame = frame[parse_condition(where, frame)]
        if frame.empty:
            raise DataError(f"no rows of {grid!r} match {where!r}")
    col = find_column(frame.columns, metric)
    world = World.from_frame(frame, col, higher_is_better(col))
    chosen = tuple(m.strip() for m in methods.split(",") if m.strip())
    if "tpe" in chosen:
        try:
            import optuna  # noqa: F401
        except ImportError:
            chosen = tuple(m for m in chosen if m != "tpe")
            click.echo(
                "warning: Optuna is not installed: tpe left out (pip install 'perflaw[optuna]')",
                err=True,
            )
    r = run(world, budget=budget, noise=noise, noise_seeds=noise_seeds, methods=chosen)
    chosen = tuple(r.regret)  # perflaw_measured: the loop's runs, best measured one picked
    records = [
        {"compute": float(s), **{m: float(r.regret[m][k]) for m in chosen}}
        for k, s in enumerate(r.shares)
    ]
    summary = {
        "metric": col,
        "budget": budget,
        "noise": noise,
        "seed_share": r.seed_share,
        "regret_at_budget": r.at_budget(),
        "compute_to_within_1pct": r.to_reach,
        "curve": records,
    }
    if plot_path:
        _plot(r, chosen, plot_path, grid)
    if fmt == "json":
        click.echo(render(records, fmt, json_obj=summary))
        return
    if fmt == "csv":
        click.echo(render(records, fmt))
        return
    click.echo(
        f"{col}: seed design {human_number(r.seed_share, percent=True)} of the grid's "
        f"compute; noise {noise:g}"
    )
    click.echo(
        table_string(
            [
                {
                    "method": m,
                    f"regret at {budget:g}": human_number(r.at_budget()[m], percent=True),
                    "compute to within 1 %": human_number(r.to_reach[m], percent=True),
                }
                for m in chosen
            ]
        )
    )
    click.echo("")
    click.echo("regret (share below the grid's best) against compute spent")
    click.echo(
        table_string(
            [{k: human_number(v, percent=True) for k, v in rec.items()} for rec in records]
        )
    )


def _plot(r, methods, path, grid) -> None:
    from perflaw.plot import _plt, save_figure

    plt = _plt()
    fig, ax = plt.subplots(figsize=(6, 4))
    for m in methods:
        ax.plot(100 * r.shares, 100 * r.regret[m], marker="o", ms=3, label=m)
    ax.axvline(100 * r.budget, color="grey", lw=0.8, ls="--")
    ax.set_xlabel("compute spent (% of the grid)")
    ax.set_ylabel("regret (% below the grid's best)")
    ax.legend()
    fig.tight_layout()
    save_figure(fig, path, inputs=[grid])
