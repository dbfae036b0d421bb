"""Limits on what a reader will expand or parse, each refusal one line.

A small file can ask for a great deal: a 2 MB parquet file of repeated values expands to
gigabytes, a compressed CSV likewise, and JSON nested 100,000 deep or holding a
5,000-digit number makes Python's parser raise errors that are not about the file.  Left
alone, the first ends in an allocation failure inside polars' Rust core -- an abort
(SIGABRT) with no message, under a memory limit (``ulimit -v``) -- and the others in
tracebacks.  Here each is checked before the work, against what the process may still
allocate (:func:`memory_headroom`), and refused naming the file and what to do.
"""

from __future__ import annotations

import json
import os
import resource
from pathlib import Path
from typing import Any

from perflaw.errors import DataError

__all__ = [
    "COMPRESSIONS",
    "MAX_JSON_INT_DIGITS",
    "check_parquet_fits",
    "decompress",
    "loads_json",
    "memory_headroom",
]

#: Compressed text logs read (``log.csv.gz``), by suffix: pyarrow's codec names.
COMPRESSIONS = {".gz": "gzip", ".bz2": "bz2", ".zst": "zstd"}

#: Digits an integer in a JSON input may have (counts, sizes and seeds need far fewer).
MAX_JSON_INT_DIGITS = 100

#: A parsed log takes about this many times its decompressed text in memory at the peak
#: (the text, polars' columns and the canonical frame side by side).
TEXT_PEAK_FACTOR = 3


def _human(n: float) -> str:
    for unit in ("bytes", "KB", "MB", "GB", "TB"):
        if abs(n) < 1000 or unit == "TB":
            return f"{n:.0f} {unit}" if unit == "bytes" else f"{n:.1f} {unit}"
        n /= 1000
    return f"{n:.1f} TB"  # pragma: no cover


def memory_headroom() -> int | None:
    """Bytes this process may still allocate: the smaller of the memory the system has
    available and what the address-space limit (``ulimit -v``) leaves; None if unknown.
    ``PERFLAW_MEMORY_HEADROOM`` (bytes) overrides it."""
    given = os.environ.get("PERFLAW_MEMORY_HEADROOM")
    if given:
        try:
            return max(0, int(given))
        except ValueError:
            raise DataError(f"PERFLAW_MEMORY_HEADROOM={given!r}: give a number of bytes") from None
    room: list[int] = []
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemAvailable:"):
                room.append(int(line.split()[1]) * 1024)
                break
    except (OSError, ValueError, IndexError):
        pass
    try:
        soft, _ = resource.getrlimit(resource.RLIMIT_AS)
        if soft != resource.RLIM_INFINITY:
            pages = int(Path("/proc/self/statm").read_text().split()[0])
            room.append(max(0, soft - pages * os.sysconf("SC_PAGE_SIZE")))
    except (OSError, ValueError, IndexError, AttributeError):
        pass
    return min(room) if room else None


def parquet_memory(path: str | os.PathLike) -> int | None:
    """Bytes the columns of a parquet file take once read (a lower bound from its
    metadata: rows times each fixed-width column's width, 16 bytes a row plus the
    encoded data for text), or None when the metadata cannot be read.  The encoded sizes
    of the metadata itself say little: a dictionary-encoded column of one repeated value
    takes a few bytes however many rows it has."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    try:
        meta = pq.ParquetFile(path).metadata
        schema = meta.schema.to_arrow_schema()
    except Exception:  # noqa: BLE001 - not readable as parquet: the reader says why
        return None
    total = 0
    for g in range(meta.num_row_groups):
        group = meta.row_group(g)
        rows = group.num_rows
        for j in range(group.num_columns):
            column = group.column(j)
            name = column.path_in_schema.split(".")[0]
            kind = schema.field(name).type if name in schema.names else pa.binary()
            try:
                width = kind.bit_width // 8
            except ValueError:  # variable width (text, lists): views + the data
                width = 16
            total += max(rows * max(width, 1), column.total_uncompressed_size)
    return total


def check_parquet_fits(path: str | os.PathLike, advice: str) -> None:
    """Refuse a parquet file whose columns, once read (:func:`parquet_memory`), exceed
    :func:`memory_headroom`, before anything is decompressed."""
    room = memory_headroom()
    if room is None:
        return
    size = parquet_memory(path)
    if size is not None and size > room:
        raise DataError(
            f"{path}: its columns take {_human(size)} once decompressed, more than the "
            f"{_human(room)} this process may still allocate; {advice}"
        )


def decompress(path: str | os.PathLike, codec: str) -> bytes:
    """The decompressed bytes of ``path``; refused (one line) once they would pass a third
    of :func:`memory_headroom` -- a compression bomb, or a log too large to parse here."""
    import pyarrow as pa

    room = memory_headroom()
    limit = None if room is None else room // TEXT_PEAK_FACTOR
    chunks, total = [], 0
    try:
        with pa.CompressedInputStream(pa.OSFile(str(path)), codec) as stream:
            while True:
                chunk = stream.read(1 << 24)
                if not chunk:
                    break
                total += len(chunk)
                if limit is not None and total > limit:
                    raise DataError(
                        f"{path}: expands to more than {_human(limit)} when decompressed "
                        f"(a third of the {_human(room or 0)} this process may still "
                        "allocate); decompress it and convert it to parquet "
                        "(pl.scan_csv(path).sink_parquet(...)), then measure it with "
                        "--memory-limit"
                    )
                chunks.append(chunk)
    except DataError:
        raise
    except OSError as exc:
        if isinstance(exc, FileNotFoundError | PermissionError):
            raise
        raise DataError(f"{path}: not readable as {codec} ({' '.join(str(exc).split())})") from None
    except Exception as exc:  # noqa: BLE001 - arrow's errors for a damaged stream
        raise DataError(f"{path}: not readable as {codec} ({' '.join(str(exc).split())})") from None
    return b"".join(chunks)


def _parse_int(text: str) -> int:
    if len(text.lstrip("-")) > MAX_JSON_INT_DIGITS:
        raise ValueError(f"an integer of {len(text.lstrip('-'))} digits")
    return int(text)


def loads_json(text: str | bytes, source: str) -> Any:
    """``json.loads`` whose every failure is one :class:`DataError` naming ``source``:
    malformed text, nesting too deep for the parser, integers of more than
    :data:`MAX_JSON_INT_DIGITS` digits.

    >>> loads_json('{"a": [1, 2.5]}', "x.json")
    {'a': [1, 2.5]}
    >>> loads_json("[" * 100_000 + "]" * 100_000, "deep.json")
    Traceback (most recent call last):
    ...
    perflaw.errors.DataError: deep.json: JSON nested too deep to read
    """
    try:
        return json.loads(text, parse_int=_parse_int)
    except RecursionError:
        raise DataError(f"{source}: JSON nested too deep to read") from None
    except (ValueError, UnicodeDecodeError) as exc:  # JSONDecodeError is a ValueError
        raise DataError(f"{source}: not readable as JSON ({' '.join(str(exc).split())})") from None
