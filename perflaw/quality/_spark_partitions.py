"""The Spark engine's work inside the partitions (:mod:`perflaw.quality.spark` runs it).

:func:`_partition_function` is what ``mapInArrow`` runs on each user-partitioned, sorted
partition: the local engine's per-user code over Arrow batches.
:func:`_log_compression_ratio` reproduces the local engine's log-level compression ratio
from the partitions' packed token streams, joining the pieces crossing their edges.
"""

from __future__ import annotations

import zlib

import numpy as np

from perflaw.quality.summary import (
    COMPRESSION_CHUNK,
    NO_COMPRESSION,
    compression_picks,
    compression_stats,
)

#: Rows handed to the kernel at once inside a partition.
BATCH_ROWS = 500_000


def _arrow_type(spark_type):
    from pyspark.sql.pandas.types import to_arrow_type

    return to_arrow_type(spark_type)


def _partition_function(
    *, m, max_len, signed, companions, per_user_compression, has_time, drop_duplicates, schema_arrow
):
    """The function run by ``mapInArrow`` on each user-partitioned, sorted partition."""

    def run(batches):
        import polars as pl
        import pyarrow as pa
        from pyspark import TaskContext

        from perflaw.quality.entropy import pack_ids
        from perflaw.quality.summary import measured_tokens, per_user_table
        from perflaw.sequences import Sequences

        names = [f.name for f in schema_arrow]
        item_counts: list = []
        stream: list = []  # packed tokens of this partition, in user order

        def emit_counts(counts_all: pl.DataFrame, counts_tok: pl.DataFrame):
            item_counts.append(
                counts_all.join(counts_tok, on="item", how="full", coalesce=True).fill_null(0)
            )
            if len(item_counts) > 8:  # keep the partition's table merged and small
                merged = (
                    pl.concat(item_counts)
                    .group_by("item")
                    .agg(pl.col("a").sum(), pl.col("t").sum())
                )
                item_counts[:] = [merged]

        def process(frame: pl.DataFrame):
            cols = ["user", "item"] + (["time"] if has_time else [])
            if drop_duplicates:
                frame = frame.unique(subset=cols, keep="first", maintain_order=True)
            frame = frame.select(cols)
            seqs = Sequences.from_frame(frame, sort=False)
            starts, ends = seqs.window(max_len)
            table = per_user_table(
                seqs,
                starts,
                ends,
                m=m,
                signed=signed,
                companions=companions,
                per_user_compression=per_user_compression,
            )
            rows = np.diff(seqs.offsets)
            if has_time:
                dups = (
                    frame.group_by(cols)
                    .len()
                    .filter(pl.col("len") > 1)
                    .group_by("user")
                    .agg((pl.col("len") - 1).sum().alias("_dups"))
                )
                table = table.join(
                    dups.rename({"user": "user_id"}),
                    on="user_id",
                    how="left",
                    maintain_order="left",
                ).with_columns(pl.col("_dups").fill_null(0).cast(pl.Int64))
            else:
                table = table.with_columns(pl.lit(0, pl.Int64).alias("_dups"))
            table = table.with_columns(pl.Series("_rows", rows, pl.Int64))
            tokens = measured_tokens(seqs, starts, ends, max_len)
            emit_counts(
                pl.Series("item", seqs.values).value_counts(name="a"),
                pl.Series("item", tokens).value_counts(name="t"),
            )
            if companions:
                stream.append(pack_ids(tokens))
            return table

        def to_batches(table):
            table = table.with_columns(pl.lit(0, pl.Int8).alias("_kind"))
            for name in names:
                if name not in table.columns:
                    table = table.with_columns(pl.lit(None).alias(name))
            arrow = table.select(names).to_arrow()
            return arrow.cast(schema_arrow).to_batches()

        carry = None
        pending = []
        pending_rows = 0
        for batch in batches:
            if batch.num_rows == 0:
                continue
            pending.append(batch)
            pending_rows += batch.num_rows
            if pending_rows < BATCH_ROWS:
                continue
            frame = pl.from_arrow(pa.Table.from_batches(pending))
            pending, pending_rows = [], 0
            if carry is not None:
                frame = pl.concat([carry, frame], how="vertical_relaxed")
            last = frame.get_column("user")[-1]
            cut = frame.height - int((frame.get_column("user") == last).sum())
            carry = frame.slice(cut)
            if cut:
                yield from to_batches(process(frame.slice(0, cut)))
        if pending:
            frame = pl.from_arrow(pa.Table.from_batches(pending))
            carry = frame if carry is None else pl.concat([carry, frame], how="vertical_relaxed")
        if carry is not None and carry.height:
            yield from to_batches(process(carry))
        if item_counts:
            table = (
                pl.concat(item_counts)
                .group_by("item")
                .agg(pl.col("a").sum(), pl.col("t").sum())
                .select(
                    pl.col("item").cast(pl.Int64).alias("_item"),
                    pl.col("a").cast(pl.Int64).alias("_count_all"),
                    pl.col("t").cast(pl.Int64).alias("_count_tok"),
                    pl.lit(1, pl.Int8).alias("_kind"),
                )
            )
            for name in names:
                if name not in table.columns:
                    table = table.with_columns(pl.lit(None).alias(name))
            yield from table.select(names).to_arrow().cast(schema_arrow).to_batches()
        if stream:
            table = pl.DataFrame(
                {
                    "_kind": pl.Series([2], dtype=pl.Int8),
                    "_part": pl.Series([TaskContext.get().partitionId()], dtype=pl.Int32),
                    "_bytes": pl.Series([b"".join(stream)], dtype=pl.Binary),
                }
            )
            for name in names:
                if name not in table.columns:
                    table = table.with_columns(pl.lit(None).alias(name))
            yield from table.select(names).to_arrow().cast(schema_arrow).to_batches()

    return run


def _log_compression_ratio(both, max_chunks, chunk: int = COMPRESSION_CHUNK) -> tuple:
    """The local engine's log-level compression ratio, exactly (same pieces, same sample).

    Partitions are user ranges in user order, and each left one row holding its token
    stream (4-byte packed ids); with their lengths the global offset of every partition
    is known, so each compresses the picked 10,000-token pieces lying inside it and
    returns the fragments of picked pieces crossing its edges, which the driver joins.
    """
    from pyspark.sql import functions as F

    streams = both.filter(F.col("_kind") == 2)
    lengths = dict(streams.select("_part", F.length("_bytes")).collect())
    offsets, total_bytes = {}, 0
    for part in sorted(lengths):
        offsets[part] = total_bytes
        total_bytes += lengths[part]
    picks, width, total = compression_picks(total_bytes // 4, chunk, max_chunks)
    if total == 0:
        return NO_COMPRESSION
    wanted = set(picks.tolist())
    last = total * width  # the bytes pieces cover (a final partial piece is dropped)

    def pieces(row):
        import zlib

        data, start = row[1], offsets[row[0]]
        end = min(start + len(data), last)
        j = start // width
        while j * width < end:
            if j in wanted:
                lo, hi = max(j * width, start), min((j + 1) * width, end)
                piece = data[lo - start : hi - start]
                if hi - lo == width:
                    yield j, -1, len(zlib.compress(piece)), b""
                else:
                    yield j, lo - j * width, 0, piece
            j += 1

    found = streams.select("_part", "_bytes").rdd.flatMap(pieces).collect()
    sizes: dict[int, int] = {}
    fragments: dict[int, list] = {}
    for j, at, size, data in found:
        if at < 0:
            sizes[j] = size
        else:
            fragments.setdefault(j, []).append((at, data))
    for j, frags in fragments.items():
        piece = b"".join(d for _, d in sorted(frags))
        sizes[j] = len(zlib.compress(piece))
    ratios = np.asarray([sizes[j] for j in picks.tolist()]) / width
    return compression_stats(ratios, total)
