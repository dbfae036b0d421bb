"""Plain, obviously-correct reference implementations (slow on purpose).

They follow the definitions in ../shared/docs/spec.md literally: windows are compared
element by element, nothing is hashed or sorted.
"""

import math
import zlib


def phi(u, m):
    n = len(u)
    w = n - m + 1
    if w <= 0:
        return 0.0
    windows = [tuple(u[i : i + m]) for i in range(w)]
    total = 0.0
    for x in windows:
        c = sum(1 for y in windows if y == x) / w
        total += math.log(c)
    return total / w


def apen(u, m=2, signed=False):
    value = phi(u, m) - phi(u, m + 1)
    return value if signed else abs(value)


def shannon_bits(u):
    n = len(u)
    if n == 0:
        return 0.0
    counts = {}
    for v in u:
        counts[v] = counts.get(v, 0) + 1
    return -sum(c / n * math.log2(c / n) for c in counts.values())


def occurs_in(sub, text):
    k = len(sub)
    return any(list(text[j : j + k]) == list(sub) for j in range(len(text) - k + 1))


def actual_entropy(u):
    n = len(u)
    if n < 2:
        return 0.0
    total = 0
    for i in range(n):
        lam = n - i + 1  # the whole suffix occurs earlier
        for k in range(1, n - i + 1):
            if not occurs_in(u[i : i + k], u[:i]):
                lam = k
                break
        total += lam
    return math.log(n) / (total / n)


def compression_ratio(codes):
    raw = b"".join(int(x).to_bytes(4, "big") for x in codes)
    return len(zlib.compress(raw)) / len(raw)
