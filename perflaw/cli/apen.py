"""`perflaw apen`: data quality of interaction logs."""

from __future__ import annotations

import contextlib
import glob
import sys
from pathlib import Path

import click
import polars as pl

from perflaw.cli._output import output_options, render, table_string
from perflaw.errors import DataError
from perflaw.files import atomic_folder, atomic_path, check_output, check_output_folder
from perflaw.quality import measure
from perflaw.quality.summary import DPRIME_MODES, MeasureOptions

#: Summary fields shown by the default table (JSON/CSV carry every field).
TABLE_FIELDS = (
    "users", "items", "interactions", "tokens", "m", "max_len", "apen_mean", "apen_median",
    "apen_prime_mean", "d_prime", "d_prime_mode", "zero_apen_users", "no_repeat_share",
    "shannon_entropy", "actual_entropy", "compression_ratio", "repeat_share",
    "length_mean", "duplicate_rows", "seconds",
)


def expand_paths(patterns: tuple[str, ...]) -> list[Path]:
    """Expand globs the shell left alone (quoted, or on Windows); keep order, no repeats."""
    out: list[Path] = []
    for pattern in patterns:
        hits = sorted(glob.glob(pattern)) if glob.has_magic(pattern) else [pattern]
        if not hits:
            raise DataError(f"{pattern}: no file matches")
        for hit in hits:
            p = Path(hit)
            if p not in out:
                out.append(p)
    return out


@click.command()
@click.argument("paths", nargs=-1, required=True)
@click.option("--m", "m", type=int, default=2, show_default=True,
              help="ApEn window length.")
@click.option("--max-len", type=int, default=None,
              help="Keep each user's last L items (the model's max sequence length).")
@click.option("--signed", is_flag=True,
              help="Pincus' signed ApEn (Φm − Φm+1) instead of the authors' |Φm+1 − Φm|.")
@click.option("--dprime", type=click.Choice(DPRIME_MODES), default="per-user",
              show_default=True, help="D′ = Σ|S|/ApEn(S) per user, or tokens / mean ApEn.")
@click.option("--user-col", help="User column (found by name if omitted).")
@click.option("--item-col", help="Item column (found by name if omitted).")
@click.option("--time-col", help="Time or position column (found by name if omitted).")
@click.option("--drop-duplicates", is_flag=True,
              help="Drop exact duplicate (user, item, time) rows first.")
@click.option("--no-companions", is_flag=True,
              help="Skip the Lempel-Ziv entropy and the compression ratio (faster).")
@click.option("--compression-chunks", type=int, default=100, show_default=True,
              help="Compress at most this many 10,000-token chunks for the log-level "
                   "compression ratio (a seeded sample, with its standard error); 0 = all.")
@click.option("--drop-null-ids", is_flag=True,
              help="Drop rows whose user or item id is null/NaN (counted in a note) "
                   "instead of refusing the log.")
@click.option("--overwrite", is_flag=True,
              help="Let --per-user replace an existing folder that holds files perflaw "
                   "did not write (--engine spark).")
@click.option("--per-user", "per_user", type=click.Path(),
              help="Write the per-user table (with each user's compression ratio) to this "
                   "parquet file (a parquet folder with --engine spark).")
@click.option("--engine", type=click.Choice(["memory", "bounded", "spark"]), default="memory",
              show_default=True, help="memory: the whole log in memory (--memory-limit "
              "switches to bounded); bounded: parquet in user-range chunks spilled to disk; "
              "spark: a Spark cluster or local Spark.")
@click.option("--memory-limit", metavar="SIZE",
              help="Stay within SIZE (e.g. 4GB) by measuring a parquet log in user-range "
              "chunks spilled to disk (the bounded engine); same results as in memory.")
@click.option("--spill-dir", type=click.Path(file_okay=False),
              help="Folder for the chunks of --memory-limit (default: system temp).")
@click.option("--spark-master", metavar="URL", default=None,
              help="Spark master for --engine spark (default: the active session, else "
              "local[*]); e.g. local[2], yarn, spark://host:7077.")
@click.option("--partitions", type=int, default=None,
              help="--engine spark: number of user partitions (default: from the size).")
@click.option("--quiet", "-q", is_flag=True, help="No progress bar and no notes on stderr.")
@output_options
def apen(paths, m, max_len, signed, dprime, user_col, item_col, time_col, drop_duplicates,
         no_companions, compression_chunks, drop_null_ids, overwrite, per_user, engine,
         memory_limit, spill_dir, spark_master, partitions, quiet, fmt):
    """Approximate entropy (r = 0), ApEn′ and D′ of interaction logs.

    PATHS are log files (parquet, csv, tsv, RecBole .inter, SASRec .txt) or globs; each
    file gets one result.  With --memory-limit or --engine spark, logs must be parquet
    and a folder of parquet files is one dataset (read recursively, files in path order).
    """
    if m < 1:
        raise DataError(f"--m must be a positive integer, got {m}")
    if max_len is not None and max_len < 1:
        raise DataError(f"--max-len must be a positive integer, got {max_len}")
    if compression_chunks < 0:
        raise DataError(f"--compression-chunks must be ≥ 0, got {compression_chunks}")
    files = expand_paths(paths)
    remote_out = per_user is not None and "://" in str(per_user) \
        and not str(per_user).startswith("file://")
    if per_user is not None and not remote_out:
        # checked before hours of measuring: never an input, never a foreign folder
        if engine == "spark":
            check_output_folder(per_user, files, overwrite=overwrite, option="--per-user")
        else:
            check_output(per_user, files, option="--per-user")
    if spill_dir is not None and not Path(spill_dir).is_dir():
        raise DataError(f"--spill-dir {spill_dir}: the folder does not exist; create it "
                        "first or choose another one")
    if engine != "spark" and (spark_master or partitions is not None):
        raise DataError("--spark-master and --partitions need --engine spark")
    if engine == "spark" and memory_limit:
        raise DataError("--memory-limit is for the local engines; size Spark with "
                        "spark.driver.memory / spark.executor.memory")
    if memory_limit is not None:
        from perflaw.quality.bounded import parse_memory

        parse_memory(memory_limit)  # a bad size fails before any reading
    options = MeasureOptions(m=m, max_len=max_len, signed=signed, dprime=dprime,
                             companions=not no_companions,
                             compression_chunks=compression_chunks or None,
                             per_user_compression=bool(per_user), user_col=user_col,
                             item_col=item_col, time_col=time_col,
                             drop_duplicates=drop_duplicates, drop_null_ids=drop_null_ids,
                             progress=not quiet and sys.stderr.isatty())
    session = None
    if engine == "spark":
        from perflaw.quality.spark import get_spark

        session = get_spark(spark_master)
    reports = []
    with contextlib.ExitStack() as stack:
        # Spark writes the per-user folder as it goes: into a temporary folder beside the
        # target, swapped in only when every file is measured (perflaw.files)
        spark_out = None
        if per_user is not None and engine == "spark":
            spark_out = (str(per_user) if remote_out else str(stack.enter_context(
                atomic_folder(per_user, files, overwrite=overwrite, option="--per-user"))))
        for k, path in enumerate(files):
            if engine == "spark":
                rep = measure(path, "spark", options, spark=session, partitions=partitions)
            else:
                rep = measure(path, engine, options, memory_limit=memory_limit,
                              spill_dir=spill_dir if memory_limit is not None or
                              engine == "bounded" else None)
            if spark_out is not None:
                _write_spark_per_user(rep, path, spark_out, first=k == 0,
                                      remote=remote_out, overwrite=overwrite)
            rep.unpersist()
            reports.append(rep)
            if not quiet:
                for note in rep.notes:
                    click.echo(f"note: {path}: {note}", err=True)
    if per_user and engine != "spark":
        frames = [r.per_user.with_columns(pl.lit(str(f)).alias("file"))
                  for f, r in zip(files, reports)]
        table = pl.concat(frames, how="vertical_relaxed")
        with atomic_path(per_user, files, option="--per-user") as tmp:
            table.write_parquet(tmp)
    _render([r.summary for r in reports], fmt)


def _write_spark_per_user(rep, path, out, *, first, remote, overwrite):
    from pyspark.sql import functions as F

    # a local target is perflaw's own temporary folder (append into it); a remote one
    # (hdfs://, s3a://) is never emptied unless --overwrite: Spark's "overwrite" mode
    # deletes every file in the folder
    mode = "append" if not (remote and first) else ("overwrite" if overwrite else "errorifexists")
    try:
        rep.per_user.withColumn("file", F.lit(str(path))).write.mode(mode).parquet(out)
    except Exception as exc:  # noqa: BLE001
        first_line = str(exc).strip().splitlines()[0]
        raise DataError(f"--per-user {out}: cannot write the per-user table ({first_line})"
                        + ("; pass --overwrite to replace it" if "already exists" in str(exc)
                           else "")) from None


def _render(summaries, fmt):
    if fmt == "table":
        rows = [{"measure": k, **{Path(s["file"]).name: s[k] for s in summaries}}
                for k in TABLE_FIELDS]
        click.echo(table_string(rows))
    else:
        flat = [{k: v for k, v in s.items() if k != "notes"} for s in summaries]
        click.echo(render(flat, fmt, json_obj=summaries))
