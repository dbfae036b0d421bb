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

from perflaw.cli._output import human_number, output_options, render, table_string
from perflaw.errors import DataError
from perflaw.quality import DPRIME_MODES, ENGINES

#: Summary fields shown by the default table (JSON/CSV carry every field).
TABLE_FIELDS = (
    "users",
    "items",
    "interactions",
    "tokens",
    "apen_mean",
    "apen_median",
    "apen_prime_mean",
    "d_prime",
    "zero_apen_users",
    "no_repeat_share",
    "repeat_users",
    "shannon_entropy",
    "actual_entropy",
    "compression_ratio",
    "repeat_share",
    "length_mean",
    "duplicate_rows",
    "seconds",
)
#: What the cross-log study found (benchmarks/dprime_vs_size.py): said on every first screen.
EVIDENCE = (
    "on 5 public logs, D′ predicted a small SASRec's HR@10 only as well as sequence length "
    "(Σ|S|²) did, and token-mapped D′ did worse: read D′ as a size (docs/dprime-vs-size.md)."
)
#: Shares shown as percentages in the table.
PERCENT_FIELDS = {"no_repeat_share", "repeat_share"}
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


# --------------------------------------------------------------------------- output


def _length_only(summaries, labels):
    from perflaw.quality.summary import NO_REPEAT_NOTE_THRESHOLD

    return [
        (label, s["no_repeat_share"])
        for s, label in zip(summaries, labels)
        if s["no_repeat_share"] == s["no_repeat_share"]
        and s["no_repeat_share"] > NO_REPEAT_NOTE_THRESHOLD
    ]


def _with_definition(summary: dict) -> dict:
    """The summary with ``d_prime_def``: how its D′ was measured, in the words of the runs
    table's column (perflaw.quality.definition), so a user can match the two."""
    from perflaw.quality.definition import dprime_definition

    definition = dprime_definition(
        mode=str(summary.get("d_prime_mode") or "per-user"),
        m=int(summary["m"]),
        max_len=summary.get("max_len"),
        signed=bool(summary.get("signed")),
    )
    out = dict(summary)
    out["d_prime_def"] = definition
    return out


def explain(summaries: list[dict], labels: list[str]) -> str:
    """The header above the table: what was measured and what the numbers mean."""
    from perflaw.quality.definition import DPRIME_DEF

    first = summaries[0]
    m, max_len = first["m"], first["max_len"]
    cut = "all events of each user" if max_len is None else f"each user's last {max_len:,} events"
    n = len(summaries)
    definition = first.get("d_prime_def", "")
    lines = [
        f"Data quality of {'this log' if n == 1 else f'{n} logs'}: approximate entropy "
        f"(ApEn, r = 0) over windows of m = {m} events,",
        f"on {cut}.",
        f"D′ measured {definition!r}"
        + (
            " (as perflaw sweep's d_prime column)."
            if definition == DPRIME_DEF
            else f" (perflaw sweep's d_prime column: {DPRIME_DEF!r})."
        ),
    ]
    glossary = [
        (
            "ApEn",
            f"how unpredictable a user's next event is from the previous {m} "
            f"(nats); lower = more regular.",
        ),
        (
            "ApEn′",
            "1/ApEn; higher = more regular.  Users with ApEn = 0 (constant, or "
            f"≤ {m} events) are left out of D′.",
        ),
        (
            "D′",
            "quality-adjusted data size, Σ over users of events × ApEn′: the data "
            "term of the Performance Law; higher = more learnable signal.  Compare it "
            "between logs or cuts measured with the same m and max-len, not with "
            "raw counts.",
        ),
        ("tokens", "events measured (after max-len); interactions = rows of the log."),
    ]
    finite = [
        (s["d_prime"], label) for s, label in zip(summaries, labels) if s["d_prime"] == s["d_prime"]
    ]
    if len(finite) == 1 and first["tokens"]:
        glossary.append(
            (
                "here",
                f"D′ = {human_number(first['d_prime'])} from "
                f"{human_number(first['tokens'])} events: each event weighs "
                f"{human_number(first['d_prime'] / first['tokens'])} on average "
                "(its user's ApEn′).",
            )
        )
    if len(finite) > 1:
        ranked = sorted(finite, reverse=True)
        (best, best_label), (second, second_label) = ranked[0], ranked[1]
        ratio = f", {best / second:.3g}× {second_label}" if second > 0 else ""
        glossary.append(
            ("here", f"the highest D′ is {best_label}'s ({human_number(best)}{ratio}).")
        )
    mapped = [(s, label) for s, label in zip(summaries, labels) if s.get("token_map")]
    for s, label in mapped:
        whose = f"{label}: " if n > 1 else ""
        glossary.append(
            (
                "map",
                f"{whose}item ids mapped to {s['token_map']}; under it "
                f"{s['repeat_users']:,} of {s['users']:,} users repeat a window of {m}.",
            )
        )
    length_only = _length_only(summaries, labels)
    if length_only:
        where = _shares(length_only, "users", single=n == 1) + " repeat"
        glossary.append(
            (
                "caveat",
                f"{where} no window of {m} events, so their ApEn depends "
                "on sequence length alone: here D′ mostly measures how long the "
                "sequences are.",
            )
        )
    glossary.append(("evidence", EVIDENCE))
    width = max(len(k) for k, _ in glossary)
    import textwrap

    for key, text in glossary:
        wrapped = textwrap.wrap(text, width=96 - width - 4)
        lines.append(f"  {key:<{width}}  {wrapped[0]}")
        lines.extend(f"  {'':<{width}}  {w}" for w in wrapped[1:])
    return "\n".join(lines) + "\n"


def summary_table(summaries: list[dict], labels: list[str]) -> str:
    """The measures as rows, one column per log, with units; readable numbers."""
    from perflaw.quality.summary import SUMMARY_KEYS

    rows = []
    for key in TABLE_FIELDS:
        row = {
            "measure": key,
            "unit": SUMMARY_KEYS[key][0] or ("%" if key in PERCENT_FIELDS else ""),
        }
        for s, label in zip(summaries, labels):
            row[label] = human_number(s[key], percent=key in PERCENT_FIELDS)
        rows.append(row)
    return _left_first(table_string(rows))


def _left_first(table: str) -> str:
    # table_string right-aligns every cell; names and units read better left-aligned
    lines = table.splitlines()
    widths = [len(c) for c in lines[1].split("  ")]
    out = lines[:2]
    for line in lines[2:]:
        cells, at = [], 0
        for w in widths:
            cells.append(line[at : at + w])
            at += w + 2
        cells[0], cells[1] = cells[0].strip().ljust(widths[0]), cells[1].strip().ljust(widths[1])
        out.append("  ".join(cells))
    return "\n".join(out)


def _echo_notes(summaries, labels, m, header: bool) -> None:
    """Notes on stderr, the length-only one said once for all logs (and not at all
    when the table's header says it)."""
    from perflaw.quality.summary import LENGTH_ONLY

    for s, label in zip(summaries, labels):
        for note in s["notes"]:
            if LENGTH_ONLY not in note:
                click.echo(f"note: {label}: {note}", err=True)
    length_only = _length_only(summaries, labels)
    if length_only and not header:
        where = _shares(length_only, "sequences", single=len(summaries) == 1)
        prefix = f"{length_only[0][0]}: " if len(summaries) == 1 else ""
        click.echo(
            f"note: {prefix}{where} repeat no window of length {m}: for them r = 0 "
            f"ApEn is ln((N−m+1)/(N−m)), {LENGTH_ONLY}, so D′ here measures "
            "sequence length more than regularity",
            err=True,
        )


def _shares(pairs, what: str, single: bool) -> str:
    """``97% of users`` or ``97% of users in a.parquet and 100% in b.parquet``."""
    parts = [
        f"{human_number(share, percent=True)}"
        + (f" of {what}" if k == 0 else "")
        + ("" if single else f" in {label}")
        for k, (label, share) in enumerate(pairs)
    ]
    return parts[0] if len(parts) == 1 else ", ".join(parts[:-1]) + " and " + parts[-1]


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
