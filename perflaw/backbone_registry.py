"""The one registry of backbones: names shared by training and parameter counting.

Torch-free and at the bottom of the package, so the trainer (:mod:`perflaw.train`) and
parameter counting (:mod:`perflaw.decide.params`) both read it without importing each other.

A backbone is one entry here (torch-free), one class in :mod:`perflaw.train.backbones`
(looked up by :data:`BACKBONES`' ``model`` name) and one branch in the parameter count.
Tests check that every entry builds a model whose size equals the count.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Backbone:
    """One backbone: its name, the model class name in :mod:`perflaw.train.backbones`,
    and whether it has a learned position table (counted as embedding parameters)."""

    name: str
    model: str
    learned_positions: bool
    summary: str


BACKBONES: dict[str, Backbone] = {
    b.name: b
    for b in (
        Backbone(
            "sasrec",
            "SASRec",
            True,
            "post-norm attention + ReLU feed-forward (d_ff = d), learned positions",
        ),
        Backbone(
            "llama",
            "Llama",
            False,
            "pre-RMSNorm attention without biases + SwiGLU, rotary positions",
        ),
        Backbone("hstu", "HSTU", True, "pointwise SiLU attention gated by U, learned positions"),
    )
}

#: Backbone names, in registry order.
BACKBONE_NAMES: tuple[str, ...] = tuple(BACKBONES)
