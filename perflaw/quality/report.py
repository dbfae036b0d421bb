"""The in-memory quality engine: the whole log in memory, one kernel call per batch.

The options, the per-user table, the summary and the report are shared by every engine
(:mod:`perflaw.quality.summary`); this module only reads the log into sequences.
:func:`perflaw.measure` chooses between this engine, :mod:`~perflaw.quality.bounded`
and :mod:`~perflaw.quality.spark`.
"""

from __future__ import annotations

import os
import time
from pathlib import Path

import polars as pl

from perflaw.errors import DataError
from perflaw.io import canonical_frame, read_log
from perflaw.quality.summary import (  # noqa: F401 - re-exported for older imports
    COMPRESSION_CHUNK,
    DPRIME_MODES,
    NO_COMPRESSION,
    MeasureOptions,
    QualityReport,
    aggregate_per_user,
    build_summary,
    log_compression_ratio,
    measured_tokens,
    per_user_table,
)
from perflaw.sequences import Sequences, item_counts


def _coerce_source(
    source,
    user_col,
    item_col,
    time_col,
    drop_duplicates,
    drop_null_ids=False,
    notes=None,
    token_map=None,
):
    label = None
    if isinstance(source, Sequences):
        if token_map is not None:
            raise DataError("a token map needs the log's item ids: pass a path or a DataFrame")
        return source, None
    if isinstance(source, (str, os.PathLike)):
        label = str(source)
        frame = read_log(
            source,
            user_col=user_col,
            item_col=item_col,
            time_col=time_col,
            drop_null_ids=drop_null_ids,
            notes=notes,
        )
    else:
        try:
            import pandas as pd

            if isinstance(source, pd.DataFrame):
                source = pl.from_pandas(source)
        except ImportError:  # pragma: no cover
            pass
        if not isinstance(source, pl.DataFrame):
            raise DataError(
                f"cannot measure a {type(source).__name__}: pass a path, a "
                "polars/pandas DataFrame or Sequences"
            )
        frame = canonical_frame(
            source,
            "DataFrame",
            user_col=user_col,
            item_col=item_col,
            time_col=time_col,
            drop_null_ids=drop_null_ids,
            notes=notes,
        )
    if token_map is not None:
        # the same translation every engine makes (perflaw.quality.tokens)
        frame = token_map.apply(frame, label or "DataFrame")
    if drop_duplicates:
        frame = frame.unique(maintain_order=True)
    return Sequences.from_frame(frame), label


def measure(source, options: MeasureOptions | None = None, **changes) -> QualityReport:
    """Measure the data quality of an interaction log in memory.

    Parameters
    ----------
    source : path, polars.DataFrame, pandas.DataFrame or Sequences
        The log.  Columns are found by name (see :mod:`perflaw.io`) or given.
    options : MeasureOptions, optional
        The settings (defaults when omitted).
    **changes
        Fields of :class:`~perflaw.quality.summary.MeasureOptions` to set (``m``,
        ``max_len``, ``signed``, ``dprime``, ``companions``, ``compression_chunks``,
        ``per_user_compression``, ``user_col``, ``item_col``, ``time_col``,
        ``drop_duplicates``, ``progress``).

    Returns
    -------
    QualityReport

    Examples
    --------
    >>> import polars as pl
    >>> log = pl.DataFrame({"user_id": [1, 1, 1, 1, 2, 2, 2],
    ...                     "item_id": [5, 6, 5, 6, 7, 7, 7],
    ...                     "timestamp": [1, 2, 3, 4, 1, 2, 3]})
    >>> rep = measure(log, m=1)
    >>> rep.summary["users"], rep.summary["zero_apen_users"]
    (2, 1)
    >>> round(rep.summary["d_prime"], 3)  # user 1 only: 4 / ApEn([5, 6, 5, 6])
    70.63
    """
    t0 = time.perf_counter()
    opt = MeasureOptions.build(options, **changes)
    read_notes: list[str] = []
    seqs, label = _coerce_source(
        source,
        opt.user_col,
        opt.item_col,
        opt.time_col,
        opt.drop_duplicates,
        opt.drop_null_ids,
        read_notes,
        opt.token_map,
    )
    starts, ends = seqs.window(opt.max_len)
    per_user = per_user_table(
        seqs,
        starts,
        ends,
        m=opt.m,
        signed=opt.signed,
        companions=opt.companions,
        per_user_compression=opt.per_user_compression,
        progress=opt.progress,
        desc=Path(label).name if label else "apen",
    )
    tokens = measured_tokens(seqs, starts, ends, opt.max_len)
    agg = aggregate_per_user(
        per_user,
        m=opt.m,
        companions=opt.companions,
        items=seqs.n_items,
        interactions=int(seqs.offsets[-1]),
        duplicate_rows=seqs.duplicate_rows,
        token_counts=item_counts(tokens),
    )
    compression = (
        log_compression_ratio(tokens, max_chunks=opt.compression_chunks)
        if opt.companions
        else NO_COMPRESSION
    )
    summary, notes = build_summary(
        agg, opt, label=label, compression=compression, seconds=time.perf_counter() - t0
    )
    summary["engine"] = "memory"
    notes = read_notes + notes
    summary["notes"] = notes
    return QualityReport(summary=summary, per_user=per_user, notes=notes)
