"""Sections of the docs that are generated from committed tables stay in step with them."""

import importlib.util
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _load(path: Path):
    spec = importlib.util.spec_from_file_location(path.stem, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_amazon_beauty_section_is_what_its_table_says():
    report = _load(ROOT / "benchmarks" / "amazon_beauty_report.py")
    doc = (ROOT / "docs" / "sweep.md").read_text(encoding="utf-8")
    a, b = doc.index(report.HEAD), doc.index(report.NEXT)
    assert doc[a:b].rstrip() == report.main().rstrip(), (
        "docs/sweep.md's amazon-beauty section is out of date: "
        "python benchmarks/amazon_beauty_report.py"
    )
