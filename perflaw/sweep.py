"""Backward-compatible names: the trainer now lives in :mod:`perflaw.train`."""

from perflaw.train import RUNS_COLUMNS, SequenceData, TrainConfig, d_prime, load_sequences, sweep

__all__ = ["RUNS_COLUMNS", "SequenceData", "TrainConfig", "d_prime", "load_sequences", "sweep"]
