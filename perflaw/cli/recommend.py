"""``perflaw recommend-config``: what to train next, beside the best run already trained."""

from __future__ import annotations

import math

import click
import numpy as np

from perflaw.cli._data_option import data_option, fill_from_data
from perflaw.cli._laws_common import _joint_groups, _select
from perflaw.cli._options import law_option, parameter_count_options
from perflaw.cli._output import output_options, render, to_json
from perflaw.cli.scaling import flops_options
from perflaw.errors import DataError


def budget_options(func):
    opts = [
        law_option,
        click.option(
            "--budget",
            default=None,
            help="Parameter budget: 20M, 1.5e9, 300k ... (default: no budget, rank "
            "the whole grid).",
        ),
        parameter_count_options(),
        click.option(
            "--layers",
            "layers_range",
            help="Layers to consider: 'a:b[:step]' or 'a,b,c' (default: fitted range).",
        ),
        click.option(
            "--d-emb",
            "d_range",
            help="d_emb to consider: 'a:b[:step]' or list (default: multiples of "
            "lcm(8, heads) in the fitted range).",
        ),
        click.option("--d-prime", "d_prime", type=float, help="D′ for laws with a D′ term."),
        click.option("--group", help="Only this group of a grouped law file."),
    ]
    for opt in reversed(opts):
        func = opt(func)
    return func


def recommend_all(
    law_path,
    budget,
    arch,
    n_items,
    max_len,
    count,
    heads,
    layers_range,
    d_range,
    d_prime,
    group,
    top,
):
    """``[(label, fitter, Recommendation)]`` for every (selected) fit of a law file."""
    from perflaw.decide.budget import parse_range, recommend
    from perflaw.fitting.fitter import load_fits

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
        # a law with one term per depth (or width) ranks every depth in one list
        keyed = f.law_.grouped_input() is not None
        for g in [group or None] if keyed else _joint_groups(f, group):
            rec = recommend(
                f,
                budget,
                layers=layers,
                d_emb=d_emb,
                heads=heads,
                arch=arch,
                n_items=n_items,
                max_len=max_len,
                count=count,
                top=top,
                extra_inputs=extra,
                group=g,
            )
            label = dict(key)
            if g is not None:
                label["group"] = g
            out.append((label, f, rec))
    return out


def _record(label, f, rec) -> dict:
    keys = ("layers", "d_emb", "prediction", "lower", "upper", "p_best")
    return dict(
        label,
        metric=f.metric_,
        form=getattr(f, "form_", None) or f.law_.name,
        level=f.level,
        decision=rec.message,
        recommendation={k: rec.pick[k] for k in keys},
        best_observed=rec.best_observed,
        gain=rec.gain,
        noise=rec.noise,
        beats_noise=rec.beats_noise,
        next=rec.next_run,
        p_best_means=rec.p_best_means,
        warnings=list(rec.warnings) + list(rec.notes),
        budget=rec.budget,
        count=rec.count,
        budget_binds=rec.budget_binds,
        unconstrained=rec.unconstrained,
        top=rec.top.to_dict(orient="records"),
    )


@click.command("recommend-config")
@budget_options
@data_option
@click.option(
    "--top", type=int, default=5, show_default=True, help="Configurations to list (>= 1)."
)
@click.option(
    "--plot", "plot_path", type=click.Path(dir_okay=False), help="Save the budget-frontier figure."
)
@flops_options
@output_options
def recommend_config(
    law_path,
    budget,
    arch,
    n_items,
    max_len,
    count,
    heads,
    layers_range,
    d_range,
    d_prime,
    group,
    data,
    top,
    plot_path,
    budget_kind,
    flops_per_param_token,
    embedder_share,
    embedder_flops_weight,
    level,
    fmt,
):
    """What to train next: the best (layers, d_emb) of a grid by the fitted law, shown
    beside the best run already trained, with the predicted gain and its interval.

    Without --budget the whole --layers × --d-emb grid is ranked; with it, only what
    fits, and the best run already trained means the best one that fits the budget.
    Deeper models than the trained ones (wider ones, for a law fitted with
    --backtest-axis d_emb) are considered only as far as the law's backtest
    extrapolated.  When nothing is predicted to beat the best trained run by
    more than the noise, it says so and names the run to try next.

    The table tells the same story: row 1 is the pick, then the run named next (even
    one off the grid), then the best of the rest.  A carry-forward law gives an untried
    configuration no prediction of its own ("no prediction", no p_best); `perflaw next`
    ranks the untried configurations of a grid without a fitted law.

    With --budget-kind flops (a chinchilla law): the compute-optimal N and D for a
    training-FLOPs budget, with intervals, and the (layers, d_emb) closest to N_opt.
    """
    if top < 1:
        raise DataError(f"--top must be at least 1, got {top}")
    n_items, max_len, d_prime = fill_from_data(
        data, n_items=n_items, max_len=max_len, d_prime=d_prime, law_path=law_path
    )
    if level is not None and not 0 < level < 1:
        raise DataError(f"--level must be strictly between 0 and 1, got {level:g}")
    if plot_path:
        from perflaw.plot import check_figure_path

        check_figure_path(plot_path, [law_path], option="--plot")  # before any work
    from click.core import ParameterSource

    ctx = click.get_current_context()
    if ctx.get_parameter_source("budget_kind") == ParameterSource.DEFAULT:
        from perflaw.fitting.fitter import load_fits

        # the law declares what its budget is (parameters, training FLOPs)
        kinds = {f.law_.budget_kind for _, f in load_fits(law_path)}
        if kinds == {"flops"}:
            budget_kind = "flops"
    if budget_kind == "flops":
        from perflaw.cli.scaling import run_flops

        if budget is None:
            raise DataError("--budget-kind flops needs --budget (training FLOPs)")
        src = ctx.get_parameter_source("count")
        return run_flops(
            law_path=law_path,
            budget=budget,
            arch=arch,
            n_items=n_items,
            max_len=max_len,
            count=None if src == ParameterSource.DEFAULT else count,
            heads=heads,
            layers_range=layers_range,
            d_range=d_range,
            group=group,
            k=flops_per_param_token,
            embedder_share=embedder_share,
            embedder_flops_weight=embedder_flops_weight,
            level=level,
            fmt=fmt,
        )
    results = recommend_all(
        law_path,
        budget,
        arch,
        n_items,
        max_len,
        count,
        heads,
        layers_range,
        d_range,
        d_prime,
        group,
        top,
    )
    if plot_path:
        from perflaw.plot import _plt, plot_recommendation

        plt = _plt()
        fig, axes = plt.subplots(1, len(results), figsize=(6 * len(results), 4.4), squeeze=False)
        for ax, (label, _f, rec) in zip(axes.ravel(), results):
            title = ", ".join(f"{k}={v}" for k, v in label.items()) or None
            plot_recommendation(rec, ax=ax, title=title)
        from perflaw.plot import save_figure

        save_figure(fig, plot_path, [law_path])
        click.echo(f"saved the figure to {plot_path}", err=True)
    records = [_record(label, f, rec) for label, f, rec in results]
    if fmt == "json":
        click.echo(to_json(records[0] if len(records) == 1 else records))
        return
    rows = []
    for label, f, rec in results:
        lvl = f"{100 * f.level:g}%"
        # the decision's rows first (the pick, the run it names next), then the rest
        for i, r in enumerate(rec.top.to_dict(orient="records"), 1):
            row = dict(label, row=i, layers=r["layers"], d_emb=r["d_emb"], params=r["params"])
            told = math.isfinite(r["prediction"])
            # carry-forward only copies a trained run onto an untried one: no number there
            none = "" if fmt == "csv" else "no prediction"
            row[f"{f.metric_} predicted"] = r["prediction"] if told else none
            row[f"lower {lvl}"] = r["lower"] if told else ""
            row[f"upper {lvl}"] = r["upper"] if told else ""
            row["observed"] = r["observed"] if math.isfinite(r["observed"]) else ""
            row["p_best"] = r["p_best"] if math.isfinite(r["p_best"]) else ""
            row["trained"] = "yes" if r["trained"] else ""
            row["role"] = r["role"]
            rows.append(row)
    if fmt == "csv":
        for row in rows:
            row.setdefault("warnings", " | ".join(records[0]["warnings"]))
        click.echo(render(rows, "csv"))
        return
    for label, f, rec in results:
        head = ", ".join(f"{k}={v}" for k, v in label.items())
        if head:
            click.echo(f"[{head}]")
        form = getattr(f, "form_", None) or f.law_.name
        click.echo(f"{f.metric_} (form {form}, {100 * f.level:g} % intervals): {rec.message}")
        pk, b = rec.pick, rec.best_observed
        pb = "" if not math.isfinite(pk["p_best"]) else f", p_best {pk['p_best']:.2f}"
        click.echo(
            f"  pick:              layers {pk['layers']} × d_emb {pk['d_emb']}: predicted "
            f"{pk['prediction']:.4g} [{pk['lower']:.4g}, {pk['upper']:.4g}]{pb}"
            + (" (already trained)" if pk["trained"] else "")
        )
        if b:
            g = rec.gain
            same = pk["layers"] == b.get("layers") and pk["d_emb"] == b.get("d_emb")
            click.echo(
                f"  best trained run:  layers {b.get('layers')} × d_emb {b.get('d_emb')}: "
                f"observed {b['observed']:.4g}; "
                + (
                    "the pick keeps it"
                    if same
                    else f"predicted gain of the pick {g['value']:+.4g} [{g['lower']:+.4g}, "
                    f"{g['upper']:+.4g}]"
                )
            )
        if rec.budget is not None:
            click.echo(
                f"  budget {rec.budget:,.0f} {rec.count} parameters "
                f"{'binds' if rec.budget_binds else 'does not bind'}"
            )
        for note in rec.notes:
            click.echo(f"  note: {note}")
        for w in rec.warnings:
            click.echo(f"warning: {w}")
        click.echo("")
    if all(np.isnan(rec.top["p_best"].to_numpy(float)).all() for _, _, rec in results):
        click.echo("p_best needs a backtested law (perflaw fit --form auto) or --bootstrap")
    else:
        for means in dict.fromkeys(rec.p_best_means for _, _, rec in results):
            click.echo(means)
    click.echo(render(rows, "table"))
