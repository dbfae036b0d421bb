"""The checks every engine applies to a log's id and time columns (:mod:`perflaw.io`
describes the rules): ids taken as they are, whole floats made exact integers, null ids
refused or dropped, time columns made numbers."""

from __future__ import annotations

from pathlib import Path

import polars as pl

from perflaw.errors import DataError

#: Floats represent every integer exactly below 2^53; from 2^53 on neighbouring ids merge
#: (2^53 + 1 is read as 2^53 itself, so 2^53 is refused too).
FLOAT_EXACT = 2**53


def _id_type_error(dtype) -> str | None:
    if isinstance(dtype, (pl.List, pl.Array)):
        return "lists"
    if isinstance(dtype, pl.Struct):
        return "structs"
    if dtype in (pl.Object, pl.Null, pl.Binary):
        return {pl.Object: "Python objects", pl.Null: "only nulls", pl.Binary: "binary values"}[
            dtype
        ]
    return None


def missing_ids(series: pl.Series) -> pl.Series:
    """Boolean mask of null ids, and of NaN ids in a float column."""
    mask = series.is_null()
    if series.dtype.is_float():
        mask = mask | series.is_nan().fill_null(False)
    return mask


def check_ids(
    frame: pl.DataFrame,
    label,
    columns: dict[str, str],
    *,
    drop_null_ids: bool = False,
    notes: list | None = None,
) -> pl.DataFrame:
    """Check the id columns of a canonical frame and make float ids exact integers.

    Every engine calls this on what it reads (the bounded engine batch by batch).

    Parameters
    ----------
    frame : polars.DataFrame
        With columns ``user`` and ``item``.
    label : str or path
        Names the log in errors.
    columns : dict
        ``{"user": original column name, "item": ...}`` for messages.
    drop_null_ids : bool
        Drop rows with a null/NaN user or item id instead of refusing them.
    notes : list, optional
        Gets one line saying how many rows were dropped.

    Raises
    ------
    DataError
        Nested or binary id columns; null/NaN ids (unless dropped); float ids with a
        fractional part or beyond ±2^53.

    Examples
    --------
    >>> frame = pl.DataFrame({"user": [1.0, 2.0, None], "item": [7, 8, 9]})
    >>> check_ids(frame, "log.csv", {"user": "uid", "item": "iid"})
    Traceback (most recent call last):
    ...
    perflaw.errors.DataError: log.csv: column 'uid' has 1 null/NaN user id(s); fix the log or ...
    >>> notes = []
    >>> check_ids(frame, "log.csv", {"user": "uid", "item": "iid"}, drop_null_ids=True,
    ...           notes=notes).get_column("user").to_list(), notes
    ([1, 2], ['dropped 1 row(s) with a null/NaN id (user: 1, item: 0)'])
    """
    masks = {}
    for role in ("user", "item"):
        series = frame.get_column(role)
        bad_type = _id_type_error(series.dtype)
        if bad_type is not None:
            raise DataError(
                f"{label}: {role} column {columns[role]!r} holds {bad_type} "
                f"(type {series.dtype}); ids must be integers or strings, one "
                "per row"
            )
        masks[role] = missing_ids(series)
    counts = {role: int(mask.sum()) for role, mask in masks.items()}
    if any(counts.values()):
        if not drop_null_ids:
            role = "user" if counts["user"] else "item"
            raise DataError(
                f"{label}: column {columns[role]!r} has {counts[role]} null/NaN "
                f"{role} id(s); fix the log or pass --drop-null-ids to drop "
                "those rows"
            )
        keep = ~(masks["user"] | masks["item"])
        dropped = frame.height - int(keep.sum())
        frame = frame.filter(keep)
        if notes is not None:
            notes.append(
                f"dropped {dropped} row(s) with a null/NaN id (user: "
                f"{counts['user']}, item: {counts['item']})"
            )
        if frame.height == 0:
            raise DataError(f"{label}: no rows left after dropping null/NaN ids")
    for role in ("user", "item"):
        series = frame.get_column(role)
        if series.dtype.is_float():
            frame = frame.with_columns(_float_ids(series, label, columns[role], role))
    return frame


def _float_ids(series: pl.Series, label, col: str, role: str) -> pl.Series:
    """Whole-number float ids below 2^53 in size as Int64; anything else is an error."""
    values = series.cast(pl.Float64)
    frac = (values != values.floor()) | values.is_infinite()
    if frac.any():
        bad = values.filter(frac)[0]
        raise DataError(
            f"{label}: {role} column {col!r} holds float ids with a fractional "
            f"part (e.g. {bad!r}); ids must be whole numbers or strings"
        )
    big = values.abs() >= FLOAT_EXACT
    if big.any():
        bad = values.filter(big)[0]
        raise DataError(
            f"{label}: {role} column {col!r} holds float ids of 2^53 or more (e.g. "
            f"{bad:.17g}), where distinct ids can become equal; store the ids "
            "as integers or strings"
        )
    return values.cast(pl.Int64).alias(series.name)


def _time_as_number(time: pl.Series, path: Path, col: str) -> pl.Series:
    dtype = time.dtype
    if dtype == pl.Time:
        raise DataError(
            f"{path}: time column {col!r} holds times of day without dates "
            "(type time), which do not order events across days; give a "
            "timestamp, a date-time or a position"
        )
    if dtype.is_temporal():
        time = time.cast(pl.Datetime("us")) if dtype == pl.Date else time
        time = time.dt.epoch("us") if time.dtype != pl.Duration else time.cast(pl.Int64)
    elif not dtype.is_numeric():
        raise DataError(
            f"{path}: time column {col!r} is not numeric (type {dtype}); "
            "give a numeric timestamp or position"
        )
    nulls = time.null_count()
    if time.dtype.is_float():
        nulls += int(time.is_nan().sum())
    if nulls:
        raise DataError(f"{path}: time column {col!r} has {nulls} missing value(s) (null/NaN)")
    return time.alias("time")
