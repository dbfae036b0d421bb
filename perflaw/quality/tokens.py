"""Token maps: measure ApEn / D′ over coarser tokens than raw item ids.

On most logs no user repeats an item, so r = 0 ApEn over item ids is a function of
length alone (docs/science.md §2).  Behaviour can repeat at a coarser grain: a genre, a
popularity band, a cluster of items bought together.  A :class:`TokenMap` sends every
item id to such a token; it is computed once, here, from the whole log, and every
engine (memory, bounded, Spark) translates the item column through the same table
before it builds sequences, so the three engines measure the same token sequences.

Maps (:func:`build_token_map`):

* ``popularity:K`` — quantile buckets of item frequency (``pandas.qcut`` over the
  items' interaction counts; items with equal counts share a bucket, so a log with many
  ties gets fewer than K buckets, and the summary says how many);
* ``cluster:K`` — k-means (scikit-learn, seeded) on a truncated SVD of the sparse
  item–item co-occurrence of consecutive items in users' sequences;
* an attribute column (``token_col``): the item's value in that column, read from the
  log itself or from an item table joined by item id.

With a map, every measure (items, duplicates, Shannon entropy…) is over the tokens: the
log *is* the token log.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import polars as pl

from perflaw.errors import DataError

__all__ = ["TOKEN_KINDS", "TokenMap", "build_token_map", "parse_tokens"]

#: The computed maps ``--tokens KIND:K`` names.
TOKEN_KINDS = ("popularity", "cluster")
#: SVD dimensions for the co-occurrence clusters (capped by the number of items).
CLUSTER_DIMENSIONS = 32


@dataclass(frozen=True)
class TokenMap:
    """Item id -> token (int64, 1…n_tokens).

    Attributes
    ----------
    table : polars.DataFrame
        Columns ``item`` (the log's item ids, their type) and ``token`` (Int64).
    description : str
        What the map is, in words (shown in the summary as ``token_map``).
    """

    table: pl.DataFrame
    description: str

    @property
    def n_tokens(self) -> int:
        return int(self.table.get_column("token").n_unique())

    def apply(self, frame: pl.DataFrame, label: str | os.PathLike = "log") -> pl.DataFrame:
        """``frame`` (canonical columns, ``item`` among them) with each item replaced
        by its token; an item the map does not know is an error naming the count."""
        table = self.table
        dtype = frame.schema["item"]
        if table.schema["item"] != dtype:
            try:
                table = table.with_columns(pl.col("item").cast(dtype, strict=True))
            except Exception:  # noqa: BLE001 - ids of another kind: compare as text
                table = table.with_columns(pl.col("item").cast(pl.String))
                frame = frame.with_columns(pl.col("item").cast(pl.String))
        out = frame.join(table, on="item", how="left", maintain_order="left")
        missing = int(out.get_column("token").null_count())
        if missing:
            raise DataError(
                f"{label}: {missing} row(s) have an item id the token map "
                f"({self.description}) does not cover"
            )
        return out.with_columns(pl.col("token").alias("item")).drop("token")


def parse_tokens(spec: str) -> tuple[str, int]:
    """``"popularity:10"`` -> ``("popularity", 10)``; a clear error otherwise.

    Examples
    --------
    >>> parse_tokens("cluster:50")
    ('cluster', 50)
    """
    kind, _, k = str(spec).partition(":")
    kind = kind.strip().lower()
    if kind not in TOKEN_KINDS or not k.strip().isdigit() or int(k) < 1:
        raise DataError(
            f"--tokens must be popularity:K or cluster:K with K a positive integer, got {spec!r}"
        )
    return kind, int(k)


def build_token_map(
    frame: pl.DataFrame,
    tokens: str | None = None,
    *,
    attribute: pl.DataFrame | None = None,
    token_col: str | None = None,
    seed: int = 0,
) -> TokenMap:
    """The token map of a log.

    Parameters
    ----------
    frame : polars.DataFrame
        The canonical log (columns ``user``, ``item`` and optionally ``time``, as
        :func:`perflaw.io.read_log` gives it).
    tokens : str, optional
        ``popularity:K`` or ``cluster:K``.
    attribute : polars.DataFrame, optional
        Columns ``item`` and ``token_col``: one attribute value per item (the first
        value is used when an item has several).  Used when ``tokens`` is None.
    token_col : str, optional
        The attribute's name (for the description).
    seed : int
        Seed of the SVD and k-means (``cluster``).

    Examples
    --------
    >>> log = pl.DataFrame({"user": [1, 1, 1, 1, 2, 2, 2, 2, 2],
    ...                     "item": [5, 5, 6, 7, 5, 5, 6, 6, 8]})
    >>> tm = build_token_map(log, "popularity:2")
    >>> sorted(tm.table.rows())  # items 5 and 6 (4 and 3 events) above 7 and 8 (1 each)
    [(5, 2), (6, 2), (7, 1), (8, 1)]
    >>> build_token_map(log.head(5), "popularity:2").description  # counts 3, 1, 1: one edge
    'popularity:2 (1 quantile buckets of item frequency; items with equal counts share a bucket)'
    """
    if (tokens is None) == (attribute is None):
        raise DataError("give either --tokens or --token-col, not both or neither")
    if attribute is not None:
        return _attribute_map(frame, attribute, token_col or "attribute")
    kind, k = parse_tokens(tokens or "")
    if kind == "popularity":
        return _popularity_map(frame, k)
    return _cluster_map(frame, k, seed)


def _popularity_map(frame: pl.DataFrame, k: int) -> TokenMap:
    import pandas as pd

    counts = frame.group_by("item").len().sort("item")
    bucket = pd.qcut(counts.get_column("len").to_numpy(), k, labels=False, duplicates="drop")
    table = counts.select("item").with_columns(
        token=pl.Series(np.asarray(bucket, np.int64) + 1, dtype=pl.Int64)
    )
    got = int(table.get_column("token").n_unique())
    desc = f"popularity:{k} ({got} quantile buckets of item frequency"
    desc += ")" if got == k else "; items with equal counts share a bucket)"
    return TokenMap(table, desc)


def _cluster_map(frame: pl.DataFrame, k: int, seed: int) -> TokenMap:
    try:
        from scipy import sparse
        from sklearn.cluster import KMeans
        from sklearn.decomposition import TruncatedSVD
        from sklearn.preprocessing import normalize
    except ImportError:  # pragma: no cover - scikit-learn is a core dependency
        raise DataError(
            "--tokens cluster:K needs scikit-learn (pip install scikit-learn)"
        ) from None
    items = frame.select("item").unique().sort("item").with_row_index("code")
    n = items.height
    if k > n:
        raise DataError(f"--tokens cluster:{k}: the log has only {n} items")
    order = ["user", "time"] if "time" in frame.columns else ["user"]
    coded = (
        frame.with_row_index("_row")
        .sort([*order, "_row"])
        .join(items, on="item", how="left", maintain_order="left")
    )
    user = coded.get_column("user")
    code = coded.get_column("code").cast(pl.Int64).to_numpy()
    same = (user == user.shift(1)).fill_null(False).to_numpy()
    a, b = code[:-1][same[1:]], code[1:][same[1:]]
    # consecutive items of one user, both directions: who-follows-whom, symmetrised
    rows, cols = np.concatenate([a, b]), np.concatenate([b, a])
    co = sparse.coo_matrix((np.ones(len(rows)), (rows, cols)), shape=(n, n)).tocsr()
    co.data = np.log1p(co.data)  # dampen the few very frequent pairs
    dims = max(1, min(CLUSTER_DIMENSIONS, n - 1))
    if co.nnz and n > 1:
        emb = TruncatedSVD(n_components=dims, random_state=seed).fit_transform(co)
    else:
        emb = np.zeros((n, 1))
    emb = normalize(emb)
    labels = KMeans(n_clusters=k, n_init=4, random_state=seed).fit_predict(emb)
    table = items.select("item").with_columns(token=pl.Series(labels.astype(np.int64) + 1))
    got = int(table.get_column("token").n_unique())
    return TokenMap(
        table,
        f"cluster:{k} ({got} k-means clusters of a {dims}-dimensional SVD of item "
        f"co-occurrence, seed {seed})",
    )


def _attribute_map(frame: pl.DataFrame, attribute: pl.DataFrame, name: str) -> TokenMap:
    if attribute.get_column(name).null_count():
        raise DataError(f"token column {name!r} has {attribute[name].null_count()} null value(s)")
    first = attribute.select("item", name).unique(subset="item", keep="first", maintain_order=True)
    coded = first.with_columns(token=pl.col(name).cast(pl.String).rank("dense").cast(pl.Int64))
    items = frame.select("item").unique()
    known = items.join(coded.select("item"), on="item", how="semi").height
    if known < items.height:
        raise DataError(
            f"token column {name!r}: {items.height - known} of the log's {items.height} "
            "items have no value"
        )
    table = coded.select("item", "token")
    return TokenMap(
        table, f"column {name} ({int(table.get_column('token').n_unique())} distinct values)"
    )


def read_attribute(
    path: str | os.PathLike, token_col: str, item_col: str | None = None
) -> pl.DataFrame:
    """Columns ``item`` and ``token_col`` of a log or item table (found by name)."""
    from perflaw.io import ITEM_NAMES, _read_raw, detect_format, find_any, find_column

    path = Path(path)
    if not path.exists():
        raise DataError(f"{path}: no such file")
    raw = _read_raw(path, detect_format(path))
    col = find_column(raw.columns, token_col, source=path, option="--token-col")
    item: str | None = (
        find_column(raw.columns, item_col, source=path, option="--item-col")
        if item_col is not None
        else find_any(raw.columns, ITEM_NAMES, source=path, option="--item-col", what="item column")
    )
    if item is None:
        raise DataError(f"{path}: no item column found among {', '.join(raw.columns)}")
    return raw.select(pl.col(item).alias("item"), pl.col(col).alias(token_col))


def token_map_for_log(
    path: str | os.PathLike,
    tokens: str | None = None,
    *,
    token_col: str | None = None,
    item_table: str | os.PathLike | None = None,
    user_col: str | None = None,
    item_col: str | None = None,
    time_col: str | None = None,
    drop_null_ids: bool = False,
    seed: int = 0,
) -> TokenMap:
    """The token map of the log at ``path`` (a file, or a folder of parquet files).

    ``tokens`` names a computed map; ``token_col`` an attribute column, read from
    ``item_table`` (joined by item id) when given, else from the log itself.  The map is
    built in memory from the log's (user, item, time) columns, once, whichever engine
    then measures the log.
    """
    from perflaw.io import canonical_frame, read_log

    if tokens is None and token_col is None:
        raise DataError("a token map needs --tokens or --token-col")
    if tokens is not None and token_col is not None:
        raise DataError("give --tokens or --token-col, not both")
    if item_table is not None and token_col is None:
        raise DataError("--item-table needs --token-col (the attribute column to read)")
    path = Path(path)
    if path.is_dir():
        files = sorted(str(p) for p in path.rglob("*.parquet"))
        if not files:
            raise DataError(f"{path}: no parquet files in the folder")
        try:
            raw = pl.read_parquet(files)
        except Exception as exc:  # noqa: BLE001
            raise DataError(f"{path}: cannot read as parquet: {exc}") from None
        frame = canonical_frame(
            raw,
            path,
            user_col=user_col,
            item_col=item_col,
            time_col=time_col,
            drop_null_ids=drop_null_ids,
        )
    else:
        frame = read_log(
            path,
            user_col=user_col,
            item_col=item_col,
            time_col=time_col,
            drop_null_ids=drop_null_ids,
        )
    attribute = None
    if token_col is not None:
        source = item_table if item_table is not None else path
        if Path(source).is_dir():
            raise DataError(f"{source}: give --token-col an item table file (--item-table)")
        attribute = read_attribute(source, token_col, item_col if item_table is None else None)
    return build_token_map(frame, tokens, attribute=attribute, token_col=token_col, seed=seed)
