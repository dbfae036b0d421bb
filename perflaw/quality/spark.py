"""Spark engine: ApEn, ApEn′ and D′ of logs too large for one machine.

Needs the ``spark`` extra (``pip install perflaw[spark]``) and a Java runtime; the base
install never imports pyspark.

How it works: rows are range-partitioned by user and sorted inside each partition by
(user, time, file, position in file), so each user's events sit together and in the
in-memory engine's order (ties in time keep file order).  ``mapInArrow`` then hands each
partition, as Arrow batches, to the same code the local engine runs
(:func:`perflaw.quality.summary.per_user_table` and its Numba kernel), many users per
call.  The per-user results come back as a Spark DataFrame (persisted); the dataset
summary is aggregated by Spark from them, plus item counts merged across partitions.
Because partitions are user ranges in user order, the log-level compression ratio (zlib
over the concatenated token stream in 10,000-token pieces) is reproduced exactly: each
partition keeps its packed token stream (4 bytes per token, persisted with the results),
compresses the pieces inside it, and the driver joins the pieces crossing partition
edges.

What differs from the local engines:

* Sums and means are added in a different order, so summary floats agree with the local
  engine to about 1e-15 relative, not bit for bit; per-user values are identical.
* Ties in time are ordered by file path, then by position in the file as Spark reads it
  (:func:`measure_spark_path`); for a DataFrame built otherwise, by Spark's row order
  (``monotonically_increasing_id``).  Give a unique time (or position) column when the
  order of ties matters.

Examples
--------
>>> from perflaw.quality.spark import get_spark, measure_spark_path   # doctest: +SKIP
>>> spark = get_spark("local[2]")                              # doctest: +SKIP
>>> rep = measure_spark_path("data/ml-latest-small.parquet", spark=spark)  # doctest: +SKIP
>>> rep.summary["users"]                                       # doctest: +SKIP
671
>>> rep.per_user.write.parquet("per_user.parquet")             # doctest: +SKIP
"""

from __future__ import annotations

import math
import os
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from perflaw.errors import DataError
from perflaw.io import resolve_columns

# the work inside the partitions lives beside this module; BATCH_ROWS stays importable here
from perflaw.quality._spark_partitions import (  # noqa: F401
    BATCH_ROWS,
    _arrow_type,
    _log_compression_ratio,
    _partition_function,
)
from perflaw.quality.summary import (
    NO_COMPRESSION,
    PER_USER_COLUMNS,
    Aggregates,
    MeasureOptions,
    QualityReport,
    build_summary,
)

#: Rows per partition aimed at when the number of partitions is not given.
ROWS_PER_PARTITION = 2_000_000

_PER_USER_NUMERIC = list(PER_USER_COLUMNS.items())  # the shared per-user columns


def _require_pyspark():
    try:
        import pyspark  # noqa: F401
    except ImportError:
        raise DataError(
            "the Spark engine needs pyspark: pip install 'perflaw[spark]' (and a Java 17+ runtime)"
        ) from None


@dataclass
class SparkQualityReport(QualityReport):
    """Result of :func:`measure_spark`: a :class:`~perflaw.quality.summary.QualityReport`
    whose ``per_user`` is a Spark DataFrame.

    Attributes
    ----------
    summary : dict
        The same keys as the local engine's summary, plus ``engine`` = ``"spark"``
        and ``partitions``.
    per_user : pyspark.sql.DataFrame
        One row per user with the local engine's per-user columns (persisted; call
        ``unpersist()`` when done).  Write it with ``per_user.write.parquet(path)``.
    notes : list of str
    """

    _cached: Any = None

    def unpersist(self) -> None:
        """Release the cached per-user results on the cluster."""
        if self._cached is not None:
            self._cached.unpersist()


def get_spark(master: str | None = None, app_name: str = "perflaw", conf: dict | None = None):
    """A SparkSession (the active one when ``master`` is None and one exists).

    With ``master`` None and no active session: under ``spark-submit`` the master it was
    given, else ``local[*]``.  For a ``local`` master the Python workers use this
    interpreter and can import this copy of perflaw (its folder is put on their
    ``PYTHONPATH``); on a cluster, perflaw must be installed where the executors run
    (docs/scaling-out.md) and ``PYSPARK_PYTHON`` name that interpreter.
    """
    _require_pyspark()
    from pyspark.sql import SparkSession

    active = SparkSession.getActiveSession()
    if master is None and active is not None:
        return active
    if active is not None and active.sparkContext.master != master:
        raise DataError(
            f"a Spark session for {active.sparkContext.master} is already "
            f"running in this process; stop it before asking for {master}"
        )
    submitted = master is None and "PYSPARK_GATEWAY_PORT" in os.environ  # spark-submit
    if master is None and not submitted:
        master = "local[*]"
    if master is not None and master.startswith("local"):
        os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
        os.environ.setdefault("PYSPARK_DRIVER_PYTHON", sys.executable)
        root = str(Path(__file__).resolve().parents[2])
        paths = os.environ.get("PYTHONPATH", "").split(os.pathsep)
        if root not in paths:
            os.environ["PYTHONPATH"] = os.pathsep.join([root] + [p for p in paths if p])
    builder = SparkSession.builder.appName(app_name)
    if master is not None:
        builder = builder.master(master)
    builder = (
        builder.config("spark.sql.session.timeZone", "UTC")
        .config("spark.ui.showConsoleProgress", "false")
        .config("spark.log.level", "ERROR")
    )
    for key, value in (conf or {}).items():
        builder = builder.config(key, value)
    try:
        spark = builder.getOrCreate()
    except Exception as exc:  # noqa: BLE001 - no Java, bad master URL…
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise DataError(
            f"cannot start Spark (master {master}): {first}; the Spark engine "
            "needs a Java 17+ runtime ('java -version')"
        ) from None
    spark.sparkContext.setLogLevel("ERROR")
    return spark


def measure_spark_path(
    path,
    options: MeasureOptions | None = None,
    *,
    spark=None,
    master: str | None = None,
    partitions: int | None = None,
    **changes,
) -> SparkQualityReport:
    """:func:`measure_spark` on a parquet file or folder (local path or any URL Spark
    reads: hdfs://, s3a://…).  A local folder is read recursively, files sorted by path."""
    options = MeasureOptions.build(options, **changes)  # bad options fail before Spark starts
    spark = spark or get_spark(master)
    local = Path(str(path))
    if local.exists():
        from perflaw.quality.bounded import parquet_files

        files = [str(f.resolve()) for f in parquet_files(local)]
    else:
        files = [str(path)]
    try:
        df = spark.read.parquet(*files)
    except Exception as exc:  # noqa: BLE001
        first = str(exc).strip().splitlines()[0]
        raise DataError(f"{path}: Spark cannot read it as parquet: {first}") from None
    label = str(path)
    return measure_spark(df, options, partitions=partitions, label=label)


def _apply_token_map(base, token_map, src):
    """``base`` with its ``item`` column replaced by ``token_map``'s tokens."""
    import polars as pl
    from pyspark.sql import functions as F

    table = token_map.table
    item_type = base.schema["item"].dataType.simpleString()
    pdf = table.with_columns(pl.col("token").cast(pl.Int64)).to_pandas()
    spark = base.sparkSession
    mapping = spark.createDataFrame(pdf).select(
        F.col("item").cast(item_type).alias("_map_item"), F.col("token").cast("long")
    )
    joined = base.join(F.broadcast(mapping), base["item"] == F.col("_map_item"), "left")
    missing = joined.filter(F.col("token").isNull()).count()
    if missing:
        raise DataError(
            f"{src}: {missing} row(s) have an item id the token map "
            f"({token_map.description}) does not cover"
        )
    return joined.drop("item", "_map_item").withColumnRenamed("token", "item")


def _file_rank(df):
    """Rank of each row's input file among the DataFrame's files sorted by path (0 when
    the DataFrame was not read from files)."""
    from urllib.parse import unquote

    from pyspark.sql import functions as F

    try:
        files = list(df.inputFiles())
    except Exception:  # noqa: BLE001 - not a file scan
        files = []
    if len(files) <= 1:
        return F.lit(0).cast("int")
    ranked = sorted(files, key=unquote)
    mapping = F.create_map(*[x for k, f in enumerate(ranked) for x in (F.lit(f), F.lit(k))])
    return F.coalesce(F.element_at(mapping, F.input_file_name()), F.lit(-1))


def measure_spark(
    df,
    options: MeasureOptions | None = None,
    *,
    partitions: int | None = None,
    label: str | None = None,
    **changes,
) -> SparkQualityReport:
    """Measure a log held in a Spark DataFrame (user, item and optional time columns).

    Same options (:class:`~perflaw.quality.summary.MeasureOptions`, or its fields as
    keywords; ``progress`` is ignored) as :func:`perflaw.quality.report.measure`, plus
    ``partitions`` (default: the cluster's parallelism, or one per ~2M rows when more)
    and ``label`` (the summary's ``file``).  Returns a :class:`SparkQualityReport` whose
    per-user DataFrame has the local engine's columns.
    """
    _require_pyspark()
    from pyspark.sql import functions as F
    from pyspark.sql import types as T

    t0 = time.perf_counter()
    opt = MeasureOptions.build(options, **changes)
    m, max_len, companions = opt.m, opt.max_len, opt.companions
    signed, per_user_compression = opt.signed, opt.per_user_compression
    if partitions is not None and (int(partitions) != partitions or partitions < 1):
        raise DataError(f"partitions must be a positive integer, got {partitions!r}")
    u, i, t = resolve_columns(
        df.columns, Path(label or "Spark DataFrame"), opt.user_col, opt.item_col, opt.time_col
    )
    src = label or "Spark DataFrame"
    # order of ties: file (its rank by path), then position as read; both taken before
    # any shuffle.  A small integer instead of the path keeps the shuffle light.
    base = df.select(
        F.col(u).alias("user"),
        F.col(i).alias("item"),
        *([F.col(t).alias("time")] if t else []),
        _file_rank(df).alias("_file"),
        F.monotonically_increasing_id().alias("_pos"),
    )
    # ids as perflaw.io.check_ids takes them: nested types refused, null/NaN ids refused
    # (or dropped), float ids used as integers only when whole and within ±2^53
    float_roles = []
    for role, col in (("user", u), ("item", i)):
        dt = base.schema[role].dataType
        if isinstance(dt, (T.ArrayType, T.MapType, T.StructType, T.BinaryType)):
            raise DataError(
                f"{src}: {role} column {col!r} holds {dt.simpleString()} values; "
                "ids must be integers or strings, one per row"
            )
        if isinstance(dt, (T.FloatType, T.DoubleType)):
            float_roles.append(role)

    def _missing(role):
        c = F.col(role)
        return (c.isNull() | F.isnan(c)) if role in float_roles else c.isNull()

    types = dict(base.dtypes)
    item_type = base.schema["item"].dataType
    integer_items = (
        isinstance(item_type, (T.ByteType, T.ShortType, T.IntegerType, T.LongType))
        or "item" in float_roles
    )
    if t is not None:
        tt = base.schema["time"].dataType
        if not isinstance(tt, (T.NumericType, T.TimestampType, T.DateType, T.TimestampNTZType)):
            raise DataError(
                f"{src}: time column {t!r} is not numeric (type {types['time']}); "
                "give a numeric timestamp or position"
            )
        bad_time = F.col("time").isNull()
        if isinstance(tt, (T.FloatType, T.DoubleType)):
            bad_time = bad_time | F.isnan("time")
    keep = ~(_missing("user") | _missing("item"))
    checks = [
        F.count(F.lit(1)).alias("rows"),
        F.sum(_missing("user").cast("long")).alias("null_user"),
        F.sum(_missing("item").cast("long")).alias("null_item"),
        F.sum(keep.cast("long")).alias("kept"),
        (F.sum(bad_time.cast("long")) if t else F.lit(0)).alias("bad_time"),
    ]
    for role in float_roles:
        c = F.col(role)
        checks += [
            F.first(F.when(keep & (c != F.floor(c)), c), ignorenulls=True).alias(f"frac_{role}"),
            F.first(F.when(keep & (F.abs(c) >= 2.0**53), c), ignorenulls=True).alias(f"big_{role}"),
        ]
    if integer_items:
        checks += [
            F.min(F.when(keep, F.col("item"))).alias("item_min"),
            F.max(F.when(keep, F.col("item"))).alias("item_max"),
        ]
    row = base.agg(*checks).collect()[0]
    if not row["rows"]:
        raise DataError(f"{src}: no rows")
    id_notes = []
    for role, col in (("user", u), ("item", i)):
        if row[f"null_{role}"] and not opt.drop_null_ids:
            raise DataError(
                f"{src}: column {col!r} has {row[f'null_{role}']} null/NaN {role} "
                "id(s); fix the log or pass --drop-null-ids to drop those rows"
            )
    if row["kept"] < row["rows"]:
        if not row["kept"]:
            raise DataError(f"{src}: no rows left after dropping null/NaN ids")
        id_notes.append(
            f"dropped {row['rows'] - row['kept']} row(s) with a null/NaN id "
            f"(user: {row['null_user']}, item: {row['null_item']})"
        )
        base = base.filter(keep)
    for role, col in (("user", u), ("item", i)):
        if role not in float_roles:
            continue
        if row[f"frac_{role}"] is not None or (
            row[f"big_{role}"] is not None and math.isinf(row[f"big_{role}"])
        ):
            bad = row[f"frac_{role}"] if row[f"frac_{role}"] is not None else row[f"big_{role}"]
            raise DataError(
                f"{src}: {role} column {col!r} holds float ids with a fractional "
                f"part (e.g. {bad!r}); ids must be whole numbers or strings"
            )
        if row[f"big_{role}"] is not None:
            raise DataError(
                f"{src}: {role} column {col!r} holds float ids of 2^53 or more (e.g. "
                f"{row[f'big_{role}']:.17g}), where distinct ids can become "
                "equal; store the ids as integers or strings"
            )
        base = base.withColumn(role, F.col(role).cast("long"))
    if row["bad_time"]:
        raise DataError(
            f"{src}: time column {t!r} has {row['bad_time']} missing value(s) (null/NaN)"
        )
    if opt.token_map is not None:
        # the one map computed from the whole log (perflaw.quality.tokens), broadcast to
        # every partition: the item column becomes the token column before anything else
        base = _apply_token_map(base, opt.token_map, src)
        integer_items = True
        row = row.asDict()
        row.update(item_min=1, item_max=opt.token_map.n_tokens)
    n_rows = int(row["kept"])
    spark = df.sparkSession

    # Items: integer ids as they are; other ids get the local engine's dense codes (rank
    # among distinct ids cast to strings), and so do integer ids outside 0…2³²−1 when
    # companions are computed (zlib packs ids as 4-byte integers).
    need_codes = not integer_items or (
        companions and (row["item_min"] < 0 or row["item_max"] >= 2**32)
    )
    if need_codes:
        key = F.col("item").cast("string") if not integer_items else F.col("item")
        distinct = base.select(key.alias("_key")).distinct().orderBy("_key")
        offset = 1 if not integer_items else 0
        codes = (
            distinct.rdd.zipWithIndex()
            .map(lambda pair: (pair[0][0], pair[1] + offset))
            .toDF(
                T.StructType(
                    [
                        T.StructField("_key", distinct.schema["_key"].dataType),
                        T.StructField("_code", T.LongType()),
                    ]
                )
            )
        )
        base = (
            base.withColumn("_key", key)
            .join(codes, on="_key", how="left")
            .drop("_key", "item")
            .withColumnRenamed("_code", "item")
        )
    else:
        base = base.withColumn("item", F.col("item").cast("long"))

    if partitions is None:
        partitions = max(
            spark.sparkContext.defaultParallelism, math.ceil(n_rows / ROWS_PER_PARTITION)
        )
    order = ["user"] + (["time"] if t else []) + ["_file", "_pos"]
    ready = (
        base.select("user", "item", *(["time"] if t else []), "_file", "_pos")
        .repartitionByRange(int(partitions), "user")
        .sortWithinPartitions(*order)
    )

    user_type = base.schema["user"].dataType
    fields = [T.StructField("user_id", user_type, True)]
    kinds = {"long": T.LongType(), "double": T.DoubleType(), "boolean": T.BooleanType()}
    fields += [T.StructField(name, kinds[kind], True) for name, kind in _PER_USER_NUMERIC]
    if companions and per_user_compression:
        fields.append(T.StructField("compression_ratio", T.DoubleType(), True))
    public = [f.name for f in fields]
    fields += [
        T.StructField("_rows", T.LongType(), True),
        T.StructField("_dups", T.LongType(), True),
        T.StructField("_kind", T.ByteType(), True),
        T.StructField("_item", T.LongType(), True),
        T.StructField("_count_all", T.LongType(), True),
        T.StructField("_count_tok", T.LongType(), True),
        T.StructField("_part", T.IntegerType(), True),
        T.StructField("_bytes", T.BinaryType(), True),
    ]
    out_schema = T.StructType(fields)
    import pyarrow as pa

    schema_arrow = pa.schema([pa.field(f.name, _arrow_type(f.dataType)) for f in fields])
    fn = _partition_function(
        m=m,
        max_len=max_len,
        signed=signed,
        companions=companions,
        per_user_compression=per_user_compression,
        has_time=t is not None,
        drop_duplicates=opt.drop_duplicates,
        schema_arrow=schema_arrow,
    )
    both = ready.mapInArrow(fn, out_schema).persist()
    users = both.filter(F.col("_kind") == 0)
    per_user = users.select(*public)

    agg = users.agg(
        F.count(F.lit(1)).alias("users"),
        F.sum("length").alias("tokens"),
        F.sum("_rows").alias("interactions"),
        F.sum("_dups").alias("duplicate_rows"),
        F.avg("apen").alias("apen_mean"),
        F.percentile(F.col("apen"), F.lit(0.5)).alias("apen_median"),
        F.avg("apen_prime").alias("apen_prime_mean"),
        F.sum(F.when(F.col("apen") > 0, F.col("length") * F.col("apen_prime"))).alias("d_user"),
        F.sum((F.col("apen") == 0).cast("long")).alias("zero"),
        F.sum(F.when(F.col("apen") == 0, F.col("length")).otherwise(0)).alias("zero_tokens"),
        F.sum((F.col("apen") <= 0).cast("long")).alias("excluded"),
        F.avg(F.when(F.col("length") >= m, F.col("no_repeat_window").cast("double"))).alias(
            "no_repeat_share"
        ),
        F.sum(((F.col("length") >= m) & ~F.col("no_repeat_window")).cast("long")).alias(
            "repeat_users"
        ),
        F.avg("shannon_entropy").alias("shannon_user_mean"),
        F.avg(F.when(F.col("length") >= 2, F.col("actual_entropy"))).alias("actual"),
        F.sum("distinct_items").alias("distinct"),
        F.min("length").alias("length_min"),
        F.avg("length").alias("length_mean"),
        F.percentile(F.col("length"), F.lit(0.5)).alias("length_median"),
        F.max("length").alias("length_max"),
    ).collect()[0]
    counts = (
        both.filter(F.col("_kind") == 1)
        .groupBy("_item")
        .agg(F.sum("_count_all").alias("a"), F.sum("_count_tok").alias("n"))
    )
    tokens = int(agg["tokens"] or 0)
    item_row = counts.agg(
        F.sum((F.col("a") > 0).cast("long")).alias("items"),
        F.sum(
            F.when(
                F.col("n") > 0,
                -(F.col("n") / F.lit(max(tokens, 1))) * F.log2(F.col("n") / F.lit(max(tokens, 1))),
            )
        ).alias("shannon"),
    ).collect()[0]

    nan = float("nan")
    apen_mean = float(agg["apen_mean"])
    aggregates = Aggregates(
        users=int(agg["users"]),
        items=int(item_row["items"] or 0),
        interactions=int(agg["interactions"]),
        tokens=tokens,
        duplicate_rows=int(agg["duplicate_rows"]),
        apen_mean=apen_mean,
        apen_median=float(agg["apen_median"]),
        apen_prime_mean=nan if agg["apen_prime_mean"] is None else float(agg["apen_prime_mean"]),
        d_prime_per_user=float(agg["d_user"] or 0.0),
        zero_apen_users=int(agg["zero"]),
        zero_apen_tokens=int(agg["zero_tokens"]),
        excluded_users=int(agg["excluded"]),
        no_repeat_share=nan if agg["no_repeat_share"] is None else float(agg["no_repeat_share"]),
        repeat_users=int(agg["repeat_users"] or 0),
        shannon_entropy=float(item_row["shannon"] or 0.0) + 0.0,
        shannon_entropy_user_mean=float(agg["shannon_user_mean"]),
        actual_entropy=float(agg["actual"]) if companions and agg["actual"] is not None else nan,
        distinct_items=int(agg["distinct"]),
        length_min=int(agg["length_min"]),
        length_mean=float(agg["length_mean"]),
        length_median=float(agg["length_median"]),
        length_max=int(agg["length_max"]),
    )
    compression = (
        _log_compression_ratio(both, opt.compression_chunks) if companions else NO_COMPRESSION
    )
    summary, notes = build_summary(
        aggregates, opt, label=label, compression=compression, seconds=time.perf_counter() - t0
    )
    if need_codes and integer_items and max_len is not None:
        notes.append(
            "item ids outside 0…2³²−1: the log-level compression ratio codes ids "
            "over the whole log, not over the last max_len tokens (may differ "
            "slightly from the in-memory engine)"
        )
    notes[:0] = id_notes
    summary["notes"] = notes
    summary.update(engine="spark", partitions=int(partitions))
    return SparkQualityReport(summary=summary, per_user=per_user, notes=notes, _cached=both)
