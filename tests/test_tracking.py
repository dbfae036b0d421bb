"""`perflaw sweep --log-to`: runs logged to trackers read back into the same table."""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner

pytest.importorskip("torch", reason="perflaw sweep needs torch (the train extra)")

from perflaw.cli import main
from perflaw.runs import read_table
from perflaw.train import RUNS_COLUMNS
from perflaw.train.tracking import curve_steps

TEXT = {
    "dataset",
    "backbone",
    "end",
    "val_curve",
    "eval",
    "objective",
    "device",
    "settings",
    "d_prime_def",
}


@pytest.fixture(scope="module")
def log_file(tmp_path_factory) -> Path:
    rng = np.random.default_rng(0)
    rows = []
    for u in range(120):
        n = rng.integers(5, 12)
        items = (rng.integers(0, 30) + np.arange(n)) % 30
        rows += [(u, int(i), t) for t, i in enumerate(items)]
    path = tmp_path_factory.mktemp("logs") / "tiny.parquet"
    pd.DataFrame(rows, columns=["user_id", "item_id", "timestamp"]).to_parquet(path)
    return path


def sweep_args(log_file: Path, out: Path, *extra: str) -> list[str]:
    return [
        "sweep",
        str(log_file),
        "--layers",
        "1",
        "--d-emb",
        "8,16",
        "--max-steps",
        "5",
        "--min-steps",
        "0",
        "--eval-every",
        "2",
        "--max-len",
        "8",
        "--threads",
        "1",
        "--out",
        str(out),
        "--quiet",
        "--csv",
        "--log-name",
        "tiny-grid",
        *extra,
    ]


def assert_same_table(logged: pd.DataFrame, table: pd.DataFrame) -> None:
    """Every runs-table column of every run, read back from the tracker."""
    key = ["layers", "d_emb"]
    logged = logged.assign(**{c: pd.to_numeric(logged[c]) for c in key})
    logged = logged.sort_values(key).reset_index(drop=True)
    table = table.sort_values(key).reset_index(drop=True)
    assert len(logged) == len(table)
    for c in RUNS_COLUMNS:
        assert c in logged.columns, c
        if c in TEXT:
            assert logged[c].astype(str).tolist() == table[c].astype(str).tolist(), c
        else:
            got = pd.to_numeric(logged[c]).to_numpy(float)
            np.testing.assert_allclose(got, table[c].to_numpy(float), rtol=1e-12, err_msg=c)


def test_curve_steps_follow_the_trainers_validation_steps():
    from perflaw.train import sweep
    from perflaw.train.tracking import Tracking

    got: list = []

    class Collect(Tracking):
        def __init__(self):
            self.sinks = []

        def log_run(self, row, curve):
            got.append((row, curve))

    log = pd.DataFrame(
        [(u, (u + t) % 30, t) for u in range(80) for t in range(8)],
        columns=["user_id", "item_id", "timestamp"],
    )
    sweep(
        log,
        layers=[1],
        d_emb=[8],
        max_steps=5,
        min_steps=0,
        eval_every=2,
        max_len=8,
        threads=1,
        progress=False,
        on_run=Collect().log_run,
    )
    ((row, curve),) = got
    # validations at steps 2 and 4 and at the last step, 5; values as the table's summary
    assert [s for s, _ in curve] == [2, 4, 5] and row["steps"] == 5
    assert " ".join(f"{v:.4f}" for _, v in curve) == row["val_curve"]
    assert max(v for _, v in curve) == pytest.approx(row["val_ndcg@10"])
    assert curve_steps([0.1, 0.2], 100, 150) == [(100, 0.1), (150, 0.2)]


def test_sweep_logs_to_mlflow_and_reads_back(log_file, tmp_path):
    pytest.importorskip("mlflow", reason="the mlflow extra is not installed")
    from mlflow import MlflowClient

    uri = f"sqlite:///{tmp_path}/mlflow.db"
    out = tmp_path / "runs.csv"
    res = CliRunner().invoke(
        main, sweep_args(log_file, out, "--log-to", "mlflow", "--tracking-uri", uri)
    )
    assert res.exit_code == 0, res.output
    table = pd.read_csv(out)
    with warnings.catch_warnings(record=True):
        warnings.simplefilter("always")
        logged = read_table("mlflow:tiny-grid", tracking_uri=uri)
    assert_same_table(logged, table)
    # the validation curve, per evaluation step
    client = MlflowClient(tracking_uri=uri)
    for run_id, summary in zip(logged["run_id"], logged["val_curve"]):
        history = client.get_metric_history(run_id, "curve/val_ndcg_at_10")
        steps = [m.step for m in sorted(history, key=lambda m: m.step)]
        values = [m.value for m in sorted(history, key=lambda m: m.step)]
        assert steps == [2, 4, 5]
        assert " ".join(f"{v:.4f}" for v in values) == summary


def test_sweep_logs_to_tensorboard_and_reads_back(log_file, tmp_path):
    pytest.importorskip("tensorboard", reason="the tensorboard extra is not installed")
    out = tmp_path / "runs.csv"
    tb = tmp_path / "tb"
    res = CliRunner().invoke(
        main, sweep_args(log_file, out, "--log-to", "tensorboard", "--log-dir", str(tb))
    )
    assert res.exit_code == 0, res.output
    table = pd.read_csv(out)
    with warnings.catch_warnings(record=True):
        warnings.simplefilter("always")
        logged = read_table(f"tensorboard:{tb / 'tiny-grid'}")
    assert_same_table(logged, table)
    # the curve's last value and best value, as the source reads them (32-bit scalars)
    with warnings.catch_warnings(record=True):
        warnings.simplefilter("always")
        best = read_table(f"tensorboard:{tb / 'tiny-grid'}#best")
    best = best.sort_values("d_emb")
    np.testing.assert_allclose(
        best["curve/val_ndcg@10"], table.sort_values("d_emb")["val_ndcg@10"], rtol=1e-6
    )


def test_sweep_logs_to_wandb_offline_and_reads_back(log_file, tmp_path, monkeypatch):
    pytest.importorskip("wandb", reason="the wandb extra is not installed")
    monkeypatch.setenv("WANDB_MODE", "offline")
    monkeypatch.setenv("WANDB_SILENT", "true")
    monkeypatch.setenv("WANDB_DIR", str(tmp_path))
    out = tmp_path / "runs.csv"
    # --log-dir: W&B settles its folder once per process (an earlier test's WANDB_DIR)
    res = CliRunner().invoke(
        main, sweep_args(log_file, out, "--log-to", "wandb", "--log-dir", str(tmp_path))
    )
    assert res.exit_code == 0, res.output
    with warnings.catch_warnings(record=True):
        warnings.simplefilter("always")
        logged = read_table(f"wandb:{tmp_path / 'wandb'}")
    assert_same_table(logged, pd.read_csv(out))


def test_a_missing_extra_fails_before_training(log_file, tmp_path, monkeypatch):
    import sys

    monkeypatch.setitem(sys.modules, "mlflow", None)  # as if not installed
    res = CliRunner().invoke(main, sweep_args(log_file, tmp_path / "r.csv", "--log-to", "mlflow"))
    assert res.exit_code != 0
    assert "pip install 'perflaw[mlflow]'" in res.output and "Traceback" not in res.output
    assert not (tmp_path / "r.csv").exists()
