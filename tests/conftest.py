"""Shared test settings: run from the repository root; where the team data lives."""

import os
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
# PERFLAW_SHARED_DATA points elsewhere (e.g. from a git worktree not beside ../shared)
SHARED_DATA = Path(os.environ.get("PERFLAW_SHARED_DATA", REPO.parent / "shared" / "data"))


def shifted_log(users: int, n_items: int = 30, seed: int = 1, lengths=(4, 12)):
    """A tiny interaction log for training tests: each user walks the items in order from
    a random start (``lengths``: the range of sequence lengths, high end excluded)."""
    import numpy as np
    import pandas as pd

    rng = np.random.default_rng(seed)
    rows = []
    for u in range(users):
        n = rng.integers(*lengths)
        items = (rng.integers(0, n_items) + np.arange(n)) % n_items
        rows += [(u, int(i), t) for t, i in enumerate(items)]
    return pd.DataFrame(rows, columns=["user_id", "item_id", "timestamp"])


@pytest.fixture(autouse=True)
def _run_from_repo_root(monkeypatch):
    # Tests and doctests name bundled files relative to the repository root.
    monkeypatch.chdir(REPO)


@pytest.fixture(autouse=True)
def _outside_a_job_array(monkeypatch):
    # `perflaw sweep` takes its --shard from SLURM array variables: a suite run inside an
    # array task must not shard every sweep it tests
    for name in ("SLURM_ARRAY_TASK_ID", "SLURM_ARRAY_TASK_MIN", "SLURM_ARRAY_TASK_COUNT"):
        monkeypatch.delenv(name, raising=False)


@pytest.fixture
def shared_data():
    """../shared/data beside the checkout (always there in CI); skip with a reason if not."""
    if not SHARED_DATA.is_dir():
        pytest.skip(f"team data not found at {SHARED_DATA}")
    return SHARED_DATA


# --- Spark: one local[2] session for every test module that needs it (the fixture
# `spark`); skipped with the reason when pyspark or Java is missing, unless
# PERFLAW_REQUIRE_SPARK is set (CI sets it whenever Java is there), then it fails.
@pytest.fixture(scope="session")
def spark():
    from scale_helpers import require_spark

    require_spark()
    from perflaw.quality.spark import get_spark

    session = get_spark(
        "local[2]",
        app_name="perflaw-tests",
        conf={
            "spark.sql.shuffle.partitions": "2",
            "spark.default.parallelism": "2",
            "spark.ui.enabled": "false",
            "spark.driver.memory": "1g",
        },
    )
    yield session
    session.stop()
