"""Click options that several commands share, declared once.

``law_option`` (the law file a command reads) and ``parameter_count_options`` (how a
configuration's parameters are counted: backbone, item table, position table, which count,
heads) are used by ``predict``, ``recommend-config`` and ``plot``; the help texts can be
prefixed with the condition under which an option matters (``plot``'s ``--kind frontier``).
"""

from __future__ import annotations

from collections.abc import Callable

import click

from perflaw.cli._laws_common import DEFAULT_LAW
from perflaw.decide.params import ARCHITECTURES


def _apply(func: Callable, options: list) -> Callable:
    for option in reversed(options):
        func = option(func)
    return func


def law_option(func: Callable) -> Callable:
    """``--law PATH`` (the command gets ``law_path``)."""
    return click.option(
        "--law",
        "law_path",
        default=DEFAULT_LAW,
        show_default=True,
        type=click.Path(dir_okay=False),
        help="Law file written by `perflaw fit`.",
    )(func)


def _help(when: str, text: str) -> str:
    return f"{when}{text}" if when else text[0].upper() + text[1:]


def parameter_count_options(when: str = "") -> Callable[[Callable], Callable]:
    """``--arch --n-items --max-len --count --heads`` (docs/science.md §6).

    ``when`` prefixes every help text (e.g. ``"--kind frontier: "``).
    """

    def decorate(func: Callable) -> Callable:
        return _apply(
            func,
            [
                click.option(
                    "--arch",
                    type=click.Choice(list(ARCHITECTURES)),
                    default="sasrec",
                    show_default=True,
                    help=_help(when, "backbone for parameter counting (docs/science.md §6)."),
                ),
                click.option(
                    "--n-items",
                    type=int,
                    default=0,
                    show_default=True,
                    help=_help(when, "items in the catalogue (item-table size; 0 leaves it out)."),
                ),
                click.option(
                    "--max-len",
                    type=int,
                    default=0,
                    show_default=True,
                    help=_help(when, "maximum sequence length (position table for sasrec)."),
                ),
                click.option(
                    "--count",
                    type=click.Choice(["total", "non-embedding"]),
                    default="total",
                    show_default=True,
                    help=_help(when, "which parameter count the budget limits."),
                ),
                click.option(
                    "--heads",
                    type=int,
                    default=1,
                    show_default=True,
                    help=_help(when, "attention heads (d_emb must be divisible by it)."),
                ),
            ],
        )

    return decorate


def where_option(example: str) -> Callable:
    """``--where``: keep only the rows matching a condition (:mod:`perflaw.conditions`)."""
    return click.option(
        "--where",
        help=f"Keep only rows matching a condition, e.g. '{example}', "
        "\"end!='cap' & backbone=='sasrec'\" or 'layers in (1, 8) | d_emb<64' "
        "(&, |, parentheses; text in quotes).",
    )
