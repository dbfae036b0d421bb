"""Real `perflaw sweep` processes: several on one --out never train a configuration twice
and lose no row; --shard splits a grid exactly and `perflaw runs merge` puts it together,
refusing conflicting duplicates.  (benchmarks/bench_claims.py repeats the shared --out
case ten times.)"""

from __future__ import annotations

import os
import subprocess
import sys

import pandas as pd
import pytest
from click.testing import CliRunner

from conftest import shifted_log

pytest.importorskip("torch", reason="perflaw sweep needs PyTorch")

from perflaw.cli import main  # noqa: E402
from perflaw.errors import DataError  # noqa: E402
from perflaw.train import runs_table as rt  # noqa: E402
from perflaw.train import shards  # noqa: E402

TINY = [
    "--max-steps", "2", "--min-steps", "0", "--eval-every", "2", "--max-len", "8",
    "--threads", "1", "--batch-size", "64", "--quiet", "--csv",
]  # fmt: skip


@pytest.fixture(scope="module")
def log_file(tmp_path_factory):
    path = tmp_path_factory.mktemp("log") / "log.parquet"
    shifted_log(60).to_parquet(path)
    return path


def _sweep_cmd(log_file, out, *extra):
    return [sys.executable, "-m", "perflaw", "sweep", str(log_file), "--layers", "1,2",
            "--d-emb", "8,16", "--out", str(out), *TINY, *extra]  # fmt: skip


@pytest.mark.slow
def test_four_sweep_processes_on_one_out_train_each_configuration_once(log_file, tmp_path):
    out = tmp_path / "runs.csv"
    env = {**os.environ, "PYTHONPATH": os.getcwd()}
    procs = [
        subprocess.Popen(
            _sweep_cmd(log_file, out), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=env
        )
        for _ in range(4)
    ]
    errs = [p.communicate(timeout=300)[1].decode() for p in procs]
    codes = [p.returncode for p in procs]
    # every worker did its share: 0, also those that found the rest claimed
    assert codes == [0] * 4, errs
    table = rt.read_runs_file(out)
    keys = [rt.key(r) for _, r in table.iterrows()]
    assert len(keys) == 4 and len(set(keys)) == 4  # each once, none lost
    assert sorted(p.name for p in (tmp_path / "runs.csv.running").iterdir()) == []


def test_shards_split_the_grid_exactly_and_merge_back(log_file, tmp_path):
    out = tmp_path / "runs.csv"
    grid = []
    for i in range(3):
        res = CliRunner().invoke(main, _sweep_cmd(log_file, out, "--shard", f"{i}/3")[3:])
        assert res.exit_code == 0, (res.output, res.exception)
        part = rt.read_runs_file(tmp_path / f"runs.shard-{i}-of-3.csv")
        grid.append({rt.key(r) for _, r in part.iterrows()})
    assert [len(g) for g in grid] == [2, 1, 1]
    assert not (grid[0] & grid[1]) and not (grid[0] & grid[2]) and not (grid[1] & grid[2])
    tables = [str(tmp_path / f"runs.shard-{i}-of-3.csv") for i in range(3)]
    # the same shard twice is the same rows: kept once
    res = CliRunner().invoke(main, ["runs", "merge", *tables, tables[0], "--out", str(out)])
    assert res.exit_code == 0, res.output
    assert "4 runs from 4 table(s), 2 duplicate row(s) kept once" in res.output
    merged = rt.read_runs_file(out)
    assert {rt.key(r) for _, r in merged.iterrows()} == grid[0] | grid[1] | grid[2]
    # a configuration trained twice with different results: refused, naming both
    other = pd.read_csv(tables[1])
    other.loc[0, "ndcg@10"] = 0.5
    clash = tmp_path / "clash.csv"
    other.to_csv(clash, index=False)
    res = CliRunner().invoke(main, ["runs", "merge", *tables, str(clash), "--out", str(out)])
    assert res.exit_code == 1
    assert "has two different rows" in res.output and "clash.csv line 2" in res.output
    assert rt.read_runs_file(out).equals(merged)  # the earlier merge is untouched
    # the output may not be one of the inputs
    res = CliRunner().invoke(main, ["runs", "merge", *tables, "--out", tables[0]])
    assert res.exit_code == 1 and "also an input" in res.output


def test_slurm_array_variables_pick_the_shard(log_file, tmp_path, monkeypatch):
    monkeypatch.setenv("SLURM_ARRAY_TASK_ID", "2")
    monkeypatch.setenv("SLURM_ARRAY_TASK_MIN", "1")
    monkeypatch.setenv("SLURM_ARRAY_TASK_COUNT", "2")
    out = tmp_path / "runs.csv"
    res = CliRunner().invoke(main, _sweep_cmd(log_file, out)[3:])
    assert res.exit_code == 0, res.output
    assert len(rt.read_runs_file(tmp_path / "runs.shard-1-of-2.csv")) == 2
    assert not out.exists()
    with pytest.raises(DataError, match="not consecutive"):
        shards.shard_from_env(
            {"SLURM_ARRAY_TASK_ID": "8", "SLURM_ARRAY_TASK_MIN": "0", "SLURM_ARRAY_TASK_COUNT": "3"}
        )
    for bad in ("3/3", "-1/2", "a/b", "1"):
        res = CliRunner().invoke(main, _sweep_cmd(log_file, out, "--shard", bad)[3:])
        assert res.exit_code == 2 and "--shard" in res.output


def test_shard_split_is_a_partition_whatever_the_order():
    grid = [
        dict(dataset="d", backbone="sasrec", layers=l, d_emb=d, data_fraction=f, max_len=8, seed=s)
        for l in (1, 2, 3) for d in (8, 16) for f in (0.5, 1.0) for s in (0, 1, 2)
    ]  # fmt: skip
    for n in (1, 2, 5, 7, 36, 40):
        parts = [shards.shard_rows(grid, i, n) for i in range(n)]
        again = [shards.shard_rows(list(reversed(grid)), i, n) for i in range(n)]
        assert parts == again
        keys = [rt.key(r) for p in parts for r in p]
        assert sorted(keys) == sorted(rt.key(r) for r in grid)
        assert max(map(len, parts)) - min(map(len, parts)) <= 1
