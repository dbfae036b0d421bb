"""Generate docs/cli.md from the commands' own ``--help`` (a test keeps the file current).

Regenerate with ``python -m perflaw.cli._reference > docs/cli.md``.
"""

from __future__ import annotations

import click

HEADER = """# perflaw command-line reference

Generated from `--help` by `python -m perflaw.cli._reference > docs/cli.md`;
`tests/test_cli_reference.py` fails when this file is out of date.
"""


def cli_reference() -> str:
    from perflaw.cli import main

    parts = [HEADER]
    ctx = click.Context(main, info_name="perflaw", terminal_width=100, max_content_width=100)
    parts.append(f"## perflaw\n\n```\n{main.get_help(ctx)}\n```\n")
    for name in sorted(main.commands):
        cmd = main.commands[name]
        sub = click.Context(cmd, info_name=name, parent=ctx,
                            terminal_width=100, max_content_width=100)
        parts.append(f"## perflaw {name}\n\n```\n{cmd.get_help(sub)}\n```\n")
    return "\n".join(parts)


if __name__ == "__main__":  # pragma: no cover
    print(cli_reference(), end="")
