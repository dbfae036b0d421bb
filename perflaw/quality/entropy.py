"""Per-sequence data-quality measures (public, validated functions over the kernels).

All measures treat item ids as labels: only equality matters, so any hashable ids
(ints, strings) give the same result as their dense codes.
"""

from __future__ import annotations

import zlib

import numpy as np

from perflaw.errors import DataError
from perflaw.quality import _kernels

__all__ = [
    "approximate_entropy",
    "actual_entropy",
    "compression_ratio",
    "shannon_entropy",
    "check_m",
    "apen_from_phi",
]


#: Largest window length / maximum sequence length accepted: kernels take C longs, and a
#: sequence longer than 2^31 - 1 events is not a user's history.
MAX_LENGTH = 2**31 - 1


def check_m(m) -> int:
    """Validate the window length ``m`` (a positive integer up to :data:`MAX_LENGTH`)."""
    if isinstance(m, bool) or not isinstance(m, (int, np.integer)) or m < 1:
        raise DataError(f"m (window length) must be a positive integer, got {m!r}")
    if m > MAX_LENGTH:
        raise DataError(f"m (window length) must be at most {MAX_LENGTH}, got {m}")
    return int(m)


def as_codes(seq) -> np.ndarray:
    """Integer codes of a sequence of labels; integer arrays are used as they are."""
    arr = np.asarray(seq if not isinstance(seq, str) else list(seq))
    if arr.ndim != 1:
        raise DataError(f"a sequence must be one-dimensional, got shape {arr.shape}")
    if arr.size == 0:
        return np.zeros(0, np.int64)
    if arr.dtype.kind in "iub":
        return arr.astype(np.int64, copy=False)
    if arr.dtype.kind == "f":
        if np.isnan(arr).any():
            raise DataError("a sequence contains NaN; item ids must be labels, not missing")
        if np.all(arr == np.round(arr)):
            return arr.astype(np.int64)
    _, codes = np.unique(arr.astype(str) if arr.dtype.kind == "O" else arr, return_inverse=True)
    return codes.astype(np.int64)


def apen_from_phi(phi_m, phi_m1, signed: bool):
    """ApEn from Φ^m and Φ^{m+1}: Pincus' Φ^m − Φ^{m+1} or the authors' |·| form."""
    value = np.subtract(phi_m, phi_m1)
    if not signed:
        value = np.abs(value)
    # -0.0 and tiny negative rounding noise around an exact zero read as 0
    return np.where(np.abs(value) < 1e-15, 0.0, value) + 0.0


def _one(seq, m: int, want_lz: bool):
    x = as_codes(seq)
    starts = np.zeros(1, np.int64)
    ends = np.full(1, x.size, np.int64)
    return _kernels.sequence_measures(x, starts, ends, m, want_lz=want_lz, n_chunks=1), x


def approximate_entropy(seq, m: int = 2, signed: bool = False) -> float:
    """Approximate entropy of one sequence at tolerance r = 0.

    Windows of length ``m`` match only when identical.  With ``signed=False`` (the
    default) this is the Performance-Law authors' ``|Φ^{m+1} − Φ^m|``; with
    ``signed=True`` it is Pincus' ``Φ^m − Φ^{m+1}``, which is negative for sequences
    without repeated windows.  A sequence no longer than ``m`` has no (m+1)-window and,
    as in the authors' code, the missing Φ terms are 0.

    Parameters
    ----------
    seq : sequence of hashable
        Item ids in order.
    m : int
        Window length (embedding dimension), ≥ 1.
    signed : bool
        Return Pincus' signed value instead of the absolute one.

    Examples
    --------
    >>> round(approximate_entropy([1, 2, 1, 2, 3], m=2), 10)
    0.0588915178
    >>> approximate_entropy([1, 1, 1, 1, 1, 1])
    0.0
    >>> round(approximate_entropy(["a", "b", "c", "d", "e", "f"], m=2, signed=True), 10)
    -0.2231435513
    """
    m = check_m(m)
    k, _ = _one(seq, m, want_lz=False)
    return float(apen_from_phi(k.phi_m[0], k.phi_m1[0], signed))


def shannon_entropy(seq) -> float:
    """Shannon entropy (bits) of the item distribution of a sequence.

    Examples
    --------
    >>> shannon_entropy([1, 2, 1, 2])
    1.0
    >>> shannon_entropy([])
    0.0
    """
    x = as_codes(seq)
    if x.size == 0:
        return 0.0
    _, counts = np.unique(x, return_counts=True)
    p = counts / x.size
    return float(-(p * np.log2(p)).sum()) + 0.0


def actual_entropy(seq) -> float:
    """Lempel-Ziv ("actual") entropy estimate, natural log (Kontoyiannis et al. 1998).

    ``Λ_i`` is the length of the shortest substring starting at ``i`` that does not
    occur inside ``x[:i]`` (``n − i + 1`` when the whole suffix does); the estimate is
    ``ln(n) / mean(Λ)``, and 0 for sequences shorter than 2.

    Examples
    --------
    >>> round(actual_entropy([1, 1, 1, 1, 1, 1]), 10)
    0.7167037877
    >>> round(actual_entropy([1, 2, 3, 4, 5, 6]), 10)
    1.7917594692
    """
    k, _ = _one(seq, 1, want_lz=True)
    return float(k.lz[0])


def pack_ids(x: np.ndarray) -> bytes:
    """Ids as 4-byte big-endian integers (dense codes when they do not fit in 32 bits)."""
    x = np.asarray(x)
    if x.size and (x.min() < 0 or x.max() >= 2**32):
        _, x = np.unique(x, return_inverse=True)
    return x.astype(">u4").tobytes()


def compression_ratio(seq) -> float:
    """zlib-compressed size over raw size of the ids packed as 4-byte big-endian ints.

    Lower means more compressible (more regular).  NaN for an empty sequence.

    Examples
    --------
    >>> compression_ratio([7] * 1000) < compression_ratio(list(range(1000)))
    True
    """
    x = as_codes(seq)
    if x.size == 0:
        return float("nan")
    raw = pack_ids(x)
    return len(zlib.compress(raw)) / len(raw)
