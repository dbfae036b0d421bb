"""`perflaw apen`: data quality of interaction logs.

Thin: parse the options, call :func:`perflaw.quality.measure` (which picks the engine),
render.  Nothing heavy is imported until the command runs, so ``--help`` is fast.
"""

from __future__ import annotations

import dataclasses
import glob
import os
import sys
from pathlib import Path

import click

from perflaw.cli._apen_render import (  # noqa: F401 - public names kept here
    EVIDENCE,
    PERCENT_FIELDS,
    TABLE_FIELDS,
    _echo_notes,
    _with_definition,
    explain,
    summary_table,
)
from perflaw.cli._output import output_options, render
from perflaw.errors import DataError
from perflaw.quality import DPRIME_MODES, ENGINES

#: Suffixes --per-user writes, by format.
PER_USER_FORMATS = {".parquet": "parquet", ".pq": "parquet", ".csv": "csv"}


def expand_paths(patterns: tuple[str, ...]) -> list[Path]:
    """Expand globs the shell left alone (quoted, or on Windows); keep order, no repeats."""
    out: list[Path] = []
    for pattern in patterns:
        # an existing file is that file, whatever characters its name holds
        # (log[1].parquet is not a pattern matching log1.parquet)
        magic = glob.has_magic(pattern) and not os.path.exists(pattern)
        hits = sorted(glob.glob(pattern)) if magic else [pattern]
        if not hits:
            raise DataError(f"{pattern}: no file matches")
        for hit in hits:
            p = Path(hit)
            if p not in out:
                out.append(p)
    return out


def column_labels(files: list[Path]) -> list[str]:
    """Short distinct labels: base names, with as many parent folders as it takes to
    tell files with the same base name apart.

    Examples
    --------
    >>> column_labels([Path("a/x/log.parquet"), Path("b/x/log.parquet"), Path("c.csv")])
    ['a/x/log.parquet', 'b/x/log.parquet', 'c.csv']
    """
    parts = [Path(os.path.normpath(f)).parts for f in files]
    depth = 1
    while True:
        labels = ["/".join(p[-depth:]) for p in parts]
        if len(set(labels)) == len(labels) or depth >= max(len(p) for p in parts):
            return labels if len(set(labels)) == len(labels) else [str(f) for f in files]
        depth += 1


@click.command(
    short_help="Data quality of interaction logs: ApEn, ApEn′ and D′ (the quality-adjusted size)."
)
@click.argument("paths", nargs=-1, required=True)
@click.option(
    "--m", "m", type=int, default=2, show_default=True, help="ApEn window length (events)."
)
@click.option(
    "--max-len",
    type=int,
    default=None,
    help="Keep each user's last L events (the model's max sequence length); default: all.",
)
@click.option(
    "--signed",
    is_flag=True,
    help="Pincus' signed ApEn (Φm − Φm+1) instead of the authors' |Φm+1 − Φm|.",
)
@click.option(
    "--dprime",
    type=click.Choice(DPRIME_MODES),
    default="per-user",
    show_default=True,
    help="D′ = Σ|S|/ApEn(S) per user, or tokens / mean ApEn.",
)
@click.option("--user-col", help="User column (found by name if omitted).")
@click.option("--item-col", help="Item column (found by name if omitted).")
@click.option("--time-col", help="Time or position column (found by name if omitted).")
@click.option(
    "--drop-duplicates", is_flag=True, help="Drop exact duplicate (user, item, time) rows first."
)
@click.option(
    "--no-companions",
    is_flag=True,
    help="Skip the Lempel-Ziv entropy and the compression ratio (faster).",
)
@click.option(
    "--compression-chunks",
    type=int,
    default=100,
    show_default=True,
    help="Compress at most this many 10,000-token chunks for the log-level "
    "compression ratio (a seeded sample, with its standard error); 0 = all.",
)
@click.option(
    "--drop-null-ids",
    is_flag=True,
    help="Drop rows whose user or item id is null/NaN (counted in a note) instead of "
    "refusing the log.",
)
@click.option(
    "--overwrite",
    is_flag=True,
    help="Let --per-user replace a folder that holds files perflaw did not write "
    "(--engine spark); without it such a folder is refused and kept.",
)
@click.option(
    "--per-user",
    "per_user",
    type=click.Path(dir_okay=True),
    help="Write the per-user table (with each user's compression ratio) here: "
    "parquet or CSV by the suffix (.parquet, .csv; none: parquet); a folder "
    "of such files with --engine spark.",
)
@click.option(
    "--plot",
    "plot_path",
    type=click.Path(dir_okay=False),
    help="Save histograms of per-user ApEn and sequence length, the users who repeat no "
    "window marked (one row per log; PNG, PDF or SVG by the extension).",
)
@click.option(
    "--tokens",
    metavar="KIND:K",
    help="Measure over tokens instead of item ids: popularity:K (quantile buckets of "
    "item frequency) or cluster:K (k-means on item co-occurrence, seeded).",
)
@click.option(
    "--token-col",
    metavar="COL",
    help="Measure over an item attribute (genre, brand…): this column of the log, or "
    "of --item-table joined by item id.",
)
@click.option(
    "--item-table",
    type=click.Path(dir_okay=False),
    help="Item table (parquet/csv) holding --token-col, joined to the log by item id.",
)
@click.option(
    "--engine",
    type=click.Choice(ENGINES),
    default="memory",
    show_default=True,
    help="memory: the whole log in memory (--memory-limit "
    "switches to bounded); bounded: parquet in user-range chunks spilled to disk; "
    "spark: a Spark cluster or local Spark.",
)
@click.option(
    "--memory-limit",
    metavar="SIZE",
    help="Stay within SIZE (e.g. 4GB) by measuring a parquet log in user-range "
    "chunks spilled to disk (the bounded engine); same results as in memory.",
)
@click.option(
    "--spill-dir",
    type=click.Path(file_okay=False),
    help="Folder for the chunks of the bounded engine (default: system temp).",
)
@click.option(
    "--spark-master",
    metavar="URL",
    default=None,
    help="Spark master for --engine spark (default: the active session, else "
    "local[*]); e.g. local[2], yarn, spark://host:7077.",
)
@click.option(
    "--partitions",
    type=int,
    default=None,
    help="--engine spark: number of user partitions (default: from the size).",
)
@click.option(
    "--quiet",
    "-q",
    is_flag=True,
    help="No progress bar, no explanation header and no notes on stderr.",
)
@output_options
def apen(
    paths,
    m,
    max_len,
    signed,
    dprime,
    user_col,
    item_col,
    time_col,
    drop_duplicates,
    no_companions,
    compression_chunks,
    drop_null_ids,
    overwrite,
    per_user,
    plot_path,
    tokens,
    token_col,
    item_table,
    engine,
    memory_limit,
    spill_dir,
    spark_master,
    partitions,
    quiet,
    fmt,
):
    """Data quality of interaction logs: ApEn (r = 0), ApEn′ and D′.

    PATHS are log files (parquet, csv, tsv, RecBole .inter, SASRec .txt) or globs; each
    file gets one column (one object with --json).  With --memory-limit or --engine
    bounded/spark, logs must be parquet and a folder of parquet files is one dataset
    (read recursively, files in path order).  The table opens with what the numbers
    mean for these logs; --json and --csv carry every summary field.
    """
    if m < 1:
        raise DataError(f"--m must be a positive integer, got {m}")
    if max_len is not None and max_len < 1:
        raise DataError(f"--max-len must be a positive integer, got {max_len}")
    if compression_chunks < 0:
        raise DataError(f"--compression-chunks must be ≥ 0, got {compression_chunks}")
    files = expand_paths(paths)
    if engine != "spark" and (spark_master or partitions is not None):
        raise DataError("--spark-master and --partitions need --engine spark")
    if engine == "spark" and memory_limit:
        raise DataError(
            "--memory-limit is for the local engines; size Spark with "
            "spark.driver.memory / spark.executor.memory"
        )
    per_user_format = (
        _per_user_format(per_user, files, engine == "spark", overwrite) if per_user else None
    )
    if plot_path:
        if engine == "spark":
            raise DataError(
                "--plot draws the per-user table in this process: use the memory or "
                "bounded engine (or --per-user and plot that table)"
            )
        from perflaw.plot import check_figure_path

        check_figure_path(plot_path, files, option="--plot")  # before any work
    if spill_dir is not None and not Path(spill_dir).is_dir():
        raise DataError(
            f"--spill-dir {spill_dir}: the folder does not exist; create it first or choose "
            "another one"
        )

    from perflaw.quality import measure
    from perflaw.quality.summary import MeasureOptions

    if memory_limit is not None:
        from perflaw.quality.bounded import parse_memory

        parse_memory(memory_limit)  # a bad size fails before any reading
    options = MeasureOptions(
        m=m,
        max_len=max_len,
        signed=signed,
        dprime=dprime,
        companions=not no_companions,
        compression_chunks=compression_chunks or None,
        per_user_compression=bool(per_user),
        user_col=user_col,
        item_col=item_col,
        time_col=time_col,
        drop_duplicates=drop_duplicates,
        drop_null_ids=drop_null_ids,
        progress=not quiet and sys.stderr.isatty(),
    )
    session = None
    if engine == "spark":
        from perflaw.quality.spark import get_spark

        session = get_spark(spark_master)
    elif not quiet:
        from perflaw.quality._kernels import kernels_cached

        if not kernels_cached():
            click.echo("compiling kernels once (cached afterwards; ~10-20 s)…", err=True)
    reports = []
    for path in files:
        if tokens is not None or token_col is not None:
            from perflaw.quality.tokens import token_map_for_log

            # one map per log, computed here once; the engine translates ids through it
            options = dataclasses.replace(
                options,
                token_map=token_map_for_log(
                    path,
                    tokens,
                    token_col=token_col,
                    item_table=item_table,
                    user_col=user_col,
                    item_col=item_col,
                    time_col=time_col,
                    drop_null_ids=drop_null_ids,
                ),
            )
        elif item_table is not None:
            raise DataError("--item-table needs --token-col (the attribute column to read)")
        if engine == "spark":
            rep = measure(path, "spark", options, spark=session, partitions=partitions)
        else:
            rep = measure(
                path,
                engine,
                options,
                memory_limit=memory_limit,
                spill_dir=spill_dir if memory_limit is not None or engine == "bounded" else None,
            )
        reports.append(rep)
    summaries = [_with_definition(r.summary) for r in reports]
    labels = column_labels(files)
    if per_user and engine == "spark":
        _write_spark_per_user(reports, files, per_user, per_user_format, overwrite)
    elif per_user:
        _write_per_user(reports, files, per_user, per_user_format)
    if plot_path:
        _save_apen_plot(reports, labels, plot_path, files)
    for rep in reports:
        rep.unpersist()
    if per_user and not quiet:
        users = sum(int(s["users"]) for s in summaries)
        click.echo(f"wrote {users:,} users' measures ({per_user_format}) to {per_user}", err=True)
    if not quiet:
        _echo_notes(summaries, labels, m, header=fmt == "table")
    if fmt == "table":
        if not quiet:
            click.echo(explain(summaries, labels))
        click.echo(summary_table(summaries, labels))
    else:
        flat = [{k: v for k, v in s.items() if k != "notes"} for s in summaries]
        click.echo(render(flat, fmt, json_obj=summaries))


# --------------------------------------------------------------------------- per user


def _save_apen_plot(reports, labels, path: str, files) -> None:
    from perflaw.plot import _plt, plot_apen, save_figure

    plt = _plt()
    fig, axes = plt.subplots(len(reports), 2, figsize=(10, 3.6 * len(reports)), squeeze=False)
    for row, rep, label in zip(axes, reports, labels):
        plot_apen(rep, ax=list(row))
        row[0].set_title(f"{label}: {row[0].get_title()}", fontsize="medium")
    fig.tight_layout()
    save_figure(fig, path, files, option="--plot")


def _per_user_format(per_user: str, files: list[Path], spark: bool, overwrite: bool) -> str:
    suffix = Path(per_user).suffix.lower()
    fmt = PER_USER_FORMATS.get(suffix, "parquet" if not suffix else None)
    if fmt is None:
        raise DataError(
            f"--per-user {per_user}: name a .parquet or .csv file (the suffix "
            "chooses the format; none means parquet)"
        )
    if not _is_url(per_user):
        from perflaw.files import check_output, check_output_folder

        if spark:
            check_output_folder(per_user, files, overwrite=overwrite, option="--per-user")
        else:
            check_output(per_user, files, option="--per-user")
    return fmt


def _is_url(path) -> bool:
    return "://" in str(path)


def _write_per_user(reports, files, per_user: str, fmt: str) -> None:
    """One table for every log (a ``file`` column tells them apart), written atomically
    (:mod:`perflaw.files`): a failed write leaves nothing and never touches an input."""
    import polars as pl

    from perflaw.files import atomic_path

    frames = [
        r.per_user.with_columns(pl.lit(str(r.summary["file"])).alias("file")) for r in reports
    ]
    table = pl.concat(frames, how="vertical_relaxed")
    with atomic_path(per_user, files, option="--per-user") as tmp:
        if fmt == "csv":
            from perflaw.cli._output import FORMULA_STARTS

            # ids a spreadsheet would run as formulas are written as text ('=...)
            starts = "^[" + "".join("\\" + c if c in "-^]" else c for c in FORMULA_STARTS) + "]"
            text = [c for c, t in table.schema.items() if t == pl.Utf8]
            table = table.with_columns(
                pl.when(pl.col(c).str.contains(starts))
                .then(pl.lit("'") + pl.col(c))
                .otherwise(pl.col(c))
                .alias(c)
                for c in text
            )
            table.write_csv(tmp)
        else:
            table.write_parquet(tmp)


def _write_spark_per_user(reports, files, per_user, fmt: str, overwrite: bool) -> None:
    """The Spark per-user tables as one folder of ``fmt`` files (a local folder is
    written beside the target and swapped in; a URL is written by Spark directly, and
    never emptied without --overwrite: Spark's "overwrite" mode deletes every file)."""
    from pyspark.sql import functions as F

    def write(target: str, first_mode: str) -> None:
        for k, (rep, path) in enumerate(zip(reports, files)):
            try:
                writer = rep.per_user.withColumn("file", F.lit(str(path))).write.mode(
                    "append" if k else first_mode
                )
                if fmt == "csv":
                    writer.option("header", True).csv(target)
                else:
                    writer.parquet(target)
            except Exception as exc:  # noqa: BLE001
                first = str(exc).strip().splitlines()[0]
                hint = "; pass --overwrite to replace it" if "already exists" in str(exc) else ""
                raise DataError(
                    f"--per-user {per_user}: cannot write the per-user table ({first}){hint}"
                ) from None

    if _is_url(per_user):
        write(str(per_user), "overwrite" if overwrite else "errorifexists")
        return
    from perflaw.files import atomic_folder

    with atomic_folder(per_user, files, overwrite=overwrite, option="--per-user") as tmp:
        write(str(tmp), "append")
