"""Generate docs/cli.md from the commands' own ``--help`` (a test keeps the file current).

Regenerate with ``python -m perflaw.cli._reference > docs/cli.md``.
"""

from __future__ import annotations

HEADER = """# perflaw command-line reference

Generated from `--help` by `python -m perflaw.cli._reference > docs/cli.md`;
`tests/test_cli_reference.py` fails when this file is out of date.
"""


def _help(args: list[str]) -> str:
    from click.testing import CliRunner

    from perflaw.cli import main

    result = CliRunner().invoke(main, [*args, "--help"], prog_name="perflaw", terminal_width=100)
    return result.output.rstrip("\n")


def cli_reference() -> str:
    import click

    from perflaw.cli import main

    parts = [HEADER, f"## perflaw\n\n```\n{_help([])}\n```\n"]
    for name in main.list_commands(click.Context(main)):  # every command, loaded or not
        parts.append(f"## perflaw {name}\n\n```\n{_help([name])}\n```\n")
    return "\n".join(parts)


if __name__ == "__main__":  # pragma: no cover
    print(cli_reference(), end="")
