"""Reading interaction logs into a canonical polars frame (columns user, item, time).

Formats, chosen by extension (or ``fmt``):

* ``.parquet`` / ``.pq`` -- any parquet file;
* ``.csv`` (comma) and ``.tsv`` (tab), with a header row;
* ``.inter`` -- RecBole atomic files: tab separated, typed header such as
  ``user_id:token	item_id:token	timestamp:float``;
* ``.txt`` / ``.dat`` -- SASRec-style text without header: either ``user item`` per line
  (file order is the sequence order) or ``user item1 item2 …`` per line;
* any of the text formats compressed: ``.gz``, ``.bz2``, ``.zst`` after the format's own
  suffix (``log.csv.gz``), decompressed up to a limit (:mod:`perflaw.limits`).

Columns are found by name (case-insensitive; see :data:`USER_NAMES` and friends) or
given explicitly.  Without a time column the file order is the sequence order.

Ids are taken as they are (:func:`check_ids`, used by every engine): integer ids keep
their exact value at any width (unsigned 64-bit and 128-bit included), string-like ids
are labels; float ids are accepted only when every value is a whole number below
2^53 in size (where a float is still exact), and are then used as integers; null or NaN ids
are an error naming the column and the count, or are dropped and counted with
``drop_null_ids``.  Nested (list, struct) id columns are refused, and so are
time-of-day time columns.  Text files must be UTF-8 (a UTF-8 byte-order mark is fine);
UTF-16/32 files are refused with their encoding named.
"""

from __future__ import annotations

import io
import os
from pathlib import Path

import numpy as np
import polars as pl

# the id and time checks live beside this module; their names stay importable here
from perflaw._column_checks import (  # noqa: F401
    FLOAT_EXACT,
    _time_as_number,
    check_ids,
    missing_ids,
)
from perflaw.errors import DataError

USER_NAMES = ("user_id", "userid", "user", "uid", "user_idx", "visitor_id", "session_id")
ITEM_NAMES = (
    "item_id",
    "itemid",
    "item",
    "iid",
    "item_idx",
    "movie_id",
    "movieid",
    "product_id",
    "artist_id",
    "track_id",
    "video_id",
)
TIME_NAMES = ("timestamp", "time", "ts", "datetime", "event_time", "date", "unix_time")
POSITION_NAMES = ("position", "pos", "seq_pos", "order")

FORMATS = {
    ".parquet": "parquet",
    ".pq": "parquet",
    ".csv": "csv",
    ".tsv": "tsv",
    ".inter": "inter",
    ".txt": "text",
    ".dat": "text",
}


def detect_format(path: Path) -> str:
    from perflaw.limits import COMPRESSIONS

    suffix = path.suffix.lower()
    if suffix in COMPRESSIONS:  # log.csv.gz: the format of what is inside
        inner = Path(path.stem).suffix.lower()
        fmt = FORMATS.get(inner)
        if fmt is None or fmt == "parquet":
            raise DataError(
                f"{path}: a {suffix} file holding {inner or 'no known format'!r}; perflaw "
                f"reads compressed {', '.join(k for k, v in FORMATS.items() if v != 'parquet')}"
                f" logs ({', '.join(COMPRESSIONS)}); parquet compresses its own columns"
            )
        return fmt
    fmt = FORMATS.get(suffix)
    if fmt is None:
        known = ", ".join(sorted(FORMATS))
        raise DataError(f"{path}: unknown log format {path.suffix!r} (known: {known})")
    return fmt


def _one_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return text[0] if text else type(exc).__name__


def _check_encoding(path: Path, head: bytes | None = None) -> None:
    """Refuse text that is not UTF-8 before a parser turns it into nonsense columns
    (``head``: the text's first bytes, when they are not the file's own)."""
    if head is None:
        try:
            with open(path, "rb") as fh:
                head = fh.read(4096)
        except OSError:
            return  # the reader reports it
    head = head[:4096]
    boms = (
        (b"\x00\x00\xfe\xff", "UTF-32 (big-endian)"),
        (b"\xff\xfe\x00\x00", "UTF-32 (little-endian)"),
        (b"\xfe\xff", "UTF-16 (big-endian)"),
        (b"\xff\xfe", "UTF-16 (little-endian)"),
    )
    for bom, name in boms:
        if head.startswith(bom):
            raise DataError(
                f"{path}: the file is encoded as {name}; perflaw reads UTF-8 "
                f"text: re-save it as UTF-8 (e.g. iconv -f UTF-16 -t UTF-8)"
            )
    if b"\x00" in head:
        kind = (
            "UTF-16 without a byte-order mark"
            if head[1::2].count(0) > len(head) // 4 or head[0::2].count(0) > len(head) // 4
            else "binary data"
        )
        raise DataError(
            f"{path}: the file looks like {kind}, not UTF-8 text; re-save it "
            "as UTF-8 or give a parquet file"
        )


def _read_raw(path: Path, fmt: str) -> pl.DataFrame:
    from perflaw.limits import COMPRESSIONS, check_parquet_fits, decompress

    source: Path | io.BytesIO = path
    codec = COMPRESSIONS.get(path.suffix.lower())
    if codec is not None and fmt != "parquet":
        data = decompress(path, codec)
        _check_encoding(path, data[:4096])
        source = io.BytesIO(data)
    elif fmt in ("csv", "tsv", "inter", "text"):
        _check_encoding(path)
    if fmt == "parquet":
        check_parquet_fits(
            path, "measure it in bounded memory (perflaw apen --memory-limit) or elsewhere"
        )
    try:
        if fmt == "parquet":
            return pl.read_parquet(source, glob=False)  # log[1].parquet is a name
        if fmt in ("csv", "tsv"):
            return pl.read_csv(
                source,
                separator="," if fmt == "csv" else "\t",
                infer_schema_length=10_000,
                glob=False,
            )
        if fmt == "inter":
            frame = pl.read_csv(
                source, separator="\t", infer_schema_length=10_000, quote_char=None, glob=False
            )
            return frame.rename({c: c.split(":", 1)[0] for c in frame.columns})
        if fmt == "text":
            return _read_sasrec_text(path, source)
    except DataError:
        raise
    except (pl.exceptions.NoDataError, pl.exceptions.ShapeError) as exc:
        raise DataError(f"{path}: empty file ({_one_line(exc)})") from None
    except Exception as exc:  # noqa: BLE001 - polars/arrow raise many kinds for bad files
        raise DataError(f"{path}: cannot read as {fmt}: {_one_line(exc)}") from None
    raise DataError(f"{path}: unknown format {fmt!r}")  # pragma: no cover


def _read_sasrec_text(path: Path, source: Path | io.BytesIO | None = None) -> pl.DataFrame:
    lines = pl.read_csv(
        path if source is None else source,
        has_header=False,
        new_columns=["line"],
        separator="\x1f",
        quote_char=None,
        glob=False,
        schema_overrides={"line": pl.String},
    )
    # tokens are runs of non-whitespace: double spaces, tabs and trailing blanks add no
    # phantom empty items
    tokens = lines.select(pl.col("line").str.extract_all(r"\S+").alias("tok"))
    tokens = tokens.filter(pl.col("tok").list.len() > 0)
    widths = tokens.select(pl.col("tok").list.len()).to_series()
    short = np.flatnonzero(widths.to_numpy() < 2)
    if short.size:
        first = int(short[0])
        raise DataError(
            f"{path}: SASRec text needs 'user item…' (separated by spaces or "
            f"tabs) on every line; non-empty line {first + 1} has one token"
        )
    frame = tokens.select(
        pl.col("tok").list.first().alias("user_id"),
        pl.col("tok").list.slice(1).alias("item_id"),
    ).explode("item_id")
    for col in ("user_id", "item_id"):
        as_int = frame.get_column(col).cast(pl.Int64, strict=False)
        if as_int.null_count() == 0:
            frame = frame.with_columns(as_int.alias(col))
    return frame


def find_column(
    columns, name: str, *, source=None, option: str | None = None, what: str = "column"
) -> str:
    """The column called ``name`` -- the one lookup every table reader uses.

    An exact match wins; otherwise the match ignoring case (``Layers`` finds ``layers``).
    Two columns differing only in case are ambiguous unless one matches exactly.

    Parameters
    ----------
    columns : iterable of str
        The table's column names.
    name : str
        The name asked for.
    source : str or path, optional
        The table, for the message (``runs.csv: …``).
    option : str, optional
        The option that named the column (``--layers-col``), for the message.
    what : str
        What the column is (``"metric"``, ``"layers column"``…), for the message.

    Raises
    ------
    DataError
        No such column, naming the columns there are; or an ambiguous one.

    Examples
    --------
    >>> find_column(["user_id", "Layers"], "layers")
    'Layers'
    >>> find_column(["a", "b"], "c", source="runs.csv", option="--x-col")
    Traceback (most recent call last):
    ...
    perflaw.errors.DataError: runs.csv: column 'c' (--x-col) not found; columns are a, b
    """
    columns = [str(c) for c in columns]
    if name in columns:
        return name
    matches = [c for c in columns if c.lower() == str(name).lower()]
    where = f"{source}: " if source is not None else ""
    named = f" ({option})" if option else ""
    if len(matches) > 1:
        raise DataError(
            f"{where}{what} {name!r}{named} is ambiguous: {', '.join(matches)} differ only in case"
        )
    if not matches:
        raise DataError(
            f"{where}{what} {name!r}{named} not found; columns are {', '.join(columns) or 'none'}"
        )
    return matches[0]


def find_any(
    columns, names, *, source=None, option: str | None = None, what: str = "column"
) -> str | None:
    """The column whose name (ignoring case) is one of ``names``, or None.

    Raises
    ------
    DataError
        When several of ``names`` are present (say which, and which option chooses).

    Examples
    --------
    >>> find_any(["UserId", "item"], USER_NAMES)
    'UserId'
    """
    lower = {str(c).lower(): str(c) for c in columns}
    found = [lower[n] for n in names if n in lower]
    if len(found) > 1:
        where = f"{source}: " if source is not None else ""
        raise DataError(f"{where}ambiguous {what} ({', '.join(found)}); choose one with {option}")
    return found[0] if found else None


def parse_list(
    text, kind: type = int, *, what: str = "list", positive: bool = False, ranges: bool = True
) -> list:
    """Values from ``"8,16,32"``, inclusive ranges ``"4:32"`` / ``"16:1024:16"`` (integers),
    or a mix (``"1,2,4:8:2"``) -- the one list syntax of every option that takes several
    values (``--layers``, ``--d-emb``, ``--seeds``…).

    Parameters
    ----------
    text : str, or a list/tuple of values
        What the user wrote (a list is converted item by item).
    kind : type
        ``int``, ``float`` or ``str``.  Integers may be written ``1e3`` but must be whole.
    what : str
        The option, for the message (``"--layers"``).
    positive : bool
        Every value must be > 0.
    ranges : bool
        Accept ``a:b[:step]`` items (integers only).

    Raises
    ------
    DataError
        One line naming the option, the text and the accepted syntax.

    Examples
    --------
    >>> parse_list("4:12:4"), parse_list("8, 16"), parse_list("1,2,4:8:2")
    ([4, 8, 12], [8, 16], [1, 2, 4, 6, 8])
    >>> parse_list("0.1,0.5", float), parse_list("sasrec,hstu", str)
    ([0.1, 0.5], ['sasrec', 'hstu'])
    """
    syntax = "'a,b,c'" + (" or 'a:b[:step]'" if ranges and kind is int else "")
    items = (
        list(text) if isinstance(text, (list, tuple)) else [p.strip() for p in str(text).split(",")]
    )
    if not [p for p in items if str(p).strip()]:
        raise DataError(f"{what} {text!r} is empty; use {syntax}")
    values: list = []
    try:
        for item in items:
            if isinstance(item, str) and not item.strip():
                raise ValueError
            if ranges and kind is int and isinstance(item, str) and ":" in item:
                parts = [_whole(p) for p in item.split(":")]
                if len(parts) not in (2, 3):
                    raise ValueError
                lo, hi, step = parts[0], parts[1], parts[2] if len(parts) == 3 else 1
                if step <= 0 or hi < lo:
                    raise ValueError
                values.extend(range(lo, hi + 1, step))
            elif kind is int:
                values.append(_whole(item))
            elif kind is float:
                values.append(float(item))
            else:
                values.append(kind(str(item).strip()))
    except (ValueError, TypeError, OverflowError):
        raise DataError(f"cannot parse {what} {text!r}: use {syntax}") from None
    if positive and any(v <= 0 for v in values):
        raise DataError(f"{what} {text!r} must list positive numbers")
    return values


def _whole(text) -> int:
    value = float(text)
    if not value.is_integer():
        raise ValueError(text)
    return int(value) if abs(value) < 2**53 else int(str(text).strip())


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
            try:
                return find_column(cols, given, source=path, option=option)
            except DataError:
                raise DataError(
                    f"{path}: no column {given!r} ({option}); columns are {', '.join(cols)}"
                ) from None
        found = find_any(cols, names, source=path, option=option, what=f"{role} column")
        if found is None and required:
            raise DataError(
                f"{path}: no {role} column found among {', '.join(cols)}; name it with {option}"
            )
        return found

    u = resolve(user_col, USER_NAMES, "user", "--user-col")
    i = resolve(item_col, ITEM_NAMES, "item", "--item-col")
    t = resolve(time_col, TIME_NAMES, "time", "--time-col", required=False)
    if t is None and time_col is None:
        t = find_any(cols, POSITION_NAMES, source=path, option="--time-col", what="position column")
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
    drop_null_ids: bool = False,
    notes: list | None = None,
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
    drop_null_ids : bool
        Drop rows whose user or item id is null/NaN (counted in ``notes``) instead of
        refusing the log.
    notes : list, optional
        Receives one line per adjustment made (rows dropped).

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
    return canonical_frame(
        _read_raw(path, fmt),
        path,
        user_col=user_col,
        item_col=item_col,
        time_col=time_col,
        drop_null_ids=drop_null_ids,
        notes=notes,
    )


def canonical_frame(
    raw: pl.DataFrame,
    label: str | os.PathLike,
    *,
    user_col: str | None = None,
    item_col: str | None = None,
    time_col: str | None = None,
    drop_null_ids: bool = False,
    notes: list | None = None,
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

    frame = check_ids(frame, path, {"user": u, "item": i}, drop_null_ids=drop_null_ids, notes=notes)
    if t is not None:
        frame = frame.with_columns(_time_as_number(frame.get_column("time"), path, t))
    return frame
