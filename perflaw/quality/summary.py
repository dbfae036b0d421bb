"""The contract every quality engine follows: options, per-user table, summary, report.

The three engines (:mod:`~perflaw.quality.report` in memory,
:mod:`~perflaw.quality.bounded` in user-range chunks, :mod:`~perflaw.quality.spark` on a
cluster) differ only in how they get each user's events together.  Everything else is
here, once:

* :class:`MeasureOptions` -- the settings shared by every engine (validated once);
* :func:`per_user_table` -- the per-user measures of a batch of sequences (the Numba
  kernel, :func:`perflaw.quality._kernels.sequence_measures`), so every engine's per-user
  numbers are identical bit for bit;
* :data:`SUMMARY_KEYS` -- the dataset summary's keys, in order, with units and meaning;
* :class:`Aggregates` and :func:`build_summary` -- the totals an engine computes over its
  per-user table (numpy for local engines, Spark SQL for Spark) and the one function that
  turns them into the summary, with the plain-words notes;
* the log-level merges: item counts → Shannon entropy (:func:`shannon_from_counts`),
  and the compression ratio's pieces (:func:`compression_picks`,
  :func:`compression_stats`, :func:`log_compression_ratio`);
* :class:`QualityReport` -- what every engine returns.

Adding a measure: the kernel (``_kernels.py``, a :class:`~perflaw.quality._kernels.
KernelResult` field), its per-user column (:data:`PER_USER_COLUMNS`,
:func:`per_user_table`), its summary key (:data:`SUMMARY_KEYS`, an :class:`Aggregates`
field of the same name, computed in :func:`aggregate_per_user` and in the Spark
engine's one aggregation), and a test against a reference.

Policy for ApEn = 0 (constant sequences, sequences of length ≤ m and a few others):
ApEn′ = 1/ApEn would be infinite, so such sequences are **excluded from D′**, counted
in ``zero_apen_users`` and their tokens in ``zero_apen_tokens``; their ``apen_prime`` in
the per-user table is null.  With ``signed=True`` (Pincus' ApEn, negative for sequences
without a repeated window) every sequence with ApEn ≤ 0 is excluded the same way and
counted in ``excluded_users``.
"""

from __future__ import annotations

import dataclasses
import os
import zlib
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import polars as pl

from perflaw.errors import DataError
from perflaw.quality import DPRIME_MODES, _kernels
from perflaw.quality.entropy import MAX_LENGTH, apen_from_phi, check_m, pack_ids
from perflaw.sequences import Sequences

#: Tokens per chunk for the log-level compression ratio (as in the authors' scripts).
COMPRESSION_CHUNK = 10_000
#: A no-repeat share above this gets a plain-words note in the report.
NO_REPEAT_NOTE_THRESHOLD = 0.5
_BATCH_TOKENS = 2_000_000
#: The words that mark the length-only note (the CLI says it once for many logs).
LENGTH_ONLY = "a function of length alone"

#: The dataset summary's keys in order: ``key: (unit, meaning)``.  Every engine's
#: summary has exactly these keys, plus its own (``engine``, ``chunks``, ``partitions``…).
SUMMARY_KEYS: dict[str, tuple[str, str]] = {
    "file": ("", "the log measured"),
    "users": ("users", "users (sequences)"),
    "items": ("items", "distinct items in the log (tokens under a token map)"),
    "interactions": ("rows", "rows of the log (before max_len)"),
    "tokens": ("events", "events measured (after max_len: at most max_len per user)"),
    "m": ("", "ApEn window length"),
    "max_len": ("", "events kept per user (the model's maximum sequence length)"),
    "signed": ("", "Pincus' signed ApEn instead of the authors' |·|"),
    "token_map": ("", "what item ids were mapped to before measuring (none: raw item ids)"),
    "apen_mean": ("nats", "mean ApEn per user (r = 0); lower = more regular"),
    "apen_median": ("nats", "median ApEn per user"),
    "apen_prime_mean": ("1/nats", "mean ApEn′ = 1/ApEn over users with ApEn > 0"),
    "d_prime": ("events/nat", "quality-adjusted data size D′ (the mode chosen)"),
    "d_prime_mode": ("", "per-user: Σ|S|/ApEn(S); dataset: tokens / mean ApEn"),
    "d_prime_per_user": ("events/nat", "D′ = Σ_u |S_u| / ApEn(S_u) over users with ApEn > 0"),
    "d_prime_dataset": ("events/nat", "D′ = tokens / mean ApEn"),
    "zero_apen_users": ("users", "users with ApEn = 0 (excluded from D′)"),
    "zero_apen_tokens": ("events", "their tokens"),
    "excluded_users": ("users", "users excluded from D′ (ApEn ≤ 0)"),
    "no_repeat_share": ("", "share of users repeating no m-window (ApEn set by length alone)"),
    "repeat_users": ("users", "users repeating at least one m-window"),
    "shannon_entropy": ("bits", "entropy of the item distribution over all tokens"),
    "shannon_entropy_user_mean": ("bits", "mean per-user item entropy"),
    "actual_entropy": ("nats", "mean per-user Lempel-Ziv entropy rate"),
    "compression_ratio": ("", "zlib size / raw size of the token stream; lower = more regular"),
    "compression_ratio_se": ("", "its standard error when chunks are sampled"),
    "compression_chunks": ("", "10,000-token chunks compressed / in the log"),
    "repeat_share": ("", "share of tokens repeating an item the user had already seen"),
    "length_min": ("events", "shortest measured sequence"),
    "length_mean": ("events", "mean measured sequence length"),
    "length_median": ("events", "median measured sequence length"),
    "length_max": ("events", "longest measured sequence"),
    "duplicate_rows": ("rows", "exact duplicate rows in the log"),
    "seconds": ("s", "wall time"),
    "notes": ("", "plain-words caveats"),
}


#: The per-user table's measure columns (after ``user_id``) and their Spark SQL types;
#: :func:`per_user_table` makes them, the Spark engine declares its schema from them.
PER_USER_COLUMNS: dict[str, str] = {
    "length": "long",
    "apen": "double",
    "apen_prime": "double",
    "shannon_entropy": "double",
    "actual_entropy": "double",
    "distinct_items": "long",
    "repeat_share": "double",
    "no_repeat_window": "boolean",
}


@dataclass(frozen=True)
class MeasureOptions:
    """Settings shared by every quality engine.

    Parameters
    ----------
    m : int
        ApEn window length.
    max_len : int, optional
        Keep each user's last ``max_len`` items (the model's maximum sequence length).
    signed : bool
        Pincus' signed ApEn instead of the authors' absolute value.
    dprime : {"per-user", "dataset"}
        ``per-user``: D′ = Σ_u |S_u| / ApEn(S_u) over users with ApEn > 0.
        ``dataset``: D′ = tokens / mean ApEn (the paper's dataset-level form).
        Both are always in the summary (``d_prime_per_user``, ``d_prime_dataset``);
        ``d_prime`` is the one chosen.
    companions : bool
        Also compute the Lempel-Ziv entropy and the compression ratio.
    compression_chunks : int or None
        At most this many 10,000-token chunks are compressed for the log-level ratio
        (a seeded uniform sample, reported with its standard error); None compresses
        every chunk.
    per_user_compression : bool
        Add each user's compression ratio to the per-user table (zlib is slow: a few
        seconds per 10M tokens).
    user_col, item_col, time_col : str, optional
        Column names (found by name when omitted, see :mod:`perflaw.io`).
    drop_duplicates : bool
        Drop exact duplicate rows before measuring (they are counted either way).
    drop_null_ids : bool
        Drop rows whose user or item id is null or NaN (counted in the notes) instead of
        refusing the log (see :func:`perflaw.io.check_ids`).
    token_map : perflaw.quality.tokens.TokenMap, optional
        Measure over tokens instead of item ids: every engine translates the item
        column through this one map before building sequences
        (:mod:`perflaw.quality.tokens`).
    progress : bool
        Show a progress bar on stderr (local engines).

    Examples
    --------
    >>> MeasureOptions(m=1).max_len is None
    True
    >>> MeasureOptions.build(None, dprime="dataset").dprime
    'dataset'
    """

    m: int = 2
    max_len: int | None = None
    signed: bool = False
    dprime: str = "per-user"
    companions: bool = True
    compression_chunks: int | None = 100
    per_user_compression: bool = False
    user_col: str | None = None
    item_col: str | None = None
    time_col: str | None = None
    drop_duplicates: bool = False
    progress: bool = False
    drop_null_ids: bool = False
    token_map: Any = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "m", check_m(self.m))
        max_len = self.max_len
        if max_len is not None and (
            isinstance(max_len, bool) or int(max_len) != max_len or max_len < 1
        ):
            raise DataError(f"max_len must be a positive integer, got {max_len!r}")
        if max_len is not None and max_len > MAX_LENGTH:
            raise DataError(f"max_len must be at most {MAX_LENGTH}, got {max_len}")
        if self.dprime not in DPRIME_MODES:
            raise DataError(f"dprime must be one of {', '.join(DPRIME_MODES)}, got {self.dprime!r}")
        chunks = self.compression_chunks
        if chunks is not None and (int(chunks) != chunks or chunks < 1):
            raise DataError(
                f"compression_chunks must be a positive integer or None, got {chunks!r}"
            )

    @classmethod
    def build(cls, options: MeasureOptions | None = None, **changes: Any) -> MeasureOptions:
        """``options`` (or the defaults) with ``changes`` applied; unknown names fail."""
        names = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(changes) - names)
        if unknown:
            raise TypeError(
                f"unknown measure option(s): {', '.join(unknown)} "
                f"(options: {', '.join(sorted(names))})"
            )
        base = options if options is not None else cls()
        return dataclasses.replace(base, **changes) if changes else base


@dataclass
class QualityReport:
    """What every engine returns.

    Attributes
    ----------
    summary : dict
        Dataset-level numbers: the keys of :data:`SUMMARY_KEYS`, plus ``engine`` and the
        engine's own (``chunks``…).
    per_user : polars.DataFrame or pyspark.sql.DataFrame
        One row per user: user_id, length (after truncation), apen, apen_prime,
        shannon_entropy, actual_entropy, distinct_items, repeat_share, no_repeat_window
        (and compression_ratio with ``per_user_compression``).  A Spark DataFrame for
        the Spark engine.
    notes : list of str
        Plain-words caveats about the numbers (also in ``summary["notes"]``).
    """

    summary: dict
    per_user: Any
    notes: list[str] = field(default_factory=list)

    def unpersist(self) -> None:
        """Release cached results (Spark); nothing to do for local engines."""


# --------------------------------------------------------------------------- per user


def _run_kernel(
    seqs: Sequences, starts, ends, m: int, lz: bool, progress: bool, desc: str
) -> _kernels.KernelResult:
    """Kernel over all sequences in token-sized batches, so a progress bar can move."""
    n = len(starts)
    lengths = ends - starts
    cum = np.cumsum(lengths)
    total = int(cum[-1]) if n else 0
    out = _kernels.KernelResult.empty(n)
    from tqdm.auto import tqdm

    with tqdm(
        total=total, unit="tok", unit_scale=True, desc=desc, disable=not progress, leave=False
    ) as bar:
        lo = 0
        while lo < n:
            hi = int(np.searchsorted(cum, (cum[lo - 1] if lo else 0) + _BATCH_TOKENS)) + 1
            hi = min(max(hi, lo + 1), n)
            res = _kernels.sequence_measures(seqs.values, starts[lo:hi], ends[lo:hi], m, want_lz=lz)
            for whole, part in zip(out, res):
                whole[lo:hi] = part
            bar.update(int(lengths[lo:hi].sum()))
            lo = hi
    return out


def token_positions(starts: np.ndarray, ends: np.ndarray) -> np.ndarray:
    """Positions in ``values`` of every measured token, sequence after sequence."""
    lengths = ends - starts
    total = int(lengths.sum())
    if total == 0:
        return np.zeros(0, np.int64)
    # positions = start of own sequence + rank inside it
    seq_of = np.repeat(np.arange(len(starts)), lengths)
    first = np.cumsum(lengths) - lengths
    return starts[seq_of] + (np.arange(total) - first[seq_of])


def measured_tokens(
    seqs: Sequences, starts: np.ndarray, ends: np.ndarray, max_len: int | None
) -> np.ndarray:
    """The tokens measured (all of them, or each user's last ``max_len``), in order."""
    return seqs.values if max_len is None else seqs.values[token_positions(starts, ends)]


def _per_user_compression(values: np.ndarray, starts, ends) -> np.ndarray:
    packed = pack_ids(values)

    def ratio(se):
        s, e = se
        if e <= s:
            return float("nan")
        raw = packed[4 * s : 4 * e]
        return len(zlib.compress(raw)) / len(raw)

    with ThreadPoolExecutor(max_workers=os.cpu_count() or 1) as pool:
        return np.fromiter(
            pool.map(ratio, zip(starts.tolist(), ends.tolist()), chunksize=256),
            float,
            count=len(starts),
        )


def per_user_table(
    seqs: Sequences,
    starts: np.ndarray,
    ends: np.ndarray,
    *,
    m: int,
    signed: bool,
    companions: bool,
    per_user_compression: bool = False,
    progress: bool = False,
    desc: str = "apen",
) -> pl.DataFrame:
    """Per-user measures of the windows ``values[starts[s]:ends[s]]`` of ``seqs``.

    The row order is the order of ``seqs`` (users sorted).  Every engine builds its
    per-user table with this function, so chunked and distributed runs give the same
    numbers bit for bit.
    """
    lengths = ends - starts
    k = _run_kernel(seqs, starts, ends, m, companions, progress, desc=desc)
    apen = apen_from_phi(k.phi_m, k.phi_m1, signed)
    positive = apen > 0
    apen_prime = np.where(positive, 1.0 / np.where(positive, apen, 1.0), np.nan)
    n_users = len(lengths)
    distinct = k.distinct
    per_user = pl.DataFrame(
        {
            "user_id": seqs.users,
            "length": lengths,
            "apen": apen,
            "apen_prime": pl.Series(apen_prime).fill_nan(None),
            "shannon_entropy": k.shannon,
            "actual_entropy": k.lz if companions else np.full(n_users, np.nan),
            "distinct_items": distinct,
            "repeat_share": np.where(lengths > 0, 1.0 - distinct / np.maximum(lengths, 1), 0.0),
            "no_repeat_window": k.no_repeat,
        }
    )
    if companions and per_user_compression:
        per_user = per_user.with_columns(
            compression_ratio=_per_user_compression(seqs.values, starts, ends)
        )
    return per_user


# --------------------------------------------------------------------------- log level

#: ``(ratio, standard_error, chunks_used, chunks_total)`` when nothing is compressed.
NO_COMPRESSION = (float("nan"), float("nan"), 0, 0)


def compression_picks(
    n: int, chunk: int = COMPRESSION_CHUNK, max_chunks: int | None = None, seed: int = 0
) -> tuple[np.ndarray, int, int]:
    """Which pieces of a stream of ``n`` tokens :func:`log_compression_ratio` compresses.

    Returns ``(picks, width, total)``: piece ``i`` is bytes ``[i*width, (i+1)*width)`` of
    the packed stream (4 bytes per token); ``total`` pieces exist (0 for an empty
    stream).  Engines that see the stream in parts use this to compress the same pieces.
    """
    if n == 0:
        return np.zeros(0, np.int64), 4 * chunk, 0
    width = 4 * chunk
    total = max(1, n // chunk)
    if n < chunk:
        picks = np.zeros(1, np.int64)
        width = 4 * n
    elif max_chunks is not None and total > max_chunks:
        picks = np.sort(np.random.default_rng(seed).choice(total, max_chunks, replace=False))
    else:
        picks = np.arange(total)
    return picks, width, total


def compression_stats(ratios: np.ndarray, total: int) -> tuple[float, float, int, int]:
    """``(mean, standard_error, chunks_used, chunks_total)`` of the picked pieces' ratios
    (in pick order)."""
    ratios = np.asarray(ratios, dtype=float)
    k = len(ratios)
    se = 0.0
    if k < total and k > 1:
        se = float(ratios.std(ddof=1) / np.sqrt(k) * np.sqrt(1 - k / total))
    return float(ratios.mean()), se, k, total


def log_compression_ratio(
    tokens: np.ndarray, chunk: int = COMPRESSION_CHUNK, max_chunks: int | None = None, seed: int = 0
):
    """Mean zlib ratio over consecutive chunks of ``chunk`` tokens (authors' scripts).

    The final partial chunk is dropped, as in the authors' scripts, unless the log is
    shorter than one chunk, in which case the whole stream is one chunk.  zlib runs at
    only a few MB/s on id streams, so with ``max_chunks`` set and more chunks than that,
    the mean is estimated from ``max_chunks`` chunks drawn uniformly without replacement
    (seeded).

    Returns
    -------
    (ratio, standard_error, chunks_used, chunks_total)
        ``standard_error`` is 0 when every chunk was compressed.
    """
    picks, width, total = compression_picks(tokens.size, chunk, max_chunks, seed)
    if total == 0:
        return NO_COMPRESSION
    n = tokens.size
    raw = pack_ids(tokens[: total * chunk] if n >= chunk else tokens)
    pieces = [raw[i * width : (i + 1) * width] for i in picks.tolist()]
    # zlib releases the GIL: threads use every core
    with ThreadPoolExecutor(max_workers=os.cpu_count() or 1) as pool:
        ratios = np.fromiter(
            pool.map(lambda b: len(zlib.compress(b)) / len(b), pieces), float, count=len(pieces)
        )
    return compression_stats(ratios, total)


def shannon_from_counts(counts: np.ndarray) -> float:
    """Shannon entropy (bits) of a distribution given by counts, summed in sorted order
    (so that counts merged from chunks in any order give the same float)."""
    counts = np.sort(np.asarray(counts, dtype=np.int64))
    counts = counts[counts > 0]
    tokens = int(counts.sum())
    if tokens == 0:
        return 0.0
    p = counts / tokens
    return float(-(p * np.log2(p)).sum()) + 0.0


# --------------------------------------------------------------------------- summary


@dataclass
class Aggregates:
    """Totals over the per-user table and the log that the summary is built from.

    Local engines compute them with numpy (:func:`aggregate_per_user`), Spark with SQL
    aggregates; :func:`build_summary` does the rest for everyone.
    """

    users: int
    items: int
    interactions: int
    tokens: int
    duplicate_rows: int
    apen_mean: float
    apen_median: float
    apen_prime_mean: float
    d_prime_per_user: float
    zero_apen_users: int
    zero_apen_tokens: int
    excluded_users: int
    no_repeat_share: float
    repeat_users: int
    shannon_entropy: float
    shannon_entropy_user_mean: float
    actual_entropy: float
    distinct_items: int
    length_min: int
    length_mean: float
    length_median: float
    length_max: int


def aggregate_per_user(
    per_user: pl.DataFrame,
    *,
    m: int,
    companions: bool,
    items: int,
    interactions: int,
    duplicate_rows: int,
    token_counts: np.ndarray,
) -> Aggregates:
    """:class:`Aggregates` of a polars per-user table (in-memory and bounded engines).

    ``token_counts`` are the item counts over the measured tokens (after ``max_len``),
    in any order.
    """
    nan = float("nan")
    lengths = per_user.get_column("length").to_numpy()
    apen = per_user.get_column("apen").to_numpy()
    shannon = per_user.get_column("shannon_entropy").to_numpy()
    lz = per_user.get_column("actual_entropy").to_numpy()
    distinct = per_user.get_column("distinct_items").to_numpy()
    no_repeat = per_user.get_column("no_repeat_window").to_numpy()
    positive = apen > 0
    apen_prime = np.where(positive, 1.0 / np.where(positive, apen, 1.0), np.nan)
    n_users = len(lengths)
    windows = lengths >= m  # sequences with at least one m-window
    return Aggregates(
        users=n_users,
        items=items,
        interactions=interactions,
        tokens=int(lengths.sum()),
        duplicate_rows=duplicate_rows,
        apen_mean=float(apen.mean()) if n_users else nan,
        apen_median=float(np.median(apen)) if n_users else nan,
        apen_prime_mean=float(np.nanmean(apen_prime)) if positive.any() else nan,
        d_prime_per_user=float((lengths[positive] * apen_prime[positive]).sum()),
        zero_apen_users=int((apen == 0).sum()),
        zero_apen_tokens=int(lengths[apen == 0].sum()),
        excluded_users=int((~positive).sum()),
        no_repeat_share=float(no_repeat[windows].mean()) if windows.any() else nan,
        repeat_users=int((~no_repeat[windows]).sum()),
        shannon_entropy=shannon_from_counts(token_counts),
        shannon_entropy_user_mean=float(shannon.mean()) if n_users else nan,
        actual_entropy=float(np.mean(lz[lengths >= 2]))
        if companions and (lengths >= 2).any()
        else nan,
        distinct_items=int(distinct.sum()),
        length_min=int(lengths.min()) if n_users else 0,
        length_mean=float(lengths.mean()) if n_users else nan,
        length_median=float(np.median(lengths)) if n_users else nan,
        length_max=int(lengths.max()) if n_users else 0,
    )


def quality_notes(
    *,
    n_users,
    zero,
    excluded,
    no_repeat_share,
    m,
    signed,
    dprime,
    d_data,
    compression=NO_COMPRESSION,
) -> list[str]:
    """Plain-words caveats for a summary (shared by every engine)."""
    notes = []
    if zero:
        notes.append(
            f"{zero} of {n_users} users have ApEn = 0 (constant or shorter than "
            f"m+1 = {m + 1}): excluded from D′ (ApEn′ would be infinite)"
        )
    if signed and excluded > zero:
        notes.append(f"{excluded - zero} users have negative (signed) ApEn: excluded from D′")
    _, c_se, c_used, c_total = compression
    if c_used < c_total:
        notes.append(
            f"compression_ratio estimated from {c_used} of {c_total} chunks of "
            f"{COMPRESSION_CHUNK:,} tokens (standard error {c_se:.2g}); "
            "--compression-chunks 0 compresses all"
        )
    if no_repeat_share == no_repeat_share and no_repeat_share > NO_REPEAT_NOTE_THRESHOLD:
        notes.append(
            f"{no_repeat_share:.0%} of sequences repeat no window of length {m}: for them "
            f"r = 0 ApEn is ln((N−m+1)/(N−m)), {LENGTH_ONLY}, so D′ here "
            "measures sequence length more than regularity"
        )
    if dprime == "dataset" and not d_data == d_data:
        notes.append("dataset-level D′ is undefined: mean ApEn is 0")
    return notes


def build_summary(
    agg: Aggregates, options: MeasureOptions, *, label, compression: tuple, seconds: float
) -> tuple[dict, list[str]]:
    """The summary (keys of :data:`SUMMARY_KEYS`, in order) and its notes.

    ``compression`` is the log-level ``(ratio, standard_error, chunks_used,
    chunks_total)`` (see :func:`log_compression_ratio`).
    """
    nan = float("nan")
    d_data = agg.tokens / agg.apen_mean if agg.users and agg.apen_mean > 0 else nan
    c_ratio, c_se, c_used, c_total = compression
    notes = quality_notes(
        n_users=agg.users,
        zero=agg.zero_apen_users,
        excluded=agg.excluded_users,
        no_repeat_share=agg.no_repeat_share,
        m=options.m,
        signed=options.signed,
        dprime=options.dprime,
        d_data=d_data,
        compression=compression,
    )
    # the aggregates by name, then what is derived from them and from the options; the
    # summary takes SUMMARY_KEYS in order (a new Aggregates field named like its key
    # needs nothing here)
    values: dict[str, Any] = dataclasses.asdict(agg)
    values.update(
        file=label,
        m=options.m,
        max_len=options.max_len,
        signed=options.signed,
        token_map=options.token_map.description if options.token_map is not None else None,
        d_prime=agg.d_prime_per_user if options.dprime == "per-user" else d_data,
        d_prime_mode=options.dprime,
        d_prime_dataset=d_data,
        compression_ratio=c_ratio,
        compression_ratio_se=c_se,
        compression_chunks=f"{c_used}/{c_total}",
        repeat_share=float(1.0 - agg.distinct_items / agg.tokens) if agg.tokens else nan,
        seconds=seconds,
        notes=notes,
    )
    summary = {key: values[key] for key in SUMMARY_KEYS}
    return summary, notes
