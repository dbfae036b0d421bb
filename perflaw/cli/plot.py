"""``perflaw plot``: figures of a fitted law (any law) or of its recommendation frontier."""

from __future__ import annotations

import click

from perflaw.cli._laws_common import _panels, _select
from perflaw.cli._options import law_option, parameter_count_options


@click.command()
@law_option
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
@parameter_count_options(when="--kind frontier: ")
@click.option("--group", help="Only this group of a grouped law file.")
def plot(law_path, kind, out, budget, arch, n_items, max_len, count, heads, group):
    """Save a figure of a fitted law (PNG, PDF or SVG by the --out extension)."""
    from perflaw.fitting.fitter import load_fits
    from perflaw.plot import _plt, check_figure_path, plot_fitter, plot_recommendation

    check_figure_path(out, [law_path], option="--out")  # before any work
    plt = _plt()
    if kind == "frontier":
        from perflaw.cli.recommend import recommend_all

        results = recommend_all(
            law_path,
            budget,
            arch,
            n_items,
            max_len,
            count,
            heads,
            layers_range=None,
            d_range=None,
            d_prime=None,
            group=group,
            top=5,
        )
        fig, axes = plt.subplots(1, len(results), figsize=(6 * len(results), 4.4), squeeze=False)
        for ax, (label, _f, rec) in zip(axes.ravel(), results):
            plot_recommendation(
                rec, ax=ax, title=", ".join(f"{k}={v}" for k, v in label.items()) or None
            )
    else:
        # a joint fit draws one panel per group (or the group --group names)
        panels = _panels(_select(load_fits(law_path), group, law_path), group)
        fig, axes = plt.subplots(1, len(panels), figsize=(6 * len(panels), 4.4), squeeze=False)
        for ax, (key, f, g) in zip(axes.ravel(), panels):
            label = ", ".join(f"{k}={v}" for k, v in key.items())
            plot_fitter(f, kind, ax=ax, title=label or None, group=g)
    from perflaw.plot import save_figure

    save_figure(fig, out, [law_path], option="--out")
    click.echo(f"saved the figure to {out}")
