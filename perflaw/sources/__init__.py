"""Runs tables read from where practitioners keep their runs: experiment trackers.

Every command that reads a runs table accepts, in place of a file, a source written as
``SCHEME:TARGET`` (the one dispatch point is :func:`perflaw.runs.read_table`):

========================  ==============================================  ============
source                    target                                          extra
========================  ==============================================  ============
``mlflow:EXPERIMENT``     experiment name; ``--tracking-uri`` or the       ``mlflow``
                          ``MLFLOW_TRACKING_URI`` variable MLflow users
                          already set (a folder, ``sqlite:///…``, a server)
``optuna:STUDY``          study name; ``--storage`` (``sqlite:///…``)      ``optuna``
``tensorboard:FOLDER``    a log folder, one run per sub-folder (hparams    ``tensorboard``
                          from ``add_hparams``); ``#best`` for the best
                          value of each scalar instead of the last
``wandb:FOLDER``          a W&B offline run folder (or the ``wandb``       ``wandb``
                          folder holding several)
``wandb:ENTITY/PROJECT``  a W&B project through ``wandb.Api().runs``       ``wandb``
``recbole:PATH``          a RecBole 1.2.1 log file, or a folder of them    (none)
========================  ==============================================  ============

Each source returns one row per run with the tracker's own column names; the
column-name normaliser (:mod:`perflaw.sources.columns`) maps them onto perflaw's and one
warning line says what it mapped.  A missing tracker package is a one-line error naming
the extra to install.
"""

from __future__ import annotations

import importlib
import warnings
from types import ModuleType

import pandas as pd

from perflaw.errors import DataError

#: scheme -> (module reading it, the optional extra it needs or None)
SCHEMES: dict[str, tuple[str, str | None]] = {
    "mlflow": ("perflaw.sources.mlflow", "mlflow"),
    "optuna": ("perflaw.sources.optuna", "optuna"),
    "tensorboard": ("perflaw.sources.tensorboard", "tensorboard"),
    "wandb": ("perflaw.sources.wandb", "wandb"),
    "recbole": ("perflaw.sources.recbole", None),
}

__all__ = ["SCHEMES", "SourceWarning", "is_source", "read_source", "require"]


class SourceWarning(UserWarning):
    """What a source read and which columns it mapped (one line)."""


def is_source(spec) -> bool:
    """Whether ``spec`` names a tracker source (``mlflow:…``) rather than a file.

    >>> is_source("mlflow:sasrec-grid"), is_source("runs.csv"), is_source("C:/runs.csv")
    (True, False, False)
    """
    scheme, sep, _ = str(spec).partition(":")
    return bool(sep) and scheme.lower() in SCHEMES


def require(package: str, extra: str, what: str) -> ModuleType:
    """Import ``package`` or raise a one-line error naming the extra that installs it."""
    try:
        return importlib.import_module(package)
    except ImportError:
        raise DataError(
            f"{what} needs the {package!r} package: pip install 'perflaw[{extra}]'"
        ) from None


def read_source(
    spec: str, *, tracking_uri: str | None = None, storage: str | None = None
) -> pd.DataFrame:
    """The runs of a tracker source as one table in perflaw's column names.

    Parameters
    ----------
    spec : str
        ``SCHEME:TARGET`` (see the module's table).
    tracking_uri : str, optional
        MLflow's tracking URI (default: ``MLFLOW_TRACKING_URI``, else MLflow's default).
    storage : str, optional
        Optuna's storage URL.

    Raises
    ------
    DataError
        An unknown scheme, a missing package (naming the extra), an empty or missing
        experiment, study or folder.
    """
    from perflaw.sources.columns import describe_mapping, normalise_columns

    scheme, _, target = str(spec).partition(":")
    scheme = scheme.lower()
    if scheme not in SCHEMES:
        raise DataError(f"unknown runs source {spec!r}: use one of {', '.join(SCHEMES)}")
    if not target:
        raise DataError(f"runs source {spec!r} names nothing after '{scheme}:'")
    module = importlib.import_module(SCHEMES[scheme][0])
    frame = module.read(target, tracking_uri=tracking_uri, storage=storage, spec=spec)
    if frame.empty:
        raise DataError(f"{spec}: no finished runs")
    frame, mapped = normalise_columns(frame, full=True)
    note = f"; mapped {describe_mapping(mapped)}" if mapped else ""
    warnings.warn(f"{spec}: {len(frame)} runs{note}", SourceWarning, stacklevel=2)
    return frame.reset_index(drop=True)
