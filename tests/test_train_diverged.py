"""A run whose loss diverges is recorded as diverged (no metrics) and never fitted as a
value; sweep's default thread count does not oversubscribe a busy machine."""

from __future__ import annotations

import importlib
import math

import pandas as pd
import pytest

from conftest import shifted_log

pytest.importorskip("torch", reason="perflaw sweep needs PyTorch")

from perflaw.errors import DataError  # noqa: E402
from perflaw.runs import RunsTableWarning, read_runs  # noqa: E402
from perflaw.train import runs_table as rt  # noqa: E402
from perflaw.train import sweep  # noqa: E402

sweep_module = importlib.import_module("perflaw.train.sweep")  # the module, not the function
device_module = importlib.import_module("perflaw.train.device")

TINY = dict(
    max_steps=6, min_steps=0, eval_every=3, max_len=8, batch_size=64, threads=1, progress=False
)


@pytest.fixture(scope="module")
def log():
    return shifted_log(60)


def test_a_diverged_run_is_recorded_as_diverged_with_no_metrics(log, tmp_path):
    out = tmp_path / "runs.csv"
    with pytest.warns(UserWarning, match="1 run.s. diverged"):
        sweep(log, layers=[1], d_emb=[8], out=out, lr=1e8, **TINY)
    table = rt.read_runs_file(out)
    bad = table[table["layers"] == 1].iloc[0]
    assert bad["end"] == "diverged"
    for col in ("hr@10", "ndcg@10", "hr@50", "val_ndcg@10"):
        assert math.isnan(bad[col])  # an empty cell, not HR@10 = 1.0
    text = out.read_text().splitlines()[1]
    assert ",diverged,," in text
    # the fit leaves it out, saying so
    with pytest.raises(DataError, match="every run diverged"):
        read_runs(out, metric="hr@10")
    sane = {**bad.to_dict(), "layers": 2, "end": "patience", "hr@10": 0.3}
    both = tmp_path / "both.csv"
    pd.DataFrame([bad.to_dict(), sane]).to_csv(both, index=False)
    with pytest.warns(RunsTableWarning, match="1 of 2 run.s. diverged"):
        runs = read_runs(both, metric="hr@10")
    assert runs.y.tolist() == [0.3]


def test_default_threads_leave_busy_cores_alone(monkeypatch):
    monkeypatch.setattr(device_module.os, "sched_getaffinity", lambda pid: {0, 1, 2, 3})
    monkeypatch.setattr(device_module.os, "getloadavg", lambda: (6.3, 5.0, 4.0))
    assert device_module.default_threads()[0] == 1
    monkeypatch.setattr(device_module.os, "getloadavg", lambda: (1.2, 1.0, 1.0))
    threads, why = device_module.default_threads()
    assert threads == 3 and "4 core(s), load 1.2" in why
    monkeypatch.setattr(device_module.os, "getloadavg", lambda: (0.0, 0.0, 0.0))
    assert device_module.default_threads()[0] == 4


def test_a_diverged_run_in_a_pack_ends_alone(log):
    # lr 1e8 diverges every member: each ends as diverged, with no metrics
    with pytest.warns(UserWarning, match="2 run.s. diverged"):
        table = sweep(log, layers=[1], d_emb=[8], seeds=[0, 1], pack=2, lr=1e8, **TINY)
    assert table["end"].tolist() == ["diverged", "diverged"]
    assert table["hr@10"].isna().all()


def test_slow_steps_between_validations_still_show_progress(log, monkeypatch):
    trainer = importlib.import_module("perflaw.train.trainer")
    monkeypatch.setattr(trainer, "PROGRESS_EVERY_S", 0.0)
    lines = []
    monkeypatch.setattr(sweep_module, "_say", lines.append)
    sweep(log, layers=[1], d_emb=[8], **{**TINY, "progress": True, "eval_every": 6})
    assert any("s/step; next validation at step 6" in line for line in lines), lines


def test_wait_takes_over_a_configuration_whose_owner_dies(log, tmp_path):
    import subprocess
    import sys

    out = tmp_path / "runs.csv"
    k = ("log", "sasrec", 2, 8, 1.0, 8, 0)
    # another process claims layers=2, holds it for a while, and dies without a row
    holder = subprocess.Popen(
        [sys.executable, "-c",
         "import sys, time; from perflaw.train import claims; "
         f"assert isinstance(claims.claim({str(out)!r}, {k!r}), tuple); "
         "print('held', flush=True); time.sleep(3)"],
        stdout=subprocess.PIPE, text=True,
    )  # fmt: skip
    assert holder.stdout.readline().strip() == "held"
    table = sweep(log, layers=[1, 2], d_emb=[8], out=out, wait=True, poll=0.5, **TINY)
    holder.wait()
    assert sorted(table["layers"]) == [1, 2]
    assert table.attrs["running_elsewhere"] == [] and table.attrs["not_run"] == []
