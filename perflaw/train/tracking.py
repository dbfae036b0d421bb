"""Sinks: each finished run of ``perflaw sweep`` logged to an experiment tracker.

``perflaw sweep --log-to mlflow|tensorboard|wandb`` logs, per run, its settings, its
validation curve (validation NDCG@10 at each evaluation step) and its final metrics, so
that sweeps show up where users already look.  The runs table stays the source of
truth: a sink only copies rows into a tracker, and a run that fails to log is a warning,
never a lost row.  Every column of the runs table is logged, so a tracker's copy reads
back (``perflaw fit mlflow:EXPERIMENT``, ``tensorboard:FOLDER``) into the same table:

* MLflow (extra ``mlflow``): one run per row in experiment ``name`` at ``tracking_uri``
  (else MLflow's own, ``MLFLOW_TRACKING_URI``); the shape and settings as parameters,
  the numbers as metrics (``@`` spelt ``_at_``, which MLflow requires and perflaw's
  reader maps back), the curve as metric ``curve/val_ndcg_at_10`` by step.
* TensorBoard (extra ``tensorboard``): one folder per run under ``folder/name``
  (``folder`` default ``runs``, TensorBoard's own default); the curve as scalar
  ``curve/val_ndcg@10``, the final metrics as scalars ``test/...`` at the last step, and
  every column of the row as hparams (64-bit, exact) via ``add_hparams``.
* W&B (extra ``wandb``): one run per row in project ``name`` (``WANDB_MODE=offline``
  works), its files under ``folder`` when given (else W&B's own, ``WANDB_DIR``); the
  row's settings as config, the curve logged by step, the metrics as the summary.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Sequence
from pathlib import Path

from perflaw.errors import PerflawError

#: the runs-table columns that describe a run (parameters); the rest are measurements
PARAM_COLUMNS = (
    "dataset",
    "backbone",
    "layers",
    "d_emb",
    "data_fraction",
    "max_len",
    "seed",
    "d_prime_def",
    "end",
    "val_curve",
    "eval",
    "objective",
    "device",
    "settings",
)
SINKS = ("mlflow", "tensorboard", "wandb")


class TrackingWarning(UserWarning):
    """A run could not be logged to a tracker (the runs table has it all the same)."""


def curve_steps(curve: Sequence[float], eval_every: int, steps: int) -> list[tuple[int, float]]:
    """``(step, value)`` of a run's validation curve.

    The trainer validates at every multiple of ``eval_every`` and at the last step
    (``train_one``'s loop), so the i-th value is at ``min((i + 1) * eval_every, steps)``.

    >>> curve_steps([0.1, 0.2, 0.25], 100, 250)
    [(100, 0.1), (200, 0.2), (250, 0.25)]
    """
    return [(min((i + 1) * eval_every, int(steps)), float(v)) for i, v in enumerate(curve)]


def _label(row: dict) -> str:
    return (
        f"{row.get('backbone')}-L{row.get('layers')}-d{row.get('d_emb')}"
        f"-f{row.get('data_fraction')}-s{row.get('seed')}"
    )


def _split(row: dict) -> tuple[dict, dict]:
    params, metrics = {}, {}
    for k, v in row.items():
        if k in PARAM_COLUMNS or not isinstance(v, (int, float)) or isinstance(v, bool):
            params[k] = v
        elif math.isfinite(float(v)):
            metrics[k] = float(v)
    return params, metrics


class MlflowSink:
    """Log runs to an MLflow experiment (created when missing)."""

    def __init__(self, name: str, tracking_uri: str | None = None):
        from perflaw.sources import require

        require("mlflow", "mlflow", "--log-to mlflow")
        from mlflow import MlflowClient

        self.client = MlflowClient(tracking_uri=tracking_uri)
        found = self.client.get_experiment_by_name(name)
        self.experiment_id = (
            found.experiment_id if found is not None else self.client.create_experiment(name)
        )

    def log_run(self, row: dict, curve: list[tuple[int, float]]) -> None:
        import time

        from mlflow.entities import Metric, Param

        params, metrics = _split(row)
        now = int(time.time() * 1000)
        run = self.client.create_run(self.experiment_id, run_name=_label(row))
        try:
            final = int(row.get("steps") or 0)
            batch = [Metric(k.replace("@", "_at_"), v, now, final) for k, v in metrics.items()]
            batch += [Metric("curve/val_ndcg_at_10", v, now, s) for s, v in curve]
            # MLflow takes at most 1000 metrics and 100 parameters per batch
            for i in range(0, max(len(batch), 1), 1000):
                self.client.log_batch(
                    run.info.run_id,
                    metrics=batch[i : i + 1000],
                    params=[Param(k, str(v)) for k, v in params.items()] if i == 0 else [],
                )
        except Exception:
            self.client.set_terminated(run.info.run_id, status="FAILED")
            raise
        self.client.set_terminated(run.info.run_id)

    def close(self) -> None:
        pass


class TensorBoardSink:
    """Write each run's event files to ``folder/name/<run label>``."""

    def __init__(self, name: str, folder: str | Path = "runs"):
        from perflaw.sources import require

        require("tensorboard", "tensorboard", "--log-to tensorboard")
        self.root = Path(folder) / name

    def log_run(self, row: dict, curve: list[tuple[int, float]]) -> None:
        from torch.utils.tensorboard import SummaryWriter

        params, metrics = _split(row)
        final = int(row.get("steps") or 0)
        with SummaryWriter(str(self.root / _label(row))) as writer:
            for step, value in curve:
                writer.add_scalar("curve/val_ndcg@10", value, step)
            for k, v in metrics.items():
                if "@" in k and not k.startswith("val_"):
                    writer.add_scalar(f"test/{k}", v, final)
            hparams = {
                k: (v if isinstance(v, (int, float, str, bool)) else str(v))
                for k, v in {**params, **metrics}.items()
            }
            writer.add_hparams(
                hparams,
                {"hparam/val_ndcg@10": metrics.get("val_ndcg@10", float("nan"))},
                run_name="hparams",
                global_step=final,
            )

    def close(self) -> None:
        pass


class WandbSink:
    """Log each run as a W&B run in project ``name`` (its own ``WANDB_*`` settings)."""

    def __init__(self, name: str, folder: str | Path | None = None):
        from perflaw.sources import require

        self.wandb = require("wandb", "wandb", "--log-to wandb")
        self.project = name
        self.folder = None if folder is None else str(folder)

    def log_run(self, row: dict, curve: list[tuple[int, float]]) -> None:
        params, metrics = _split(row)
        run = self.wandb.init(
            project=self.project,
            name=_label(row),
            config=params,
            reinit="create_new",
            dir=self.folder,  # None: W&B's own (WANDB_DIR, else ./wandb)
        )
        try:
            for step, value in curve:
                run.log({"curve/val_ndcg@10": value}, step=step)
            run.summary.update(metrics)
        finally:
            run.finish()

    def close(self) -> None:
        pass


class Tracking:
    """The sinks of one sweep: ``log_run`` sends a finished run to each of them; a sink
    that fails warns (naming the run and the tracker) and the sweep goes on."""

    def __init__(
        self,
        sinks: Sequence[str],
        *,
        name: str = "perflaw-sweep",
        tracking_uri: str | None = None,
        folder: str | Path | None = None,
    ):
        unknown = [s for s in sinks if s not in SINKS]
        if unknown:
            raise PerflawError(f"unknown --log-to {unknown[0]!r}: use {', '.join(SINKS)}")
        self.sinks: list = []
        for s in dict.fromkeys(sinks):
            if s == "mlflow":
                self.sinks.append(MlflowSink(name, tracking_uri))
            elif s == "tensorboard":
                self.sinks.append(TensorBoardSink(name, "runs" if folder is None else folder))
            else:
                self.sinks.append(WandbSink(name, folder))

    def log_run(self, row: dict, curve: list[tuple[int, float]]) -> None:
        for sink in self.sinks:
            try:
                sink.log_run(row, curve)
            except Exception as exc:  # noqa: BLE001 - the runs table has the run anyway
                warnings.warn(
                    f"{type(sink).__name__.removesuffix('Sink')}: run {_label(row)} not "
                    f"logged ({type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''})"
                    "; it is in the runs table",
                    TrackingWarning,
                    stacklevel=2,
                )

    def close(self) -> None:
        for sink in self.sinks:
            sink.close()
