"""What a bounded-memory (or Spark) run is given: a memory limit as text, and a dataset's
parquet files."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np

from perflaw.errors import DataError

_UNITS = {
    "": 1,
    "b": 1,
    "k": 1e3,
    "kb": 1e3,
    "m": 1e6,
    "mb": 1e6,
    "g": 1e9,
    "gb": 1e9,
    "t": 1e12,
    "tb": 1e12,
    "kib": 2**10,
    "mib": 2**20,
    "gib": 2**30,
    "tib": 2**40,
}


def parse_memory(text) -> int:
    """Bytes in a size such as ``4GB``, ``512MB``, ``1.5GiB`` or ``1000000``.

    Examples
    --------
    >>> parse_memory("2GB"), parse_memory("512 MiB"), parse_memory(1000)
    (2000000000, 536870912, 1000)
    """
    if isinstance(text, (int, np.integer)) and not isinstance(text, bool):
        value = int(text)
    else:
        match = re.fullmatch(r"\s*([0-9]*\.?[0-9]+)\s*([a-zA-Z]*)\s*", str(text))
        unit = match.group(2).lower() if match else None
        if match is None or unit not in _UNITS:
            raise DataError(f"memory limit {text!r} is not a size such as 4GB, 512MB or 2GiB")
        value = int(float(match.group(1)) * _UNITS[unit])
    if value <= 0:
        raise DataError(f"memory limit must be positive, got {text!r}")
    return value


def parquet_files(source) -> list[Path]:
    """The parquet files of a dataset: a file, a folder (searched recursively, sorted by
    path) or a list of files (kept in the given order)."""
    if isinstance(source, (list, tuple)):
        files = [Path(p) for p in source]
    else:
        path = Path(source)
        if path.is_dir():
            files = sorted(
                p
                for p in path.rglob("*")
                if p.is_file() and p.suffix.lower() in (".parquet", ".pq")
            )
            if not files:
                raise DataError(f"{path}: folder holds no .parquet files")
        else:
            files = [path]
    for f in files:
        if not f.exists():
            raise DataError(f"{f}: no such file")
        if f.suffix.lower() not in (".parquet", ".pq"):
            raise DataError(
                f"{f}: bounded-memory and Spark engines read parquet only; "
                "convert the log first (e.g. polars: "
                "pl.scan_csv(path).sink_parquet('log.parquet'))"
            )
    return files
