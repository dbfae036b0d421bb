"""Reading interaction logs into a canonical polars frame (columns user, item, time).

Formats, chosen by extension (or ``fmt``):

* ``.parquet`` / ``.pq`` -- any parquet file;
* ``.csv`` (comma) and ``.tsv`` (tab), with a header row;
* ``.inter`` -- RecBole atomic files: tab separated, typed header such as
  ``user_id:token	item_id:token	timestamp:float``;
* ``.txt`` / ``.dat`` -- SASRec-style text without header: either ``user item`` per line
  (file order is the sequence order) or ``user item1 item2 …`` per line.

Columns are found by name (case-insensitive; see :data:`USER_NAMES` and friends) or
given explicitly.  Without a time column the file order is the sequence order.
"""

from __future__ import annotations

import os
from pathlib import Path

import polars as pl

from perflaw.errors import DataError

USER_NAMES = ("user_id", "userid", "user", "uid", "user_idx", "visitor_id", "session_id")
ITEM_NAMES = ("item_id", "itemid", "item", "iid", "item_idx", "movie_id", "movieid",
              "product_id", "artist_id", "track_id", "video_id")
TIME_NAMES = ("timestamp", "time", "ts", "datetime", "event_time", "date", "unix_time")
POSITION_NAMES = ("position", "pos", "seq_pos", "order")

FORMATS = {
    ".parquet": "parquet", ".pq": "parquet", ".csv": "csv", ".tsv": "tsv",
    ".inter": "inter", ".txt": "text", ".dat": "text",
}


def detect_format(path: Path) -> str:
    fmt = FORMATS.get(path.suffix.lower())
    if fmt is None:
        known = ", ".join(sorted(FORMATS))
        raise DataError(f"{path}: unknown log format {path.suffix!r} (known: {known})")
    return fmt


def _one_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return text[0] if text else type(exc).__name__


def _read_raw(path: Path, fmt: str) -> pl.DataFrame:
    try:
        if fmt == "parquet":
            return pl.read_parquet(path)
        if fmt in ("csv", "tsv"):
            return pl.read_csv(path, separator="," if fmt == "csv" else "\t",
                               infer_schema_length=10_000)
        if fmt == "inter":
            frame = pl.read_csv(path, separator="\t", infer_schema_length=10_000,
                                quote_char=None)
            return frame.rename({c: c.split(":", 1)[0] for c in frame.columns})
        if fmt == "text":
            return _read_sasrec_text(path)
    except DataError:
        raise
    except (pl.exceptions.NoDataError, pl.exceptions.ShapeError) as exc:
        raise DataError(f"{path}: empty file ({_one_line(exc)})") from None
    except Exception as exc:  # noqa: BLE001 - polars/arrow raise many kinds for bad files
        raise DataError(f"{path}: cannot read as {fmt}: {_one_line(exc)}") from None
    raise DataError(f"{path}: unknown format {fmt!r}")  # pragma: no cover


def _read_sasrec_text(path: Path) -> pl.DataFrame:
    lines = pl.read_csv(path, has_header=False, new_columns=["line"], separator="\x1f",
                        quote_char=None, schema_overrides={"line": pl.String})
    tokens = lines.select(pl.col("line").str.strip_chars().str.split(" ").alias("tok"))
    tokens = tokens.filter(pl.col("tok").list.len() > 0)
    widths = tokens.select(pl.col("tok").list.len()).to_series()
    if widths.len() and widths.min() < 2:
        raise DataError(f"{path}: SASRec text needs 'user item…' on every line")
    frame = tokens.select(
        pl.col("tok").list.first().alias("user_id"),
        pl.col("tok").list.slice(1).alias("item_id"),
    ).explode("item_id")
    for col in ("user_id", "item_id"):
        as_int = frame.get_column(col).cast(pl.Int64, strict=False)
        if as_int.null_count() == 0:
            frame = frame.with_columns(as_int.alias(col))
    return frame


def _pick(columns: list[str], names: tuple[str, ...], role: str, path: Path,
          option: str) -> str | None:
    lower = {c.lower(): c for c in columns}
    found = [lower[n] for n in names if n in lower]
    if len(found) > 1:
        raise DataError(
            f"{path}: ambiguous {role} column ({', '.join(found)}); choose one with {option}"
        )
    return found[0] if found else None


def resolve_columns(
    cols: list[str],
    path: Path,
    user_col: str | None = None,
    item_col: str | None = None,
    time_col: str | None = None,
) -> tuple[str, str, str | None]:
    """The (user, item, time) column names of a table with columns ``cols``.

    Given names must exist; omitted ones are found by name (time falls back to a
    position column, and may be absent).
    """

    def resolve(given: str | None, names, role, option, required=True):
        if given is not None:
            if given not in cols:
                raise DataError(f"{path}: no column {given!r} ({option}); columns are "
                                f"{', '.join(cols)}")
            return given
        found = _pick(cols, names, role, path, option)
        if found is None and required:
            raise DataError(f"{path}: no {role} column found among {', '.join(cols)}; "
                            f"name it with {option}")
        return found

    u = resolve(user_col, USER_NAMES, "user", "--user-col")
    i = resolve(item_col, ITEM_NAMES, "item", "--item-col")
    t = resolve(time_col, TIME_NAMES, "time", "--time-col", required=False)
    if t is None and time_col is None:
        t = _pick(cols, POSITION_NAMES, "position", path, "--time-col")
    if len({u, i, t} - {None}) < (3 if t else 2):
        raise DataError(f"{path}: the user, item and time columns must differ")
    return u, i, t


def read_log(
    path: str | os.PathLike,
    *,
    user_col: str | None = None,
    item_col: str | None = None,
    time_col: str | None = None,
    fmt: str | None = None,
) -> pl.DataFrame:
    """Read an interaction log into columns ``user``, ``item`` and (if any) ``time``.

    Parameters
    ----------
    path : path-like
        A log file (see the module docstring for formats).
    user_col, item_col, time_col : str, optional
        Column names; found by name when omitted.  ``time_col`` may name a timestamp
        or a position column; without one the file order is the sequence order.
    fmt : str, optional
        Force a format: parquet, csv, tsv, inter, text.

    Raises
    ------
    DataError
        One line naming the file and the column or value at fault.

    Examples
    --------
    >>> frame = read_log("data/ml-latest-small.parquet")
    >>> frame.columns, frame.height
    (['user', 'item', 'time'], 100004)
    """
    path = Path(path)
    if path.is_dir():
        raise DataError(f"{path}: is a directory; pass log files (a glob such as {path}/*.parquet)")
    if not path.exists():
        raise DataError(f"{path}: no such file")
    fmt = fmt or detect_format(path)
    return canonical_frame(_read_raw(path, fmt), path, user_col=user_col, item_col=item_col,
                           time_col=time_col)


def canonical_frame(
    raw: pl.DataFrame,
    label: str | os.PathLike,
    *,
    user_col: str | None = None,
    item_col: str | None = None,
    time_col: str | None = None,
) -> pl.DataFrame:
    """Columns ``user``, ``item`` and (if any) numeric ``time`` of a table already in memory.

    The same detection and checks as :func:`read_log`; ``label`` names the table in errors.
    """
    path = Path(label)
    if raw.height == 0:
        raise DataError(f"{path}: no rows")
    u, i, t = resolve_columns(raw.columns, path, user_col, item_col, time_col)

    select = [pl.col(u).alias("user"), pl.col(i).alias("item")]
    if t is not None:
        select.append(pl.col(t).alias("time"))
    frame = raw.select(select)

    for role, col in (("user", u), ("item", i)):
        nulls = frame.get_column(role).null_count()
        if nulls:
            raise DataError(f"{path}: column {col!r} has {nulls} null {role} id(s)")
    if t is not None:
        frame = frame.with_columns(_time_as_number(frame.get_column("time"), path, t))
    return frame


def _time_as_number(time: pl.Series, path: Path, col: str) -> pl.Series:
    dtype = time.dtype
    if dtype.is_temporal():
        time = time.cast(pl.Datetime("us")) if dtype == pl.Date else time
        time = time.dt.epoch("us") if time.dtype != pl.Duration else time.cast(pl.Int64)
    elif not dtype.is_numeric():
        raise DataError(f"{path}: time column {col!r} is not numeric (type {dtype}); "
                        "give a numeric timestamp or position")
    nulls = time.null_count()
    if time.dtype.is_float():
        nulls += int(time.is_nan().sum())
    if nulls:
        raise DataError(f"{path}: time column {col!r} has {nulls} missing value(s) (null/NaN)")
    return time.alias("time")
