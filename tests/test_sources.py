"""Runs read from trackers (perflaw.sources): each filled by the tracker's own client,
then `perflaw fit SOURCE --metric ndcg@10` must give the law the same runs give as a CSV.

Every tracker test skips, saying why, when its extra is not installed."""

from __future__ import annotations

import json
import re
import socket
import subprocess
import sys
import time
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner

from perflaw.cli import main
from perflaw.runs import read_table
from perflaw.sources.columns import canonical_name, normalise_columns

BUNDLED = Path(__file__).resolve().parents[1] / "data" / "ml-latest-small-sweep.csv"
RECBOLE_LOG = Path(__file__).resolve().parent / "data" / "recbole-1.2.1-SASRec.log"


@pytest.fixture(scope="module")
def runs() -> pd.DataFrame:
    """48 runs of the bundled sweep (all data, 16 shapes x 3 seeds)."""
    frame = pd.read_csv(BUNDLED)
    frame = frame[frame["data_fraction"] == 1].reset_index(drop=True)
    return frame[["layers", "d_emb", "seed", "ndcg@10", "hr@10"]]


@pytest.fixture(scope="module")
def runs16(runs) -> pd.DataFrame:
    """The 16 shapes of one seed: for the trackers that are slow to fill."""
    return runs[runs["seed"] == runs["seed"].min()].reset_index(drop=True)


def fit_json(source: str, *args: str) -> dict:
    res = CliRunner().invoke(
        main, ["fit", source, "--metric", "ndcg@10", "--json", "--no-save", *args]
    )
    assert res.exit_code == 0, res.output
    return json.loads(res.stdout)


def csv_law(frame: pd.DataFrame, tmp_path: Path) -> dict:
    path = tmp_path / "same-runs.csv"
    frame.to_csv(path, index=False)
    return fit_json(str(path))


def assert_same_law(got: dict, want: dict, rtol: float = 1e-9) -> None:
    assert got["n_points"] == want["n_points"]
    assert got["form"] == want["form"] and got["law"] == want["law"]
    assert got["params"].keys() == want["params"].keys()
    for k, v in want["params"].items():
        assert got["params"][k] == pytest.approx(v, rel=rtol, abs=1e-12), k
    if want["noise_sd"] is None:  # one seed per shape: no replicates, no noise estimate
        assert got["noise_sd"] is None
    else:
        assert got["noise_sd"] == pytest.approx(want["noise_sd"], rel=rtol)


# ----------------------------------------------------------------- the column normaliser


@pytest.mark.parametrize(
    ("name", "full", "want"),
    [
        ("params.n_layers", True, "layers"),
        ("params.num_blocks", True, "layers"),
        ("params_total", True, "params_total"),  # a runs-table column, not a namespace
        ("num_layers", True, "layers"),
        ("hidden_size", True, "d_emb"),
        ("embedding_size", True, "d_emb"),
        ("params.seed", True, "seed"),
        ("random_seed", False, "seed"),  # a seed is never lost, even in a user's table
        ("test/ndcg@10", True, "ndcg@10"),
        ("metrics.NDCG@10", False, "NDCG@10"),
        ("metrics.ndcg_at_10", True, "ndcg@10"),
        ("metrics.hr_at_10", True, "hr@10"),
        ("valid/ndcg@10", True, "val_ndcg@10"),
        ("eval/NDCG@10", False, "val_NDCG@10"),
        ("test_ndcg_at_5", False, "test_ndcg_at_5"),  # a user's own name stays
        ("params_total", False, "params_total"),  # perflaw's own column stays
        ("val_ndcg@10", True, "val_ndcg@10"),
    ],
)
def test_canonical_names(name, full, want):
    assert canonical_name(name, full=full) == want


def test_normaliser_never_overwrites_a_column():
    frame = pd.DataFrame({"ndcg@10": [1.0], "test/ndcg@10": [2.0], "params.n_layers": [3]})
    out, mapped = normalise_columns(frame, full=True)
    assert mapped == {"params.n_layers": "layers"}
    assert out["ndcg@10"].tolist() == [1.0] and out["test/ndcg@10"].tolist() == [2.0]


def test_csv_with_tracker_names_fits_like_the_plain_csv(runs, tmp_path):
    """An MLflow-shaped export (the issue's example): no flags needed, the seed kept."""
    want = csv_law(runs, tmp_path)
    exported = runs.rename(
        columns={
            "layers": "params.num_blocks",
            "d_emb": "params.hidden_size",
            "seed": "params.seed",
            "ndcg@10": "metrics.ndcg@10",
            "hr@10": "metrics.hr@10",
        }
    )
    path = tmp_path / "export.csv"
    exported.to_csv(path, index=False)
    res = CliRunner().invoke(main, ["fit", str(path), "--metric", "ndcg@10", "--json", "--no-save"])
    assert res.exit_code == 0, res.output
    assert "mapped params.num_blocks -> layers" in res.stderr
    assert "params.seed -> seed" in res.stderr
    assert_same_law(json.loads(res.stdout), want)
    # the old spelling given to an option still finds the column
    got = fit_json(str(path), "--layers-col", "params.num_blocks")
    assert_same_law(got, want)


def test_unknown_scheme_and_missing_target_are_one_line_errors(tmp_path):
    res = CliRunner().invoke(main, ["fit", "recbole:" + str(tmp_path / "nope"), "-m", "ndcg@10"])
    assert res.exit_code != 0 and "neither a RecBole log file" in res.output
    assert "Traceback" not in res.output


# ----------------------------------------------------------------------------- RecBole


def _ordered(metrics: dict) -> str:
    # the repr RecBole's results print with, on this Python (3.12 changed OrderedDict's)
    from collections import OrderedDict

    return repr(OrderedDict(metrics))


def write_recbole_log(folder: Path, row, i: int, style: str = "auto") -> Path:
    test = {
        "recall@10": round(float(row["hr@10"]), 4),
        "mrr@10": 0.01,
        "ndcg@10": round(float(row["ndcg@10"]), 4),
        "hit@10": round(float(row["hr@10"]), 4),
        "precision@10": 0.005,
    }
    valid = {k: round(v * 1.1, 4) for k, v in test.items()}
    if style == "py311":
        text_t = "OrderedDict([" + ", ".join(f"({k!r}, {v!r})" for k, v in test.items()) + "])"
        text_v = "OrderedDict([" + ", ".join(f"({k!r}, {v!r})" for k, v in valid.items()) + "])"
    elif style == "numpy2":
        pairs = ", ".join(f"{k!r}: np.float64({v!r})" for k, v in test.items())
        text_t = "OrderedDict({" + pairs + "})"
        text_v = _ordered(valid)
    else:
        text_t, text_v = _ordered(test), _ordered(valid)
    stamp = f"Dec-07-2026_10-{i // 60:02d}-{i % 60:02d}"
    path = folder / "SASRec" / f"SASRec-ml-latest-small-{stamp}-{i:06x}.log"
    path.parent.mkdir(parents=True, exist_ok=True)
    # the bundled sample with this run's settings and results in place of its own
    text = RECBOLE_LOG.read_text()
    for name, value in (
        ("seed", int(row["seed"])),
        ("n_layers", int(row["layers"])),
        ("hidden_size", int(row["d_emb"])),
        ("inner_size", 4 * int(row["d_emb"])),
    ):
        text = re.sub(rf"(?m)^{name} = .*$", f"{name} = {value}", text)
    text = re.sub(r"(?m)(INFO  best valid : ).*$", lambda m: m[1] + text_v, text)
    text = re.sub(r"(?m)(INFO  test result: ).*$", lambda m: m[1] + text_t, text)
    path.write_text(text)
    return path


def test_recbole_logs_fit_like_the_csv(runs, tmp_path):
    logs = tmp_path / "log"
    styles = ("auto", "py311", "numpy2")
    for i, row in runs.iterrows():
        write_recbole_log(logs, row, int(i), style=styles[int(i) % 3])
    unfinished = write_recbole_log(logs, runs.iloc[0], 999)
    unfinished.write_text(unfinished.read_text().split("INFO  best valid")[0])
    rounded = runs.assign(**{c: runs[c].round(4) for c in ("ndcg@10", "hr@10")})
    want = csv_law(rounded, tmp_path)
    assert_same_law(fit_json(f"recbole:{logs}"), want)
    with warnings.catch_warnings(record=True):
        warnings.simplefilter("always")
        table = read_table(f"recbole:{logs}")
    assert len(table) == len(runs)  # the unfinished run is left out
    assert {"layers", "d_emb", "seed", "ndcg@10", "val_ndcg@10", "hit@10"} <= set(table.columns)
    assert set(table["model"]) == {"SASRec"} and set(table["dataset"]) == {"ml-latest-small"}


def test_recbole_bundled_log_sample():
    """A log in RecBole 1.2.1's format kept as a file (see its header for the source)."""
    with warnings.catch_warnings(record=True):
        warnings.simplefilter("always")
        table = read_table(f"recbole:{RECBOLE_LOG}")
    row = table.iloc[0]
    assert row["layers"] == 2 and row["d_emb"] == 64 and row["seed"] == 2020
    assert row["ndcg@10"] == pytest.approx(0.0321) and row["val_ndcg@10"] == pytest.approx(0.0402)
    assert row["hit@10"] == pytest.approx(0.0656)


# ------------------------------------------------------------------------------ MLflow

PARAM_NAMES = {"layers": "num_blocks", "d_emb": "hidden_size", "seed": "seed"}
# MLflow refuses '@' in a metric name: users log ndcg_at_10 (the normaliser maps it back)
METRIC_NAMES = {"ndcg@10": "test/ndcg_at_10", "hr@10": "test/hr_at_10"}


def log_to_mlflow(tracking_uri: str, runs: pd.DataFrame, experiment: str) -> None:
    """Fill an experiment with MLflow's own client, one run per row (and one failed run)."""
    from mlflow import MlflowClient
    from mlflow.entities import Metric, Param

    client = MlflowClient(tracking_uri=tracking_uri)
    exp = client.create_experiment(experiment)
    stamp = 1_700_000_000_000
    for i, row in runs.iterrows():
        run = client.create_run(exp, run_name=f"run-{i}", start_time=stamp + int(i))
        client.log_batch(
            run.info.run_id,
            params=[Param(PARAM_NAMES[c], str(int(row[c]))) for c in PARAM_NAMES],
            metrics=[
                # a worse value first: the table keeps each metric's last value
                Metric(METRIC_NAMES[c], float(row[c]) / 2 + s * float(row[c]) / 2, stamp, s)
                for c in METRIC_NAMES
                for s in (0, 1)
            ],
        )
        client.set_terminated(run.info.run_id)
    failed = client.create_run(exp, run_name="crashed")
    client.log_batch(failed.info.run_id, metrics=[Metric("test/ndcg_at_10", 0.9, stamp, 0)])
    client.set_terminated(failed.info.run_id, status="FAILED")


@pytest.mark.parametrize("backend", ["file", "sqlite"])
def test_mlflow_store_fits_like_the_csv(runs, tmp_path, backend, monkeypatch):
    pytest.importorskip("mlflow", reason="the mlflow extra is not installed")
    # MLflow 3 keeps its file store behind this switch (the store is still read and written)
    monkeypatch.setenv("MLFLOW_ALLOW_FILE_STORE", "true")
    uri = (tmp_path / "mlruns").as_uri() if backend == "file" else f"sqlite:///{tmp_path}/mlflow.db"
    log_to_mlflow(uri, runs, "sasrec-grid")
    want = csv_law(runs, tmp_path)
    assert_same_law(fit_json("mlflow:sasrec-grid", "--tracking-uri", uri), want)
    # the variable MLflow users already set works as well
    monkeypatch.setenv("MLFLOW_TRACKING_URI", uri)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        table = read_table("mlflow:sasrec-grid")
    assert len(table) == len(runs)  # the failed run is left out
    assert any("params.num_blocks -> layers" in str(w.message) for w in caught)
    res = CliRunner().invoke(
        main, ["fit", "mlflow:no-such", "--tracking-uri", uri, "-m", "ndcg@10"]
    )
    assert res.exit_code != 0 and "no MLflow experiment named 'no-such'" in res.output


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.mark.slow
def test_mlflow_server_fits_like_the_csv(runs16, tmp_path):
    """A real `mlflow server` on 127.0.0.1, filled over HTTP by MLflow's client."""
    pytest.importorskip("mlflow", reason="the mlflow extra is not installed")
    port = _free_port()
    mlflow_cli = Path(sys.executable).with_name("mlflow")
    server = subprocess.Popen(
        [
            str(mlflow_cli) if mlflow_cli.exists() else "mlflow",
            "server",
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--workers",
            "1",
            "--backend-store-uri",
            f"sqlite:///{tmp_path}/server.db",
            "--default-artifact-root",
            str(tmp_path / "artifacts"),
        ],
        stdout=subprocess.DEVNULL,
        stderr=(tmp_path / "server.log").open("w"),
        cwd=tmp_path,
    )
    uri = f"http://127.0.0.1:{port}"
    try:
        import urllib.request

        deadline = time.monotonic() + 120
        while True:
            try:
                with urllib.request.urlopen(f"{uri}/health", timeout=2) as r:
                    if r.status == 200:
                        break
            except OSError:
                pass
            if server.poll() is not None or time.monotonic() > deadline:
                pytest.fail("mlflow server did not start: " + (tmp_path / "server.log").read_text())
            time.sleep(0.5)
        log_to_mlflow(uri, runs16, "served")
        want = csv_law(runs16, tmp_path)
        assert_same_law(fit_json("mlflow:served", "--tracking-uri", uri), want)
    finally:
        server.terminate()
        try:
            server.wait(timeout=20)
        except subprocess.TimeoutExpired:
            server.kill()


# ------------------------------------------------------------------------------ Optuna


def test_optuna_study_fits_like_the_csv(runs, tmp_path):
    optuna = pytest.importorskip("optuna", reason="the optuna extra is not installed")
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    storage = f"sqlite:///{tmp_path}/optuna.db"
    study = optuna.create_study(study_name="grid", storage=storage, direction="maximize")
    with warnings.catch_warnings():  # set_metric_names is marked experimental
        warnings.simplefilter("ignore")
        study.set_metric_names(["ndcg@10"])
    distributions = {
        "n_layers": optuna.distributions.IntDistribution(1, 8),
        "hidden_size": optuna.distributions.IntDistribution(16, 128),
        "seed": optuna.distributions.IntDistribution(0, 10),
    }
    trials = [
        optuna.trial.create_trial(
            params={
                "n_layers": int(row["layers"]),
                "hidden_size": int(row["d_emb"]),
                "seed": int(row["seed"]),
            },
            distributions=distributions,
            value=float(row["ndcg@10"]),
            user_attrs={"hr@10": float(row["hr@10"])},
        )
        for _, row in runs.iterrows()
    ]
    trials.append(
        optuna.trial.create_trial(
            params={"n_layers": 8, "hidden_size": 128, "seed": 0},
            distributions=distributions,
            state=optuna.trial.TrialState.FAIL,
        )
    )
    study.add_trials(trials)
    want = csv_law(runs, tmp_path)
    assert_same_law(fit_json("optuna:grid", "--storage", storage), want)
    hr = CliRunner().invoke(
        main, ["fit", "optuna:grid", "--storage", storage, "-m", "hr@10", "--json", "--no-save"]
    )
    assert hr.exit_code == 0, hr.output
    res = CliRunner().invoke(main, ["fit", "optuna:grid", "-m", "ndcg@10"])
    assert res.exit_code != 0 and "--storage" in res.output


# ------------------------------------------------------------------------- TensorBoard


def test_tensorboard_event_files_fit_like_the_csv(runs, tmp_path):
    pytest.importorskip("tensorboard", reason="the tensorboard extra is not installed")
    torch = pytest.importorskip("torch", reason="torch writes the event files")
    from torch.utils.tensorboard import SummaryWriter

    del torch
    root = tmp_path / "tb"
    for i, row in runs.iterrows():
        with SummaryWriter(str(root / f"run-{i:02d}")) as writer:
            for step in (100, 200):  # a curve whose last value is the run's result
                writer.add_scalar("valid/ndcg@10", float(row["ndcg@10"]) * step / 200, step)
            writer.add_scalar("test/ndcg@10", float(row["ndcg@10"]), 200)
            writer.add_hparams(
                {
                    "n_layers": int(row["layers"]),
                    "hidden_size": int(row["d_emb"]),
                    "seed": int(row["seed"]),
                },
                {"hparam/hr@10": float(row["hr@10"])},
            )
    # event files hold 32-bit floats: compare with the same runs rounded to float32
    want = csv_law(runs.assign(**{"ndcg@10": runs["ndcg@10"].astype(np.float32)}), tmp_path)
    assert_same_law(fit_json(f"tensorboard:{root}"), want, rtol=1e-6)
    with warnings.catch_warnings(record=True):
        warnings.simplefilter("always")
        best = read_table(f"tensorboard:{root}#best")
    assert {"layers", "d_emb", "seed", "ndcg@10", "val_ndcg@10", "hr@10"} <= set(best.columns)
    assert len(best) == len(runs)


# ------------------------------------------------------------------------------- W&B


@pytest.mark.slow
def test_wandb_offline_runs_fit_like_the_csv(runs16, tmp_path, monkeypatch):
    runs = runs16
    wandb = pytest.importorskip("wandb", reason="the wandb extra is not installed")
    monkeypatch.setenv("WANDB_MODE", "offline")
    monkeypatch.setenv("WANDB_SILENT", "true")
    monkeypatch.setenv("WANDB_DIR", str(tmp_path))
    monkeypatch.chdir(tmp_path)
    for _, row in runs.iterrows():
        run = wandb.init(
            project="grid",
            config={
                "n_layers": int(row["layers"]),
                "embedding_size": int(row["d_emb"]),
                "seed": int(row["seed"]),
            },
            mode="offline",
            dir=str(tmp_path),
        )
        for step in (100, 200):
            run.log({"valid/ndcg@10": float(row["ndcg@10"]) * step / 200}, step=step)
        run.summary["test/ndcg@10"] = float(row["ndcg@10"])
        run.summary["test/hr@10"] = float(row["hr@10"])
        run.finish()
    want = csv_law(runs, tmp_path)
    assert_same_law(fit_json(f"wandb:{tmp_path / 'wandb'}"), want)


@pytest.mark.slow
def test_wandb_api_path_fails_in_one_line_without_the_service(monkeypatch):
    """wandb:ENTITY/PROJECT goes through the real wandb.Api; reading a project's runs needs
    api.wandb.ai (no network here), so this checks the path up to the service: pointed at
    a closed port on 127.0.0.1, the failure is one line naming the project."""
    pytest.importorskip("wandb", reason="the wandb extra is not installed")
    with socket.socket() as s:  # a port nothing listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    monkeypatch.setenv("WANDB_BASE_URL", f"http://127.0.0.1:{port}")
    monkeypatch.setenv("WANDB_API_KEY", "0" * 40)
    monkeypatch.setenv("WANDB_SILENT", "true")
    res = CliRunner().invoke(main, ["fit", "wandb:someone/grid", "-m", "ndcg@10"])
    assert res.exit_code != 0 and "Traceback" not in res.output
    assert "cannot read W&B project 'someone/grid'" in res.output
