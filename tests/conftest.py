"""Shared test settings: run from the repository root; where the team data lives."""

from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
SHARED_DATA = REPO.parent / "shared" / "data"


@pytest.fixture(autouse=True)
def _run_from_repo_root(monkeypatch):
    # Tests and doctests name bundled files relative to the repository root.
    monkeypatch.chdir(REPO)


@pytest.fixture
def shared_data():
    """../shared/data beside the checkout (always there in CI); skip with a reason if not."""
    if not SHARED_DATA.is_dir():
        pytest.skip(f"team data not found at {SHARED_DATA}")
    return SHARED_DATA
