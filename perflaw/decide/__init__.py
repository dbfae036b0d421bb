"""The decision wing: what to train next.

- :mod:`perflaw.decide.params`: parameter counting per architecture (docs/science.md §6),
  the registry of architectures shared with the trainer.
- :mod:`perflaw.decide.budget`: budgets and ranking a (layers, d_emb) grid under a fitted
  Performance Law (``recommend-config``).
- :mod:`perflaw.decide.allocation`: compute-optimal allocation under a fitted
  Chinchilla-style law.
- :mod:`perflaw.decide.surrogate`, :mod:`perflaw.decide.acquire`: the loop's predictive
  distribution over a grid, its acquisition rule, stopping rule and seed design;
  :mod:`perflaw.decide.loop` (runs table and ledger), :mod:`perflaw.decide.adaptive`
  (``sweep --adaptive``), :mod:`perflaw.decide.simulate` (replays against baselines).
"""
