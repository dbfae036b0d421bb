"""``--tracking-uri`` and ``--storage``: where a tracker source (``mlflow:…``,
``optuna:…``) lives, for every command that reads a runs table (see perflaw.sources)."""

from __future__ import annotations

from collections.abc import Callable

import click

_KEY = "perflaw.sources"


def _store(ctx: click.Context, param: click.Parameter, value):
    if value is not None:
        ctx.meta.setdefault(_KEY, {})[str(param.name)] = value
    return value


def source_options(func: Callable) -> Callable:
    """Add ``--tracking-uri`` and ``--storage``; read them with :func:`source_settings`."""
    func = click.option(
        "--storage",
        expose_value=False,
        callback=_store,
        help="Optuna storage URL of an optuna:STUDY runs source (e.g. sqlite:///optuna.db).",
    )(func)
    return click.option(
        "--tracking-uri",
        expose_value=False,
        callback=_store,
        help="MLflow tracking URI of an mlflow:EXPERIMENT runs source "
        "(default: MLFLOW_TRACKING_URI).",
    )(func)


def source_settings() -> dict:
    """The ``tracking_uri`` and ``storage`` given to the running command (keywords of
    :func:`perflaw.runs.read_table`)."""
    ctx = click.get_current_context(silent=True)
    return dict(ctx.meta.get(_KEY, {})) if ctx is not None else {}
