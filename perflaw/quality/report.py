"""Dataset-level data quality: per-user measures, ApEn′ and the quality-adjusted size D′.

Policy for ApEn = 0 (constant sequences, sequences of length ≤ m and a few others):
ApEn′ = 1/ApEn would be infinite, so such sequences are **excluded from D′**, counted
in ``zero_apen_users`` and their tokens in ``zero_apen_tokens``; their ``apen_prime`` in
the per-user table is null.  With ``signed=True`` (Pincus' ApEn, negative for sequences
without a repeated window) every sequence with ApEn ≤ 0 is excluded the same way and
counted in ``excluded_users``.
"""

from __future__ import annotations

import os
import time
import zlib
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import polars as pl

from perflaw.errors import DataError
from perflaw.io import canonical_frame, read_log
from perflaw.quality import _kernels
from perflaw.quality.entropy import apen_from_phi, check_m, pack_ids
from perflaw.sequences import Sequences, item_counts

DPRIME_MODES = ("per-user", "dataset")
#: Tokens per chunk for the log-level compression ratio (as in the authors' scripts).
COMPRESSION_CHUNK = 10_000
#: A no-repeat share above this gets a plain-words note in the report.
NO_REPEAT_NOTE_THRESHOLD = 0.5
_BATCH_TOKENS = 2_000_000


@dataclass
class QualityReport:
    """Result of :func:`measure`.

    Attributes
    ----------
    summary : dict
        Dataset-level numbers (see :func:`measure`).
    per_user : pl.DataFrame
        One row per user: user_id, length (after truncation), apen, apen_prime,
        shannon_entropy, actual_entropy, distinct_items, repeat_share, no_repeat_window.
    notes : list of str
        Plain-words caveats about the numbers (also in ``summary["notes"]``).
    """

    summary: dict
    per_user: pl.DataFrame
    notes: list[str] = field(default_factory=list)


def _coerce_source(source, user_col, item_col, time_col, drop_duplicates):
    label = None
    if isinstance(source, Sequences):
        return source, None
    if isinstance(source, (str, os.PathLike)):
        label = str(source)
        frame = read_log(source, user_col=user_col, item_col=item_col, time_col=time_col)
    else:
        try:
            import pandas as pd

            if isinstance(source, pd.DataFrame):
                source = pl.from_pandas(source)
        except ImportError:  # pragma: no cover
            pass
        if not isinstance(source, pl.DataFrame):
            raise DataError(f"cannot measure a {type(source).__name__}: pass a path, a "
                            "polars/pandas DataFrame or Sequences")
        frame = canonical_frame(source, "DataFrame", user_col=user_col, item_col=item_col,
                                time_col=time_col)
    if drop_duplicates:
        frame = frame.unique(maintain_order=True)
    return Sequences.from_frame(frame), label


def _run_kernel(seqs: Sequences, starts, ends, m: int, lz: bool, progress: bool, desc: str):
    """Kernel over all sequences in token-sized batches, so a progress bar can move."""
    n = len(starts)
    lengths = ends - starts
    cum = np.cumsum(lengths)
    total = int(cum[-1]) if n else 0
    outs = [np.empty(n), np.empty(n), np.empty(n), np.empty(n, np.int64),
            np.empty(n, np.bool_), np.empty(n)]
    from tqdm.auto import tqdm

    with tqdm(total=total, unit="tok", unit_scale=True, desc=desc, disable=not progress,
              leave=False) as bar:
        lo = 0
        while lo < n:
            hi = int(np.searchsorted(cum, (cum[lo - 1] if lo else 0) + _BATCH_TOKENS)) + 1
            hi = min(max(hi, lo + 1), n)
            res = _kernels.sequence_measures(seqs.values, starts[lo:hi], ends[lo:hi], m,
                                             want_lz=lz)
            for out, r in zip(outs, res):
                out[lo:hi] = r
            bar.update(int(lengths[lo:hi].sum()))
            lo = hi
    return outs


def _token_positions(starts: np.ndarray, ends: np.ndarray) -> np.ndarray:
    lengths = ends - starts
    total = int(lengths.sum())
    if total == 0:
        return np.zeros(0, np.int64)
    # positions = start of own sequence + rank inside it
    seq_of = np.repeat(np.arange(len(starts)), lengths)
    first = np.cumsum(lengths) - lengths
    return starts[seq_of] + (np.arange(total) - first[seq_of])


def log_compression_ratio(tokens: np.ndarray, chunk: int = COMPRESSION_CHUNK,
                          max_chunks: int | None = None, seed: int = 0):
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
    pieces = [raw[i * width:(i + 1) * width] for i in picks.tolist()]
    # zlib releases the GIL: threads use every core
    with ThreadPoolExecutor(max_workers=os.cpu_count() or 1) as pool:
        ratios = np.fromiter(pool.map(lambda b: len(zlib.compress(b)) / len(b), pieces),
                             float, count=len(pieces))
    return compression_stats(ratios, total)


#: ``(ratio, standard_error, chunks_used, chunks_total)`` when nothing is compressed.
NO_COMPRESSION = (float("nan"), float("nan"), 0, 0)


def compression_picks(n: int, chunk: int = COMPRESSION_CHUNK, max_chunks: int | None = None,
                      seed: int = 0) -> tuple[np.ndarray, int, int]:
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


def _per_user_compression(values: np.ndarray, starts, ends) -> np.ndarray:
    packed = pack_ids(values)

    def ratio(se):
        s, e = se
        if e <= s:
            return float("nan")
        raw = packed[4 * s:4 * e]
        return len(zlib.compress(raw)) / len(raw)

    with ThreadPoolExecutor(max_workers=os.cpu_count() or 1) as pool:
        return np.fromiter(pool.map(ratio, zip(starts.tolist(), ends.tolist()),
                                    chunksize=256), float, count=len(starts))


def check_options(max_len, dprime) -> None:
    """Validate the options shared by every engine (``m`` is checked by ``check_m``)."""
    if max_len is not None and (int(max_len) != max_len or max_len < 1):
        raise DataError(f"max_len must be a positive integer, got {max_len!r}")
    if dprime not in DPRIME_MODES:
        raise DataError(f"dprime must be one of {', '.join(DPRIME_MODES)}, got {dprime!r}")


def per_user_table(seqs: Sequences, starts: np.ndarray, ends: np.ndarray, *, m: int,
                   signed: bool, companions: bool, per_user_compression: bool = False,
                   progress: bool = False, desc: str = "apen") -> pl.DataFrame:
    """Per-user measures of the windows ``values[starts[s]:ends[s]]`` of ``seqs``.

    The row order is the order of ``seqs`` (users sorted).  Every engine builds its
    per-user table with this function, so chunked and distributed runs give the same
    numbers bit for bit.
    """
    lengths = ends - starts
    phi_m, phi_m1, shannon, distinct, no_repeat, lz = _run_kernel(
        seqs, starts, ends, m, companions, progress, desc=desc)
    apen = apen_from_phi(phi_m, phi_m1, signed)
    positive = apen > 0
    apen_prime = np.where(positive, 1.0 / np.where(positive, apen, 1.0), np.nan)
    n_users = len(lengths)
    per_user = pl.DataFrame({
        "user_id": seqs.users,
        "length": lengths,
        "apen": apen,
        "apen_prime": pl.Series(apen_prime).fill_nan(None),
        "shannon_entropy": shannon,
        "actual_entropy": lz if companions else np.full(n_users, np.nan),
        "distinct_items": distinct,
        "repeat_share": np.where(lengths > 0, 1.0 - distinct / np.maximum(lengths, 1), 0.0),
        "no_repeat_window": no_repeat,
    })
    if companions and per_user_compression:
        per_user = per_user.with_columns(
            compression_ratio=_per_user_compression(seqs.values, starts, ends))
    return per_user


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


def quality_notes(*, n_users, zero, excluded, no_repeat_share, m, signed, dprime,
                  d_data, compression=NO_COMPRESSION) -> list[str]:
    """Plain-words caveats for a summary (shared by every engine)."""
    notes = []
    if zero:
        notes.append(f"{zero} of {n_users} users have ApEn = 0 (constant or shorter than "
                     f"m+1 = {m + 1}): excluded from D′ (ApEn′ would be infinite)")
    if signed and excluded > zero:
        notes.append(f"{excluded - zero} users have negative (signed) ApEn: excluded from D′")
    _, c_se, c_used, c_total = compression
    if c_used < c_total:
        notes.append(f"compression_ratio estimated from {c_used} of {c_total} chunks of "
                     f"{COMPRESSION_CHUNK:,} tokens (standard error {c_se:.2g}); "
                     "--compression-chunks 0 compresses all")
    if no_repeat_share == no_repeat_share and no_repeat_share > NO_REPEAT_NOTE_THRESHOLD:
        notes.append(
            f"{no_repeat_share:.0%} of sequences repeat no window of length {m}: for them "
            f"r = 0 ApEn is ln((N−m+1)/(N−m)), a function of length alone, so D′ here "
            "measures sequence length more than regularity")
    if dprime == "dataset" and not d_data == d_data:
        notes.append("dataset-level D′ is undefined: mean ApEn is 0")
    return notes


def summarize(per_user: pl.DataFrame, *, m: int, max_len, signed: bool, dprime: str,
              companions: bool, label, n_items: int, interactions: int,
              duplicate_rows: int, token_counts: np.ndarray, compression: tuple,
              t0: float) -> tuple[dict, list[str]]:
    """Dataset summary from the per-user table plus the log-level statistics.

    ``token_counts`` are the item counts over the measured tokens (after ``max_len``),
    in any order; ``compression`` is the log-level ``(ratio, standard_error, chunks_used,
    chunks_total)`` (see :func:`log_compression_ratio`).  Returns ``(summary, notes)``.
    """
    lengths = per_user.get_column("length").to_numpy()
    apen = per_user.get_column("apen").to_numpy()
    shannon = per_user.get_column("shannon_entropy").to_numpy()
    lz = per_user.get_column("actual_entropy").to_numpy()
    distinct = per_user.get_column("distinct_items").to_numpy()
    no_repeat = per_user.get_column("no_repeat_window").to_numpy()
    positive = apen > 0
    apen_prime = np.where(positive, 1.0 / np.where(positive, apen, 1.0), np.nan)
    tokens = int(lengths.sum())
    n_users = len(lengths)
    log_shannon = shannon_from_counts(token_counts)

    apen_mean = float(apen.mean()) if n_users else float("nan")
    d_user = float((lengths[positive] * apen_prime[positive]).sum())
    d_data = tokens / apen_mean if n_users and apen_mean > 0 else float("nan")
    windows = lengths >= m  # sequences with at least one m-window
    no_repeat_share = float(no_repeat[windows].mean()) if windows.any() else float("nan")

    zero = int((apen == 0).sum())
    excluded = int((~positive).sum())
    c_ratio, c_se, c_used, c_total = compression
    notes = quality_notes(n_users=n_users, zero=zero, excluded=excluded,
                          no_repeat_share=no_repeat_share, m=m, signed=signed,
                          dprime=dprime, d_data=d_data, compression=compression)

    summary = {
        "file": label,
        "users": n_users,
        "items": n_items,
        "interactions": interactions,
        "tokens": tokens,
        "m": m,
        "max_len": max_len,
        "signed": signed,
        "apen_mean": apen_mean,
        "apen_median": float(np.median(apen)) if n_users else float("nan"),
        "apen_prime_mean": float(np.nanmean(apen_prime)) if positive.any() else float("nan"),
        "d_prime": d_user if dprime == "per-user" else d_data,
        "d_prime_mode": dprime,
        "d_prime_per_user": d_user,
        "d_prime_dataset": d_data,
        "zero_apen_users": zero,
        "zero_apen_tokens": int(lengths[apen == 0].sum()),
        "excluded_users": excluded,
        "no_repeat_share": no_repeat_share,
        "shannon_entropy": log_shannon,
        "shannon_entropy_user_mean": float(shannon.mean()) if n_users else float("nan"),
        "actual_entropy": float(np.mean(lz[lengths >= 2])) if companions and
        (lengths >= 2).any() else float("nan"),
        "compression_ratio": c_ratio,
        "compression_ratio_se": c_se,
        "compression_chunks": f"{c_used}/{c_total}",
        "repeat_share": float(1.0 - distinct.sum() / tokens) if tokens else float("nan"),
        "length_min": int(lengths.min()) if n_users else 0,
        "length_mean": float(lengths.mean()) if n_users else float("nan"),
        "length_median": float(np.median(lengths)) if n_users else float("nan"),
        "length_max": int(lengths.max()) if n_users else 0,
        "duplicate_rows": duplicate_rows,
        "seconds": time.perf_counter() - t0,
        "notes": notes,
    }
    return summary, notes


def measure(
    source,
    *,
    m: int = 2,
    max_len: int | None = None,
    signed: bool = False,
    dprime: str = "per-user",
    companions: bool = True,
    compression_chunks: int | None = 100,
    per_user_compression: bool = False,
    user_col: str | None = None,
    item_col: str | None = None,
    time_col: str | None = None,
    drop_duplicates: bool = False,
    progress: bool = False,
) -> QualityReport:
    """Measure the data quality of an interaction log.

    Parameters
    ----------
    source : path, polars.DataFrame, pandas.DataFrame or Sequences
        The log.  Columns are found by name (see :mod:`perflaw.io`) or given.
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
    drop_duplicates : bool
        Drop exact duplicate rows before measuring (they are counted either way).
    progress : bool
        Show a progress bar on stderr.

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
    m = check_m(m)
    check_options(max_len, dprime)
    seqs, label = _coerce_source(source, user_col, item_col, time_col, drop_duplicates)
    starts, ends = seqs.window(max_len)
    per_user = per_user_table(seqs, starts, ends, m=m, signed=signed, companions=companions,
                              per_user_compression=per_user_compression, progress=progress,
                              desc=Path(label).name if label else "apen")
    token_pos = None if max_len is None else _token_positions(starts, ends)
    token_values = seqs.values if token_pos is None else seqs.values[token_pos]
    summary, notes = summarize(
        per_user, m=m, max_len=max_len, signed=signed, dprime=dprime, companions=companions,
        label=label, n_items=seqs.n_items, interactions=int(seqs.offsets[-1]),
        duplicate_rows=seqs.duplicate_rows, token_counts=item_counts(token_values),
        compression=log_compression_ratio(token_values, max_chunks=compression_chunks)
        if companions else NO_COMPRESSION,
        t0=t0)
    return QualityReport(summary=summary, per_user=per_user, notes=notes)
