"""``perflaw plot``: figures of a fitted law (any law) or of its recommendation frontier."""

from __future__ import annotations

import click

from perflaw.cli._laws_common import DEFAULT_LAW, _select
from perflaw.decide.params import ARCHITECTURES


@click.command()
@click.option(
    "--law",
    "law_path",
    default=DEFAULT_LAW,
    show_default=True,
    type=click.Path(dir_okay=False),
    help="Law file written by `perflaw fit`.",
)
@click.option(
    "--kind",
    type=click.Choice(["fit", "residuals", "frontier"]),
    default="fit",
    show_default=True,
    help="Observed and fitted, residuals, or the recommendation frontier over parameter counts.",
)
@click.option(
    "--out",
    "out",
    default="perflaw-plot.png",
    show_default=True,
    type=click.Path(dir_okay=False),
    help="Figure file; PNG, PDF or SVG by the extension.",
)
@click.option("--budget", help="Budget line for --kind frontier (optional).")
@click.option(
    "--arch",
    type=click.Choice(list(ARCHITECTURES)),
    default="sasrec",
    show_default=True,
    help="--kind frontier: backbone for parameter counting.",
)
@click.option(
    "--n-items",
    type=int,
    default=0,
    show_default=True,
    help="--kind frontier: items in the catalogue (item-table size; 0 leaves it out).",
)
@click.option(
    "--max-len",
    type=int,
    default=0,
    show_default=True,
    help="--kind frontier: maximum sequence length (position table).",
)
@click.option(
    "--count",
    type=click.Choice(["total", "non-embedding"]),
    default="total",
    show_default=True,
    help="--kind frontier: which parameter count the budget limits.",
)
@click.option(
    "--heads",
    type=int,
    default=1,
    show_default=True,
    help="--kind frontier: attention heads (d_emb must be divisible by it).",
)
@click.option("--group", help="Only this group of a grouped law file.")
def plot(law_path, kind, out, budget, arch, n_items, max_len, count, heads, group):
    """Save a figure of a fitted law (PNG, PDF or SVG by the --out extension)."""
    from perflaw.fit import load_fits
    from perflaw.plot import _plt, check_figure_path, plot_fitter, plot_recommendation

    check_figure_path(out, [law_path], option="--out")  # before any work
    plt = _plt()
    if kind == "frontier":
        from perflaw.cli.recommend import recommend_all

        results = recommend_all(
            law_path, budget, arch, n_items, max_len, count, heads, None, None, None, group, 5
        )
        fig, axes = plt.subplots(1, len(results), figsize=(6 * len(results), 4.4), squeeze=False)
        for ax, (label, _f, rec) in zip(axes.ravel(), results):
            plot_recommendation(
                rec, ax=ax, title=", ".join(f"{k}={v}" for k, v in label.items()) or None
            )
    else:
        fits = _select(load_fits(law_path), group, law_path)
        fig, axes = plt.subplots(1, len(fits), figsize=(6 * len(fits), 4.4), squeeze=False)
        for ax, (key, f) in zip(axes.ravel(), fits):
            label = ", ".join(f"{k}={v}" for k, v in key.items())
            plot_fitter(f, kind, ax=ax, title=label or None)
    from perflaw.plot import save_figure

    save_figure(fig, out, [law_path], option="--out")
    click.echo(f"saved the figure to {out}")
