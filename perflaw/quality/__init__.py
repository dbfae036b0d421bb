"""Data-quality measures of interaction logs: ApEn (r = 0), ApEn′, D′ and companions.

Three engines share one contract (:mod:`perflaw.quality.summary`): the same options
(:class:`~perflaw.quality.summary.MeasureOptions`), the same per-user table and summary
keys, the same :class:`~perflaw.quality.summary.QualityReport`.  :func:`measure` picks
one; nothing heavy is imported until it runs.

========  =====================================  ==========================================
engine    module                                 for
========  =====================================  ==========================================
memory    :mod:`perflaw.quality.report`          a log that fits in memory (any format)
bounded   :mod:`perflaw.quality.bounded`         parquet larger than memory, user-range chunks
spark     :mod:`perflaw.quality.spark`           a Spark cluster (``perflaw[spark]`` + Java)
========  =====================================  ==========================================
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from perflaw.quality.summary import MeasureOptions, QualityReport

ENGINES = ("memory", "bounded", "spark")
#: How D′ is summed: per user (Σ|S|/ApEn(S)) or over the dataset (tokens / mean ApEn).
DPRIME_MODES = ("per-user", "dataset")


def measure(
    source: Any,
    engine: str = "memory",
    options: MeasureOptions | None = None,
    *,
    memory_limit: int | str | None = None,
    spill_dir: str | os.PathLike | None = None,
    chunk_rows: int | None = None,
    spark: Any = None,
    spark_master: str | None = None,
    partitions: int | None = None,
    **changes: Any,
) -> QualityReport:
    """Measure the data quality of an interaction log with the engine asked for.

    Parameters
    ----------
    source : path, DataFrame or Sequences
        ``memory``: a log file (parquet, csv, tsv, RecBole ``.inter``, SASRec ``.txt``), a
        polars/pandas DataFrame or :class:`~perflaw.sequences.Sequences`.
        ``bounded``: a parquet file, a folder of them or a list of files.
        ``spark``: a parquet path Spark can read (local, ``hdfs://``, ``s3a://``) or a
        Spark DataFrame.
    engine : {"memory", "bounded", "spark"}
        ``memory`` with ``memory_limit`` set runs ``bounded``.
    options : MeasureOptions, optional
        The settings shared by every engine; its fields can also be given as keywords
        (``m=1``, ``max_len=50``…, see :class:`~perflaw.quality.summary.MeasureOptions`).
    memory_limit, spill_dir, chunk_rows
        Bounded engine (see :func:`perflaw.quality.bounded.measure_bounded`).
    spark, spark_master, partitions
        Spark engine: a SparkSession (else one is started for ``spark_master``, default
        the active session or ``local[*]``) and the number of user partitions.

    Returns
    -------
    QualityReport
        ``summary`` (keys of :data:`perflaw.quality.summary.SUMMARY_KEYS` plus ``engine``),
        ``per_user`` (polars, or a Spark DataFrame for ``spark``) and ``notes``.

    Examples
    --------
    >>> rep = measure("data/ml-latest-small.parquet", max_len=50)
    >>> rep.summary["users"], rep.summary["engine"]
    (671, 'memory')
    >>> measure("data/ml-latest-small.parquet", engine="bounded", chunk_rows=20_000,
    ...         max_len=50).summary["d_prime"] == rep.summary["d_prime"]
    True
    """
    from perflaw.errors import DataError
    from perflaw.quality.summary import MeasureOptions

    if engine not in ENGINES:
        raise DataError(f"engine must be one of {', '.join(ENGINES)}, got {engine!r}")
    opt = MeasureOptions.build(options, **changes)
    if engine == "memory" and (memory_limit is not None or chunk_rows is not None):
        engine = "bounded"
    given = {
        name
        for name, value in (
            ("memory_limit", memory_limit),
            ("spill_dir", spill_dir),
            ("chunk_rows", chunk_rows),
            ("spark", spark),
            ("spark_master", spark_master),
            ("partitions", partitions),
        )
        if value is not None
    }
    allowed = {
        "memory": set(),
        "bounded": {"memory_limit", "spill_dir", "chunk_rows"},
        "spark": {"spark", "spark_master", "partitions"},
    }[engine]
    wrong = sorted(given - allowed)
    if wrong:
        raise DataError(
            f"{', '.join(wrong)} not used by engine {engine!r}: "
            + (
                "spill_dir needs memory_limit or chunk_rows"
                if engine == "memory"
                else f"pass {engine}'s own settings only"
            )
        )
    if engine == "memory":
        from perflaw.quality.report import measure as run_memory

        return run_memory(source, opt)
    if engine == "bounded":
        from perflaw.quality.bounded import measure_bounded

        return measure_bounded(
            source, opt, memory_limit=memory_limit, spill_dir=spill_dir, chunk_rows=chunk_rows
        )
    from perflaw.quality.spark import get_spark, measure_spark, measure_spark_path

    if isinstance(source, (str, os.PathLike)):
        session = spark or get_spark(spark_master)
        return measure_spark_path(source, opt, spark=session, partitions=partitions)
    return measure_spark(source, opt, partitions=partitions)
