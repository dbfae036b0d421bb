"""``perflaw sweep``: train small sequential recommenders and write the runs table.

Modules (torch is imported only by :mod:`~perflaw.train.backbones` and inside the
functions that train, so importing this package stays light):

* :mod:`~perflaw.train.data` — reading a log into per-user sequences, training windows;
* :mod:`~perflaw.train.evaluation` — leave-one-out ranking metrics;
* :mod:`~perflaw.train.backbones` — the PyTorch models and their loss (their names in
  :mod:`perflaw.backbone_registry`, shared with parameter counting);
* :mod:`~perflaw.train.trainer` — one training run (:class:`TrainConfig`);
* :mod:`~perflaw.train.packed` — several runs of one shape trained as one stack
  (``sweep --pack K``);
* :mod:`~perflaw.train.runs_table` — the runs table: append, resume, seed means;
* :mod:`~perflaw.train.claims` — which process trains which configuration of a shared
  table (one winner, heartbeats, expiry), the table lock;
* :mod:`~perflaw.train.shards` — job arrays: ``--shard I/N`` and merging the tables;
* :mod:`~perflaw.train.device` — the device string and the default CPU threads;
* :mod:`~perflaw.train.sweep` — the grid.
"""

from perflaw.train.data import SequenceData, d_prime, load_sequences
from perflaw.train.runs_table import RUNS_COLUMNS
from perflaw.train.sweep import sweep
from perflaw.train.trainer import TrainConfig

__all__ = ["RUNS_COLUMNS", "SequenceData", "TrainConfig", "d_prime", "load_sequences", "sweep"]
