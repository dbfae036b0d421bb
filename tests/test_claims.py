"""Claims shared by processes: exactly one winner, stale takeover, other hosts' expiry,
one table however it is spelled, unreadable claim files; the table lock on a lock file.

The stress test keeps eight worker processes alive across trials and releases them onto
one configuration with a barrier each trial, so 200 trials per starting state take
seconds."""

from __future__ import annotations

import json
import multiprocessing as mp
import os
import socket
import subprocess
import sys
import time

import pytest

from perflaw.train import claims

KEY = ("d", "sasrec", 1, 8, 1.0, 8, 0)
WORKERS = 8
TRIALS = int(os.environ.get("PERFLAW_CLAIM_TRIALS", "200"))


def _worker(idx, out, barrier, commands, results):
    while True:
        state = commands.get()
        if state is None:
            return
        if state == "writing" and idx == 0:
            # This worker has its claim written (not yet placed) when the others start.
            original = claims._write_tmp

            def slow(folder, info, original=original):
                tmp = original(folder, info)
                barrier.wait()
                return tmp

            claims._write_tmp = slow
            try:
                got = claims.claim(out, KEY)
            finally:
                claims._write_tmp = original
        else:
            barrier.wait()
            got = claims.claim(out, KEY)
        results.put((idx, got[1] if isinstance(got, tuple) else None))


def _dead_pid() -> int:
    p = subprocess.Popen([sys.executable, "-c", "pass"])
    p.wait()
    return p.pid


def _set_state(path, state, trial, dead):
    for p in path.parent.iterdir():
        p.unlink()
    if state == "stale":
        if trial % 2:  # a dead process on this host
            info = {"host": socket.gethostname(), "pid": dead, "start": "1"}
            path.write_text(json.dumps(info))
        else:  # another host's claim past its expiry
            path.write_text(json.dumps({"host": "elsewhere.example", "pid": 4242}))
            old = time.time() - claims.EXPIRY_S - 60
            os.utime(path, (old, old))


@pytest.mark.parametrize("state", ["none", "stale", "writing"])
def test_exactly_one_process_wins_a_claim(tmp_path, state):
    out = tmp_path / "runs.csv"
    path = claims.claim_path(out, KEY)
    path.parent.mkdir(parents=True)
    ctx = mp.get_context("fork")
    barrier = ctx.Barrier(WORKERS + (0 if state == "writing" else 1))
    commands = [ctx.Queue() for _ in range(WORKERS)]
    results = ctx.Queue()
    procs = [
        ctx.Process(target=_worker, args=(i, out, barrier, commands[i], results), daemon=True)
        for i in range(WORKERS)
    ]
    for p in procs:
        p.start()
    dead = _dead_pid()
    winners_per_trial = []
    try:
        for trial in range(TRIALS):
            _set_state(path, state, trial, dead)
            for q in commands:
                q.put(state)
            if state != "writing":
                barrier.wait(timeout=60)
            got = [results.get(timeout=60) for _ in range(WORKERS)]
            tokens = [token for _, token in got if token is not None]
            winners_per_trial.append(len(tokens))
            # the claim in place is the winner's, whole
            if len(tokens) == 1:
                assert json.loads(path.read_text())["token"] == tokens[0]
    finally:
        for q in commands:
            q.put(None)
        for p in procs:
            p.join(timeout=10)
    assert winners_per_trial == [1] * TRIALS, {n: winners_per_trial.count(n) for n in range(9)}
    leftovers = [p.name for p in path.parent.iterdir() if p != path]
    assert leftovers == []  # no temporary claim file left behind


def test_a_claim_of_another_host_is_taken_over_only_after_its_expiry(tmp_path):
    out = tmp_path / "runs.csv"
    path = claims.claim_path(out, KEY)
    path.parent.mkdir(parents=True)
    path.write_text(json.dumps({"host": "node17", "pid": 4242}))
    held = claims.claim(out, KEY, expiry=100)
    assert isinstance(held, claims.Holder) and held.live
    assert "host node17" in held.describe() and str(path) in held.describe()
    old = time.time() - 90  # heartbeat 90 s ago: still inside the 100 s expiry
    os.utime(path, (old, old))
    assert isinstance(claims.claim(out, KEY, expiry=100), claims.Holder)
    old = time.time() - 110
    os.utime(path, (old, old))
    assert claims.holder(out, KEY, expiry=100) is None
    got = claims.claim(out, KEY, expiry=100)
    assert isinstance(got, tuple)
    assert json.loads(path.read_text())["host"] == socket.gethostname()


def test_the_heartbeat_keeps_a_claim_fresh_and_notices_a_takeover(tmp_path):
    out = tmp_path / "runs.csv"
    path, token = claims.claim(out, KEY)
    old = time.time() - 500
    os.utime(path, (old, old))
    beat = claims.Heartbeat(interval=3600)
    beat.add(path, token)
    beat.beat()
    assert time.time() - path.stat().st_mtime < 60 and beat.lost == []
    path.write_text(json.dumps({"host": "node17", "pid": 1, "token": "theirs"}))
    beat.beat()
    assert beat.lost == [path]
    claims.release(out, path, token)  # not ours any more: left in place
    assert path.exists()
    beat.stop()


@pytest.mark.parametrize("content", [b"", b'{"host": "a", "pi', b"\xff\xfe\x00garbage"])
def test_an_unreadable_claim_counts_as_being_written_until_its_expiry(tmp_path, content):
    out = tmp_path / "runs.csv"
    path = claims.claim_path(out, KEY)
    path.parent.mkdir(parents=True)
    path.write_bytes(content)
    held = claims.claim(out, KEY, expiry=100)
    assert isinstance(held, claims.Holder)
    assert "unreadable claim file" in held.describe() and str(path) in held.describe()
    old = time.time() - 200
    os.utime(path, (old, old))
    assert isinstance(claims.claim(out, KEY, expiry=100), tuple)


def test_one_table_spelled_two_ways_is_one_set_of_claims(tmp_path):
    (tmp_path / "real").mkdir()
    (tmp_path / "link").symlink_to(tmp_path / "real")
    first = claims.claim(tmp_path / "real" / "runs.csv", KEY)
    assert isinstance(first, tuple)
    # the same table through a linked folder and a "./.." spelling: held by us already
    # (same process: judged ours), so ask from a child process
    code = (
        "import sys; from perflaw.train import claims; "
        f"got = claims.claim({str(tmp_path / 'link' / '.' / 'runs.csv')!r}, {KEY!r}); "
        "sys.exit(0 if isinstance(got, claims.Holder) else 1)"
    )
    assert subprocess.run([sys.executable, "-c", code], cwd=os.getcwd()).returncode == 0
    assert claims.claim_path(tmp_path / "link" / "runs.csv", KEY) == first[0]


def test_the_table_lock_is_a_lock_file_opened_for_writing(tmp_path):
    out = tmp_path / "runs.csv"
    with claims.table_lock(out):
        # another process cannot take it meanwhile
        code = (
            "import fcntl, os, sys; "
            f"fd = os.open({str(tmp_path / 'runs.csv.lock')!r}, os.O_RDWR); "
            "fcntl.lockf(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)"
        )
        res = subprocess.run([sys.executable, "-c", code], capture_output=True)
        assert res.returncode != 0 and b"BlockingIOError" in res.stderr
    assert (tmp_path / "runs.csv.lock").is_file()


def test_grid_accounting_splits_what_is_missing_by_its_claims(tmp_path):
    # the end of a sweep call: a configuration in the table is done, one held by a live
    # claim (another host's, fresh) is running elsewhere and named, one with neither was
    # not run
    from perflaw.train import runs_table as rt

    def row(d_emb):
        return dict(
            dataset="log", backbone="sasrec", layers=1, d_emb=d_emb,
            data_fraction=1.0, max_len=50, seed=0,
        )  # fmt: skip

    out = tmp_path / "runs.csv"
    grid = [row(16), row(32), row(64)]
    held = claims.claim_path(out, rt.key(grid[1]))
    held.parent.mkdir(parents=True)
    held.write_text(json.dumps({"host": "elsewhere.example", "pid": 4242}))
    # no table file yet: this call's rows are the table
    table, not_run, running = rt.grid_accounting(out, grid, [grid[0]], expiry=60)
    assert len(table) == 1
    assert [r["d_emb"] for r in not_run] == [64]
    assert [r["d_emb"] for r in running] == [32]
    assert "host elsewhere.example" in running[0]["holder"]
    # the same claim past its expiry holds nothing
    old = time.time() - 120
    os.utime(held, (old, old))
    _, not_run, running = rt.grid_accounting(out, grid, [grid[0]], expiry=60)
    assert [r["d_emb"] for r in not_run] == [32, 64] and running == []
    # without a table path nothing can be claimed: all that is missing was not run
    _, not_run, running = rt.grid_accounting(None, grid, [], expiry=60)
    assert len(not_run) == 3 and running == []
