"""``perflaw fit``: fit a law (by default: the form chosen by a backtest) to a runs table."""

from __future__ import annotations

import sys
import warnings

import click

from perflaw.cli._laws_common import (
    _GROUPISH,
    DEFAULT_LAW,
    DEFAULT_RUNS,
    _fit_record,
    _metric,
    _save_fit_plots,
    _warnings_to_stderr,
    emit_fit_results,
)
from perflaw.cli._options import where_option
from perflaw.cli._output import output_options
from perflaw.cli._sources import source_options
from perflaw.cli.scaling import is_scaling_law, scaling_fit_options
from perflaw.errors import DataError


def _check_outputs(runs, apen_json, out, plot_path) -> None:
    """Refuse unwritable outputs before fitting (an input, a missing folder, a bad
    figure extension): see perflaw.files and docs/guarantees.md."""
    from perflaw.files import check_distinct_outputs, check_output

    check_distinct_outputs(out=out, plot=plot_path)  # one would overwrite the other
    if out is not None:
        check_output(out, [runs, apen_json], option="--out")
    if plot_path:
        from perflaw.plot import check_figure_path

        check_figure_path(plot_path, [runs, apen_json], option="--plot")


@click.command()
@click.argument("runs", required=False, default=DEFAULT_RUNS, type=click.Path(dir_okay=False))
@source_options
@click.option(
    "--metric",
    "-m",
    help="Metric column, case-insensitive (e.g. ndcg@10). "
    "Optional when the table has a single metric column.",
)
@click.option(
    "--form",
    default="auto",
    show_default=True,
    help="auto, or a form: carry, saturating, loglinear, p2, free (or one a law "
    "file of yours declares). auto picks one by a rolling-origin backtest on the "
    "fitted rows and says why.",
)
@click.option(
    "--backtest-axis",
    type=click.Choice(["auto", "layers", "d_emb"]),
    default="auto",
    show_default=True,
    help="Size axis of the backtest that chooses the form and calibrates the "
    "intervals: fit the smaller sizes on it, predict the larger. auto: layers, or "
    "d_emb when the runs have fewer than 3 layer counts and more widths.",
)
@click.option(
    "--law",
    "law_name",
    default="performance",
    show_default=True,
    help="Law to fit: performance, power or chinchilla.",
)
@click.option(
    "--p",
    "p",
    type=float,
    default=None,
    help="Pin the constant p of the Performance Law (implies that law; --p 2 is --form p2).",
)
@click.option("--q", "q", type=float, default=None, help="Pin q of the data factor (default p).")
@click.option("--group-by", help="Comma-separated columns; one fit per group (e.g. panel).")
@click.option(
    "--joint",
    type=click.Choice(["free", "dprime"]),
    default=None,
    help="One joint fit across the --group-by groups with shared N and d factors: "
    "'free' = a free data term per group, 'dprime' = the data term from D′.",
)
@click.option("--d-prime-col", help="Column holding D′ (quality-adjusted data size).")
@click.option(
    "--apen",
    "apen_json",
    type=click.Path(dir_okay=False),
    help="JSON from `perflaw apen --json`; D′ is joined by dataset name.",
)
@click.option(
    "--dataset-col",
    default="dataset",
    show_default=True,
    help="Column naming the dataset (for --apen).",
)
@click.option("--layers-col", help="Layers column (default: found by name).")
@click.option("--d-emb-col", help="Embedding-dimension column (default: found by name).")
@where_option("max_seq_len==100")
@click.option(
    "--loss",
    type=click.Choice(["l2", "huber"]),
    default="l2",
    show_default=True,
    help="Least squares, or Huber (robust to outlying runs; see --huber-delta).",
)
@click.option(
    "--huber-delta",
    type=float,
    default=None,
    help="Huber threshold (default 1.345 × MAD of L2 residuals).",
)
@click.option(
    "--starts",
    "n_random",
    type=int,
    default=4,
    show_default=True,
    help="Seeded random starts added to the deterministic grid.",
)
@click.option(
    "--seed",
    type=int,
    default=0,
    show_default=True,
    help="Seed of the random starts and the bootstrap (same seed, same fit).",
)
@click.option(
    "--bootstrap",
    type=int,
    default=0,
    show_default=True,
    help="Bootstrap refits for percentile intervals (e.g. 1000).",
)
@click.option(
    "--bootstrap-by",
    default="row",
    show_default=True,
    help="row, or group (whole --group-by groups); power/chinchilla: row, model "
    "(whole model sizes, for clustered runs) or column name(s), e.g. "
    "n_layers,hidden_size.",
)
@click.option(
    "--level",
    type=float,
    default=0.95,
    show_default=True,
    help="Interval level, strictly between 0 and 1.",
)
@click.option(
    "--holdout",
    help="Hold out rows matching e.g. 'layers>=24', fit the rest "
    "(the form is chosen on the rest too) and report the error on them.",
)
@click.option("--loo", is_flag=True, help="Also run leave-one-out validation.")
@click.option(
    "--out",
    "out",
    default=DEFAULT_LAW,
    show_default=True,
    type=click.Path(dir_okay=False),
    help="Where to save the fitted law.",
)
@click.option("--no-save", is_flag=True, help="Do not write the law file.")
@click.option(
    "--plot",
    "plot_path",
    type=click.Path(dir_okay=False),
    help="Save an observed-vs-fitted figure (one panel per group).",
)
@click.option("--verbose", "-v", is_flag=True, help="Also print the parameter table.")
@scaling_fit_options
@output_options
def fit(
    runs,
    metric,
    form,
    backtest_axis,
    law_name,
    p,
    q,
    group_by,
    joint,
    d_prime_col,
    apen_json,
    dataset_col,
    layers_col,
    d_emb_col,
    where,
    loss,
    huber_delta,
    n_random,
    seed,
    bootstrap,
    bootstrap_by,
    level,
    holdout,
    loo,
    out,
    no_save,
    plot_path,
    verbose,
    fmt,
    x_col,
    params_col,
    data_col,
    transform,
    exclude,
):
    """Fit a law to a table of training runs (default: ./runs.csv) and save it.

    The first lines say what was chosen and how well it predicts: the metric, the form
    (chosen by a backtest: fit the smaller sizes, predict the larger ones) with its
    backtest error beside carry-forward's, R², the number of runs and the best trained
    run.  A `seed` column is averaged per configuration; its spread is the run-to-run
    noise.  The law is saved to ./perflaw-law.json, which `perflaw predict` and
    `perflaw recommend-config` read by default.

    --law power (--x-col) and --law chinchilla (--params-col, --data-col) fit loss
    scaling laws; several --data-col compare data columns (e.g. raw interactions vs D′).
    """
    from perflaw.cli._sources import source_settings
    from perflaw.conditions import parse_condition
    from perflaw.fitting.fitter import LawFitter
    from perflaw.fitting.lawfile import save_fits
    from perflaw.fitting.selection import FormSelector
    from perflaw.replicates import average_replicates
    from perflaw.runs import (
        RunsTableWarning,
        identification_problems,
        read_table,
        runs_from_frame,
    )

    if not 0 < level < 1:
        raise DataError(f"--level must be strictly between 0 and 1, got {level:g}")
    _check_outputs(runs, apen_json, None if no_save else out, plot_path)
    progress = sys.stderr.isatty()
    form = str(form).lower()
    if form != "auto":
        from perflaw.laws.forms import form_law

        form_law(form)  # an unknown form is a one-line error
    if is_scaling_law(law_name):
        from perflaw.cli.scaling import run_fit

        if transform == "logit":
            raise DataError(
                "--transform logit is for the Performance-Law forms; power and "
                "chinchilla take none or one_minus"
            )
        settings = dict(
            loss=loss,
            huber_delta=huber_delta,
            n_random_starts=n_random,
            seed=seed,
            bootstrap=bootstrap,
            level=level,
        )
        return run_fit(
            runs=runs,
            metric=metric,
            law_name=law_name.lower(),
            group_by=group_by,
            where=where,
            x_col=x_col,
            params_col=params_col,
            data_cols=data_col,
            transform=transform,
            exclude=exclude,
            holdout=holdout,
            loo=loo,
            bootstrap=bootstrap,
            bootstrap_by=bootstrap_by,
            settings=settings,
            out=out,
            no_save=no_save,
            plot_path=plot_path,
            fmt=fmt,
            apen_json=apen_json,
            dataset_col=dataset_col,
        )
    if law_name.lower() != "performance":
        raise DataError(f"unknown law {law_name!r}: use performance, power or chinchilla")
    if x_col or params_col or data_col:
        raise DataError(
            "--x-col, --params-col and --data-col are options of --law power / --law chinchilla"
        )
    if transform == "one_minus":
        raise DataError(
            "--transform one_minus is for power/chinchilla; the Performance-Law "
            "forms take auto, none or logit"
        )
    scale = {"auto": "auto", "none": "none", "logit": "logit"}[transform]

    frame = read_table(runs, **source_settings())  # the runs table is read once
    metric = _metric(metric, frame.columns, runs)
    if joint and not group_by:
        raise DataError("--joint needs --group-by (the groups the joint fit spans)")
    if joint == "dprime" and not (d_prime_col or apen_json):
        raise DataError("--joint dprime needs D′: give --d-prime-col or --apen")
    mixed = []
    if not group_by:
        sub = frame[parse_condition(where, frame)] if where else frame
        mixed = [c for c in sub.columns if str(c).lower() in _GROUPISH and sub[c].nunique() > 1]
    # what reading adjusted (repeated rows fitted once, diverged or capped runs) goes
    # into every output format with the fit, not only to stderr
    with warnings.catch_warnings(record=True) as read_notes:
        warnings.simplefilter("always", RunsTableWarning)
        table = runs_from_frame(
            frame,
            metric=metric,
            layers_col=layers_col,
            d_emb_col=d_emb_col,
            group_by=group_by,
            d_prime_col=d_prime_col,
            apen_json=apen_json,
            dataset_col=dataset_col,
            where=where,
            source=f"runs table {str(runs)!r}",
        )
    if not joint:  # before seed replicates are averaged into one row, which they count as
        refusals, _ = identification_problems(table, ["layers", "d_emb"])
        if refusals:
            raise DataError(refusals[0])
    noise, n_rep = None, 0
    if table.seeds is not None:
        table, noise, n_rep = average_replicates(table, table.seeds)
    # --p pins the Performance Law's constant: --p 2 is the p2 form, other values a law
    law_opts = {}
    if p is not None and p == 2 and q is None and not joint:
        form = "p2"
    elif p is not None or q is not None or joint:
        form = None
        if p is not None:
            law_opts["p"] = p
        if q is not None:
            law_opts["q"] = q
        if joint:
            law_opts["data_term"] = joint
    if "d_prime" in table.X.columns and not joint:
        table.X = table.X.drop(columns="d_prime")
    settings = dict(
        loss=loss,
        huber_delta=huber_delta,
        n_random_starts=n_random,
        seed=seed,
        bootstrap=bootstrap,
        bootstrap_by=bootstrap_by,
        level=level,
        scale=scale,
        progress=progress,
        noise_sd=noise,
        backtest_axis=backtest_axis,
        **law_opts,
    )
    # the form is chosen (or a given form, or a joint fit, calibrated) by a backtest on the
    # rows being fitted: FormSelector over the fitter; --p/--q without --joint fit as given
    if joint and backtest_axis is not None:
        form = "joint"

    def fit_one(X, y, **kw):
        fitter = LawFitter("performance", **settings)
        if form is None:
            return fitter.fit(X, y, **kw)
        return FormSelector(fitter, form=form).fit(X, y, **kw).best_

    fits = []
    # the fitter's identification warnings are in each fit's warnings, printed with it
    with _warnings_to_stderr(skip=(RunsTableWarning,)):
        if joint or not table.group_cols:
            groups = table.group_labels()
            if bootstrap_by == "group" and groups is None:
                raise DataError("--bootstrap-by group needs --group-by")
            f = fit_one(
                table.X,
                table.y,
                groups=groups,
                metric=table.metric,
                holdout=holdout,
                loo=loo,
                exclude=exclude,
            )
            fits.append(({}, f))
        else:
            if bootstrap_by == "group":
                raise DataError(
                    "--bootstrap-by group needs --joint (per-group fits have one group)"
                )
            for key, sub in table.groups():
                try:
                    f = fit_one(
                        sub.X, sub.y, metric=table.metric, holdout=holdout, loo=loo, exclude=exclude
                    )
                except DataError as exc:
                    label = ", ".join(f"{k}={v}" for k, v in key.items())
                    raise DataError(f"group {label}: {exc}") from None
                fits.append((key, f))
    extra = [str(w.message) for w in read_notes if issubclass(w.category, RunsTableWarning)]
    for w in read_notes:  # anything else read_runs warned about still reaches stderr
        if not issubclass(w.category, RunsTableWarning):
            click.echo(f"warning: {w.message}", err=True)
    if mixed:  # only once the fit succeeded, so that errors stay one line
        extra.append(
            f"column(s) {', '.join(map(str, mixed))} vary in {runs}: fitting all rows "
            "as one group (use --group-by or --where)"
        )
    if n_rep:
        extra.append(
            f"averaged seed replicates of {n_rep} configuration(s); run-to-run noise "
            f"(one run) = {noise:.3g}"
        )
    for _, f in fits:
        f.warnings_ = extra + list(f.warnings_)
        if "d_prime" in f.ranges_:  # the law file keeps how its D′ was measured
            f.d_prime_def_ = table.d_prime_def
    if fmt != "table":  # the summaries print them; JSON and CSV carry them too
        shown = set()
        for key, f in fits:
            label = ", ".join(f"{k}={v}" for k, v in key.items())
            for w in extra + list(getattr(f, "identification_", [])):
                line = f"{label}: {w}" if label and w not in extra else w
                if line not in shown:
                    shown.add(line)
                    click.echo(f"warning: {line}", err=True)
    records = [_fit_record(k, f, with_ci=bool(bootstrap)) for k, f in fits]
    if not no_save:
        save_fits(fits, out, inputs=[runs])
    if plot_path:
        _save_fit_plots(fits, plot_path)
    emit_fit_results(
        fits,
        records,
        fmt,
        law_name=law_name,
        metric=table.metric,
        grouped=bool(table.group_cols and not joint),
        saved_to=None if no_save else out,
        plot_path=plot_path,
        verbose=verbose,
    )
