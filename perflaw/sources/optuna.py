"""``optuna:STUDY``: the complete trials of an Optuna study (``--storage`` names its storage).

Read through ``study.trials_dataframe()``: each trial's parameters (``params_*``), its
user attributes (``user_attrs_*``, where a trial records its other metrics) and its
objective value, named after ``study.metric_names`` when the study set them (Optuna's
``value_NAME``; else ``value``, or ``values_0``... for several objectives).  Trials not
``COMPLETE`` (pruned, failed, running) are left out.
"""

from __future__ import annotations

import pandas as pd

from perflaw.errors import DataError


def read(target: str, *, storage: str | None = None, spec: str = "", **_) -> pd.DataFrame:
    from perflaw.sources import require

    optuna = require("optuna", "optuna", f"reading {spec or 'an Optuna study'}")
    if not storage:
        raise DataError(f"{spec}: give the study's storage with --storage (e.g. sqlite:///o.db)")
    try:
        study = optuna.load_study(study_name=target, storage=storage)
    except KeyError:
        names = optuna.get_all_study_names(storage=storage)
        raise DataError(
            f"{spec}: no study {target!r} in {storage!r}; it has {', '.join(names) or 'none'}"
        ) from None
    except Exception as exc:  # noqa: BLE001 - a bad storage URL, in one line
        raise DataError(
            f"{spec}: cannot open the Optuna storage {storage!r} "
            f"({type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''})"
        ) from None
    frame = study.trials_dataframe(multi_index=False)
    if frame.empty:
        return frame
    frame = frame[frame["state"] == "COMPLETE"]
    names = [n for n in (getattr(study, "metric_names", None) or []) if n]
    values = [c for c in frame.columns if c == "value" or c.startswith(("values_", "value_"))]
    rename = {}
    for col in values:  # Optuna writes value_NAME once the study has metric names
        name = col[len("value_") :] if col.startswith("value_") else None
        if name in names and name not in frame.columns:
            rename[col] = name
    if len(names) == 1 and "value" in values and names[0] not in frame.columns:
        rename["value"] = names[0]
    keep = [c for c in frame.columns if c.startswith(("params_", "user_attrs_")) or c in values]
    out = frame[keep].rename(columns=rename)
    # in MLflow's spelling, which the normaliser strips (a bare params_ prefix it cannot:
    # params_total is a runs-table column)
    out = out.rename(
        columns=lambda c: (
            "params." + c[len("params_") :]
            if c.startswith("params_")
            else "metrics." + c[len("user_attrs_") :]
            if c.startswith("user_attrs_")
            else c
        )
    )
    out.insert(0, "trial", frame["number"].to_numpy())
    return out.reset_index(drop=True)
