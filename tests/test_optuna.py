"""perflaw.optuna: the loop as an Optuna sampler, with real storages and several processes."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

optuna = pytest.importorskip("optuna", reason="perflaw[optuna] not installed")

from perflaw.decide.acquire import next_runs, seed_design  # noqa: E402
from perflaw.optuna import PerflawSampler, StopWhenDone  # noqa: E402

LAYERS = [4, 8, 12, 16, 24, 32]
WIDTHS = [25, 50, 75, 100]
ROOT = Path(__file__).resolve().parents[1]


def value(n: int, d: int) -> float:
    a, b = np.log2(n / 16), np.log2(d / 75)
    return float(0.30 - 0.004 * a**2 - 0.02 * b**2 + 0.002 * a * b)


def objective(trial):
    n = trial.suggest_categorical("layers", LAYERS)
    d = trial.suggest_categorical("d_emb", WIDTHS)
    trial.suggest_float("lr", 1e-4, 1e-2, log=True)  # any other parameter: sampled at random
    return value(n, d)


def test_sampler_proposes_what_next_proposes():
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    sampler = PerflawSampler(LAYERS, WIDTHS, seed=0)
    study = optuna.create_study(direction="maximize", sampler=sampler)
    study.optimize(objective, n_trials=9)
    cells = [(t.params["layers"], t.params["d_emb"]) for t in study.trials]
    seed = seed_design(LAYERS, WIDTHS)
    assert cells[: len(seed)] == seed
    for k in range(len(seed), len(cells)):
        before = cells[:k]
        d = next_runs(LAYERS, WIDTHS, *zip(*before), [value(*c) for c in before])
        assert cells[k] == (d.proposals[0].layers, d.proposals[0].d_emb)
    assert len(set(cells)) == len(cells)
    # the per-trial proposal is dropped when its trial ends: a long study holds none
    assert sampler.proposed == {}


def test_running_trials_are_pending_so_workers_spread():
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    study = optuna.create_study(direction="maximize", sampler=PerflawSampler(LAYERS, WIDTHS))
    seed = seed_design(LAYERS, WIDTHS)
    for n, d in seed:
        study.enqueue_trial({"layers": n, "d_emb": d})
    for _ in seed:
        t = study.ask()
        study.tell(
            t,
            value(t.suggest_categorical("layers", LAYERS), t.suggest_categorical("d_emb", WIDTHS)),
        )
    asked = [study.ask() for _ in range(3)]  # three workers, none finished
    cells = [
        (t.suggest_categorical("layers", LAYERS), t.suggest_categorical("d_emb", WIDTHS))
        for t in asked
    ]
    assert len(set(cells)) == 3 and not set(cells) & set(seed)


def test_stop_callback_ends_the_study():
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    sampler = PerflawSampler(LAYERS, WIDTHS, seed=0)
    study = optuna.create_study(direction="maximize", sampler=sampler)
    study.optimize(objective, n_trials=24, callbacks=[StopWhenDone(sampler)])
    assert len(study.trials) < 24 and sampler.decision(study).stop
    best = max(value(n, d) for n in LAYERS for d in WIDTHS)
    assert study.best_value >= best * 0.99


WORKER = textwrap.dedent(
    """
    import sys, numpy as np, optuna
    from perflaw.optuna import PerflawSampler
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    kind, url = sys.argv[1], sys.argv[2]
    if kind == "journal":
        from optuna.storages import JournalStorage
        from optuna.storages.journal import JournalFileBackend
        storage = JournalStorage(JournalFileBackend(url))
    else:
        storage = url
    L, D = [4, 8, 12, 16, 24, 32], [25, 50, 75, 100]
    study = optuna.load_study(study_name="loop", storage=storage,
                              sampler=PerflawSampler(L, D))
    def objective(trial):
        n = trial.suggest_categorical("layers", L)
        d = trial.suggest_categorical("d_emb", D)
        a, b = np.log2(n / 16), np.log2(d / 75)
        return float(0.30 - 0.004 * a**2 - 0.02 * b**2 + 0.002 * a * b)
    study.optimize(objective, n_trials=4)
    """
)


def _shared_study(kind: str, url: str, tmp_path: Path, workers: int = 2):
    if kind == "journal":
        from optuna.storages import JournalStorage
        from optuna.storages.journal import JournalFileBackend

        storage = JournalStorage(JournalFileBackend(url))
    else:
        storage = url
    optuna.create_study(study_name="loop", storage=storage, direction="maximize")
    script = tmp_path / "worker.py"
    script.write_text(WORKER)
    env = {**os.environ, "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1"}
    procs = [
        subprocess.Popen([sys.executable, str(script), kind, url], env=env, cwd=tmp_path)
        for _ in range(workers)
    ]
    assert all(p.wait(timeout=300) == 0 for p in procs)
    study = optuna.load_study(study_name="loop", storage=storage)
    trials = study.get_trials(states=(optuna.trial.TrialState.COMPLETE,))
    assert len(trials) == 4 * workers
    cells = [(t.params["layers"], t.params["d_emb"]) for t in trials]
    assert all(n in LAYERS and d in WIDTHS for n, d in cells)
    # running trials of other processes are pending, and a trial names its cell only after
    # the earlier ones named theirs: no cell is given to two workers
    assert len(set(cells)) == len(cells)
    return study


def test_sqlite_storage_several_processes(tmp_path):
    _shared_study("sqlite", f"sqlite:///{tmp_path / 'loop.db'}", tmp_path)


def test_journal_file_storage_several_processes(tmp_path):
    _shared_study("journal", str(tmp_path / "loop.journal"), tmp_path)


def test_postgresql_storage(tmp_path):
    import tempfile

    initdb, pg_ctl = shutil.which("initdb"), shutil.which("pg_ctl")
    if not (initdb and pg_ctl):
        pytest.skip("no PostgreSQL server binaries (initdb, pg_ctl) on this machine")
    pytest.importorskip("psycopg2", reason="no PostgreSQL driver (psycopg2) installed")
    prefix: list[str] = []
    folder = Path(tempfile.mkdtemp(prefix="perflaw-pg-"))
    if os.geteuid() == 0:  # the server refuses to run as root: run it as postgres
        import pwd

        try:
            user = pwd.getpwnam("postgres")
        except KeyError:
            pytest.skip("running as root and no 'postgres' user to start the server as")
        if not shutil.which("runuser"):
            pytest.skip("running as root and no runuser to start the server as postgres")
        os.chown(folder, user.pw_uid, user.pw_gid)
        prefix = ["runuser", "-u", "postgres", "--"]
    with (
        socket.socket() as sock
    ):  # a free port: another server (a test of another checkout) may hold any fixed one
        sock.bind(("127.0.0.1", 0))
        port = str(sock.getsockname()[1])
    data = folder / "data"
    try:
        subprocess.run(
            [*prefix, initdb, "-D", str(data), "-U", "postgres", "--auth=trust"],
            check=True,
            capture_output=True,
        )
        # the server keeps its output streams: a log file, not a pipe, or run() never returns
        log = folder / "server.log"
        subprocess.run(
            [*prefix, pg_ctl, "-D", str(data), "-l", str(log)]
            + ["-o", f"-p {port} -k {folder}", "-w", "start"],
            check=True,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            timeout=120,
        )
        url = f"postgresql+psycopg2://postgres@localhost:{port}/postgres"
        _shared_study("rdb", url, tmp_path, 2)
    finally:
        subprocess.run(
            [*prefix, pg_ctl, "-D", str(data), "-w", "stop"],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            timeout=120,
        )
        shutil.rmtree(folder, ignore_errors=True)
