"""`perflaw sweep --adaptive --storage URL`: the loop's trials in an Optuna storage, shared
by real processes (SQLite, the journal file); resumable; a study of another loop refused;
the sampler never gives two workers asking at the same instant one cell."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time

import pandas as pd
import pytest
from click.testing import CliRunner

from conftest import shifted_log

optuna = pytest.importorskip("optuna", reason="perflaw[optuna] not installed")

from perflaw.decide.acquire import seed_design  # noqa: E402
from perflaw.decide.adaptive_optuna import open_storage, optuna_sweep  # noqa: E402
from perflaw.decide.loop import ledger_path  # noqa: E402
from perflaw.errors import DataError  # noqa: E402
from perflaw.optuna import _KEY, PerflawSampler  # noqa: E402

LAYERS, WIDTHS = [1, 2, 3], [8, 16]
TINY = [
    "--max-steps", "2", "--min-steps", "0", "--eval-every", "2", "--max-len", "8",
    "--threads", "1", "--batch-size", "64", "--quiet", "--csv", "--seed", "0,1",
    "--layers", "1,2,3", "--d-emb", "8,16", "--adaptive", "--metric", "hr@10",
]  # fmt: skip


def _complete(storage):
    study = optuna.load_study(study_name="perflaw-sweep", storage=storage)
    return study.get_trials(states=(optuna.trial.TrialState.COMPLETE,))


@pytest.mark.slow
@pytest.mark.parametrize("kind", ["sqlite", "journal"])
def test_two_sweep_processes_share_one_study(kind, tmp_path):
    pytest.importorskip("torch", reason="perflaw sweep needs PyTorch")
    log = tmp_path / "log.parquet"
    shifted_log(60).to_parquet(log)
    out = tmp_path / "runs.csv"
    url = f"sqlite:///{tmp_path / 'loop.db'}" if kind == "sqlite" else str(tmp_path / "l.journal")
    cmd = [sys.executable, "-m", "perflaw", "sweep", str(log), *TINY, "--out", str(out),
           "--storage", url]  # fmt: skip
    env = {**os.environ, "PYTHONPATH": os.getcwd(), "OMP_NUM_THREADS": "1"}
    procs = [
        subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=env)
        for _ in range(2)
    ]
    for p in procs:
        _, err = p.communicate(timeout=300)
        assert p.returncode == 0, err.decode()
    trials = _complete(open_storage(url))
    cells = [(t.params["layers"], t.params["d_emb"]) for t in trials]
    assert len(cells) >= len(seed_design(LAYERS, WIDTHS))
    assert len(set(cells)) == len(cells)  # no configuration proposed (so trained) twice
    table = pd.read_csv(out)
    assert not table.duplicated(["layers", "d_emb", "seed"]).any()
    for t in trials:  # every finished trial's rows are in the table, its value their mean
        rows = table[
            (table["layers"] == t.params["layers"]) & (table["d_emb"] == t.params["d_emb"])
        ]
        assert sorted(rows["seed"]) == [0, 1]
        assert t.value == pytest.approx(rows["hr@10"].mean())
    assert set(map(tuple, table[["layers", "d_emb"]].to_numpy().tolist())) == set(cells)
    # each trained configuration was written to the ledger (by whichever process named
    # it) before it was trained: one line each, none lost to the other process
    ledger = pd.read_json(ledger_path(out), lines=True)
    assert sorted(map(tuple, ledger[["layers", "d_emb"]].to_numpy().tolist())) == sorted(cells)


def _fake_train(out, trained):
    def train(n, d):
        trained.append((n, d))
        rows = pd.DataFrame({"layers": [n, n], "d_emb": [d, d], "seed": [0, 1],
                             "hr@10": [0.1 * n + d / 100, 0.1 * n + d / 100 + 0.01]})  # fmt: skip
        rows.to_csv(out, mode="a", header=not out.exists(), index=False)
        return pd.read_csv(out)

    return train


def test_rerun_resumes_the_study_and_another_loop_is_refused(tmp_path):
    out, url, trained = tmp_path / "runs.csv", f"sqlite:///{tmp_path / 'loop.db'}", []
    kw = dict(storage=url, layers=LAYERS, d_emb=WIDTHS, metric="hr@10", progress=False)
    train = _fake_train(out, trained)
    first = optuna_sweep(train, out, budget="40%", **kw)
    n_first = len(trained)
    assert first.stop or not first.proposals
    again = optuna_sweep(train, out, **kw)  # a larger budget: goes on from the same study
    assert trained[:4] == seed_design(LAYERS, WIDTHS) and len(trained) > n_first
    assert len(set(trained)) == len(trained)
    assert len(_complete(url)) == len(trained) and again.best_trained["value"] > 0.3
    ledger = pd.read_json(ledger_path(out), lines=True)
    assert list(map(tuple, ledger[["layers", "d_emb"]].to_numpy().tolist())) == trained
    # past the seed design, what the loop predicted is kept for `perflaw ledger`
    assert ledger["predicted"].iloc[len(seed_design(LAYERS, WIDTHS)) :].notna().all()
    with pytest.raises(DataError, match="name another --study"):
        optuna_sweep(train, out, **{**kw, "metric": "ndcg@10"})


def test_a_trial_names_its_cell_only_after_earlier_ones_did(tmp_path):
    # worker 0's trial exists but is still deciding; worker 1 asks at that instant
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    study = optuna.create_study(direction="maximize", sampler=PerflawSampler(LAYERS, WIDTHS))
    first = seed_design(LAYERS, WIDTHS)[0]
    trial_id = study._storage.create_new_trial(study._study_id)

    def name_it():
        time.sleep(0.3)
        study._storage.set_trial_system_attr(trial_id, _KEY, list(first))

    threading.Thread(target=name_it).start()
    t = study.ask()
    cell = (t.suggest_categorical("layers", LAYERS), t.suggest_categorical("d_emb", WIDTHS))
    assert cell != first and cell == seed_design(LAYERS, WIDTHS)[1]


def test_storage_without_optuna_or_adaptive_is_one_line(tmp_path, monkeypatch):
    from perflaw.cli import main

    log = tmp_path / "log.csv"
    shifted_log(5).to_csv(log, index=False)
    out = tmp_path / "runs.csv"
    r = CliRunner().invoke(main, ["sweep", str(log), "--out", str(out), "--storage", "x.db"])
    assert r.exit_code == 2 and "add --adaptive" in r.output
    r = CliRunner().invoke(
        main, ["sweep", str(log), "--adaptive", "--out", str(out), "--study", "a"]
    )
    assert r.exit_code == 2 and "add --storage" in r.output
    monkeypatch.setitem(sys.modules, "optuna", None)
    r = CliRunner().invoke(
        main, ["sweep", str(log), "--adaptive", "--out", str(out), "--storage", "x.db"]
    )
    assert r.exit_code == 1 and "pip install 'perflaw[optuna]'" in r.output
    assert "Traceback" not in r.output and not out.exists()


def test_the_trial_of_a_killed_process_is_failed_and_its_cell_trained(tmp_path, monkeypatch):
    import perflaw.decide.adaptive_optuna as ao

    monkeypatch.setattr(ao, "HEARTBEAT_SECONDS", 1)
    monkeypatch.setattr(ao, "GRACE_SECONDS", 1)
    out, url, trained = tmp_path / "runs.csv", f"sqlite:///{tmp_path / 'loop.db'}", []
    storage = open_storage(url)
    study = optuna.create_study(storage=storage, study_name="perflaw-sweep", direction="maximize")
    first = seed_design(LAYERS, WIDTHS)[0]
    dead = storage.create_new_trial(study._study_id)  # a process killed while training it
    storage.set_trial_system_attr(dead, _KEY, list(first))
    storage.record_heartbeat(dead)
    time.sleep(2.5)
    optuna_sweep(
        _fake_train(out, trained), out, storage=url, layers=LAYERS, d_emb=WIDTHS,
        metric="hr@10", progress=False,
    )  # fmt: skip
    assert storage.get_trial(dead).state == optuna.trial.TrialState.FAIL
    assert first in trained and len(set(trained)) == len(trained)


def test_a_stale_trial_is_failed_before_the_loop_decides(tmp_path, monkeypatch):
    """A worker killed while training leaves its trial running; the next decision (also
    the last one, made when no new trial starts) must not count it as pending."""
    import perflaw.decide.adaptive_optuna as ao

    monkeypatch.setattr(ao, "HEARTBEAT_SECONDS", 1)
    monkeypatch.setattr(ao, "GRACE_SECONDS", 1)
    storage = open_storage(f"sqlite:///{tmp_path / 'loop.db'}")
    study = optuna.create_study(storage=storage, study_name="s", direction="maximize")
    first = seed_design(LAYERS, WIDTHS)[0]
    dead = storage.create_new_trial(study._study_id)
    storage.set_trial_system_attr(dead, _KEY, list(first))
    storage.record_heartbeat(dead)
    time.sleep(2.5)
    sampler = PerflawSampler(LAYERS, WIDTHS)
    d = sampler.decision(study)
    assert storage.get_trial(dead).state == optuna.trial.TrialState.FAIL
    # no longer pending: the dead worker's seed cell is proposed again, first
    assert (d.proposals[0].layers, d.proposals[0].d_emb) == first


def test_a_worker_stopped_by_sigterm_fails_its_trial(tmp_path):
    from perflaw.errors import Terminated

    out, url = tmp_path / "runs.csv", f"sqlite:///{tmp_path / 'loop.db'}"

    def train(n, d):
        raise Terminated(15)

    with pytest.raises(Terminated):
        optuna_sweep(train, out, storage=url, layers=LAYERS, d_emb=WIDTHS, metric="hr@10",
                     progress=False)  # fmt: skip
    trials = optuna.load_study(study_name="perflaw-sweep", storage=url).get_trials()
    assert [t.state for t in trials] == [optuna.trial.TrialState.FAIL]
