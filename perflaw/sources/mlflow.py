"""``mlflow:EXPERIMENT``: the finished runs of an MLflow experiment.

Read with MLflow's client (``MlflowClient.search_runs``, every page), into the table
``mlflow.search_runs`` returns: parameters as strings in ``params.*`` columns and each
metric's last logged value in ``metrics.*``, with the run's id and name.  The client is
used rather than ``mlflow.search_runs`` itself so that ``tracking_uri`` does not change
the process-wide URI of a caller that uses MLflow too.  Runs not ``FINISHED`` (running,
failed, killed) are left out.  The tracking URI is ``tracking_uri`` when given, else
MLflow's own (its ``MLFLOW_TRACKING_URI`` variable).
"""

from __future__ import annotations

import pandas as pd

from perflaw.errors import DataError


def _one_line(exc: Exception) -> str:
    text = str(exc).strip()
    return f"{type(exc).__name__}: {text.splitlines()[0][:300] if text else ''}"


def read(target: str, *, tracking_uri: str | None = None, spec: str = "", **_) -> pd.DataFrame:
    from perflaw.sources import require

    require("mlflow", "mlflow", f"reading {spec or 'an MLflow experiment'}")
    from mlflow import MlflowClient

    try:
        client = MlflowClient(tracking_uri=tracking_uri)
        where = client.tracking_uri
        experiment = client.get_experiment_by_name(target)
    except Exception as exc:  # noqa: BLE001 - an unreachable or refused store, in one line
        raise DataError(
            f"{spec}: cannot read the MLflow tracking store {tracking_uri or ''} ({_one_line(exc)})"
        ) from None
    if experiment is None:
        raise DataError(
            f"{spec}: no MLflow experiment named {target!r} at {where!r}; "
            "set --tracking-uri or MLFLOW_TRACKING_URI"
        )
    rows, token = [], None
    while True:
        page = client.search_runs(
            [experiment.experiment_id],
            filter_string="attributes.status = 'FINISHED'",
            max_results=1000,
            order_by=["attributes.start_time ASC"],  # the order the runs were made in
            page_token=token,
        )
        for run in page:
            row = {"run_id": run.info.run_id, "run_name": run.info.run_name}
            row.update({f"params.{k}": v for k, v in run.data.params.items()})
            row.update({f"metrics.{k}": v for k, v in run.data.metrics.items()})
            rows.append(row)
        token = page.token
        if not token:
            break
    return pd.DataFrame(rows)
