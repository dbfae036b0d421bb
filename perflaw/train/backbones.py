"""PyTorch backbones trained by ``perflaw sweep`` (needs the ``perflaw[train]`` extra).

This module imports torch at import time; only :mod:`perflaw.train.trainer` imports it,
and only inside the functions that train.  The names come from the one registry,
:data:`perflaw.backbone_registry.BACKBONES`.  Every backbone's ``sum(p.numel())`` equals
:func:`perflaw.decide.params.count_parameters` for the same arguments (a test checks it):

* ``sasrec``: learned positions, post-norm SASRec blocks (Kang & McAuley 2018) with a
  ReLU feed-forward of width ``d_ff = d``, one final LayerNorm;
* ``llama``: RMSNorm, rotary positions, bias-free attention and SwiGLU (the
  Performance-Law authors' trainer), one final RMSNorm;
* ``hstu``: learned positions, pointwise SiLU attention gated by U (Zhai et al. 2024),
  one final LayerNorm.

All three share the item table with the output layer (tied weights): the score of item
``i`` after position ``t`` is ``h_t · E[i]``.  Row 0 of the item table is padding.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from perflaw.backbone_registry import BACKBONES
from perflaw.decide.params import llama_ffn_dim


def _attention_mask(pad: torch.Tensor) -> torch.Tensor:
    """Boolean (B, 1, T, T) mask: causal, keys that are padding hidden, diagonal kept.

    The diagonal is always allowed so that a padding query (left padding) never has an
    empty row (which would give NaN); its output is never used.
    """
    T = pad.shape[1]
    causal = torch.ones(T, T, dtype=torch.bool, device=pad.device).tril()
    mask = causal[None, :, :] & ~pad[:, None, :]
    mask = mask | torch.eye(T, dtype=torch.bool, device=pad.device)[None]
    return mask[:, None, :, :]


def _attend(q, k, v, mask, p: float, math_attention: bool) -> torch.Tensor:
    """Masked (boolean ``mask``, True = visible) softmax attention with dropout ``p``.

    ``math_attention=False`` (every single-model run): PyTorch's fused
    ``scaled_dot_product_attention``.  ``True`` (packed runs, :mod:`perflaw.train.packed`):
    the same attention written out as matrix products, because ``torch.func.vmap`` has no
    batching rule for the fused CPU kernel (it would loop over the models) and, under bf16
    autocast, refuses rotary queries in float32 next to bf16 values.  The two agree to
    float rounding.
    """
    if not math_attention:
        return F.scaled_dot_product_attention(q, k, v, attn_mask=mask, dropout_p=p)
    w = (q @ k.transpose(-1, -2)) * q.shape[-1] ** -0.5
    w = w.masked_fill(~mask, float("-inf")).softmax(-1)
    if p:
        w = F.dropout(w, p)
    return w @ v


#: Logits computed at once by :func:`chunked_cross_entropy`: 2**19 floats (2 MiB), so a
#: chunk stays in cache while it is exponentiated and multiplied back (measured on the
#: 2-core CI CPU: 2**18–2**19 fastest, see docs/validation.md).
CHUNK_LOGITS = 2**19


class _ChunkedCrossEntropy(torch.autograd.Function):
    """Mean softmax cross-entropy of ``hidden @ weight[1:].T`` against ``targets - 1``,
    taken ``rows`` rows at a time; the gradients are computed in the same pass."""

    @staticmethod
    def forward(ctx, hidden, weight, targets, rows):  # type: ignore[override]
        with torch.autocast(hidden.device.type, enabled=False):
            # at least float32 (bf16 inputs under autocast), float64 kept for tests
            dtype = torch.promote_types(
                torch.promote_types(hidden.dtype, weight.dtype), torch.float32
            )
            h, w = hidden.to(dtype), weight.to(dtype)
            items = w[1:]  # row 0 is padding: never a target, never scored
            n = h.shape[0]
            total = h.new_zeros(())
            grad_h = torch.empty_like(h)
            grad_w = torch.zeros_like(w)
            at = torch.arange(min(rows, n), device=h.device)
            for lo in range(0, n, rows):
                hc, tc = h[lo : lo + rows], targets[lo : lo + rows] - 1
                logits = hc @ items.T
                lse = torch.logsumexp(logits, 1)
                total += (lse - logits.gather(1, tc[:, None])[:, 0]).sum()
                # d loss / d logits = softmax - one-hot, made in place of the logits
                probs = logits.sub_(lse[:, None]).exp_()
                probs[at[: len(tc)], tc] -= 1
                grad_h[lo : lo + rows] = probs @ items
                grad_w[1:].addmm_(probs.T, hc)
        ctx.save_for_backward(grad_h, grad_w)
        ctx.n = n
        ctx.dtypes = hidden.dtype, weight.dtype
        return total / n

    @staticmethod
    def backward(ctx, grad):  # type: ignore[override]
        grad_h, grad_w = ctx.saved_tensors
        scale = grad / ctx.n
        return (grad_h * scale).to(ctx.dtypes[0]), (grad_w * scale).to(ctx.dtypes[1]), None, None


def chunked_cross_entropy(
    hidden: torch.Tensor, weight: torch.Tensor, targets: torch.Tensor, chunk: int = CHUNK_LOGITS
) -> torch.Tensor:
    """Mean softmax cross-entropy over items 1…n of the scores ``hidden @ weight.T``,
    computed without ever holding the ``(N, n_items)`` logits.

    The same value and gradients as ``F.cross_entropy(hidden @ weight[1:].T, targets - 1)``
    (to float rounding): the logits are made ``chunk // n_items`` rows at a time, and each
    chunk's softmax gradient is multiplied back at once while it is still in cache.  On a
    CPU the full-matrix loss is memory-bound (2–5× slower, docs/validation.md); on a GPU
    the trainer keeps the full-matrix loss (not measured there).

    Parameters
    ----------
    hidden : Tensor (N, d)
        Hidden states at the targets' positions.
    weight : Tensor (n_items + 1, d)
        The item table; row 0 (padding) is never scored and gets no gradient.
    targets : LongTensor (N,)
        Item codes in 1…n_items.
    chunk : int
        Logits per chunk (the rows per chunk are ``max(1, chunk // n_items)``).

    Examples
    --------
    >>> import torch, torch.nn.functional as F
    >>> h, w = torch.randn(5, 4), torch.randn(8, 4)
    >>> t = torch.tensor([1, 7, 3, 3, 2])
    >>> ref = F.cross_entropy(h @ w[1:].T, t - 1)
    >>> bool(torch.isclose(chunked_cross_entropy(h, w, t, chunk=14), ref))
    True
    """
    if hidden.shape[0] == 0:
        raise ValueError("chunked_cross_entropy needs at least one target")
    rows = max(1, chunk // max(1, weight.shape[0] - 1))
    return _ChunkedCrossEntropy.apply(hidden, weight, targets, rows)


class _Backbone(nn.Module):
    """Common parts: item table, scoring against the (tied) item table."""

    def __init__(self, n_items: int, d_emb: int):
        super().__init__()
        self.n_items = n_items
        self.d_emb = d_emb
        self.items = nn.Embedding(n_items + 1, d_emb, padding_idx=0)
        nn.init.normal_(self.items.weight, std=d_emb**-0.5)
        with torch.no_grad():
            self.items.weight[0].zero_()

    def use_math_attention(self, on: bool = True) -> _Backbone:
        """Let every attention block use the written-out attention (see :func:`_attend`)."""
        for module in self.modules():
            if isinstance(module, (_SASRecBlock, _LlamaBlock)):
                module.math_attention = on
        return self

    def scores(self, hidden: torch.Tensor) -> torch.Tensor:
        """Scores of every item (padding column included) for hidden states (..., d)."""
        return hidden @ self.items.weight.T

    def loss(self, hidden: torch.Tensor, targets: torch.Tensor, kind: str = "ce") -> torch.Tensor:
        """Mean next-item loss of hidden states ``(N, d)`` against item codes ``(N,)``.

        ``"ce"``: softmax cross-entropy over every item (padding excluded; on a CPU by
        :func:`chunked_cross_entropy`, which never holds the whole logit matrix); ``"bce"``:
        binary cross-entropy of the target against one uniformly drawn item (SASRec's
        original loss; the draw uses torch's global generator, seeded by the trainer).
        """
        if kind == "ce":
            if hidden.device.type == "cpu":
                return chunked_cross_entropy(hidden, self.items.weight, targets)
            logits = self.scores(hidden).float()
            logits[:, 0] = float("-inf")
            return F.cross_entropy(logits, targets)
        neg = torch.randint(1, self.n_items + 1, targets.shape, device=targets.device)
        w = self.items.weight
        pos_s = (hidden * w[targets]).sum(-1).float()
        neg_s = (hidden * w[neg]).sum(-1).float()
        return (F.softplus(-pos_s) + F.softplus(neg_s)).mean()


# ----------------------------------------------------------------------------- SASRec
class _SASRecBlock(nn.Module):
    def __init__(self, d: int, heads: int, dropout: float):
        super().__init__()
        self.heads = heads
        self.qkv = nn.Linear(d, 3 * d)  # 3d² + 3d
        self.out = nn.Linear(d, d)  # d² + d
        self.norm1 = nn.LayerNorm(d)
        self.ff1 = nn.Linear(d, d)  # d·d_ff + d_ff (d_ff = d)
        self.ff2 = nn.Linear(d, d)  # d_ff·d + d
        self.norm2 = nn.LayerNorm(d)
        self.drop = nn.Dropout(dropout)
        self.p = dropout
        self.math_attention = False

    def forward(self, x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        B, T, d = x.shape
        q, k, v = self.qkv(x).view(B, T, 3, self.heads, d // self.heads).permute(2, 0, 3, 1, 4)
        a = _attend(q, k, v, mask, self.p if self.training else 0.0, self.math_attention)
        a = a.transpose(1, 2).reshape(B, T, d)
        x = self.norm1(x + self.drop(self.out(a)))
        f = self.ff2(self.drop(F.relu(self.ff1(x))))
        return self.norm2(x + self.drop(f))


class _LearnedPositions(_Backbone):
    """Items plus learned positions, a stack of ``block`` modules, a final LayerNorm."""

    block: type

    def __init__(
        self,
        n_items: int,
        d_emb: int,
        layers: int,
        max_len: int,
        *,
        heads: int = 1,
        dropout: float = 0.2,
    ):
        super().__init__(n_items, d_emb)
        self.positions = nn.Embedding(max_len, d_emb)
        self.blocks = nn.ModuleList(self.block(d_emb, heads, dropout) for _ in range(layers))
        self.norm = nn.LayerNorm(d_emb)
        self.drop = nn.Dropout(dropout)

    def forward(self, seq: torch.Tensor) -> torch.Tensor:
        pad = seq == 0
        T = seq.shape[1]
        x = self.items(seq) * math.sqrt(self.d_emb)
        x = x + self.positions(torch.arange(T, device=seq.device))[None]
        x = self.drop(x) * (~pad)[..., None]
        mask = _attention_mask(pad)
        for block in self.blocks:
            x = block(x, mask) * (~pad)[..., None]
        return self.norm(x)


class SASRec(_LearnedPositions):
    """SASRec-style transformer with learned positions (post-norm blocks)."""

    block = _SASRecBlock


# ------------------------------------------------------------------------------ Llama
class _RMSNorm(nn.Module):
    def __init__(self, d: int, eps: float = 1e-6):
        super().__init__()
        self.weight = nn.Parameter(torch.ones(d))
        self.eps = eps

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + self.eps) * self.weight


def _rope(x: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor) -> torch.Tensor:
    x1, x2 = x[..., ::2], x[..., 1::2]
    return torch.stack((x1 * cos - x2 * sin, x1 * sin + x2 * cos), dim=-1).flatten(-2)


class _LlamaBlock(nn.Module):
    def __init__(self, d: int, heads: int, dropout: float):
        super().__init__()
        self.heads = heads
        self.qkv = nn.Linear(d, 3 * d, bias=False)
        self.out = nn.Linear(d, d, bias=False)
        ff = llama_ffn_dim(d)
        self.gate = nn.Linear(d, ff, bias=False)
        self.up = nn.Linear(d, ff, bias=False)
        self.down = nn.Linear(ff, d, bias=False)
        self.norm1 = _RMSNorm(d)
        self.norm2 = _RMSNorm(d)
        self.drop = nn.Dropout(dropout)
        self.p = dropout
        self.math_attention = False

    def forward(self, x, mask, cos, sin):
        B, T, d = x.shape
        h = self.norm1(x)
        q, k, v = self.qkv(h).view(B, T, 3, self.heads, d // self.heads).permute(2, 0, 3, 1, 4)
        q, k = _rope(q, cos, sin), _rope(k, cos, sin)
        a = _attend(q, k, v, mask, self.p if self.training else 0.0, self.math_attention)
        x = x + self.drop(self.out(a.transpose(1, 2).reshape(B, T, d)))
        h = self.norm2(x)
        return x + self.drop(self.down(F.silu(self.gate(h)) * self.up(h)))


class Llama(_Backbone):
    """Llama-style pre-norm decoder: RMSNorm, rotary positions, SwiGLU, no biases."""

    def __init__(
        self,
        n_items: int,
        d_emb: int,
        layers: int,
        max_len: int,
        *,
        heads: int = 1,
        dropout: float = 0.2,
    ):
        super().__init__(n_items, d_emb)
        self.head_dim = d_emb // heads
        self.blocks = nn.ModuleList(_LlamaBlock(d_emb, heads, dropout) for _ in range(layers))
        self.norm = _RMSNorm(d_emb)
        self.drop = nn.Dropout(dropout)

    def forward(self, seq: torch.Tensor) -> torch.Tensor:
        pad = seq == 0
        T = seq.shape[1]
        # Sequences are left-padded, so the last item always sits at position T - 1.
        pos = torch.arange(T, device=seq.device, dtype=torch.float32)
        inv = 10000.0 ** (-torch.arange(0, self.head_dim, 2, device=seq.device) / self.head_dim)
        ang = pos[:, None] * inv[None, :]
        cos, sin = ang.cos(), ang.sin()
        x = self.drop(self.items(seq)) * (~pad)[..., None]
        mask = _attention_mask(pad)
        for block in self.blocks:
            x = block(x, mask, cos, sin)
        return self.norm(x)


# ------------------------------------------------------------------------------- HSTU
class _HSTUBlock(nn.Module):
    def __init__(self, d: int, heads: int, dropout: float):
        super().__init__()
        self.heads = heads
        self.norm_in = nn.LayerNorm(d)
        self.proj = nn.Linear(d, 4 * d)  # U, V, Q, K
        self.norm_attn = nn.LayerNorm(d)
        self.out = nn.Linear(d, d)
        self.drop = nn.Dropout(dropout)

    def forward(self, x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        B, T, d = x.shape
        u, v, q, k = F.silu(self.proj(self.norm_in(x))).chunk(4, dim=-1)

        def split(t):
            return t.view(B, T, self.heads, d // self.heads).transpose(1, 2)

        q, k, v = split(q), split(k), split(v)
        # Pointwise aggregated attention: SiLU(QKᵀ) / n over the visible keys.
        w = F.silu(q @ k.transpose(-1, -2)) * mask
        w = w / mask.sum(-1, keepdim=True).clamp(min=1)
        a = (w @ v).transpose(1, 2).reshape(B, T, d)
        return x + self.drop(self.out(self.norm_attn(a) * u))


class HSTU(_LearnedPositions):
    """HSTU-style blocks (pointwise SiLU attention gated by U) with learned positions."""

    block = _HSTUBlock


def build(
    backbone: str,
    n_items: int,
    d_emb: int,
    layers: int,
    max_len: int,
    *,
    heads: int = 1,
    dropout: float = 0.2,
) -> _Backbone:
    """Instantiate backbone ``backbone`` (a key of :data:`perflaw.backbone_registry.BACKBONES`)."""
    cls = globals()[BACKBONES[backbone].model]
    return cls(n_items, d_emb, layers, max_len, heads=heads, dropout=dropout)
