"""Reading a table of training runs (CSV/TSV, parquet or JSON) for the law fitter.

Columns are found by name (case-insensitive) unless given explicitly:

* layers: ``layers``, ``n_layers``, ``num_layers``, ``num_blocks``, ``n_blocks``,
  ``num_hidden_layers``, ``depth``;
* embedding dimension: ``d_emb``, ``hidden_size``, ``embedding_dim``, ``emb_dim``,
  ``embedding_size``, ``hidden_units``, ``d_model``, ``dim``;
* metrics: any ``name@k`` or ``name_at_k`` column (``hr@10``, ``NDCG@10``,
  ``test_ndcg_at_5`` ...) or a column whose name contains ``loss``; ``metric=`` picks one,
  case-insensitively;
* the data term ``d_prime``: a column (``d_prime_col=``) or joined by dataset name
  from the JSON ``perflaw apen --json`` prints (objects with ``file`` and ``d_prime``).

Examples
--------
>>> import pandas as pd
>>> df = pd.DataFrame({"num_blocks": [2, 4, 8], "hidden_size": [64, 64, 64],
...                    "NDCG@10": [0.1, 0.12, 0.13]})
>>> runs = runs_from_frame(df, metric="ndcg@10")
>>> runs.metric, runs.X.columns.tolist(), runs.y.tolist()
('NDCG@10', ['layers', 'd_emb'], [0.1, 0.12, 0.13])
"""

from __future__ import annotations

import io
import json
import re
import warnings
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

# D′ from apen's JSON is joined beside this module; its names stay importable here
from perflaw._dprime_join import apen_dprime, dprime_per_row
from perflaw.conditions import parse_condition
from perflaw.errors import DataError
from perflaw.quality.definition import (
    DPRIME_DEF,
    apen_definition,
    parse_dprime_definition,
)

# the shape columns' spellings live with the column-name normaliser (one list for both)
from perflaw.sources.columns import DEMB_NAMES, LAYER_NAMES

DPRIME_NAMES = ("d_prime", "dprime", "d'")
_METRIC = re.compile(r"^[A-Za-z][\w\-]*(@|_at_)\d+$")
#: Largest accepted layer count and embedding dimension: beyond these a value is a
#: mistake (a parameter count in the wrong column, a unit slip) and the law's
#: design matrix loses all precision.
MAX_LAYERS = 100_000
MAX_D_EMB = 10_000_000
#: A metric whose range is below this fraction of its magnitude is constant (rounding
#: noise), and a fit to it reports noise as signal.
CONSTANT_RTOL = 1e-9


class RunsTableWarning(UserWarning):
    """Something in a runs table was adjusted (e.g. duplicated runs counted once)."""


def metric_columns(columns) -> list[str]:
    """Columns that look like metrics (``name@k`` or containing ``loss``).

    >>> metric_columns(["layers", "HR@10", "ndcg@10", "train_loss", "d_emb", "test_ndcg_at_5"])
    ['HR@10', 'ndcg@10', 'train_loss', 'test_ndcg_at_5']
    """
    return [c for c in columns if _METRIC.match(str(c)) or "loss" in str(c).lower()]


def read_table(
    path: str | Path, *, tracking_uri: str | None = None, storage: str | None = None
) -> pd.DataFrame:
    """Read a runs table by extension: ``.csv``/``.tsv``/``.txt``, ``.parquet``, ``.json``,
    or from an experiment tracker written ``SCHEME:TARGET`` (``mlflow:EXPERIMENT``,
    ``optuna:STUDY``, ``tensorboard:FOLDER``, ``wandb:FOLDER``, ``recbole:PATH``; see
    :mod:`perflaw.sources`).  Column names pass through the normaliser
    (:mod:`perflaw.sources.columns`); a warning line says what it mapped.
    """
    from perflaw.sources import is_source, read_source

    if is_source(path):
        return read_source(str(path), tracking_uri=tracking_uri, storage=storage)
    frame = _read_file(path)
    from perflaw.sources.columns import describe_mapping, normalise_columns

    frame, mapped = normalise_columns(frame, full=False)
    if mapped:
        warnings.warn(
            f"runs table {str(path)!r}: mapped {describe_mapping(mapped)}",
            RunsTableWarning,
            stacklevel=2,
        )
    return frame


def _read_file(path: str | Path) -> pd.DataFrame:
    path = Path(path)
    if not path.exists():
        raise DataError(f"runs table {str(path)!r} not found")
    if path.is_dir():
        raise DataError(
            f"runs table {str(path)!r} is a folder; give a CSV, TSV, parquet or JSON file"
        )
    suffix = path.suffix.lower()
    if suffix not in (".parquet", ".pq"):
        _check_text_encoding(path)
    try:
        if suffix in (".parquet", ".pq"):
            return pd.read_parquet(path)
        if suffix in (".json", ".jsonl"):
            text = path.read_text(encoding="utf-8-sig")
            if suffix == ".jsonl":
                return pd.read_json(io.StringIO(text), lines=True)
            data = json.loads(text)
            if isinstance(data, dict) and "runs" in data:
                data = data["runs"]
            return pd.DataFrame(data)
        sep = "\t" if suffix in (".tsv", ".tab") else None
        # utf-8-sig: a byte-order mark (as Excel writes) is not part of the first name
        return pd.read_csv(path, sep=sep, engine="python", encoding="utf-8-sig")
    except DataError:
        raise
    except Exception as exc:  # noqa: BLE001 - report any parser failure in one line
        raise DataError(
            f"cannot read runs table {str(path)!r}: {type(exc).__name__}: "
            f"{str(exc).splitlines()[0] if str(exc) else ''}"
        ) from None


def _check_text_encoding(path: Path) -> None:
    from perflaw.io import _check_encoding

    try:
        _check_encoding(path)
    except DataError as exc:
        raise DataError(f"runs table {exc}") from None


def _find(
    frame: pd.DataFrame, given: str | None, names: tuple[str, ...], what: str, option: str
) -> str:
    from perflaw.io import find_any  # the one column lookup

    if given:
        return _lookup(frame, given, what=f"{what} column")
    found = find_any(frame.columns, names, option=option, what=f"{what} column")
    if found is not None:
        return found
    raise DataError(f"no {what} column (looked for {', '.join(names)}); name it with {option}")


def _lookup(frame: pd.DataFrame, name: str, what: str = "column") -> str:
    """The column ``name`` names, also when the table's names were normalised
    (``--metric metrics.ndcg_at_10`` finds ``ndcg@10``, ``--layers-col num_blocks``
    finds ``layers``)."""
    from perflaw.io import find_column
    from perflaw.sources.columns import canonical_name

    try:
        return find_column(frame.columns, name, what=what)
    except DataError:
        for full in (False, True):
            alias = canonical_name(name, full=full)
            if alias != name and alias.lower() in {str(c).lower() for c in frame.columns}:
                return find_column(frame.columns, alias, what=what)
        raise


def _numeric(
    frame: pd.DataFrame, col: str, what: str, *, positive: bool, maximum: float | None = None
) -> np.ndarray:
    raw = frame[col]
    values = pd.to_numeric(raw, errors="coerce")
    bad = values.isna() & raw.notna()
    if bad.any():
        i = int(np.flatnonzero(bad.to_numpy())[0])
        raise DataError(
            f"{what} column {col!r} has a non-numeric value {raw.iloc[i]!r} (row {i + 1})"
        )
    if values.isna().any():
        rows = (np.flatnonzero(values.isna().to_numpy()) + 1)[:5].tolist()
        raise DataError(
            f"{what} column {col!r} has {int(values.isna().sum())} missing "
            f"value(s) (rows {', '.join(map(str, rows))})"
        )
    arr = values.to_numpy(dtype=float)
    if not np.all(np.isfinite(arr)):
        raise DataError(f"{what} column {col!r} has non-finite values")
    if positive and np.any(arr <= 0):
        raise DataError(f"{what} column {col!r} must be positive; found {arr[arr <= 0][0]:g}")
    if maximum is not None and np.any(arr > maximum):
        i = int(np.flatnonzero(arr > maximum)[0])
        raise DataError(
            f"{what} column {col!r} has {arr[i]:g} (row {i + 1}), beyond the "
            f"plausible {maximum:g}; check the column (a parameter count or "
            "a unit slip?)"
        )
    return arr


def check_not_constant(y: np.ndarray, metric: str, where: str) -> None:
    """Refuse a metric with no variation beyond rounding noise."""
    if len(y) < 2:
        return
    spread = float(np.ptp(y))
    scale = float(np.max(np.abs(y)))
    if spread <= CONSTANT_RTOL * scale or spread == 0.0:
        raise DataError(
            f"metric {metric!r} is constant{where} ({y[0]:.6g} in all "
            f"{len(y)} runs, up to rounding): a law fitted to it would fit "
            "noise; choose another metric or check the table"
        )


#: Metric magnitudes a fit can work with: beyond them (a subnormal 1e-311, or 1e307, whose
#: square overflows) intervals collapse to zero width or the arithmetic overflows.
METRIC_RANGE = (1e-150, 1e150)


def check_metric_scale(y: np.ndarray, metric: str) -> None:
    """Refuse metric values whose size a fit cannot handle (non-zero and below 1e-150,
    or above 1e150), naming the first."""
    size = np.abs(np.asarray(y, float))
    bad = ((size > 0) & (size < METRIC_RANGE[0])) | (size > METRIC_RANGE[1])
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        raise DataError(
            f"metric column {metric!r} holds {y[i]:.6g} (row {i + 1}): values must be 0 or "
            f"between {METRIC_RANGE[0]:g} and {METRIC_RANGE[1]:g} in size; rescale the metric"
        )


def identification_problems(runs: Runs, inputs) -> tuple[list[str], list[str]]:
    """What the runs cannot tell a law with these ``inputs`` (e.g. ``["layers", "d_emb"]``):
    ``(refusals, warnings)``, one line each.

    Refused: one run, or every run at one configuration, in a group (a "law" through one
    point fits anything).  Warned: an input with one value in a group (its exponent or
    coefficient is not identified: the fit and its R² say nothing about that axis).

    Examples
    --------
    >>> r = Runs(pd.DataFrame({"layers": [2, 2, 2], "d_emb": [8, 16, 32]}),
    ...          np.array([0.1, 0.2, 0.3]), "ndcg@10")
    >>> print(identification_problems(r, ["layers", "d_emb"])[1][0])
    runs table: layers has one value (2) in the runs: the law cannot learn how the metric
    changes with it (its fitted terms and R² say nothing about layers); add runs with
    other layers or fit a law without it
    """
    refusals: list[str] = []
    notes: list[str] = []
    for key, sub in runs.groups():
        where = f"group {', '.join(f'{k}={v}' for k, v in key.items())}" if key else ""
        label = " in ".join(part for part in (runs.source, where) if part)
        head = f"{label}: " if label else ""
        used = [c for c in inputs if c in sub.X.columns]
        configs = sub.X[used].drop_duplicates() if used else sub.X.iloc[:0]
        if len(sub.y) < 2 or (used and len(configs) < 2):
            at = (
                " (" + ", ".join(f"{c} {configs[c].iloc[0]:g}" for c in used) + ")"
                if used and len(configs) == 1
                else ""
            )
            # seed replicates may be averaged into one row by now: name the configuration
            what = "one run" if len(sub.y) < 2 else "every run is at one configuration"
            refusals.append(
                f"{head}{what}{at}: a law needs runs at two configurations at least (and "
                "more runs than it has parameters)"
            )
            continue
        for c in used:
            values = sub.X[c].unique()
            if len(values) == 1:
                notes.append(
                    f"{head}{c} has one value ({values[0]:g}) in the runs: the law cannot "
                    f"learn how the metric changes with it (its fitted terms and R² say "
                    f"nothing about {c}); add runs with other {c} or fit a law without it"
                )
    return refusals, notes


def check_identified(runs: Runs, inputs) -> None:
    """:func:`identification_problems`: refuse (DataError) or warn (RunsTableWarning)."""
    refusals, notes = identification_problems(runs, inputs)
    if refusals:
        raise DataError(refusals[0])
    for note in notes:
        warnings.warn(note, RunsTableWarning, stacklevel=2)


def drop_diverged(frame: pd.DataFrame, end_col: str, source: str) -> pd.DataFrame:
    """Leave out the runs whose training diverged (``end = diverged``: perflaw sweep
    records them with no metrics): they measured nothing, and a metric filled in by hand
    or by another tool would be fitted as if they had."""
    bad = frame[end_col].astype(str) == "diverged"
    n = int(bad.sum())
    if n:
        if n == len(frame):
            raise DataError(f"{source}: every run diverged (end = diverged): nothing to fit")
        warnings.warn(
            f"{source}: {n} of {len(frame)} run(s) diverged (end = diverged) and are left "
            "out of the fit",
            RunsTableWarning,
            stacklevel=4,
        )
        frame = frame.loc[~bad].reset_index(drop=True)
    return frame


def drop_duplicated_runs(frame: pd.DataFrame, used: list, source: str) -> pd.DataFrame:
    """Count once the runs repeated exactly in every column the fit uses.

    Rows equal in layers, d_emb, D′, group keys *and* the metric are the same run
    recorded twice (replicates with another seed differ in the metric and are kept);
    fitting them twice would double their weight and halve the reported error bars.
    """
    dup = frame.duplicated(subset=used, keep="first")
    n = int(dup.sum())
    if n:
        rows = (np.flatnonzero(dup.to_numpy()) + 1)[:5].tolist()
        warnings.warn(
            f"{source}: {n} run(s) repeat an earlier row exactly (rows "
            f"{', '.join(map(str, rows))}{', …' if n > 5 else ''}); each run "
            f"is fitted once ({len(frame) - n} runs, not {len(frame)})",
            RunsTableWarning,
            stacklevel=3,
        )
        frame = frame.loc[~dup].reset_index(drop=True)
    return frame


@dataclass
class Runs:
    """A runs table reduced to what a law needs.

    Attributes
    ----------
    X : pandas.DataFrame
        ``layers``, ``d_emb`` and, when available, ``d_prime``.
    y : ndarray
        The chosen metric.
    metric : str
        Its column name as written in the file.
    keys : pandas.DataFrame
        The grouping columns (empty when not grouped).
    source : str
    seeds : ndarray or None
        The ``seed`` column of these rows, when the table has one (for
        :func:`average_replicates`).
    d_prime_def : str or None
        How ``d_prime`` was measured (:func:`dprime_definition`), when the runs have D′.
    """

    X: pd.DataFrame
    y: np.ndarray
    metric: str
    keys: pd.DataFrame = field(default_factory=pd.DataFrame)
    source: str = "runs table"
    seeds: np.ndarray | None = None
    d_prime_def: str | None = None

    @property
    def group_cols(self) -> list[str]:
        return list(self.keys.columns)

    def group_labels(self) -> np.ndarray | None:
        """One label per row, e.g. ``"dataset=ml-1m,max_seq_len=100"``; None if ungrouped."""
        if self.keys.empty:
            return None
        return np.array(
            [
                ",".join(f"{c}={v}" for c, v in zip(self.keys.columns, row))
                for row in self.keys.itertuples(index=False)
            ]
        )

    def groups(self) -> Iterator[tuple[dict, Runs]]:
        """Yield ``(key, runs)`` per group in order of first appearance (or once, ``{}``)."""
        if self.keys.empty:
            yield {}, self
            return
        for key, sub in self.keys.groupby(self.group_cols, sort=False):
            key = key if isinstance(key, tuple) else (key,)
            idx = np.asarray(sub.index)
            yield (
                {c: _py(v) for c, v in zip(self.group_cols, key)},
                Runs(
                    self.X.loc[idx].reset_index(drop=True),
                    self.y[idx],
                    self.metric,
                    pd.DataFrame(index=range(len(idx))),
                    self.source,
                    None if self.seeds is None else self.seeds[idx],
                ),
            )


def _py(v):
    return v.item() if hasattr(v, "item") else v


def _one_definition(frame: pd.DataFrame, source: str) -> str:
    """The one D′ definition of the runs (their ``d_prime_def`` column; :data:`DPRIME_DEF`
    for a table without one, as perflaw sweep measured before it wrote the column)."""
    from perflaw.io import find_any

    col = find_any(frame.columns, ("d_prime_def",))
    if col is None:
        return DPRIME_DEF
    defs = sorted(set(frame[col].dropna().astype(str).str.strip()) - {""})
    if len(defs) > 1:
        raise DataError(
            f"{source}: D′ measured {len(defs)} ways in one fit ({'; '.join(defs[:3])}): "
            "D′ values of different definitions are not comparable; fit one (--where)"
        )
    if not defs:
        return DPRIME_DEF
    parse_dprime_definition(defs[0], f"{source}, column {col!r}")
    return defs[0]


def runs_from_frame(
    frame: pd.DataFrame,
    *,
    metric: str,
    layers_col: str | None = None,
    d_emb_col: str | None = None,
    group_by: str | list[str] | None = None,
    d_prime_col: str | None = None,
    apen_json: str | Path | None = None,
    dataset_col: str = "dataset",
    where: str | None = None,
    source: str = "runs table",
) -> Runs:
    """Validate and standardise a runs DataFrame (see :func:`read_runs`)."""
    if frame.empty:
        raise DataError(f"{source} has no rows")
    if where:
        frame = frame[parse_condition(where, frame)].reset_index(drop=True)
        if frame.empty:
            raise DataError(f"no runs in {source} match {where!r}")
    frame = frame.reset_index(drop=True)
    from perflaw.io import find_any  # the one column lookup

    try:
        mcol = _lookup(frame, str(metric or ""))
    except DataError:
        found = metric_columns(frame.columns)
        raise DataError(
            f"metric {metric!r} not found in {source}; metric columns are "
            f"{', '.join(map(str, found)) or 'none'}"
        ) from None
    lcol = _find(frame, layers_col, LAYER_NAMES, "layers", "--layers-col")
    dcol = _find(frame, d_emb_col, DEMB_NAMES, "embedding-dimension", "--d-emb-col")
    if isinstance(group_by, str):
        group_by = [g.strip() for g in group_by.split(",") if g.strip()]
    group_cols = []
    for g in group_by or []:
        try:
            group_cols.append(_lookup(frame, g))
        except DataError:
            raise DataError(
                f"group column {g!r} not found in {source}; columns are "
                f"{', '.join(map(str, frame.columns))}"
            ) from None
    pcol = _find(frame, d_prime_col, DPRIME_NAMES, "D′", "--d-prime-col") if d_prime_col else None
    # a run's seed is part of what makes it a run: two seeds that score the same (HR@K is
    # a count of hits, so ties happen) are two replicates, not one run recorded twice
    seed_col = find_any(frame.columns, ("seed",))
    used = (
        [lcol, dcol, mcol]
        + ([pcol] if pcol is not None else [])
        + ([dataset_col] if apen_json and dataset_col in frame.columns else [])
        + group_cols
        + ([seed_col] if seed_col is not None else [])
    )
    end_col = find_any(frame.columns, ("end",))
    if end_col is not None:
        frame = drop_diverged(frame, end_col, source)
    frame = drop_duplicated_runs(frame, list(dict.fromkeys(used)), source)
    if end_col is not None:  # perflaw sweep's runs table says how each run ended
        capped = int((frame[end_col].astype(str) == "cap").sum())
        if capped:
            warnings.warn(
                f"{source}: {capped} of {len(frame)} run(s) stopped at their step "
                "cap (end = cap), maybe still improving; rerun the sweep with a larger "
                "--max-steps: it trains them again and replaces their rows",
                RunsTableWarning,
                stacklevel=3,
            )
        peaks = early_peaks(frame, end_col)
        early = int(peaks.sum())
        if early:
            floors = _min_steps(frame.loc[peaks]).dropna().unique()
            # one min_steps in the table: say how to fit without them (--where is numeric)
            hint = (
                f"; --where 'best_step>={int(floors[0])}' fits without them"
                if len(floors) == 1
                else ""
            )
            warnings.warn(
                f"{source}: {early} of {len(frame)} run(s) ended on patience with their "
                "best validation before --min-steps (an early peak: over-fitting, or a "
                "plateau such as the popularity ranker's that the run never left; if a "
                f"plateau, raise --min-steps{hint})",
                RunsTableWarning,
                stacklevel=3,
            )
    X = pd.DataFrame(
        {
            "layers": _numeric(frame, lcol, "layers", positive=True, maximum=MAX_LAYERS),
            "d_emb": _numeric(frame, dcol, "embedding-dimension", positive=True, maximum=MAX_D_EMB),
        }
    )
    y = _numeric(frame, mcol, "metric", positive=False)
    check_metric_scale(y, str(mcol))
    d_prime_def = None
    if pcol is not None:
        X["d_prime"] = _numeric(frame, pcol, "D′", positive=True)
        d_prime_def = _one_definition(frame, source)
    elif apen_json:
        table = apen_dprime(apen_json)
        d_prime_def = apen_definition(apen_json)
        dcol_name = _find(frame, dataset_col, (), "dataset", "--dataset-col")
        X["d_prime"] = dprime_per_row(table, frame[dcol_name], apen_json)
    keys = pd.DataFrame(index=range(len(frame)))
    for col in group_cols:
        keys[col] = frame[col].to_numpy()
    seeds = None if seed_col is None else frame[seed_col].to_numpy()
    runs = Runs(X, y, str(mcol), keys if group_by else pd.DataFrame(), source, seeds, d_prime_def)
    for key, sub in runs.groups():
        label = f" in group {', '.join(f'{k}={v}' for k, v in key.items())}" if key else ""
        check_not_constant(sub.y, str(mcol), label)
    return runs


def read_runs(path: str | Path, **options) -> Runs:
    """Read a runs table and pick its columns (options as :func:`runs_from_frame`).

    Raises :class:`~perflaw.errors.DataError` naming the file and column for a missing
    file or column, a non-numeric or missing value, or an unknown metric.
    """
    return runs_from_frame(read_table(path), source=f"runs table {str(path)!r}", **options)


def early_peaks(frame: pd.DataFrame, end_col: str = "end") -> pd.Series:
    """Which runs of a ``perflaw sweep`` table ended on patience keeping weights from
    before their ``min_steps`` (read from the ``settings`` column): the validation peaked
    early and never again within the patience, which is either real over-fitting or a run
    stopped while still on a plateau (docs/science.md §8, early peaks).  All False without
    ``best_step`` and ``settings`` columns."""
    from perflaw.io import find_any

    best_col = find_any(frame.columns, ("best_step",))
    min_steps = _min_steps(frame)
    if best_col is None or min_steps.isna().all():
        return pd.Series(False, index=frame.index)
    best = pd.to_numeric(frame[best_col], errors="coerce")
    return (frame[end_col].astype(str) == "patience") & (best < min_steps)


def _min_steps(frame: pd.DataFrame) -> pd.Series:
    """Each run's ``min_steps`` read from the ``settings`` column (NaN where absent)."""
    from perflaw.io import find_any

    settings_col = find_any(frame.columns, ("settings",))
    if settings_col is None:
        return pd.Series(np.nan, index=frame.index)
    return pd.to_numeric(
        frame[settings_col].astype(str).str.extract(r"\bmin_steps=(\d+)", expand=False),
        errors="coerce",
    )
