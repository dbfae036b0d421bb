"""docs/cli-laws.md is generated from --help and must stay current."""

import importlib.util
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_cli_reference_is_current():
    spec = importlib.util.spec_from_file_location("gen_cli_laws", ROOT / "docs" / "gen_cli_laws.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    current = (ROOT / "docs" / "cli-laws.md").read_text(encoding="utf-8")
    assert current == mod.render(), "docs/cli-laws.md is stale: run python docs/gen_cli_laws.py"
