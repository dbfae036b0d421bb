"""Bounded-memory measurement of parquet logs larger than memory.

The log (one parquet file or a folder of them, read as one dataset) is cut into
**ranges of users**: every user's events land in exactly one chunk, and the chunks follow
the sorted user order.  Each chunk is measured with the same code as the in-memory
engine (:func:`perflaw.quality.summary.per_user_table`), so per-user numbers are
identical, and because the chunks follow the user order the concatenated per-user table
is the in-memory one row for row.  Log-level statistics are merged exactly:

* item counts are merged across chunks (Shannon entropy, number of items);
* string (or other non-integer) item ids get the in-memory engine's dense codes from a
  dictionary built in the first pass, so per-user compression ratios match;
* the log-level compression ratio: the token sequence is appended chunk after chunk,
  in the in-memory order, to a file (4 bytes per token, in the spill folder), and the
  same 10,000-token pieces (all, or the same seeded sample) are compressed from it.

How it runs:

1. one pass over the files in record batches counts rows per user and per item (merged
   per-batch counts) and checks for missing ids and times;
2. users are cut into ranges of at most ``chunk_rows`` rows (a user longer than that gets
   a chunk of its own), ``chunk_rows`` being derived from ``memory_limit``;
3. when there is more than one chunk, one pass over the files in record batches spills
   each row to its chunk's Arrow IPC file on disk (file order is kept, so ties in time
   keep file order as in memory);
4. chunks are read back one at a time and measured.

Memory: about ``BYTES_PER_ROW`` bytes per row of the largest chunk, plus about
``BYTES_PER_USER`` per user (the user table and the per-user results, which are kept to
return them and to take exact medians) and the item dictionary.
"""

from __future__ import annotations

import os
import shutil
import tempfile
import time
import zlib
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, cast

import numpy as np
import polars as pl

from perflaw.errors import DataError, FileError
from perflaw.files import find_os_error, os_error_message
from perflaw.io import _one_line, _time_as_number, check_ids, missing_ids, resolve_columns
from perflaw.quality._bounded_inputs import parquet_files, parse_memory
from perflaw.quality._spill_folders import SPILL_PREFIX, _spill_folder  # noqa: F401 - public name kept here
from perflaw.quality.entropy import pack_ids
from perflaw.quality.summary import (
    COMPRESSION_CHUNK,
    NO_COMPRESSION,
    MeasureOptions,
    QualityReport,
    aggregate_per_user,
    build_summary,
    compression_picks,
    compression_stats,
    measured_tokens,
    per_user_table,
)
from perflaw.sequences import Sequences

#: Peak bytes per row of a chunk while it is measured (frame, sorted copy, codes, kernel
#: buffers, token positions); measured on int64 ids, see benchmarks/bench_scale.py.
BYTES_PER_ROW = 120
#: Bytes per user kept for the whole run (user table + per-user results).
BYTES_PER_USER = 200
#: Bytes per distinct item kept for the whole run (the item table).
BYTES_PER_ITEM = 64
#: Rows per record batch when spilling.
SPILL_BATCH_ROWS = 1_000_000


def _rss() -> int:
    try:
        with open("/proc/self/statm") as fh:
            return int(fh.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    except (OSError, ValueError, AttributeError):  # pragma: no cover - not Linux
        return 0


class _TokenStream:
    """The measured tokens, packed as in :func:`summary.log_compression_ratio`, appended
    chunk after chunk (in user order) to a file; at the end the same pieces are read
    back and compressed, so the ratio (and its sampling) equals the in-memory one."""

    def __init__(self, folder):
        self.file = tempfile.TemporaryFile(prefix="perflaw-tokens-", dir=folder)
        self.n = 0

    def feed(self, tokens: np.ndarray) -> None:
        self.file.write(pack_ids(tokens))
        self.n += tokens.size

    def result(self, max_chunks) -> tuple:
        picks, width, total = compression_picks(self.n, COMPRESSION_CHUNK, max_chunks)
        if total == 0:
            self.file.close()
            return NO_COMPRESSION

        def ratio(i):
            piece = os.pread(self.file.fileno(), width, i * width)
            return len(zlib.compress(piece)) / len(piece)

        self.file.flush()
        with ThreadPoolExecutor(max_workers=os.cpu_count() or 1) as pool:
            ratios = np.fromiter(pool.map(ratio, picks.tolist()), float, count=len(picks))
        self.file.close()
        return compression_stats(ratios, total)


class _Dataset:
    """Column resolution and the first (statistics) pass over a parquet dataset."""

    def __init__(self, files, user_col, item_col, time_col, token_map=None):
        import pyarrow.parquet as pq

        self.files = files
        self.token_map = token_map
        try:
            schema = pq.read_schema(files[0])
        except Exception as exc:  # noqa: BLE001
            raise DataError(f"{files[0]}: cannot read as parquet: {_one_line(exc)}") from None
        self.u, self.i, self.t = resolve_columns(
            schema.names, files[0], user_col, item_col, time_col
        )
        self.columns = [c for c in (self.u, self.i, self.t) if c is not None]
        self.label = str(files[0].parent) if len(files) > 1 else str(files[0])

    def lazy(self) -> pl.LazyFrame:
        try:
            lf = pl.scan_parquet(self.files, glob=False)  # names, not patterns
        except Exception as exc:  # noqa: BLE001
            raise DataError(f"{self.label}: cannot scan as parquet: {_one_line(exc)}") from None
        select = [pl.col(self.u).alias("user"), pl.col(self.i).alias("item")]
        if self.t is not None:
            select.append(pl.col(self.t).alias("time"))
        return lf.select(select)

    def ids(self, frame: pl.DataFrame, label) -> pl.DataFrame:
        """:func:`perflaw.io.check_ids` on a batch with canonical names (null/NaN ids
        dropped: the statistics pass has refused them unless they are to be dropped)."""
        frame = check_ids(frame, label, {"user": self.u, "item": self.i}, drop_null_ids=True)
        if self.token_map is not None and frame.height:
            # every batch through the one map (perflaw.quality.tokens): the statistics,
            # the spill and the chunks all see tokens, as the other engines do
            frame = self.token_map.apply(frame, label)
        return frame

    def statistics(
        self,
        batch_rows: int = SPILL_BATCH_ROWS,
        drop_null_ids: bool = False,
        notes: list | None = None,
    ):
        """Rows per user, rows per item, and checks, in one pass over record batches.

        Counts are merged from per-batch ``value_counts`` (memory: the user and item
        tables plus one batch; polars' streaming group-by held ~20 bytes per row of the
        whole log).
        """
        import pyarrow.parquet as pq

        tables: dict[str, list[Any]] = {"user": [None, []], "item": [None, []]}
        nulls = {"user": 0, "item": 0}
        missing = dropped = 0

        def merge(role, force=False):
            acc, parts = tables[role]
            pending = sum(p.height for p in parts)
            if parts and (force or pending > max(2_000_000, acc.height if acc is not None else 0)):
                frames = parts if acc is None else [acc, *parts]
                tables[role] = [
                    pl.concat(frames, how="vertical_relaxed")
                    .group_by(role)
                    .agg(pl.col("len").sum()),
                    [],
                ]

        for f in self.files:
            try:
                reader = pq.ParquetFile(f)
                for batch in reader.iter_batches(batch_size=batch_rows, columns=self.columns):
                    frame = _batch_frame(batch)
                    ids = frame.select(pl.col(self.u).alias("user"), pl.col(self.i).alias("item"))
                    for role in ("user", "item"):
                        nulls[role] += int(missing_ids(ids.get_column(role)).sum())
                    dropped += ids.height
                    ids = self.ids(ids, f) if ids.height else ids
                    dropped -= ids.height
                    for role in ("user", "item"):
                        series = ids.get_column(role)
                        tables[role][1].append(
                            series.value_counts(name="len").with_columns(
                                pl.col("len").cast(pl.Int64)
                            )
                        )
                        merge(role)
                    if self.t is not None:
                        t = frame.get_column(self.t)
                        missing += t.null_count()
                        if t.dtype.is_float():
                            missing += int(t.is_nan().sum())
            except DataError:
                raise
            except Exception as exc:  # noqa: BLE001 - unreadable file, missing column
                raise DataError(f"{f}: cannot read the log: {_one_line(exc)}") from None
        for role, col in (("user", self.u), ("item", self.i)):
            if nulls[role] and not drop_null_ids:
                raise DataError(
                    f"{self.label}: column {col!r} has {nulls[role]} null/NaN "
                    f"{role} id(s); fix the log or pass --drop-null-ids to drop "
                    "those rows"
                )
        if dropped and notes is not None:
            notes.append(
                f"dropped {dropped} row(s) with a null/NaN id (user: "
                f"{nulls['user']}, item: {nulls['item']})"
            )
        merge("user", force=True)
        merge("item", force=True)
        users, items = tables["user"][0], tables["item"][0]
        if users is None or users.height == 0:
            raise DataError(
                f"{self.label}: no rows" + (" left after dropping null/NaN ids" if dropped else "")
            )
        if missing:
            raise DataError(
                f"{self.label}: time column {self.t!r} has {missing} missing value(s) (null/NaN)"
            )
        return users.sort("user"), items


def _batch_frame(batch) -> pl.DataFrame:
    """A polars frame of one Arrow record batch."""
    import pyarrow as pa

    return cast(pl.DataFrame, pl.from_arrow(pa.Table.from_batches([batch])))


def _item_coder(items: pl.DataFrame):
    """A function giving a chunk's item column the in-memory engine's integer codes.

    Integer ids are kept as they are; other ids get their dense rank among all distinct
    ids cast to strings (as :meth:`Sequences.from_frame` does on the whole log).
    """
    dtype = items.schema["item"]
    if dtype.is_integer():
        return None
    dictionary = (
        items.select(pl.col("item").cast(pl.String).alias("key"))
        .unique()
        .sort("key")
        .with_row_index("code", offset=1)
        .with_columns(pl.col("code").cast(pl.Int64))
    )

    def code(frame: pl.DataFrame) -> pl.DataFrame:
        keyed = frame.with_columns(pl.col("item").cast(pl.String).alias("key"))
        out = keyed.join(dictionary, on="key", how="left", maintain_order="left")
        return out.with_columns(pl.col("code").alias("item")).drop("key", "code")

    return code


def _plan_chunks(users: pl.DataFrame, chunk_rows: int) -> tuple[pl.Series, np.ndarray]:
    """Cut sorted users into ranges of about ``chunk_rows`` rows.

    Returns the first user of every chunk but the first (for ``search_sorted``) and the
    rows of each chunk.
    """
    lens = users.get_column("len").cast(pl.Int64).to_numpy()
    before = np.cumsum(lens) - lens
    raw = before // chunk_rows
    starts = np.flatnonzero(np.r_[True, raw[1:] != raw[:-1]])
    rows = np.add.reduceat(lens, starts)
    bounds = (
        users.get_column("user")[starts[1:].tolist()]
        if len(starts) > 1
        else users.get_column("user").clear()
    )
    return bounds, rows


def _canonical(frame: pl.DataFrame, coder, label, time_col, ds=None) -> pl.DataFrame:
    if ds is not None:
        frame = ds.ids(frame, label)
    if coder is not None:
        frame = coder(frame)
    if "time" in frame.columns:
        frame = frame.with_columns(_time_as_number(frame.get_column("time"), Path(label), time_col))
    return frame


def _spill(
    ds: _Dataset, bounds: pl.Series, n_chunks: int, coder, folder: Path, batch_rows: int
) -> list[Path]:
    """Write every row to its chunk's Arrow IPC file, keeping file order."""
    import pyarrow as pa
    import pyarrow.ipc as ipc
    import pyarrow.parquet as pq

    paths = [folder / f"chunk-{k:05d}.arrow" for k in range(n_chunks)]
    writers: dict[int, tuple] = {}
    options = ipc.IpcWriteOptions(compression="lz4")
    rename = {ds.u: "user", ds.i: "item"}
    if ds.t is not None:
        rename[ds.t] = "time"
    try:
        for f in ds.files:
            reader = pq.ParquetFile(f)
            for batch in reader.iter_batches(batch_size=batch_rows, columns=ds.columns):
                frame = _batch_frame(batch).rename(rename)
                frame = _canonical(frame.select(list(rename.values())), coder, f, ds.t, ds)
                bucket = bounds.search_sorted(frame.get_column("user"), side="right")
                frame = frame.with_columns(bucket.alias("_chunk"))
                for (k,), part in frame.partition_by(
                    "_chunk", as_dict=True, maintain_order=True
                ).items():
                    table = part.drop("_chunk").to_arrow()
                    if k not in writers:
                        sink = pa.OSFile(str(paths[k]), "wb")
                        writers[k] = (
                            sink,
                            ipc.new_file(sink, table.schema, options=options),
                            table.schema,
                        )
                    writers[k][1].write_table(table.cast(writers[k][2]))
                del frame
    except DataError:
        raise
    except Exception as exc:  # noqa: BLE001
        oserr = find_os_error(exc)
        if oserr is not None:
            raise FileError(
                f"{os_error_message(oserr, folder)} (the spill needs about the "
                "log's size on disk: choose a --spill-dir with more room)"
            ) from None
        raise DataError(f"{ds.label}: cannot spill the log to {folder}: {_one_line(exc)}") from None
    finally:
        for sink, writer, _ in writers.values():
            try:  # closing flushes: a full disk must not replace the first error
                writer.close()
                sink.close()
            except Exception:  # noqa: BLE001 - the folder is removed by the caller
                pass
    return paths


def measure_bounded(
    source,
    options: MeasureOptions | None = None,
    *,
    memory_limit=None,
    spill_dir: str | os.PathLike | None = None,
    chunk_rows: int | None = None,
    **changes,
) -> QualityReport:
    """Measure a parquet log (file, folder or list of files) in bounded memory.

    Same options (:class:`~perflaw.quality.summary.MeasureOptions`, or its fields as
    keywords) and result as :func:`perflaw.quality.report.measure`, plus:

    Parameters
    ----------
    memory_limit : int or str, optional
        Memory to stay within (``"4GB"``, bytes…), within reason: it sets the chunk
        size from :data:`BYTES_PER_ROW` and :data:`BYTES_PER_USER`.  ``None`` reads the
        whole log at once.
    spill_dir : path, optional
        Where to write the chunks (default: the system temporary folder).  Needs about
        the log's size in free space; removed afterwards.
    chunk_rows : int, optional
        Rows per chunk, overriding ``memory_limit`` (for tests and tuning).

    The summary gets ``engine`` = ``"local-bounded"``, ``chunks`` and ``chunk_rows``.

    Examples
    --------
    >>> rep = measure_bounded("data/ml-latest-small.parquet", chunk_rows=20_000)
    >>> rep.summary["chunks"], rep.summary["users"]
    (5, 671)
    """
    t0 = time.perf_counter()
    opt = MeasureOptions.build(options, **changes)
    m, max_len, companions = opt.m, opt.max_len, opt.companions
    files = parquet_files(source)
    ds = _Dataset(files, opt.user_col, opt.item_col, opt.time_col, opt.token_map)
    notes_read: list[str] = []
    users, items = ds.statistics(drop_null_ids=opt.drop_null_ids, notes=notes_read)
    rows = int(users.get_column("len").sum())
    coder = _item_coder(items)
    notes_extra = []
    if coder is None and items.height:
        lo, hi = items.get_column("item").min(), items.get_column("item").max()
        if lo < 0 or hi >= 2**32:
            # pack_ids would dense-code each array it is given; give every chunk the
            # codes of the whole log instead (what the in-memory engine packs).
            dictionary = items.select("item").sort("item").with_row_index("code")
            coder = _dense_coder(dictionary)
            if max_len is not None and companions:
                notes_extra.append(
                    "item ids outside 0…2³²−1: the log-level compression "
                    "ratio codes ids over the whole log, not over the "
                    "last max_len tokens (may differ slightly from the "
                    "in-memory engine)"
                )
    if chunk_rows is None:
        if memory_limit is None:
            chunk_rows = max(rows, 1)
        else:
            limit = parse_memory(memory_limit)
            fixed = _rss() + BYTES_PER_USER * users.height + BYTES_PER_ITEM * items.height
            budget = limit - fixed
            chunk_rows = budget // BYTES_PER_ROW
            if chunk_rows < 10_000:
                raise DataError(
                    f"memory limit {memory_limit} is too small for this log: the process "
                    f"and the tables of {users.height} users and {items.height} items "
                    f"already need about {fixed / 1e9:.2f} GB; raise --memory-limit"
                )
    elif int(chunk_rows) < 1:
        raise DataError(f"chunk_rows must be a positive integer, got {chunk_rows!r}")
    bounds, chunk_sizes = _plan_chunks(users, int(chunk_rows))
    n_chunks = len(chunk_sizes)
    del users

    stream = _TokenStream(spill_dir) if companions else None
    per_user_parts: list[pl.DataFrame] = []
    token_counts: pl.DataFrame | None = None
    interactions = duplicates = 0

    def measure_chunk(frame: pl.DataFrame) -> None:
        nonlocal token_counts, interactions, duplicates
        if opt.drop_duplicates:
            frame = frame.unique(maintain_order=True)
        seqs = Sequences.from_frame(frame)
        del frame
        starts, ends = seqs.window(max_len)
        per_user_parts.append(
            per_user_table(
                seqs,
                starts,
                ends,
                m=m,
                signed=opt.signed,
                companions=companions,
                per_user_compression=opt.per_user_compression,
            )
        )
        tokens = measured_tokens(seqs, starts, ends, max_len)
        counts = pl.Series("item", tokens).value_counts(name="n")
        token_counts = (
            counts
            if token_counts is None
            else (pl.concat([token_counts, counts]).group_by("item").agg(pl.col("n").sum()))
        )
        if stream is not None:
            stream.feed(tokens)
        interactions += int(seqs.offsets[-1])
        duplicates += seqs.duplicate_rows

    from tqdm.auto import tqdm

    bar = tqdm(
        total=rows,
        unit="row",
        unit_scale=True,
        desc=Path(ds.label).name,
        disable=not opt.progress,
        leave=False,
    )
    try:
        if n_chunks == 1:
            try:
                frame = ds.lazy().collect()
            except Exception as exc:  # noqa: BLE001
                raise DataError(f"{ds.label}: cannot read the log: {_one_line(exc)}") from None
            measure_chunk(_canonical(frame, coder, ds.label, ds.t, ds))
            bar.update(rows)
        else:
            folder = _spill_folder(spill_dir)
            try:
                paths = _spill(
                    ds,
                    bounds,
                    n_chunks,
                    coder,
                    folder,
                    min(SPILL_BATCH_ROWS, max(int(chunk_rows) // 4, 10_000)),
                )
                for k, path in enumerate(paths):
                    frame = pl.read_ipc(path)
                    path.unlink()
                    measure_chunk(frame)
                    bar.update(int(chunk_sizes[k]))
            finally:
                shutil.rmtree(folder, ignore_errors=True)
    finally:
        bar.close()

    per_user = pl.concat(per_user_parts, how="vertical_relaxed")
    per_user_parts.clear()  # the concatenated table is all that is kept
    agg = aggregate_per_user(
        per_user,
        m=m,
        companions=companions,
        items=items.height,
        interactions=interactions,
        duplicate_rows=duplicates,
        token_counts=token_counts.get_column("n").to_numpy()
        if token_counts is not None
        else np.zeros(0, np.int64),
    )
    compression = stream.result(opt.compression_chunks) if stream is not None else NO_COMPRESSION
    summary, notes = build_summary(
        agg, opt, label=ds.label, compression=compression, seconds=time.perf_counter() - t0
    )
    notes[:0] = notes_read
    notes.extend(notes_extra)
    summary["notes"] = notes
    summary.update(
        engine="local-bounded",
        chunks=n_chunks,
        chunk_rows=int(chunk_rows),
        seconds=time.perf_counter() - t0,
    )
    return QualityReport(summary=summary, per_user=per_user, notes=notes)


def _dense_coder(dictionary: pl.DataFrame):
    dictionary = dictionary.with_columns(pl.col("code").cast(pl.Int64))

    def code(frame: pl.DataFrame) -> pl.DataFrame:
        out = frame.join(dictionary, on="item", how="left", maintain_order="left")
        return out.with_columns(pl.col("code").alias("item")).drop("code")

    return code
