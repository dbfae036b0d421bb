"""`perflaw report`: one self-contained HTML page, checked as text and in a real browser."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import pytest
from click.testing import CliRunner

from perflaw.cli import main

REPO = Path(__file__).resolve().parents[1]
SWEEP = REPO / "data" / "ml-latest-small-sweep.csv"
LOG = REPO / "data" / "ml-latest-small.parquet"
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
#: Chromium without a network, a sandbox or a GPU (CI containers run as root)
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


@pytest.fixture(scope="module")
def page(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("report") / "report.html"
    res = CliRunner().invoke(
        main,
        [
            "report",
            str(SWEEP),
            "--metric",
            "ndcg@10",
            "--where",
            "data_fraction==1",
            "--log",
            str(LOG),
            "--out",
            str(out),
        ],
    )
    assert res.exit_code == 0, res.output
    assert f"wrote the report to {out}" in res.stdout
    return out


def test_the_page_is_self_contained_and_decision_first(page):
    html = page.read_text(encoding="utf-8")
    images = re.findall(r'<img src="([^"]+)"', html)
    # the fitted law, the prediction surface, the backtest, the log's ApEn
    assert len(images) == 4
    assert all(src.startswith("data:image/png;base64,") for src in images)
    # nothing fetched at view time: no external script, style, image or font
    assert not re.search(r'(src|href)="(https?:)?//', html)
    assert "<script" not in html
    decision = html.index('class="decision"')
    assert decision < html.index("<h2")
    assert "Next: rerun layers 8 x d_emb 128 with another seed." in html
    # each figure comes with its one-line reading
    assert html.count("<figcaption>") == 4
    assert "no law beats it out of sample" in html  # the bundled sweep: carry-forward wins
    assert "100% of users repeat no window" in html  # ml-latest-small's no-repeat share


def test_the_report_never_overwrites_an_input(tmp_path):
    runs = tmp_path / "runs.csv"
    shutil.copy(SWEEP, runs)
    before = runs.read_bytes()
    res = CliRunner().invoke(main, ["report", str(runs), "-m", "ndcg@10", "--out", str(runs)])
    assert res.exit_code != 0 and "Traceback" not in res.output
    assert runs.read_bytes() == before


def test_a_missing_metric_is_one_line(tmp_path):
    res = CliRunner().invoke(
        main, ["report", str(SWEEP), "-m", "mrr@7", "--out", str(tmp_path / "r.html")]
    )
    assert res.exit_code != 0 and "metric 'mrr@7' not found" in res.output
    assert not (tmp_path / "r.html").exists()


def test_the_page_renders_in_a_real_browser(page, tmp_path):
    """Chromium opens the page offline: every figure decoded and drawn, no console error;
    the screenshot stays in this test's tmp_path."""
    sync_api = pytest.importorskip(
        "playwright.sync_api", reason="playwright is not installed (pip install playwright)"
    )
    if not Path(CHROMIUM).exists():
        pytest.skip("no Chromium at /usr/bin/chromium (apt-get install chromium)")
    errors: list[str] = []
    with sync_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            view = browser.new_page(viewport={"width": 1100, "height": 900})
            view.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
            view.on("pageerror", lambda e: errors.append(str(e)))
            failed: list[str] = []
            view.on("requestfailed", lambda r: failed.append(r.url))
            view.goto(page.as_uri(), wait_until="load")
            images = view.evaluate(
                """() => Array.from(document.images).map(i => ({
                    ok: i.complete, w: i.naturalWidth, h: i.naturalHeight,
                    shown: i.getBoundingClientRect().width}))"""
            )
            shot = tmp_path / "report.png"
            view.screenshot(path=str(shot), full_page=True)
        finally:
            browser.close()
    assert len(images) == 4
    for img in images:
        assert img["ok"] and img["w"] > 300 and img["h"] > 200 and img["shown"] > 100, img
    assert errors == [] and failed == []
    assert shot.stat().st_size > 50_000
    print(f"screenshot: {shot}")
