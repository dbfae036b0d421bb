"""Counting the parameters of sequential-recommender backbones (docs/science.md §6).

Recommendation models are embedding-dominated, so every count is split into the
*embedding* part (item table, position table) and the *non-embedding* part (the
transformer blocks and the final norm).  Laws must say which count they use.

Conventions (kept identical to the backbones trained by ``perflaw sweep``):

* the item table has ``n_items + 1`` rows: row 0 is the padding item;
* ``sasrec``: learned positions (``max_len × d``); block = attention ``4d² + 4d`` +
  feed-forward ``2·d·d_ff + d + d_ff`` + two LayerNorms ``4d``; one final LayerNorm
  ``2d``; ``d_ff`` defaults to ``d`` (the original SASRec);
* ``llama``: rotary positions (no table); block = attention ``4d²`` + SwiGLU
  ``3·d·d_ff`` with ``d_ff = 32·ceil((8d/3)/32)`` + two RMSNorms ``2d``; one final
  RMSNorm ``d``;
* ``hstu``: learned positions (``max_len × d``) as in ``sasrec``; block = one
  input projection ``d → 4d`` with bias (U, V, Q, K: ``4d² + 4d``), one output
  projection ``d → d`` with bias (``d² + d``), a LayerNorm on the block input and one on
  the attention output (``4d``), i.e. ``5d² + 9d``; one final LayerNorm ``2d``.  The
  attention is pointwise (SiLU, no softmax) and gated by U (Zhai et al. 2024); the
  relative attention bias of the paper is left out, so the block has no ``d_ff``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from perflaw.backbone_registry import BACKBONE_NAMES as ARCHITECTURES  # the one backbone registry
from perflaw.errors import DataError


@dataclass(frozen=True)
class ParameterCount:
    """Parameter count of one configuration, split by role."""

    embedding: int
    non_embedding: int

    @property
    def total(self) -> int:
        return self.embedding + self.non_embedding

    def get(self, count: str) -> int:
        """``count`` is ``"total"`` or ``"non-embedding"``."""
        if count == "total":
            return self.total
        if count in ("non-embedding", "non_embedding"):
            return self.non_embedding
        raise DataError(f"unknown parameter count {count!r}: use 'total' or 'non-embedding'")


def llama_ffn_dim(d_emb: int) -> int:
    """SwiGLU hidden size of the authors' Llama-style trainer: 32·ceil((8d/3)/32)."""
    return 32 * math.ceil((8 * d_emb / 3) / 32)


def count_parameters(
    layers: int,
    d_emb: int,
    *,
    arch: str = "sasrec",
    n_items: int = 0,
    max_len: int = 0,
    d_ff: int | None = None,
) -> ParameterCount:
    """Count the parameters of a ``layers``-block backbone of width ``d_emb``.

    Parameters
    ----------
    layers, d_emb : int
        Number of transformer blocks and the embedding (= hidden) dimension.
    arch : {"sasrec", "llama", "hstu"}
        Block type (see the module docstring for the exact formulas).
    n_items : int
        Number of distinct items; the item table has ``n_items + 1`` rows (padding).
        0 leaves the item table out.
    max_len : int
        Maximum sequence length (size of the learned position table for ``sasrec``).
    d_ff : int, optional
        Feed-forward hidden size; defaults to ``d_emb`` (sasrec) or
        :func:`llama_ffn_dim` (llama); ignored by ``hstu``.

    Examples
    --------
    >>> c = count_parameters(2, 64, arch="sasrec", n_items=1000, max_len=50)
    >>> c.embedding, c.non_embedding, c.total
    (67264, 50560, 117824)
    >>> count_parameters(2, 64, arch="llama").non_embedding
    106816
    >>> count_parameters(2, 64, arch="hstu").non_embedding
    42240
    """
    for name, value in (("layers", layers), ("d_emb", d_emb)):
        if int(value) != value or value < 1:
            raise DataError(f"{name} must be a positive integer, got {value!r}")
    for name, value in (("n_items", n_items), ("max_len", max_len)):
        if int(value) != value or value < 0:
            raise DataError(f"{name} must be a non-negative integer, got {value!r}")
    layers, d, n_items, max_len = int(layers), int(d_emb), int(n_items), int(max_len)
    items = (n_items + 1) * d if n_items > 0 else 0
    if arch == "sasrec":
        ff = d if d_ff is None else int(d_ff)
        block = (4 * d * d + 4 * d) + (2 * d * ff + d + ff) + 4 * d
        return ParameterCount(items + max_len * d, layers * block + 2 * d)
    if arch == "llama":
        ff = llama_ffn_dim(d) if d_ff is None else int(d_ff)
        block = 4 * d * d + 3 * d * ff + 2 * d
        return ParameterCount(items, layers * block + d)
    if arch == "hstu":
        block = (4 * d * d + 4 * d) + (d * d + d) + 4 * d
        return ParameterCount(items + max_len * d, layers * block + 2 * d)
    raise DataError(f"unknown architecture {arch!r}: use one of {', '.join(ARCHITECTURES)}")
