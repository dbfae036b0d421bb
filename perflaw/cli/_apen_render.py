"""What `perflaw apen` prints on its first screen: the header that says what was
measured, the table of measures (one column per log) and the notes on stderr."""

from __future__ import annotations

import click

from perflaw.cli._output import human_number, table_string

#: Summary fields shown by the default table (JSON/CSV carry every field).
TABLE_FIELDS = (
    "users",
    "items",
    "interactions",
    "tokens",
    "apen_mean",
    "apen_median",
    "apen_prime_mean",
    "d_prime",
    "zero_apen_users",
    "no_repeat_share",
    "repeat_users",
    "shannon_entropy",
    "actual_entropy",
    "compression_ratio",
    "repeat_share",
    "length_mean",
    "duplicate_rows",
    "seconds",
)
#: What the cross-log study found (benchmarks/dprime_vs_size.py): said on every first screen.
EVIDENCE = (
    "on 5 public logs, each held out in turn, D′ predicted a small SASRec's HR@10 only as well "
    "as sequence length did (mean error 0.087 vs Σ|S|² 0.085; interactions 0.176, a constant "
    "0.172), and token-mapped D′ did worse (0.144, 0.160): read D′ as a size "
    "(docs/dprime-vs-size.md)."
)
#: Shares shown as percentages in the table.
PERCENT_FIELDS = {"no_repeat_share", "repeat_share"}


def _length_only(summaries, labels):
    from perflaw.quality.summary import NO_REPEAT_NOTE_THRESHOLD

    return [
        (label, s["no_repeat_share"])
        for s, label in zip(summaries, labels)
        if s["no_repeat_share"] == s["no_repeat_share"]
        and s["no_repeat_share"] > NO_REPEAT_NOTE_THRESHOLD
    ]


def _with_definition(summary: dict) -> dict:
    """The summary with ``d_prime_def``: how its D′ was measured, in the words of the runs
    table's column (perflaw.quality.definition), so a user can match the two."""
    from perflaw.quality.definition import dprime_definition

    definition = dprime_definition(
        mode=str(summary.get("d_prime_mode") or "per-user"),
        m=int(summary["m"]),
        max_len=summary.get("max_len"),
        signed=bool(summary.get("signed")),
    )
    out = dict(summary)
    out["d_prime_def"] = definition
    return out


def explain(summaries: list[dict], labels: list[str]) -> str:
    """The header above the table: what was measured and what the numbers mean."""
    from perflaw.quality.definition import DPRIME_DEF

    first = summaries[0]
    m, max_len = first["m"], first["max_len"]
    cut = "all events of each user" if max_len is None else f"each user's last {max_len:,} events"
    n = len(summaries)
    definition = first.get("d_prime_def", "")
    lines = [
        f"Data quality of {'this log' if n == 1 else f'{n} logs'}: approximate entropy "
        f"(ApEn, r = 0) over windows of m = {m} events,",
        f"on {cut}.",
        f"D′ measured {definition!r}"
        + (
            " (as perflaw sweep's d_prime column)."
            if definition == DPRIME_DEF
            else f" (perflaw sweep's d_prime column: {DPRIME_DEF!r})."
        ),
    ]
    glossary = [
        (
            "ApEn",
            f"how unpredictable a user's next event is from the previous {m} "
            f"(nats); lower = more regular.",
        ),
        (
            "ApEn′",
            "1/ApEn; higher = more regular.  Users with ApEn = 0 (constant, or "
            f"≤ {m} events) are left out of D′.",
        ),
        (
            "D′",
            "quality-adjusted data size, Σ over users of events × ApEn′: the data "
            "term of the Performance Law; higher = more learnable signal.  Compare it "
            "between logs or cuts measured with the same m and max-len, not with "
            "raw counts.",
        ),
        ("tokens", "events measured (after max-len); interactions = rows of the log."),
    ]
    finite = [
        (s["d_prime"], label) for s, label in zip(summaries, labels) if s["d_prime"] == s["d_prime"]
    ]
    if len(finite) == 1 and first["tokens"]:
        glossary.append(
            (
                "here",
                f"D′ = {human_number(first['d_prime'])} from "
                f"{human_number(first['tokens'])} events: each event weighs "
                f"{human_number(first['d_prime'] / first['tokens'])} on average "
                "(its user's ApEn′).",
            )
        )
    if len(finite) > 1:
        ranked = sorted(finite, reverse=True)
        (best, best_label), (second, second_label) = ranked[0], ranked[1]
        ratio = f", {best / second:.3g}× {second_label}" if second > 0 else ""
        glossary.append(
            ("here", f"the highest D′ is {best_label}'s ({human_number(best)}{ratio}).")
        )
    mapped = [(s, label) for s, label in zip(summaries, labels) if s.get("token_map")]
    for s, label in mapped:
        whose = f"{label}: " if n > 1 else ""
        glossary.append(
            (
                "map",
                f"{whose}item ids mapped to {s['token_map']}; under it "
                f"{s['repeat_users']:,} of {s['users']:,} users repeat a window of {m}.",
            )
        )
    length_only = _length_only(summaries, labels)
    if length_only:
        where = _shares(length_only, "users", single=n == 1) + " repeat"
        glossary.append(
            (
                "caveat",
                f"{where} no window of {m} events, so their ApEn depends "
                "on sequence length alone: here D′ mostly measures how long the "
                "sequences are.",
            )
        )
    glossary.append(("evidence", EVIDENCE))
    width = max(len(k) for k, _ in glossary)
    import textwrap

    for key, text in glossary:
        wrapped = textwrap.wrap(text, width=96 - width - 4)
        lines.append(f"  {key:<{width}}  {wrapped[0]}")
        lines.extend(f"  {'':<{width}}  {w}" for w in wrapped[1:])
    return "\n".join(lines) + "\n"


def summary_table(summaries: list[dict], labels: list[str]) -> str:
    """The measures as rows, one column per log, with units; readable numbers."""
    from perflaw.quality.summary import SUMMARY_KEYS

    rows = []
    for key in TABLE_FIELDS:
        row = {
            "measure": key,
            "unit": SUMMARY_KEYS[key][0] or ("%" if key in PERCENT_FIELDS else ""),
        }
        for s, label in zip(summaries, labels):
            row[label] = human_number(s[key], percent=key in PERCENT_FIELDS)
        rows.append(row)
    return _left_first(table_string(rows))


def _left_first(table: str) -> str:
    # table_string right-aligns every cell; names and units read better left-aligned
    lines = table.splitlines()
    widths = [len(c) for c in lines[1].split("  ")]
    out = lines[:2]
    for line in lines[2:]:
        cells, at = [], 0
        for w in widths:
            cells.append(line[at : at + w])
            at += w + 2
        cells[0], cells[1] = cells[0].strip().ljust(widths[0]), cells[1].strip().ljust(widths[1])
        out.append("  ".join(cells))
    return "\n".join(out)


def _echo_notes(summaries, labels, m, header: bool) -> None:
    """Notes on stderr, the length-only one said once for all logs (and not at all
    when the table's header says it)."""
    from perflaw.quality.summary import LENGTH_ONLY

    for s, label in zip(summaries, labels):
        for note in s["notes"]:
            if LENGTH_ONLY not in note:
                click.echo(f"note: {label}: {note}", err=True)
    length_only = _length_only(summaries, labels)
    if length_only and not header:
        where = _shares(length_only, "sequences", single=len(summaries) == 1)
        prefix = f"{length_only[0][0]}: " if len(summaries) == 1 else ""
        click.echo(
            f"note: {prefix}{where} repeat no window of length {m}: for them r = 0 "
            f"ApEn is ln((N−m+1)/(N−m)), {LENGTH_ONLY}, so D′ here measures "
            "sequence length more than regularity",
            err=True,
        )


def _shares(pairs, what: str, single: bool) -> str:
    """``97% of users`` or ``97% of users in a.parquet and 100% in b.parquet``."""
    parts = [
        f"{human_number(share, percent=True)}"
        + (f" of {what}" if k == 0 else "")
        + ("" if single else f" in {label}")
        for k, (label, share) in enumerate(pairs)
    ]
    return parts[0] if len(parts) == 1 else ", ".join(parts[:-1]) + " and " + parts[-1]
