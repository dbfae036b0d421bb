"""`perflaw runs`: work on runs tables (merge the tables of a job array's shards)."""

from __future__ import annotations

import click


@click.group()
def runs() -> None:
    """Work on runs tables written by `perflaw sweep`."""


@runs.command()
@click.argument("tables", nargs=-1, required=True, type=click.Path(dir_okay=False))
@click.option(
    "--out",
    required=True,
    type=click.Path(dir_okay=False),
    help="The merged runs table (CSV); written atomically, never over one of TABLES.",
)
def merge(tables, out):
    """Merge sweep runs tables (e.g. the shards of `perflaw sweep --shard I/N`) into one.

    A configuration found in several tables with the same row is kept once; with
    different rows the merge is refused, naming both files and lines.  Tables made with
    other settings are refused.

    Example: perflaw runs merge runs.shard-*-of-4.csv --out runs.csv
    """
    import io

    from perflaw.files import check_output, write_text
    from perflaw.train.shards import merge_tables

    check_output(out, tables, option="--out")
    table, dropped = merge_tables(tables)
    buf = io.StringIO()
    table.to_csv(buf, index=False, lineterminator="\n")
    write_text(out, buf.getvalue(), tables, option="--out")
    note = f", {dropped} duplicate row(s) kept once" if dropped else ""
    click.echo(f"perflaw runs merge: {len(table)} runs from {len(tables)} table(s){note} -> {out}")
