"""The column-name normaliser: trackers' spellings onto perflaw's runs-table columns.

Experiment trackers namespace their columns (MLflow ``params.n_layers`` and
``metrics.ndcg_at_10``, W&B and TensorBoard ``test/ndcg@10``; the Optuna source writes
its ``params_``/``user_attrs_`` columns in MLflow's spelling, since ``params_total`` is a
perflaw column) and every codebase spells the shape differently
(``num_blocks``, ``hidden_size``, ``embedding_size``).  :func:`normalise_columns` maps them
onto ``layers``, ``d_emb``, ``seed`` and ``name@k`` and says what it mapped.

Two modes.  A tracker's table (``full=True``) is normalised completely.  A user's own
table (CSV, parquet, JSON) keeps its names except tracker namespaces (``params.``,
``metrics.``, ``test/``...), which no one types in ``--metric`` or ``--where``, and seed
spellings, so a seed is never lost; the existing lookups (``runs.LAYER_NAMES``...) find
the rest, and an option naming a column by its old spelling still finds it
(:func:`canonical_name` is applied to both sides).

A test-split metric becomes the bare name (``test/ndcg@10`` -> ``ndcg@10``: the runs
table's metrics are test metrics); a validation metric gets perflaw's ``val_`` prefix
(``valid/ndcg@10`` -> ``val_ndcg@10``), so ``--metric ndcg@10`` never silently fits a
validation score.

Examples
--------
>>> canonical_name("params.num_blocks", full=True)
'layers'
>>> canonical_name("metrics.NDCG_at_10", full=True)
'NDCG@10'
>>> canonical_name("valid/ndcg@10", full=True)
'val_ndcg@10'
>>> canonical_name("test_ndcg_at_5", full=False)  # a user's own column keeps its name
'test_ndcg_at_5'
>>> import pandas as pd
>>> frame, mapped = normalise_columns(
...     pd.DataFrame(columns=["params.n_layers", "params.hidden_size", "params.seed",
...                           "metrics.ndcg_at_10"]), full=True)
>>> list(frame.columns)
['layers', 'd_emb', 'seed', 'ndcg@10']
>>> describe_mapping(mapped)  # doctest: +NORMALIZE_WHITESPACE
'params.n_layers -> layers, params.hidden_size -> d_emb, params.seed -> seed,
 metrics.ndcg_at_10 -> ndcg@10'
"""

from __future__ import annotations

import re

import pandas as pd

#: Tracker namespaces stripped from any table (nobody names a column this way by hand).
NAMESPACES = ("params.", "metrics.", "config.", "summary.", "hparams.", "hparams/", "hparam/")
#: Split prefixes: a test metric is the runs table's metric, a validation one is ``val_``.
TEST_STAGES = ("test/", "test.", "test_", "test-", "eval/test/")
VALID_STAGES = (
    "valid/",
    "val/",
    "validation/",
    "eval/",
    "valid.",
    "valid_",
    "validation_",
    "eval_",
    "best_valid/",
    "best_valid_",
)
#: Stages stripped from any table: the ``/`` ones (``test_ndcg_at_5`` is a plausible
#: hand-made name and stays as it is outside a tracker's table).
_SLASH = tuple(s for s in TEST_STAGES + VALID_STAGES if s.endswith("/"))
#: Spellings of the number of blocks and the embedding width (perflaw.runs finds them).
LAYER_NAMES = (
    "layers",
    "n_layers",
    "num_layers",
    "num_blocks",
    "n_blocks",
    "num_hidden_layers",
    "depth",
)
DEMB_NAMES = (
    "d_emb",
    "hidden_size",
    "embedding_dim",
    "emb_dim",
    "embedding_size",
    "hidden_units",
    "d_model",
    "dim",
)
SEED_NAMES = ("seed", "random_seed", "rng_seed", "seed_value")
_METRIC = re.compile(r"^[A-Za-z][\w\-]*(@|_at_)\d+$")
_AT = re.compile(r"_at_(\d+)$")


def _is_metric(name: str) -> bool:
    return bool(_METRIC.match(name)) or "loss" in name.lower()


def canonical_name(name: str, *, full: bool) -> str:
    """perflaw's name for a column (``full``: as in a tracker's table; see the module)."""
    n = str(name)
    prefixed = False
    for ns in NAMESPACES:
        if n.lower().startswith(ns):
            n, prefixed = n[len(ns) :], True
            break
    stage = None
    for st in TEST_STAGES + VALID_STAGES if full or prefixed else _SLASH:
        rest = n[len(st) :]
        if n.lower().startswith(st) and _is_metric(rest):
            n, prefixed = rest, True
            stage = "test" if st in TEST_STAGES else "valid"
            break
    lower = n.lower()
    if full or prefixed:
        if _METRIC.match(n):
            n = _AT.sub(r"@\1", n)
        elif lower in LAYER_NAMES:
            n = "layers"
        elif lower in DEMB_NAMES:
            n = "d_emb"
    if lower in SEED_NAMES:
        n = "seed"
    if stage == "valid" and not n.lower().startswith("val_"):
        n = "val_" + n
    return n


def normalise_columns(frame: pd.DataFrame, *, full: bool) -> tuple[pd.DataFrame, dict[str, str]]:
    """Rename ``frame``'s columns to perflaw's names; returns ``(frame, {old: new})``.

    A name is never mapped onto a column that is already there, nor onto one that another
    column took first (the first column in the table wins), so no value is overwritten.
    """
    taken = {str(c) for c in frame.columns}
    mapped: dict[str, str] = {}
    for c in frame.columns:
        new = canonical_name(str(c), full=full)
        if new != str(c) and new not in taken:
            mapped[str(c)] = new
            taken.add(new)
    if mapped:
        frame = frame.rename(columns=mapped)
    return frame, mapped


def describe_mapping(mapped: dict[str, str]) -> str:
    """``old -> new, ...`` for the one line that says what was mapped."""
    return ", ".join(f"{old} -> {new}" for old, new in mapped.items())
