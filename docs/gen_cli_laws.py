"""Regenerate docs/cli-laws.md from the commands' --help (a test keeps it current).

    python docs/gen_cli_laws.py
"""

from __future__ import annotations

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

COMMANDS = ("fit", "predict", "recommend-config", "plot")
TARGET = ROOT / "docs" / "cli-laws.md"


def render() -> str:
    from click.testing import CliRunner

    from perflaw.cli import main

    parts = ["# CLI reference: fitting and using laws", "",
             "Generated from `--help` by `python docs/gen_cli_laws.py`; "
             "`tests/test_docs.py` fails when it is out of date.", ""]
    for name in COMMANDS:
        res = CliRunner().invoke(main, [name, "--help"], prog_name="perflaw",
                                 terminal_width=100)
        parts += [f"## perflaw {name}", "", "```text", res.output.rstrip(), "```", ""]
    return "\n".join(parts)


if __name__ == "__main__":
    TARGET.write_text(render(), encoding="utf-8")
    print(f"wrote {TARGET}")
