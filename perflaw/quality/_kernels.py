"""Numba kernels for the data-quality measures.

Kernels trust their input (the public functions in :mod:`perflaw.quality.entropy`
validate it): ``values`` is an int64 array holding every sequence back to back, and
sequence ``s`` is ``values[starts[s]:ends[s]]``.  Only equality of item ids matters.

ApEn at r = 0 counts equal m-grams.  Each m-gram gets a *local id* by hashing
``(id of its (m-1)-gram prefix, id of its last item)`` -- a pair of integers below ``n``
packed exactly into one int64 -- so no hash collision can merge two different windows
and the whole computation is O(n·m) per sequence.  Once a level has no repeated window,
no longer window repeats either, and the remaining levels are known in closed form.
"""

from __future__ import annotations

from typing import Any, NamedTuple

import numpy as np
from numba import get_num_threads, njit, prange

# Fibonacci hashing constant (2**64 / golden ratio), odd.
_GOLDEN = np.uint64(0x9E3779B97F4A7C15)
_INV_LN2 = 1.0 / np.log(2.0)


@njit(cache=True, inline="always")
def _slot(key, shift, mask):
    return np.int64((np.uint64(key) * _GOLDEN) >> shift) & mask


@njit(cache=True)
def _table_bits(n):
    bits = 4
    while (1 << bits) < 2 * n:
        bits += 1
    return bits


@njit(cache=True, inline="always")
def _find_or_insert(key, next_id, tkeys, tvals, tstamp, stamp, shift, mask):
    """Id of ``key`` in an open-addressing table, inserting it as ``next_id`` if absent.

    ``tstamp[slot] == stamp`` marks a slot as used by the current (sequence, level), so the
    table never needs clearing.  The caller knows ``key`` was new when the result is
    ``next_id``.
    """
    h = _slot(key, shift, mask)
    while True:
        if tstamp[h] != stamp:
            tstamp[h] = stamp
            tkeys[h] = key
            tvals[h] = next_id
            return next_id
        if tkeys[h] == key:
            return tvals[h]
        h = (h + 1) & mask


@njit(cache=True)
def _assign_ids(values, a, n, ids, counts, tkeys, tvals, tstamp, stamp, bits):
    """Level 1 for any item ids: dense ids in first-seen order (hashed), counted.

    Writes row 0 of ``ids``/``counts``; returns the number of distinct items.
    """
    shift = np.uint64(64 - bits)
    mask = (np.int64(1) << bits) - 1
    n_ids = 0
    for i in range(n):
        v = _find_or_insert(values[a + i], n_ids, tkeys, tvals, tstamp, stamp, shift, mask)
        if v == n_ids:
            counts[0, v] = 1
            n_ids += 1
        else:
            counts[0, v] += 1
        ids[0, i] = v
    return n_ids


@njit(cache=True, inline="always")
def _assign_ids_direct(values, a, n, ids, counts, dstamp, dval, stamp):
    """Level 1 for small non-negative item ids: the id itself indexes the table.

    Takes the whole value array and an offset rather than a slice, and writes row 0 of
    the 2-D buffers: slices and row views cost atomic reference counting per sequence.
    """
    n_ids = 0
    for i in range(n):
        v = values[a + i]
        if dstamp[v] != stamp:
            dstamp[v] = stamp
            dval[v] = n_ids
            counts[0, n_ids] = 1
            ids[0, i] = n_ids
            n_ids += 1
        else:
            j = dval[v]
            counts[0, j] += 1
            ids[0, i] = j
    return n_ids


@njit(cache=True)
def _next_level(ids, rp, rc, counts, cp, cc, k, w, n, tkeys, tvals, tstamp, stamp, bits):
    """Ids of the k-windows from the ids of their (k-1)-prefixes; returns the id count.

    A k-window can repeat only if its (k-1)-prefix does, so windows with a unique prefix
    get a fresh id without touching the hash table: on real logs, where repeats are
    rare, almost nothing is hashed past the first level.  ``ids[0]`` holds the level-1
    ids, ``ids[rp]``/``counts[cp]`` the previous level, ``ids[rc]``/``counts[cc]`` the new one
    (rows of preallocated buffers: rebinding array variables per sequence costs atomic
    reference counting, which dominated short sequences).
    """
    shift = np.uint64(64 - bits)
    mask = (np.int64(1) << bits) - 1
    n_ids = 0
    for i in range(w):
        p = ids[rp, i]
        if counts[cp, p] == 1:
            ids[rc, i] = n_ids
            counts[cc, n_ids] = 1
            n_ids += 1
            continue
        v = _find_or_insert(
            p * n + ids[0, i + k - 1], n_ids, tkeys, tvals, tstamp, stamp, shift, mask
        )
        if v == n_ids:
            counts[cc, v] = 1
            n_ids += 1
        else:
            counts[cc, v] += 1
        ids[rc, i] = v
    return n_ids


@njit(cache=True)
def _sum_c_log_c(counts, row, n_ids, logs):
    acc = 0.0
    for g in range(n_ids):
        c = counts[row, g]
        if c > 1:
            acc += c * logs[c]
    return acc


@njit(cache=True)
def _phi(sum_clogc, n_windows, logs):
    # Phi = (1/W) sum_i ln(C_i) with C_i = count(window_i)/W
    #     = (1/W) sum_g c_g ln c_g - ln W ; no window at all gives 0 (authors' code).
    if n_windows <= 0:
        return 0.0
    return sum_clogc / n_windows - logs[n_windows]


@njit(cache=True, inline="always")
def _sequence_measures(
    values, a, n, m, ids, counts, tkeys, tvals, tstamp, stamp0, logs, dstamp, dval, direct
):
    """All hash-based measures of the sequence ``values[a:a + n]``.

    Returns (phi_m, phi_m1, shannon_bits, n_distinct, no_repeat_window).
    ``ids[0]`` receives the local item ids (used later by the Lempel-Ziv kernel);
    ``logs[k]`` is ln k (a table: transcendental calls dominated short sequences).
    """
    if n == 0:
        return 0.0, 0.0, 0.0, 0, True  # no window at all: none repeats
    bits = _table_bits(n)
    # level 1: the items themselves
    if direct:
        u1 = _assign_ids_direct(values, a, n, ids, counts, dstamp, dval, stamp0)
    else:
        u1 = _assign_ids(values, a, n, ids, counts, tkeys, tvals, tstamp, stamp0, bits)
    s1 = _sum_c_log_c(counts, 0, u1, logs)
    shannon = (logs[n] - s1 / n) * _INV_LN2
    # Sum of c·ln c over the k-grams, kept only for k = m and k = m + 1 (no allocation
    # per sequence: that dominated the cost of short sequences).
    sum_m = s1 if m == 1 else 0.0
    sum_m1 = 0.0
    all_unique = u1 == n
    rp, rc, cp = 0, 1, 0  # rows: previous ids, new ids, previous counts
    for k in range(2, m + 2):
        w = n - k + 1
        if w <= 0 or all_unique:
            break  # all longer windows are unique too: their sums stay 0
        cc = 1 - cp
        uk = _next_level(
            ids, rp, rc, counts, cp, cc, k, w, n, tkeys, tvals, tstamp, stamp0 + k - 1, bits
        )
        sk = _sum_c_log_c(counts, cc, uk, logs)
        if k == m:
            sum_m = sk
        elif k == m + 1:
            sum_m1 = sk
        all_unique = uk == w
        rp, rc, cp = rc, (2 if rc == 1 else 1), cc
    wm = n - m + 1
    phi_m = _phi(sum_m, wm, logs)
    phi_m1 = _phi(sum_m1, n - m, logs)
    # A sequence shorter than m has no m-window, so none repeats (sum_m stays 0): it
    # is flagged like any other non-repeating one, not as repeating.
    no_repeat = sum_m == 0.0
    return phi_m, phi_m1, shannon, u1, no_repeat


@njit(cache=True)
def _lz_lambda_sum(ids, n, prev_occ, last_seen):
    """Sum over i of Lambda_i: 1 + the longest prefix of x[i:] that occurs inside x[:i].

    (Kontoyiannis' estimator; when the whole suffix occurs, Lambda_i = n - i + 1.)
    Candidate earlier starts are walked through a previous-occurrence chain, so a
    sequence with few repeats costs O(n); highly repetitive ones fall back to an O(n^2)
    diagonal recursion (LCP(j, i) = LCP(j+1, i+1) + 1).
    """
    for g in range(n):
        last_seen[g] = -1
    pairs = 0
    for i in range(n):
        g = ids[i]
        prev_occ[i] = last_seen[g]
        last_seen[g] = i
        if prev_occ[i] >= 0:
            pairs += 1
    total = 0
    if pairs * 16 > n * 64:  # many repeats: quadratic but branch-light
        lcp_next = np.zeros(n + 1, np.int64)
        lcp_cur = np.zeros(n + 1, np.int64)
        for i in range(n - 1, -1, -1):
            best = 0
            for j in range(i - 1, -1, -1):
                if ids[j] == ids[i]:
                    lcp_cur[j] = lcp_next[j + 1] + 1
                    cap = i - j
                    v = lcp_cur[j] if lcp_cur[j] < cap else cap
                    if v > best:
                        best = v
                else:
                    lcp_cur[j] = 0
            total += best + 1
            lcp_cur, lcp_next = lcp_next, lcp_cur
        return total
    for i in range(n):
        best = 0
        j = prev_occ[i]
        while j >= 0:
            cap = i - j
            if n - i < cap:
                cap = n - i
            if cap > best:
                t = 0
                while t < cap and ids[j + t] == ids[i + t]:
                    t += 1
                if t > best:
                    best = t
                if best == n - i:
                    break
            j = prev_occ[j]
        total += best + 1
    return total


@njit(cache=True)
def _process_range(
    values,
    starts,
    ends,
    lo,
    hi,
    m,
    want_lz,
    direct_size,
    out_phi_m,
    out_phi_m1,
    out_shannon,
    out_distinct,
    out_norepeat,
    out_lz,
):
    maxn = 0
    for s in range(lo, hi):
        n = ends[s] - starts[s]
        if n > maxn:
            maxn = n
    if maxn == 0:
        for s in range(lo, hi):
            out_phi_m[s] = 0.0
            out_phi_m1[s] = 0.0
            out_shannon[s] = 0.0
            out_distinct[s] = 0
            out_norepeat[s] = False
            out_lz[s] = 0.0
        return
    size = np.int64(1) << _table_bits(maxn)
    ids = np.empty((3, maxn), np.int64)
    counts = np.empty((2, maxn), np.int64)
    prev_occ = np.empty(maxn, np.int64)
    last_seen = np.empty(maxn, np.int64)
    tkeys = np.empty(size, np.int64)
    tvals = np.empty(size, np.int64)
    tstamp = np.full(size, -1, np.int64)
    logs = np.log(np.maximum(np.arange(maxn + 1), 1).astype(np.float64))
    direct = direct_size > 0
    dstamp = np.full(max(direct_size, 1), -1, np.int64)
    dval = np.empty(max(direct_size, 1), np.int64)
    stamp = 0
    for s in range(lo, hi):
        n = ends[s] - starts[s]
        pm, pm1, sh, u1, nr = _sequence_measures(
            values,
            starts[s],
            n,
            m,
            ids,
            counts,
            tkeys,
            tvals,
            tstamp,
            stamp,
            logs,
            dstamp,
            dval,
            direct,
        )
        stamp += m + 1
        out_phi_m[s] = pm
        out_phi_m1[s] = pm1
        out_shannon[s] = sh
        out_distinct[s] = u1
        out_norepeat[s] = nr
        if want_lz:
            if n <= 1:
                out_lz[s] = 0.0
            elif u1 == n:  # all items distinct: every Lambda_i is 1
                out_lz[s] = logs[n]
            else:
                out_lz[s] = logs[n] / (_lz_lambda_sum(ids[0], n, prev_occ, last_seen) / n)
        else:
            out_lz[s] = np.nan


@njit(cache=True, parallel=True)
def _all_sequences(values, starts, ends, m, want_lz, n_chunks, direct_size):
    nseq = starts.shape[0]
    out_phi_m = np.empty(nseq)
    out_phi_m1 = np.empty(nseq)
    out_shannon = np.empty(nseq)
    out_distinct = np.empty(nseq, np.int64)
    out_norepeat = np.empty(nseq, np.bool_)
    out_lz = np.empty(nseq)
    for c in prange(n_chunks):
        lo = c * nseq // n_chunks
        hi = (c + 1) * nseq // n_chunks
        _process_range(
            values,
            starts,
            ends,
            lo,
            hi,
            m,
            want_lz,
            direct_size,
            out_phi_m,
            out_phi_m1,
            out_shannon,
            out_distinct,
            out_norepeat,
            out_lz,
        )
    return out_phi_m, out_phi_m1, out_shannon, out_distinct, out_norepeat, out_lz


#: Item ids in [0, DIRECT_MAX) index the level-1 table directly (no hashing); the table
#: costs 16 bytes per possible id for each chunk of sequences.
DIRECT_MAX = 1 << 20


class KernelResult(NamedTuple):
    """Per-sequence outputs of :func:`sequence_measures` (one array each, one entry per
    sequence).  Adding a measure: a field here, its output in ``_all_sequences``."""

    phi_m: np.ndarray  #: Φ^m (nats)
    phi_m1: np.ndarray  #: Φ^{m+1} (nats)
    shannon: np.ndarray  #: Shannon entropy of the item distribution (bits)
    distinct: np.ndarray  #: distinct items (int64)
    no_repeat: np.ndarray  #: no window of length m repeats (bool)
    lz: np.ndarray  #: Lempel-Ziv entropy rate (nats), NaN when not asked for

    @classmethod
    def empty(cls, n: int) -> KernelResult:
        """Uninitialised arrays for ``n`` sequences, filled batch by batch."""
        return cls(
            np.empty(n),
            np.empty(n),
            np.empty(n),
            np.empty(n, np.int64),
            np.empty(n, np.bool_),
            np.empty(n),
        )


def sequence_measures(values, starts, ends, m, want_lz=True, n_chunks=None) -> KernelResult:
    """Run the kernel over all sequences (parallel over chunks of sequences)."""
    nseq = len(starts)
    if n_chunks is None:
        n_chunks = max(1, min(nseq, 16 * get_num_threads()))
    direct_size = 0
    if values.size and nseq:
        # only the span the sequences cover: callers pass batches of one large array
        span = values[int(np.min(starts)) : int(np.max(ends))]
        lo, hi = (int(span.min()), int(span.max())) if span.size else (0, 0)
        if lo >= 0 and hi < DIRECT_MAX:
            direct_size = hi + 1
    return KernelResult(
        *_all_sequences(
            values,
            starts,
            ends,
            np.int64(m),
            bool(want_lz),
            np.int64(n_chunks),
            np.int64(direct_size),
        )
    )


def kernels_cached() -> bool:
    """Whether compiled kernels are in Numba's on-disk cache (False: the first call will
    compile them, ~10 s).  Reads Numba's cache index; True when it cannot tell."""
    try:
        dispatcher: Any = _all_sequences
        return bool(dispatcher._cache._cache_file._load_index())
    except Exception:  # noqa: BLE001 - numba internals moved: do not claim a cold cache
        return True
