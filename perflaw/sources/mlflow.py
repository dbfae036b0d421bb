"""``mlflow:EXPERIMENT``: the finished runs of an MLflow experiment.

Read through ``mlflow.search_runs`` (every page): parameters arrive as strings in
``params.*`` columns and each metric's last logged value in ``metrics.*``; the runs table
keeps the run id and name.  Runs not ``FINISHED`` (running, failed, killed) are left out.
The tracking URI is ``tracking_uri`` when given, else MLflow's own (its
``MLFLOW_TRACKING_URI`` variable).
"""

from __future__ import annotations

import pandas as pd

from perflaw.errors import DataError


def read(target: str, *, tracking_uri: str | None = None, spec: str = "", **_) -> pd.DataFrame:
    from perflaw.sources import require

    mlflow = require("mlflow", "mlflow", f"reading {spec or 'an MLflow experiment'}")
    previous = mlflow.get_tracking_uri() if tracking_uri else None
    try:
        if tracking_uri:
            # search_runs reads the process-wide URI; put the caller's back afterwards
            mlflow.set_tracking_uri(tracking_uri)
        where = tracking_uri or mlflow.get_tracking_uri()
        try:
            experiment = mlflow.get_experiment_by_name(target)
        except Exception as exc:  # noqa: BLE001 - an unreachable store, in one line
            raise DataError(
                f"{spec}: cannot reach the MLflow tracking store {where!r} "
                f"({type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''})"
            ) from None
        if experiment is None:
            raise DataError(
                f"{spec}: no MLflow experiment named {target!r} at {where!r}; "
                "set --tracking-uri or MLFLOW_TRACKING_URI"
            )
        frame = mlflow.search_runs(
            experiment_ids=[experiment.experiment_id],
            filter_string="attributes.status = 'FINISHED'",
            output_format="pandas",
        )
    finally:
        if previous is not None:
            mlflow.set_tracking_uri(previous)
    if frame.empty:
        return frame
    keep = [c for c in frame.columns if c.startswith(("params.", "metrics."))]
    out = frame[keep].copy()
    out.insert(0, "run_id", frame["run_id"].to_numpy())
    if "tags.mlflow.runName" in frame.columns:
        out.insert(1, "run_name", frame["tags.mlflow.runName"].to_numpy())
    # oldest first, the order the runs were made in (search_runs lists newest first)
    if "start_time" in frame.columns:
        out = out.iloc[frame["start_time"].argsort(kind="stable").to_numpy()]
    return out.reset_index(drop=True)
