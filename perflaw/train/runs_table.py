"""The runs table of ``perflaw sweep``: whole-row appends, resume, claims shared by processes.

* Each finished run is appended as one ``write`` of one whole CSV line (``O_APPEND``,
  then fsync).  A process killed mid-write can still leave a torn last line (no newline,
  or the wrong number of fields): :func:`read_runs_file` detects it, reports it, and on
  resume :func:`set_aside_bad_lines` moves it to ``<out>.rejected`` — it is never read as
  data.
* Processes sharing one ``--out`` claim a configuration with ``<out>.running/<hash>``
  (:mod:`perflaw.train.claims`: one winner, heartbeats, expiry for other hosts).
"""

from __future__ import annotations

import contextlib
import csv
import io
import os
import time
import warnings
from pathlib import Path

import pandas as pd

from perflaw.errors import DataError
from perflaw.train import claims
from perflaw.train.evaluation import KS

__all__ = [
    "KEY_COLUMNS",
    "RUNS_COLUMNS",
    "append_row",
    "claim",
    "raise_min_steps",
    "read_runs_file",
]

#: Columns of the runs table, in order.
RUNS_COLUMNS = [
    "dataset",
    "backbone",
    "layers",
    "d_emb",
    "data_fraction",
    "max_len",
    "seed",
    "params_total",
    "params_non_embedding",
    "train_users",
    "train_tokens",
    "d_prime",
    "d_prime_def",
    "flops",
    "steps",
    "epochs",
    "best_step",
    "end",
    "val_ndcg@10",
    "val_curve",
    *[f"{m}@{k}" for k in KS for m in ("hr", "ndcg")],
    "eval",
    "objective",
    "device",
    "seconds",
    "settings",
]

#: The columns of a table written before ``d_prime_def`` (read as its default, never
#: appended to: a resumed sweep needs a table of this version).
LEGACY_COLUMNS = [c for c in RUNS_COLUMNS if c != "d_prime_def"]

#: The columns that identify one configuration (a rerun skips rows already present).
KEY_COLUMNS = ["dataset", "backbone", "layers", "d_emb", "data_fraction", "max_len", "seed"]


def key(row) -> tuple:
    """The configuration key of a row (a mapping or a pandas row)."""
    return (
        str(row["dataset"]),
        str(row["backbone"]),
        int(row["layers"]),
        int(row["d_emb"]),
        round(float(row["data_fraction"]), 9),
        int(row["max_len"]),
        int(row["seed"]),
    )


def _split_lines(text: str, width: int | None = None) -> tuple[str, list[str], list[str]]:
    """Header, good row lines, bad row lines (torn or with the wrong number of fields)."""
    lines = text.split("\n")
    torn_tail = lines[-1] != ""  # the file does not end with a newline
    header, rows = lines[0], lines[1:-1] if not torn_tail else lines[1:]
    good, bad = [], []
    for i, line in enumerate(rows):
        if not line:
            continue
        fields = next(csv.reader([line]), [])
        if (torn_tail and i == len(rows) - 1) or len(fields) != (width or len(RUNS_COLUMNS)):
            bad.append(line)
        else:
            good.append(line)
    return header, good, bad


def read_runs_file(
    out: str | os.PathLike, *, report: bool = True, legacy: bool = True
) -> pd.DataFrame:
    """Read a runs table written by ``perflaw sweep``; torn or malformed lines are left out
    (and reported with a warning).  With ``legacy``, a table written before the
    ``d_prime_def`` column is read with that column filled in (its D′ was measured the
    same way); without, it is refused (a sweep resumes only a table of this version).

    Raises
    ------
    DataError
        The file is not a sweep runs table (other columns) or cannot be read.
    """
    out = Path(out)
    try:
        text = out.read_text()
    except OSError as exc:
        raise DataError(f"cannot read runs table {str(out)!r}: {exc.strerror}") from None
    if not text.strip():
        return pd.DataFrame(columns=RUNS_COLUMNS)
    head = next(csv.reader([text.split("\n", 1)[0]]), [])
    if legacy and head == LEGACY_COLUMNS:
        from perflaw.quality.definition import DPRIME_DEF

        header, good, bad = _split_lines(text, len(LEGACY_COLUMNS))
        if bad and report:
            warnings.warn(f"{out}: {len(bad)} torn or malformed line(s) left out", stacklevel=2)
        table = pd.read_csv(io.StringIO("\n".join([header, *good]) + "\n"))
        table.insert(table.columns.get_loc("d_prime") + 1, "d_prime_def", DPRIME_DEF)
        return table
    header, good, bad = _split_lines(text)
    if next(csv.reader([header]), []) != RUNS_COLUMNS:
        raise DataError(
            f"{str(out)!r} is not a perflaw sweep runs table of this version (its columns "
            "differ); use another --out"
        )
    if bad and report:
        warnings.warn(
            f"{out}: {len(bad)} torn or malformed line(s) left out (a run killed "
            f"while writing?); they are set aside to {out.name}.rejected on resume",
            stacklevel=2,
        )
    if not good:
        return pd.DataFrame(columns=RUNS_COLUMNS)
    return pd.read_csv(io.StringIO("\n".join([header, *good]) + "\n"))


def set_aside_bad_lines(out: Path) -> int:
    """Move torn or malformed lines of ``out`` to ``<out>.rejected``; return how many."""
    if not out.exists():
        return 0
    with _table_lock(out):
        text = out.read_text()
        if not text.strip():
            return 0
        header, good, bad = _split_lines(text)
        if not bad:
            return 0
        with open(out.with_name(out.name + ".rejected"), "a") as fh:
            fh.write("\n".join(bad) + "\n")
        _write_atomically(out, "\n".join([header, *good]) + "\n")
    return len(bad)


def _write_atomically(path: Path, text: str) -> None:
    from perflaw.files import write_text  # the project's atomic writer

    write_text(path, text)


def finished_keys(out: Path, max_steps: int | None = None, max_seconds: float | None = None) -> set:
    """Keys of the configurations already in ``out`` (empty if there is no file); with
    ``max_steps``, less those a run with this budget would extend (:func:`extendable`)."""
    if not out.exists() or out.stat().st_size == 0:
        return set()
    return finished_in(read_runs_file(out, report=False, legacy=False), max_steps, max_seconds)


def finished_in(
    table: pd.DataFrame, max_steps: int | None = None, max_seconds: float | None = None
) -> set:
    """Keys of the runs of ``table``; with ``max_steps``, less those a run with this
    budget would extend (:func:`extendable`)."""
    done = {key(r) for _, r in table.iterrows()}
    if max_steps is not None:
        done -= extendable(table, max_steps, max_seconds)
    return done


def _settings_fields(settings: str) -> dict:
    """The ``key=value`` words of a ``settings`` text, as a dict of strings."""
    return dict(w.split("=", 1) for w in str(settings).split() if "=" in w)


def _table_lock(path: Path):
    """Exclusive among the processes writing table ``path``: a row replaced (read,
    rewritten, renamed) must not lose a row another process appends meanwhile
    (:func:`perflaw.train.claims.table_lock`: a lock file, which a rename of the table
    does not replace)."""
    return claims.table_lock(path)


def _row_line(row: dict) -> str:
    buf = io.StringIO()
    pd.DataFrame([row], columns=RUNS_COLUMNS).to_csv(
        buf, header=False, index=False, lineterminator="\n"
    )
    return buf.getvalue()


def budget_of(settings: str) -> tuple[int | None, float | None]:
    """The ``max_steps`` and ``max_seconds`` a ``settings`` text records (None if absent
    or unlimited).

    Examples
    --------
    >>> budget_of("eval_every=50 max_steps=5000 max_seconds=None")
    (5000, None)
    """
    kv = _settings_fields(settings)
    steps = kv.get("max_steps")
    seconds = kv.get("max_seconds")
    return (
        int(steps) if steps not in (None, "None") else None,
        float(seconds) if seconds not in (None, "None") else None,
    )


def extendable(table: pd.DataFrame, max_steps: int, max_seconds: float | None) -> set:
    """Keys of the runs of ``table`` that ended on a budget smaller than this one: on
    their step cap (``end = cap``) below ``max_steps``, or on their time limit
    (``end = time``) below ``max_seconds`` (or with none now).  A sweep rerun with the
    larger budget trains them again and replaces their rows (:func:`replace_row`): what
    ``perflaw fit``'s "raise --max-steps" asks for."""
    out = set()
    for _, r in table.iterrows():
        steps, seconds = budget_of(r["settings"])
        if r["end"] == "cap" and steps is not None and steps < max_steps:
            out.add(key(r))
        elif (
            r["end"] == "time"
            and seconds is not None
            and (max_seconds is None or seconds < max_seconds)
        ):
            out.add(key(r))
    return out


def replace_row(path: Path, row: dict) -> bool:
    """Put ``row`` in place of the row of ``path`` with the same key, keeping every other
    line as it is; the replaced line is appended to ``<path>.replaced`` (nothing a user
    trained is thrown away).  Atomic, and safe against other processes appending to the
    table.  Returns False (and appends) when the table has no such row."""
    k = key(row)
    line = _row_line(row)
    with _table_lock(path):
        text = path.read_text() if path.exists() else ""
        if text.strip():
            lines = text.split("\n")
            for i, old in enumerate(lines[1:], 1):
                fields = next(csv.reader([old]), [])
                if len(fields) == len(RUNS_COLUMNS) and key(dict(zip(RUNS_COLUMNS, fields))) == k:
                    with open(path.with_name(path.name + ".replaced"), "a") as fh:
                        if fh.tell() == 0:
                            fh.write(",".join(RUNS_COLUMNS) + "\n")
                        fh.write(old + "\n")
                    lines[i] = line.rstrip("\n")
                    _write_atomically(path, "\n".join(lines))
                    return True
        _append_line(path, line)
    return False


def append_row(path: Path, row: dict) -> None:
    """Append one whole row in a single write (the header first if the file is new).

    If the file does not end with a newline (another process was killed mid-write), the
    row starts on a new line, so the torn fragment stays on a line of its own.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    with _table_lock(path):
        _append_line(path, _row_line(row))


def _append_line(path: Path, line: str) -> None:
    """Append ``line`` whole, or leave the file as it was: a write cut short (a full disk
    writes part of a line, then fails) is cut off again before the error goes up."""
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    size = os.fstat(fd).st_size
    try:
        if size == 0:
            line = ",".join(RUNS_COLUMNS) + "\n" + line
        else:
            with open(path, "rb") as fh:
                fh.seek(size - 1)
                if fh.read(1) != b"\n":
                    line = "\n" + line
        data = memoryview(line.encode())
        while data:
            written = os.write(fd, data)
            data = data[written:]
        os.fsync(fd)
    except BaseException:
        with contextlib.suppress(OSError):
            os.ftruncate(fd, size)  # shrinking needs no space
            os.fsync(fd)
        raise
    finally:
        os.close(fd)


# ------------------------------------------------------------------------------ claims
# The claims themselves live in perflaw.train.claims; these names stay for callers.
process_start = claims.process_start
claim_path = claims.claim_path


def owner_alive(text: str) -> bool:
    """Whether the claim ``text`` (JSON with host, pid, start; or a bare pid) has a live
    owner, judged as a fresh claim file (a claim from another host is live until it
    expires; text that is not a claim counts as being written, hence live)."""
    now = time.time()
    return claims._judge(Path("claim"), text.encode(), now, now, claims.EXPIRY_S).live


def claim(out: Path, k: tuple) -> Path | None:
    """Claim configuration ``k`` of ``out`` (:func:`perflaw.train.claims.claim`); the claim
    file, or None if a live process holds it."""
    got = claims.claim(out, k)
    return got[0] if isinstance(got, tuple) else None


def training_rule(settings: str) -> str:
    """The ``settings`` text without the run-length budget, where the budget does not
    shape training: what a resumed sweep must share with the runs already in its table.

    ``max_steps`` and ``max_seconds`` only decide when a run stops.  A run that ended on
    patience under one cap is the run it would have been under any larger cap (the
    trainer draws its batches and evaluates at the same steps whatever the cap; tested
    within one version of the code on one device -- a retrain days later on the same
    CPU reached the same best step with validation NDCG@10 within 1.5 %), and a
    run that ended on its cap says so in ``end``, which ``perflaw fit`` reports.  So a
    table may mix caps -- e.g. the narrowest widths retrained with a longer one -- and be
    resumed with either.  The exception: a cosine decay to ``max_steps``
    (``decay_steps`` 0) reads the cap, and then it stays part of the rule.

    Examples
    --------
    >>> training_rule("lr=0.001 decay=none eval_every=50 max_steps=5000 max_seconds=None")
    'lr=0.001 decay=none eval_every=50'
    >>> training_rule("decay=cosine eval_every=50 max_steps=5000 max_seconds=None")
    'decay=cosine eval_every=50 max_steps=5000'
    """
    words = str(settings).split()
    kv = _settings_fields(settings)
    reads_cap = kv.get("decay", "none") != "none" and kv.get("decay_steps", "0") == "0"
    budget = {"max_seconds"} if reads_cap else {"max_steps", "max_seconds"}
    return " ".join(w for w in words if w.split("=", 1)[0] not in budget)


def seed_means(table: pd.DataFrame) -> pd.DataFrame:
    """One row per configuration (every key column but ``seed``): the mean of the numeric
    columns over seeds, ``seeds`` = how many, and ``<metric>_sd`` for each metric.

    Examples
    --------
    >>> t = pd.DataFrame({"dataset": ["a"] * 2, "backbone": ["sasrec"] * 2, "layers": [1, 1],
    ...                   "d_emb": [8, 8], "data_fraction": [1.0, 1.0], "max_len": [5, 5],
    ...                   "seed": [0, 1], "d_prime": [10.0, 12.0], "ndcg@10": [0.1, 0.2]})
    >>> m = seed_means(t)
    >>> m[["layers", "seeds", "d_prime", "ndcg@10"]].to_dict("records")
    [{'layers': 1, 'seeds': 2, 'd_prime': 11.0, 'ndcg@10': 0.15000000000000002}]
    """
    group = [c for c in KEY_COLUMNS if c != "seed"]
    numeric = [
        c for c in table.columns if c not in KEY_COLUMNS and pd.api.types.is_numeric_dtype(table[c])
    ]
    g = table.groupby(group, sort=True)
    out = g[numeric].mean()
    out.insert(0, "seeds", g["seed"].nunique())
    for c in numeric:
        if "@" in c and not c.startswith("val_"):
            out[f"{c}_sd"] = g[c].std(ddof=1)
    return out.reset_index()


def adopt_patience_from_min_steps(table: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Carry a runs table made with the old stopping rule (``--patience-from best``,
    or no ``patience_from`` in its settings) over to the default rule.

    The default rule never stops a run earlier than the old one, and stops every run whose
    best validation step is at or after ``min_steps`` at the same step
    (:func:`perflaw.train.trainer.end_reason`): such runs, and runs that ended on the cap
    or the time limit, trained exactly as the default rule would have trained them.
    Only a run that ended on patience keeping weights from before ``min_steps`` (an
    early peak) would have trained on.

    Returns
    -------
    kept : DataFrame
        The runs the rule change does not touch, their ``settings`` naming
        ``patience_from=min_steps``; a sweep with the default rule resumes from them.
    dropped : DataFrame
        The early-peak runs: the resumed sweep retrains them.

    Examples
    --------
    >>> from perflaw.train.trainer import TrainConfig
    >>> old = TrainConfig(patience=500, min_steps=500, patience_from="best").settings()
    >>> t = pd.DataFrame({"seed": [0, 1, 2], "end": ["patience", "patience", "cap"],
    ...                   "best_step": [100, 800, 100], "settings": [old] * 3})
    >>> kept, dropped = adopt_patience_from_min_steps(t)
    >>> kept["seed"].tolist(), dropped["seed"].tolist()
    ([1, 2], [0])
    >>> kept["settings"].iloc[0] == TrainConfig(patience=500, min_steps=500).settings()
    True
    """
    from perflaw.runs import early_peaks

    old_rule = ~table["settings"].astype(str).str.contains("patience_from=min_steps", regex=False)
    early = old_rule & early_peaks(table)
    kept = table[~early].copy()
    kept["settings"] = (
        kept["settings"]
        .astype(str)
        .str.replace(" patience_from=best", "", regex=False)
        .str.replace(
            r"\b(patience=\d+)\b(?! patience_from=)", r"\1 patience_from=min_steps", regex=True
        )
    )
    return kept, table[early].copy()


def raise_min_steps(table: pd.DataFrame, min_steps: int) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Carry a runs table made with the default stopping rule over to a longer
    ``--min-steps``.

    With the patience counted from ``max(best step, min_steps)``, raising ``min_steps``
    never stops a run earlier, and stops every run whose best validation step is at or
    after the new ``min_steps`` at the same step; runs that ended on the cap or the time
    limit would have reached it too.  Only a run that ended on patience keeping weights
    from before the new ``min_steps`` might have trained on (a property test in
    ``tests/test_train_stopping.py`` checks both claims against
    :func:`perflaw.train.trainer.end_reason`).

    Parameters
    ----------
    table : DataFrame
        A ``perflaw sweep`` table whose ``settings`` name ``patience_from=min_steps`` (carry
        an older one over with :func:`adopt_patience_from_min_steps` first).
    min_steps : int
        The new ``--min-steps``; not below any run's.

    Returns
    -------
    kept : DataFrame
        The runs the change does not touch, their ``settings`` naming the new
        ``min_steps``; a sweep with it resumes from them.
    dropped : DataFrame
        The runs to retrain.

    Examples
    --------
    >>> from perflaw.train.trainer import TrainConfig
    >>> s = TrainConfig(patience=500, min_steps=500).settings()
    >>> t = pd.DataFrame({"seed": [0, 1, 2], "end": ["patience", "patience", "cap"],
    ...                   "best_step": [700, 1200, 100], "settings": [s] * 3})
    >>> kept, dropped = raise_min_steps(t, 1000)
    >>> kept["seed"].tolist(), dropped["seed"].tolist()
    ([1, 2], [0])
    >>> kept["settings"].iloc[0] == TrainConfig(patience=500, min_steps=1000).settings()
    True
    """
    from perflaw.runs import _min_steps

    settings = table["settings"].astype(str)
    old_rule = ~settings.str.contains("patience_from=min_steps", regex=False)
    if old_rule.any():
        raise DataError(
            f"{int(old_rule.sum())} runs were made with --patience-from best: carry the "
            "table over with adopt_patience_from_min_steps first"
        )
    before = _min_steps(table)
    if before.isna().any():
        raise DataError("settings column: a run's min_steps is missing")
    if (before > min_steps).any():
        raise DataError(
            f"min_steps {min_steps} is below runs' min_steps {int(before.max())}: a shorter "
            "minimum could have stopped them earlier; retrain instead"
        )
    best = pd.to_numeric(table["best_step"], errors="coerce")
    retrain = (table["end"].astype(str) == "patience") & ~(best >= min_steps)
    kept = table[~retrain].copy()
    kept["settings"] = (
        kept["settings"]
        .astype(str)
        .str.replace(r"\bmin_steps=\d+", f"min_steps={int(min_steps)}", regex=True)
    )
    return kept, table[retrain].copy()


def grid_accounting(
    out_path: Path | None, grid: list[dict], rows: list[dict], *, expiry: float
) -> tuple[pd.DataFrame, list[dict], list[dict]]:
    """The table at the end of a sweep call, and the grid's configurations missing from
    it: ``not_run`` (no live process holds them) and ``running`` (each with its claim's
    ``holder``).  Without ``out_path`` the table is this call's ``rows``."""
    if out_path is not None and out_path.exists():
        table = read_runs_file(out_path)
        have = {key(r) for _, r in table.iterrows()}
    else:
        table = pd.DataFrame(rows, columns=RUNS_COLUMNS)
        have = {key(r) for r in rows}
    # claims first, the table after: a worker appends its row before it releases its
    # claim, so a claim seen gone is a row in a table read after (read before, a run that
    # finished in between looked neither claimed nor done: "not run", exit 3)
    pending = [row for row in grid if key(row) not in have]
    holders = {
        key(row): claims.holder(out_path, key(row), expiry=expiry) if out_path else None
        for row in pending
    }
    if out_path is not None and out_path.exists() and None in holders.values():
        table = read_runs_file(out_path)
        have = {key(r) for _, r in table.iterrows()}
    not_run, running = [], []
    for row in pending:
        if key(row) in have:
            continue
        h = holders[key(row)]
        if h is None:
            not_run.append(row)
        else:
            running.append({**row, "holder": h.describe()})
    return table, not_run, running
