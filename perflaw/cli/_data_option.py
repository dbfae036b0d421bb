"""``--data PATH``: fill --n-items, --max-len and --d-prime from the log or from
``perflaw apen --json`` output (:func:`perflaw.data_facts`), so the main job is chained."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import click

DATA_HELP = (
    "The training log, or `perflaw apen --json` output: fills --n-items, --max-len "
    "and --d-prime from it (options given explicitly win; a log is measured with "
    "--max-len when given)."
)


def data_option(func: Callable) -> Callable:
    """Add ``--data PATH`` (the command gets ``data``)."""
    return click.option(
        "--data", "data", type=click.Path(dir_okay=True), metavar="PATH", help=DATA_HELP
    )(func)


def fill_from_data(
    data: str | None, *, n_items: Any, max_len: Any, d_prime: Any
) -> tuple[Any, Any, Any]:
    """``(n_items, max_len, d_prime)`` with the values the user did not give taken from
    ``data``; says on stderr which were taken."""
    if not data:
        return n_items, max_len, d_prime
    from click.core import ParameterSource

    from perflaw.cli._output import human_number
    from perflaw.quality.facts import data_facts

    ctx = click.get_current_context()

    def given(name: str) -> bool:
        source = ctx.get_parameter_source(name)
        return source is not None and source not in (
            ParameterSource.DEFAULT,
            ParameterSource.DEFAULT_MAP,
        )

    facts = data_facts(data, max_len=max_len if given("max_len") and max_len else None)
    taken = []
    if not given("n_items"):
        n_items = facts.n_items
        taken.append(f"--n-items {facts.n_items}")
    if not given("max_len") and facts.max_len is not None:
        max_len = facts.max_len
        taken.append(f"--max-len {facts.max_len}")
    if not given("d_prime"):
        d_prime = facts.d_prime
        taken.append(f"--d-prime {human_number(facts.d_prime)}")
    if taken:
        cut = "all events" if facts.max_len is None else f"last {facts.max_len} events"
        click.echo(
            f"from {data} ({facts.users:,} users, {cut} per user): {', '.join(taken)}", err=True
        )
    return n_items, max_len, d_prime
