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
from perflaw.io import read_log
from perflaw.quality import _kernels
from perflaw.quality.entropy import apen_from_phi, check_m, pack_ids
from perflaw.sequences import Sequences

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
        frame = _canonical_frame(source, user_col, item_col, time_col)
    if drop_duplicates:
        frame = frame.unique(maintain_order=True)
    return Sequences.from_frame(frame), label


def _canonical_frame(frame: pl.DataFrame, user_col, item_col, time_col) -> pl.DataFrame:
    """Same column detection as files, for in-memory frames."""
    from perflaw import io

    if frame.height == 0:
        raise DataError("the DataFrame has no rows")
    cols = frame.columns

    def pick(given, names, role, required=True):
        if given is not None:
            if given not in cols:
                raise DataError(f"DataFrame: no column {given!r}; columns are {', '.join(cols)}")
            return given
        found = io._pick(cols, names, role, Path("DataFrame"), f"{role}_col")
        if found is None and required:
            raise DataError(f"DataFrame: no {role} column found among {', '.join(cols)}")
        return found

    u = pick(user_col, io.USER_NAMES, "user")
    i = pick(item_col, io.ITEM_NAMES, "item")
    t = pick(time_col, io.TIME_NAMES + io.POSITION_NAMES, "time", required=False)
    out = frame.select([pl.col(u).alias("user"), pl.col(i).alias("item")]
                       + ([pl.col(t).alias("time")] if t else []))
    for role in ("user", "item"):
        if out.get_column(role).null_count():
            raise DataError(f"DataFrame: column {u if role == 'user' else i!r} has null ids")
    if t:
        out = out.with_columns(io._time_as_number(out.get_column("time"), Path("DataFrame"), t))
    return out


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


def log_compression_ratio(tokens: np.ndarray, chunk: int = COMPRESSION_CHUNK) -> float:
    """Mean zlib ratio over consecutive chunks of ``chunk`` tokens (authors' scripts).

    The final partial chunk is dropped, as in the authors' scripts, unless the log is
    shorter than one chunk, in which case the whole stream is one chunk.
    """
    n = tokens.size
    if n == 0:
        return float("nan")
    raw = pack_ids(tokens)
    width = 4 * chunk
    if n < chunk:
        pieces = [raw]
    else:
        pieces = [raw[i:i + width] for i in range(0, (n // chunk) * width, width)]
    # zlib releases the GIL: threads use both cores
    with ThreadPoolExecutor(max_workers=os.cpu_count() or 1) as pool:
        sizes = list(pool.map(lambda b: len(zlib.compress(b)), pieces))
    return float(np.mean(np.asarray(sizes) / np.asarray([len(p) for p in pieces])))


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


def measure(
    source,
    *,
    m: int = 2,
    max_len: int | None = None,
    signed: bool = False,
    dprime: str = "per-user",
    companions: bool = True,
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
    if max_len is not None and (int(max_len) != max_len or max_len < 1):
        raise DataError(f"max_len must be a positive integer, got {max_len!r}")
    if dprime not in DPRIME_MODES:
        raise DataError(f"dprime must be one of {', '.join(DPRIME_MODES)}, got {dprime!r}")
    seqs, label = _coerce_source(source, user_col, item_col, time_col, drop_duplicates)
    starts, ends = seqs.window(max_len)
    lengths = ends - starts
    phi_m, phi_m1, shannon, distinct, no_repeat, lz = _run_kernel(
        seqs, starts, ends, m, companions, progress, desc=Path(label).name if label else "apen")
    apen = apen_from_phi(phi_m, phi_m1, signed)
    positive = apen > 0
    apen_prime = np.where(positive, 1.0 / np.where(positive, apen, 1.0), np.nan)
    tokens = int(lengths.sum())
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
    if companions:
        per_user = per_user.with_columns(
            compression_ratio=_per_user_compression(seqs.values, starts, ends))

    token_pos = None if max_len is None else _token_positions(starts, ends)
    token_values = seqs.values if token_pos is None else seqs.values[token_pos]
    if tokens:
        counts = pl.Series(token_values).value_counts().get_column("count").to_numpy()
        p = counts / tokens
        log_shannon = float(-(p * np.log2(p)).sum()) + 0.0
    else:
        log_shannon = 0.0

    apen_mean = float(apen.mean()) if n_users else float("nan")
    d_user = float((lengths[positive] * apen_prime[positive]).sum())
    d_data = tokens / apen_mean if n_users and apen_mean > 0 else float("nan")
    windows = lengths >= m  # sequences with at least one m-window
    no_repeat_share = float(no_repeat[windows].mean()) if windows.any() else float("nan")

    notes = []
    zero = int((apen == 0).sum())
    excluded = int((~positive).sum())
    if zero:
        notes.append(f"{zero} of {n_users} users have ApEn = 0 (constant or shorter than "
                     f"m+1 = {m + 1}): excluded from D′ (ApEn′ would be infinite)")
    if signed and excluded > zero:
        notes.append(f"{excluded - zero} users have negative (signed) ApEn: excluded from D′")
    if no_repeat_share == no_repeat_share and no_repeat_share > NO_REPEAT_NOTE_THRESHOLD:
        notes.append(
            f"{no_repeat_share:.0%} of sequences repeat no window of length {m}: for them "
            f"r = 0 ApEn is ln((N−m+1)/(N−m)), a function of length alone, so D′ here "
            "measures sequence length more than regularity")
    if dprime == "dataset" and not d_data == d_data:
        notes.append("dataset-level D′ is undefined: mean ApEn is 0")

    summary = {
        "file": label,
        "users": n_users,
        "items": seqs.n_items,
        "interactions": int(seqs.offsets[-1]),
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
        "compression_ratio": log_compression_ratio(token_values) if companions
        else float("nan"),
        "repeat_share": float(1.0 - distinct.sum() / tokens) if tokens else float("nan"),
        "length_min": int(lengths.min()) if n_users else 0,
        "length_mean": float(lengths.mean()) if n_users else float("nan"),
        "length_median": float(np.median(lengths)) if n_users else float("nan"),
        "length_max": int(lengths.max()) if n_users else 0,
        "duplicate_rows": seqs.duplicate_rows,
        "seconds": time.perf_counter() - t0,
        "notes": notes,
    }
    return QualityReport(summary=summary, per_user=per_user, notes=notes)
