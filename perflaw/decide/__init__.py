"""The decision wing: what to train next.

- :mod:`perflaw.decide.params`: parameter counting per architecture (docs/science.md §6),
  the registry of architectures shared with the trainer.
- :mod:`perflaw.decide.budget`: budgets and ranking a (layers, d_emb) grid under a fitted
  Performance Law (``recommend-config``).
- :mod:`perflaw.decide.allocation`: compute-optimal allocation under a fitted
  Chinchilla-style law.
"""
