"""``tensorboard:FOLDER``: runs logged as TensorBoard event files.

One run per sub-folder of ``FOLDER`` that holds event files (at any depth below it: the
folder ``SummaryWriter.add_hparams`` makes inside a run's folder belongs to that run), or
``FOLDER`` itself when the event files are directly in it.  A run's columns are its
hyperparameters (the hparams plugin's session info, as ``add_hparams`` writes it) and one
value per scalar tag: the last logged value (by step), or with ``tensorboard:FOLDER#best``
the best one (the smallest for a tag naming a loss, the largest otherwise).
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from perflaw.errors import DataError


def _event_dirs(root: Path) -> list[Path]:
    return sorted({p.parent for p in root.rglob("events.out.tfevents.*") if p.is_file()})


def _hparams(acc) -> dict:
    from tensorboard.plugins.hparams import plugin_data_pb2

    out: dict = {}
    try:
        content = acc.PluginTagToContent("hparams")
    except KeyError:
        return out
    for blob in content.values():
        data = plugin_data_pb2.HParamsPluginData.FromString(blob)
        if not data.HasField("session_start_info"):
            continue
        for name, value in data.session_start_info.hparams.items():
            kind = value.WhichOneof("kind")
            if kind is not None:
                out[name] = getattr(value, kind)
    return out


def read(target: str, *, spec: str = "", **_) -> pd.DataFrame:
    from perflaw.sources import require

    require("tensorboard", "tensorboard", f"reading {spec or 'TensorBoard event files'}")
    from tensorboard.backend.event_processing import event_accumulator as ea

    folder, _sep, how = target.partition("#")
    how = how or "last"
    if how not in ("last", "best"):
        raise DataError(f"{spec}: unknown value {how!r} after '#': use #last or #best")
    root = Path(folder)
    if not root.is_dir():
        raise DataError(f"{spec}: {folder!r} is not a folder of TensorBoard event files")
    dirs = _event_dirs(root)
    if not dirs:
        raise DataError(f"{spec}: no TensorBoard event files under {folder!r}")
    runs: dict[str, dict] = {}
    for d in dirs:
        rel = d.relative_to(root).parts
        name = rel[0] if rel else root.name
        row = runs.setdefault(name, {"run": name})
        acc = ea.EventAccumulator(str(d), size_guidance={ea.SCALARS: 0, ea.TENSORS: 0})
        acc.Reload()
        row.update(_hparams(acc))
        for tag in acc.Tags().get("scalars", []):
            events = acc.Scalars(tag)
            if not events:
                continue
            if how == "last":
                value = max(events, key=lambda e: (e.step, e.wall_time)).value
            elif "loss" in tag.lower():
                value = min(e.value for e in events)
            else:
                value = max(e.value for e in events)
            row.setdefault(tag, float(value))
    return pd.DataFrame(list(runs.values()))
