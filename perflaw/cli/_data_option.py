"""``--data PATH``: fill --n-items, --max-len and --d-prime from the log or from
``perflaw apen --json`` output (:func:`perflaw.data_facts`), so the main job is chained."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import click

from perflaw.errors import DataError
from perflaw.quality.definition import parse_dprime_definition

DATA_HELP = (
    "The training log, or `perflaw apen --json` output: fills --n-items, --max-len "
    "and --d-prime from it (options given explicitly win; a log's D′ is measured as "
    "the law's runs measured theirs, by default on whole sequences, whatever --max-len)."
)


def data_option(func: Callable) -> Callable:
    """Add ``--data PATH`` (the command gets ``data``)."""
    return click.option(
        "--data", "data", type=click.Path(dir_okay=True), metavar="PATH", help=DATA_HELP
    )(func)


#: How far beyond its fitted D′ range a law is asked about before it says so.
D_PRIME_SLACK = 1.1


def d_prime_outside(d_prime: float, law_path: str | None, how: str) -> list[str]:
    """One line per fit of the law file whose fitted D′ range, widened by
    :data:`D_PRIME_SLACK`, does not hold ``d_prime`` (``how``: how that D′ was obtained,
    for the message); [] when inside or when the law has no D′ input.  The slack lets the
    whole log pass for its training split (the split leaves two events per user out: 1 %
    on ml-latest-small) while a D′ measured another way (39x lower) does not."""
    if d_prime is None or not law_path:
        return []
    from perflaw.cli._output import human_number
    from perflaw.fitting.fitter import load_fits

    lines = []
    for label, fitter in load_fits(law_path):
        low, high = getattr(fitter, "ranges_", {}).get("d_prime", (None, None))
        if low is None or low / D_PRIME_SLACK <= d_prime <= high * D_PRIME_SLACK:
            continue
        where = ", ".join(f"{k}={v}" for k, v in label.items())
        ratio = max(low / d_prime, d_prime / high)
        lines.append(
            f"D′ {human_number(d_prime)} ({how}) is outside the D′ the law"
            f"{' for ' + where if where else ''} was fitted on ({human_number(low)} to "
            f"{human_number(high)}, {ratio:.3g}x away): its predictions there are an "
            "extrapolation; if the runs' D′ was measured another way, measure this the "
            "same way: perflaw sweep's d_prime column is D′ of the whole training "
            "sequences (not cut to --max-len), as `perflaw apen LOG` without --max-len "
            "measures it"
        )
    return lines


def fill_from_data(
    data: str | None,
    *,
    n_items: Any,
    max_len: Any,
    d_prime: Any,
    law_path: str | None = None,
) -> tuple[Any, Any, Any]:
    """``(n_items, max_len, d_prime)`` with the values the user did not give taken from
    ``data``; says on stderr which were taken.  With ``law_path``, a D′ (taken or given)
    outside the law's fitted D′ range is a ``warning:`` line naming how it was measured."""
    if not data:
        for line in d_prime_outside(d_prime, law_path, "given with --d-prime"):
            click.echo(f"warning: {line}", err=True)
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

    definition, law_has_d_prime = law_definition(law_path)
    how_def = parse_dprime_definition(definition, f"law {law_path!r}")
    if how_def["mode"] != "per-user" or how_def["signed"]:
        raise DataError(
            f"the law's D′ was measured {definition!r}, which --data does not measure; "
            "measure the log that way and give --d-prime"
        )
    # D′ measured the law's way (not cut to --max-len, which is the model's input length)
    facts = data_facts(data, max_len=how_def["max_len"], m=how_def["m"])
    from_json = str(data).lower().endswith(".json")
    measured = _facts_definition(facts, how_def["m"], data)
    whose = (
        f"as {data} says"
        if from_json
        else "the law's runs' definition"
        if law_has_d_prime
        else "perflaw sweep's definition"
    )
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
        click.echo(
            f"from {data} ({facts.users:,} users; D′ {measured}, {whose}): {', '.join(taken)}",
            err=True,
        )
    if law_has_d_prime and not given("d_prime") and measured != definition:
        cut = how_def["max_len"]
        click.echo(
            f"warning: D′ in {data} was measured {measured!r}, the law's runs {definition!r}: "
            "the two do not compare; measure the log again with `perflaw apen LOG` "
            + ("without --max-len" if cut is None else f"--max-len {cut}")
            + " or give the log itself",
            err=True,
        )
    how = "given with --d-prime" if given("d_prime") else f"measured from {data} as {measured!r}"
    for line in d_prime_outside(d_prime, law_path, how):
        click.echo(f"warning: {line}", err=True)
    return n_items, max_len, d_prime


def law_definition(law_path: str | None) -> tuple[str, bool]:
    """How the law's runs measured D′ (recorded in its law file; perflaw sweep's definition
    for a law from before the record, or without a D′ input), and whether it has one."""
    from perflaw.quality.definition import DPRIME_DEF

    if not law_path:
        return DPRIME_DEF, False
    from perflaw.fitting.fitter import load_fits

    defs = {
        getattr(f, "d_prime_def_", None) or DPRIME_DEF
        for _, f in load_fits(law_path)
        if "d_prime" in f.ranges_
    }
    if len(defs) > 1:
        raise DataError(f"law {law_path!r} holds fits of D′ measured {len(defs)} ways")
    if not defs:
        return DPRIME_DEF, False
    return defs.pop(), True


def _facts_definition(facts, m: int, data: str) -> str:
    """How the D′ of ``facts`` was measured: a log as asked; apen JSON as it says."""
    from perflaw.quality.definition import dprime_definition

    if not str(data).lower().endswith(".json"):  # a log, measured here as asked
        return dprime_definition(m=m, max_len=facts.max_len)
    from perflaw.quality.definition import apen_definition

    return apen_definition(data)
