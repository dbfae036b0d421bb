"""``recbole:PATH``: runs from the log files RecBole 1.2.1 writes (one file per run).

``run_recbole`` (``recbole/quick_start/quick_start.py``) logs, through the file handler
``init_logger`` (``recbole/utils/logger.py``) sets up at
``log/MODEL/MODEL-DATASET-Mon-DD-YYYY_HH-MM-SS-HASH.log`` with colours removed:

* the configuration (``Config.__str__``): ``NAME = VALUE`` lines under the ``General``,
  ``Training``, ``Evaluation``, ``Dataset`` and ``Other Hyper Parameters:`` headings
  (the model's own settings, ``n_layers`` and ``hidden_size`` for SASRec, are under
  ``Other``);
* at the end ``best valid : OrderedDict(...)`` and ``test result: OrderedDict(...)``:
  the evaluator's ``OrderedDict`` of ``metric@k`` values, whose ``repr`` is
  ``OrderedDict([('ndcg@10', 0.1)])`` before Python 3.12 and ``OrderedDict({'ndcg@10':
  0.1})`` from it (a value may print as ``np.float64(0.1)`` under numpy 2).

A run is one file; a folder is read recursively for ``*.log`` files, and a file without
a ``test result`` line (a run that did not finish) is left out.  The test metrics are
named as RecBole names them (``ndcg@10``, ``hit@10``, ``recall@10``...), the validation
ones ``valid/...`` (so ``val_ndcg@10`` after the normaliser); the model and dataset come
from the file name.
"""

from __future__ import annotations

import re
from pathlib import Path

import pandas as pd

from perflaw.errors import DataError

_RESULT = re.compile(r"(best valid|test result)\s*:\s*(?:OrderedDict|dict)?\s*\((.*)\)\s*$")
_PAIR = re.compile(
    r"""['"]([^'"]+)['"]\s*[,:]\s*(?:np\.float\d*\(|numpy\.float\d*\()?\s*"""
    r"""([-+]?(?:\d+\.?\d*(?:[eE][-+]?\d+)?|\.\d+(?:[eE][-+]?\d+)?|nan|inf))"""
)
_SETTING = re.compile(r"^([A-Za-z_][\w.]*) = (.*)$")
_HEADING = re.compile(r"^(General|Training|Evaluation|Dataset|Other) Hyper Parameters:\s*$")
_RECORD = re.compile(r"^\w{3} \d{2} \w{3} \d{4} \d{2}:\d{2}:\d{2} (INFO|DEBUG|WARNING|ERROR)\s")
_FILE = re.compile(
    r"^(?P<model>[^-]+)-(?P<dataset>.+)-[A-Z][a-z]{2}-\d{2}-\d{4}_\d{2}-\d{2}-\d{2}-[0-9a-f]+\.log$"
)
_ANSI = re.compile(r"\x1b\[[0-9;]*m")


def _value(text: str):
    text = text.strip()
    try:
        return int(text)
    except ValueError:
        pass
    try:
        return float(text)
    except ValueError:
        return text


def parse_log(path: Path) -> dict | None:
    """One run's settings and results from a RecBole log, or None if it did not finish."""
    row: dict = {"run": path.stem}
    m = _FILE.match(path.name)
    if m:
        row["model"], row["dataset"] = m["model"], m["dataset"]
    in_config = False
    finished = False
    for raw in path.read_text(encoding="utf-8", errors="replace").splitlines():
        line = _ANSI.sub("", raw).rstrip()
        if _RECORD.match(line):  # a new log record ends the configuration block
            in_config = False
            body = _RECORD.sub("", line).strip()
            r = _RESULT.search(body)
            if r:
                prefix = "valid/" if r[1] == "best valid" else ""
                finished |= r[1] == "test result"
                for name, number in _PAIR.findall(r[2]):
                    row[prefix + name] = float(number)
            continue
        if _HEADING.match(line):
            in_config = True
            continue
        s = _SETTING.match(line)
        if in_config and s and s[1] not in row:
            row[s[1]] = _value(s[2])
    return row if finished else None


def read(target: str, *, spec: str = "", **_) -> pd.DataFrame:
    path = Path(target)
    if path.is_dir():
        files = sorted(path.rglob("*.log"))
    elif path.is_file():
        files = [path]
    else:
        raise DataError(f"{spec}: {target!r} is neither a RecBole log file nor a folder of them")
    rows = [r for r in (parse_log(f) for f in files) if r is not None]
    if not rows and files:
        raise DataError(
            f"{spec}: {len(files)} log file(s) but none has RecBole's 'test result' line "
            "(unfinished runs, or not RecBole 1.2.1 logs)"
        )
    return pd.DataFrame(rows)
