"""``wandb:FOLDER`` (offline runs) and ``wandb:ENTITY/PROJECT`` (the W&B API).

An offline run (``WANDB_MODE=offline``) is a folder ``offline-run-DATE-ID`` holding the
run's transaction log ``run-ID.wandb``; ``FOLDER`` is such a folder or one holding several
(the ``wandb`` folder a script writes).  The log is LevelDB's log format (a 7-byte header
``:W&B``, 0xBEE1, version 0, then 32 KiB blocks of CRC-checked records, as wandb's former
``sdk/internal/datastore.py`` wrote and read it) whose records are the ``Record`` protocol
buffers of ``wandb.proto.wandb_internal_pb2``; wandb >= 0.19 no longer ships a Python
reader for it, so the few lines below read the records and wandb's own classes decode them.
A run's columns are its config, then its summary: the values set with ``run.summary``,
else the last logged value of each key (W&B's own summary rule).

A project online is read through ``wandb.Api().runs(ENTITY/PROJECT)`` (finished runs
only): ``run.config`` and ``run.summary`` make the columns.
"""

from __future__ import annotations

import json
import struct
import zlib
from pathlib import Path

import pandas as pd

from perflaw.errors import DataError

_HEADER = struct.Struct("<4sHB")
_RECORD = struct.Struct("<IHB")
_BLOCK = 32 * 1024
_FULL, _FIRST, _MIDDLE, _LAST = 1, 2, 3, 4


def _records(path: Path):
    """The payloads of a ``.wandb`` transaction log (LevelDB log format)."""
    data = path.read_bytes()
    if len(data) < _HEADER.size:
        raise DataError(f"{path}: not a W&B run log (too short)")
    ident, magic, version = _HEADER.unpack_from(data)
    if ident != b":W&B" or magic != 0xBEE1 or version != 0:
        raise DataError(f"{path}: not a W&B run log (header {data[:7]!r})")
    pos, parts = _HEADER.size, []
    while pos + _RECORD.size <= len(data):
        left = _BLOCK - pos % _BLOCK
        if left < _RECORD.size:  # a block's tail too short for a header is padding
            pos += left
            continue
        crc, length, kind = _RECORD.unpack_from(data, pos)
        if kind == 0 and length == 0:  # zero padding written at a block's end
            pos += left
            continue
        body = data[pos + _RECORD.size : pos + _RECORD.size + length]
        if len(body) < length or zlib.crc32(bytes([kind]) + body) & 0xFFFFFFFF != crc:
            break  # a torn tail (the run was killed while writing): keep what came before
        pos += _RECORD.size + length
        if kind == _FULL:
            yield body
        elif kind == _FIRST:
            parts = [body]
        elif kind == _MIDDLE:
            parts.append(body)
        elif kind == _LAST:
            yield b"".join(parts + [body])
            parts = []


def _key(item) -> str:
    return "/".join(item.nested_key) if item.nested_key else item.key


def read_offline_run(run_dir: Path) -> dict | None:
    """One offline run's config and summary, or None without a run log in ``run_dir``."""
    from wandb.proto import wandb_internal_pb2 as pb

    logs = sorted(run_dir.glob("run-*.wandb"))
    if not logs:
        return None
    config: dict = {}
    summary: dict = {}
    history: dict = {}
    name = run_dir.name
    for payload in _records(logs[0]):
        record = pb.Record()  # type: ignore[attr-defined]  # generated, no stub for it
        record.ParseFromString(payload)
        kind = record.WhichOneof("record_type")
        if kind == "run":
            name = record.run.display_name or record.run.run_id or name
            items = record.run.config.update
        elif kind == "config":
            items = record.config.update
        else:
            items = []
        for item in items:
            config[_key(item)] = json.loads(item.value_json)
        if kind == "summary":
            for item in record.summary.update:
                summary[_key(item)] = json.loads(item.value_json)
        elif kind == "history":
            for item in record.history.item:
                history[_key(item)] = json.loads(item.value_json)
    row: dict = {"run": name}
    row.update({k: _scalar(v) for k, v in config.items() if not k.startswith("_")})
    for k, v in {**history, **summary}.items():
        if not k.startswith("_"):
            row.setdefault(k, _scalar(v))
    return row


def _scalar(value):
    # W&B config values arrive as {"value": x} in some records, plain in others
    if isinstance(value, dict) and set(value) <= {"value", "desc"} and "value" in value:
        value = value["value"]
    return value if isinstance(value, (int, float, str, bool)) or value is None else str(value)


def read(target: str, *, spec: str = "", **_) -> pd.DataFrame:
    from perflaw.sources import require

    require("wandb", "wandb", f"reading {spec or 'W&B runs'}")
    path = Path(target)
    if path.is_dir():
        dirs = [path] if list(path.glob("run-*.wandb")) else sorted(path.glob("*run-*"))
        rows = [r for r in (read_offline_run(d) for d in dirs if d.is_dir()) if r is not None]
        if not rows:
            raise DataError(f"{spec}: no W&B run log (run-ID.wandb) in {target!r}")
        return pd.DataFrame(rows)
    if target.count("/") != 1 or path.exists():
        raise DataError(f"{spec}: give a W&B offline run folder or ENTITY/PROJECT")
    return read_api(target, spec=spec)


def read_api(project: str, *, spec: str = "", api=None) -> pd.DataFrame:
    """The finished runs of ``ENTITY/PROJECT`` through ``wandb.Api`` (``api``: one made
    by the caller, e.g. with its own key or host)."""
    import wandb

    try:
        api = api or wandb.Api()
        runs = list(api.runs(project, filters={"state": "finished"}))
    except Exception as exc:  # noqa: BLE001 - no network, no key, no project: one line
        raise DataError(
            f"{spec or project}: cannot read W&B project {project!r} "
            f"({type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''})"
        ) from None
    return frame_of_api_runs(runs)


def frame_of_api_runs(runs) -> pd.DataFrame:
    """One row per W&B API run (``.name``, ``.config``, ``.summary``)."""
    rows = []
    for run in runs:
        row: dict = {"run": run.name}
        row.update({k: _scalar(v) for k, v in dict(run.config).items() if not k.startswith("_")})
        summary = getattr(run.summary, "_json_dict", None) or dict(run.summary)
        for k, v in summary.items():
            if not k.startswith("_"):
                row.setdefault(k, _scalar(v))
        rows.append(row)
    return pd.DataFrame(rows)
