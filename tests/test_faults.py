"""The fault suite (issue 11): full disks, read-only and missing folders, outputs that are
inputs, and SIGINT / SIGTERM / kill -9 at any moment.  What is checked every time: one
line on stderr, a non-zero exit (1, or 130 / 143 for signals), and no previous output
damaged.

A real full disk is a 1 MiB tmpfs mounted inside ``unshare -rm`` (a private user and mount
namespace, no root needed) where the machine allows it; otherwise the same cases run with
an injected ``OSError(ENOSPC)`` (those always run too).
"""

from __future__ import annotations

import errno
import json
import os
import shutil
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import polars as pl
import pytest
from click.testing import CliRunner

from perflaw import files
from perflaw.cli import main

REPO = Path(__file__).resolve().parents[1]
LOG = REPO / "data" / "ml-latest-small.parquet"
RUNS = REPO / "data" / "performance_law_ml1m_runs.csv"
FIT = ["--metric", "ndcg@10", "--group-by", "panel"]


def _cli(*args, env=None, timeout=240):
    """Run ``python -m perflaw`` in a subprocess (real signals, real exit codes)."""
    return subprocess.run(
        [sys.executable, "-m", "perflaw", *map(str, args)],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=timeout,
        env={**os.environ, **(env or {})},
    )


def _one_line_error(stderr: str) -> str:
    lines = [
        ln for ln in stderr.splitlines() if ln.strip() and not ln.startswith(("note:", "warning:"))
    ]
    # "saved the law to X": the command finished its work and said so before the signal
    # landed; the stop line must then say that X was written (seen once: SIGINT after fit
    # printed it)
    saved = [ln for ln in lines if ln.startswith("saved the ")]
    lines = [ln for ln in lines if ln not in saved]
    assert len(lines) == 1, stderr
    assert lines[0].startswith("Error: "), stderr
    assert not saved or "after writing" in lines[0], stderr
    assert "Traceback" not in stderr and "internal error" not in stderr, stderr
    return lines[0]


def _says_written(line: str, output) -> bool:
    """Whether a stop line says ``output`` was already renamed into place (the signal came
    after the write, while the command printed or exited: docs/guarantees.md §4)."""
    return "after writing" in line and f"{Path(output).name} in full" in line


def _leftovers(folder: Path) -> list[str]:
    return sorted(
        p.name for p in folder.iterdir() if "perflaw-tmp" in p.name or "perflaw-old" in p.name
    )


# --- outputs that are inputs, missing folders, bad extensions (in process) -------------


@pytest.fixture
def runner():
    return CliRunner()


def test_fit_out_equal_to_the_runs_table_is_refused(runner, tmp_path):
    runs = tmp_path / "runs.csv"
    shutil.copy(RUNS, runs)
    before = runs.read_bytes()
    for out in (runs, tmp_path / "." / "runs.csv"):
        res = runner.invoke(main, ["fit", str(runs), *FIT, "--out", str(out)])
        assert res.exit_code == 1 and "also an input" in res.output, res.output
    link = tmp_path / "link.csv"
    link.symlink_to(runs)
    res = runner.invoke(main, ["fit", str(runs), *FIT, "--out", str(link)])
    assert res.exit_code == 1 and "also an input" in res.output
    assert runs.read_bytes() == before


def test_apen_per_user_equal_to_the_log_is_refused(runner, tmp_path):
    log = tmp_path / "log.parquet"
    shutil.copy(LOG, log)
    before = log.read_bytes()
    res = runner.invoke(main, ["apen", str(log), "--per-user", str(log), "-q"])
    assert res.exit_code == 1 and "also an input" in res.output
    folder = tmp_path / "ds"
    folder.mkdir()
    shutil.copy(LOG, folder / "part-0.parquet")
    res = runner.invoke(
        main,
        [
            "apen",
            str(folder),
            "--memory-limit",
            "8GB",
            "--per-user",
            str(folder / "per_user.parquet"),
            "-q",
        ],
    )
    assert res.exit_code == 1 and "inside the input folder" in res.output
    assert log.read_bytes() == before and sorted(os.listdir(folder)) == ["part-0.parquet"]


@pytest.mark.parametrize(
    "args",
    [
        ["fit", str(RUNS), *FIT, "--out", "{missing}/law.json"],
        ["fit", str(RUNS), *FIT, "--no-save", "--plot", "{missing}/fit.png"],
        ["apen", str(LOG), "--per-user", "{missing}/per_user.parquet"],
        ["apen", str(LOG), "--memory-limit", "8GB", "--spill-dir", "{missing}"],
    ],
)
def test_missing_output_folder_is_one_line(runner, tmp_path, args):
    missing = tmp_path / "no" / "such"
    args = [a.replace("{missing}", str(missing)) for a in args]
    res = runner.invoke(main, args)
    assert res.exit_code == 1, res.output
    assert str(missing) in res.output and "does not exist" in res.output
    assert "internal error" not in res.output and len(res.output.strip().splitlines()) == 1


def test_plot_with_unknown_extension_is_refused_before_fitting(runner, tmp_path):
    res = runner.invoke(
        main, ["fit", str(RUNS), *FIT, "--no-save", "--plot", str(tmp_path / "fit.xyz")]
    )
    assert res.exit_code == 1 and "unknown figure format 'xyz'" in res.output


# --- a full disk: injected ENOSPC (always) ---------------------------------------------


def _enospc(*_args, **_kwargs):
    raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))


def test_injected_enospc_keeps_the_previous_law_file(runner, tmp_path, monkeypatch):
    out = tmp_path / "law.json"
    assert runner.invoke(main, ["fit", str(RUNS), *FIT, "--out", str(out)]).exit_code == 0
    before = out.read_bytes()
    monkeypatch.setattr(files, "_fsync_file", _enospc)
    res = runner.invoke(main, ["fit", str(RUNS), *FIT, "--out", str(out)])
    assert res.exit_code == 1
    assert f"cannot write --out {out}: no space left on the device" in res.output
    assert out.read_bytes() == before and _leftovers(tmp_path) == []
    json.loads(before)


def test_injected_enospc_mid_parquet_keeps_the_previous_per_user_table(
    runner, tmp_path, monkeypatch
):
    out = tmp_path / "per_user.parquet"
    args = ["apen", str(LOG), "--per-user", str(out), "-q", "--json"]
    assert runner.invoke(main, args).exit_code == 0
    before = out.read_bytes()
    real = pl.DataFrame.write_parquet

    def half_then_full(self, file, *a, **k):
        Path(file).write_bytes(b"PAR1 half a file")
        raise pl.exceptions.ComputeError("failed to write: No space left on device (os error 28)")

    monkeypatch.setattr(pl.DataFrame, "write_parquet", half_then_full)
    res = runner.invoke(main, args)
    monkeypatch.setattr(pl.DataFrame, "write_parquet", real)
    assert res.exit_code == 1 and "no space left" in res.output, res.output
    assert out.read_bytes() == before and _leftovers(tmp_path) == []
    assert pl.read_parquet(out).height == 671


def test_injected_enospc_while_spilling_is_one_line(runner, tmp_path, monkeypatch):
    import pyarrow as pa

    from perflaw.quality import bounded

    monkeypatch.setattr(bounded, "BYTES_PER_ROW", 200_000)  # several chunks under 8GB
    monkeypatch.setattr(pa, "OSFile", _enospc)
    spill = tmp_path / "spill"
    spill.mkdir()
    res = runner.invoke(
        main, ["apen", str(LOG), "--memory-limit", "8GB", "--spill-dir", str(spill), "-q"]
    )
    assert res.exit_code == 1 and "no space left" in res.output, res.output
    assert "--spill-dir" in res.output and os.listdir(spill) == []


# --- a full disk and a read-only file system for real (tmpfs in unshare -rm) ------------


def _unshare_available() -> str | None:
    if not shutil.which("unshare"):
        return "no unshare"
    probe = subprocess.run(
        [
            "unshare",
            "-rm",
            "sh",
            "-c",
            "d=$(mktemp -d) && mount -t tmpfs -o size=64k tmpfs $d && umount $d && rmdir $d",
        ],
        capture_output=True,
        timeout=30,
    )
    return None if probe.returncode == 0 else "unshare -rm with a tmpfs is not allowed here"


INNER = textwrap.dedent("""
    import json, os, subprocess, sys
    mnt, report, repo, runs, log = sys.argv[1:6]
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs", mnt], check=True)

    def cli(*args):
        p = subprocess.run([sys.executable, "-m", "perflaw", *args], cwd=repo,
                           capture_output=True, text=True)
        return p.returncode, p.stderr

    out = {}
    law, per_user = os.path.join(mnt, "law.json"), os.path.join(mnt, "per_user.parquet")
    out["fit_first"] = cli("fit", runs, "--metric", "ndcg@10", "--group-by", "panel",
                           "--out", law)
    out["apen_first"] = cli("apen", log, "--per-user", per_user, "-q", "--json")
    before = {p: open(p, "rb").read() for p in (law, per_user)}
    # fill the disk: writing a new file now fails with ENOSPC
    try:
        with open(os.path.join(mnt, "filler"), "wb") as fh:
            while True:
                fh.write(b"\\0" * 65536)
                fh.flush()
    except OSError as exc:
        out["filler_errno"] = exc.errno
    out["fit_full"] = cli("fit", runs, "--metric", "ndcg@10", "--group-by", "panel",
                          "--out", law)
    out["apen_full"] = cli("apen", log, "--per-user", per_user, "-q", "--json")
    out["plot_full"] = cli("fit", runs, "--metric", "ndcg@10", "--group-by", "panel",
                           "--no-save", "--plot", os.path.join(mnt, "fit.png"))
    out["same_full"] = all(open(p, "rb").read() == b for p, b in before.items())
    os.remove(os.path.join(mnt, "filler"))
    subprocess.run(["mount", "-o", "remount,ro", mnt], check=True)
    out["fit_ro"] = cli("fit", runs, "--metric", "ndcg@10", "--group-by", "panel",
                        "--out", law)
    out["apen_ro"] = cli("apen", log, "--per-user", per_user, "-q", "--json")
    out["spill_ro"] = cli("apen", log, "--memory-limit", "8GB", "--spill-dir", mnt, "-q")
    out["same_ro"] = all(open(p, "rb").read() == b for p, b in before.items())
    out["listing"] = sorted(os.listdir(mnt))
    json.dump(out, open(report, "w"))
""")


@pytest.mark.slow
def test_real_full_disk_and_read_only_file_system(tmp_path):
    reason = _unshare_available()
    if reason:
        pytest.skip(f"{reason}: the injected-ENOSPC tests above cover the same paths")
    mnt = tmp_path / "mnt"
    mnt.mkdir()
    inner = tmp_path / "inner.py"
    inner.write_text(INNER)
    report = tmp_path / "report.json"
    proc = subprocess.run(
        [
            "unshare",
            "-rm",
            sys.executable,
            str(inner),
            str(mnt),
            str(report),
            str(REPO),
            str(RUNS),
            str(LOG),
        ],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert proc.returncode == 0, proc.stderr
    out = json.loads(report.read_text())
    assert out["fit_first"][0] == 0 and out["apen_first"][0] == 0
    assert out["filler_errno"] == errno.ENOSPC
    for key, words in (
        ("fit_full", "no space left"),
        ("apen_full", "no space left"),
        ("plot_full", "no space left"),
        ("fit_ro", "read-only"),
        ("apen_ro", "read-only"),
        ("spill_ro", "read-only"),
    ):
        rc, stderr = out[key]
        assert rc == 1, (key, stderr)
        line = _one_line_error(stderr)
        assert words in line and str(mnt) in line, (key, line)
    assert out["same_full"] and out["same_ro"]
    assert out["listing"] == ["law.json", "per_user.parquet"]  # no temporary files left


# --- signals: SIGINT / SIGTERM end in one line and 130 / 143; kill -9 damages nothing --


def _signal_run(args, sig, when, cwd=REPO):
    """Start the CLI, send ``sig`` once ``when()`` is true (or after a delay), wait."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "perflaw", *map(str, args)],
        cwd=cwd,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    deadline = time.monotonic() + 60
    while proc.poll() is None and time.monotonic() < deadline and not when():
        time.sleep(0.005)
    if proc.poll() is None:
        proc.send_signal(sig)
    out, err = proc.communicate(timeout=120)
    return proc.returncode, err


def _before_perflaw_ran(rc: int, err: str) -> bool:
    """A signal that landed while the interpreter itself was starting, before any perflaw
    code could install a handler (docs/guarantees.md §4 names this window): Python's own
    behaviour, out of perflaw's reach.  Under load the window can reach a few tenths of a
    second, so such a run is not counted either way."""
    if rc == -signal.SIGTERM and not err.strip():  # the default action: killed, silently
        return True
    if ("init_import_site" in err or "Traceback" in err) and "perflaw/" not in err:
        return True
    # Killed by SIGINT with a traceback that never reached perflaw.__main__.run(), whose
    # first statement installs the handlers: the signal landed while the interpreter was
    # still importing perflaw/__init__.py or perflaw/__main__.py (the same window).
    return rc == -signal.SIGINT and "Traceback" in err and ", in run\n" not in err


def _delays(args, fractions):
    """Signal times spread over one uninterrupted (warm) run of ``args``: fixed delays
    land after a fast run has finished or before perflaw's handlers are in, depending on
    the machine's load, and then too few runs are stopped to test anything."""
    start = time.monotonic()
    assert _cli(*args).returncode == 0
    elapsed = time.monotonic() - start
    return [f * elapsed for f in fractions]


def _signal_delays(args, fractions, stops, retimed, want=2, more=6):
    """Signal times for a test that needs ``want`` stopped runs: ``fractions`` of one timed
    run, then, while fewer runs were stopped (``stops()``), up to ``more`` at the middle of
    a freshly timed run.  The load of a shared machine (or of the suite's other worker)
    can change between the timing run and the signalled ones, so a fixed plan may miss
    every run.  ``retimed()`` is called after each timing run, which rewrites the output:
    what the next stopped run must keep."""
    planned = _delays(args, fractions)
    retimed()
    yield from planned
    for _ in range(more):
        if stops() >= want:
            return
        (delay,) = _delays(args, (0.5,))
        retimed()
        yield delay


def _after(seconds):
    start = time.monotonic()
    return lambda: time.monotonic() - start >= seconds


@pytest.mark.slow
@pytest.mark.parametrize("sig, code", [(signal.SIGINT, 130), (signal.SIGTERM, 143)])
def test_signals_during_apen_keep_the_previous_per_user_table(tmp_path, sig, code):
    out = tmp_path / "per_user.parquet"
    args = ["apen", LOG, "--per-user", out, "-q", "--json"]
    assert _cli(*args).returncode == 0
    stopped, before = 0, b""

    def retimed():  # a timing run wrote `out` once more
        nonlocal before
        before = out.read_bytes()

    def stops():  # the count so far, read as the loop goes (late binding on purpose)
        return stopped  # noqa: B023

    fractions = (0.35, 0.5, 0.6, 0.7, 0.8, 0.9)
    for delay in _signal_delays(args, fractions, stops, retimed):
        rc, err = _signal_run(args, sig, _after(delay))
        if rc not in (0, code) and _before_perflaw_ran(rc, err):
            continue
        assert rc in (0, code), (delay, rc, err)
        if rc == code:
            stopped += 1
            line = _one_line_error(err)
            assert "stopped by SIG" in line
            if _says_written(line, out):
                assert pl.read_parquet(out).height == 671
            else:
                assert out.read_bytes() == before
        else:
            assert pl.read_parquet(out).height == 671
        assert _leftovers(tmp_path) == []
        before = out.read_bytes()  # what the next stopped run must keep
    assert stopped >= 2  # the early signals land while importing or measuring


@pytest.mark.slow
@pytest.mark.parametrize("sig, code", [(signal.SIGINT, 130), (signal.SIGTERM, 143)])
def test_signals_during_fit_keep_the_previous_law_file(tmp_path, sig, code):
    law = tmp_path / "law.json"
    args = ["fit", RUNS, *FIT, "--out", law]
    assert _cli(*args).returncode == 0
    stopped, before = 0, b""

    def retimed():  # a timing run wrote `law` once more
        nonlocal before
        before = law.read_bytes()

    def stops():  # the count so far, read as the loop goes (late binding on purpose)
        return stopped  # noqa: B023

    for delay in _signal_delays(args, (0.35, 0.5, 0.65, 0.8, 0.9), stops, retimed):
        rc, err = _signal_run(args, sig, _after(delay))
        if rc not in (0, code) and _before_perflaw_ran(rc, err):
            continue
        assert rc in (0, code), (delay, rc, err)
        if rc == code:
            stopped += 1
            line = _one_line_error(err)
            assert "stopped by SIG" in line
            if _says_written(line, law):
                assert json.loads(law.read_text())["format"] == "perflaw-law"
            else:
                assert law.read_bytes() == before
        json.loads(law.read_text())
        assert _leftovers(tmp_path) == []
        # a run the signal missed (rc 0) or reached after the rename rewrote the law,
        # with a new "created" time: that file is what the next stopped run must keep
        # (seen in CI: a late signal, then an early one compared with the first file)
        before = law.read_bytes()
    assert stopped >= 2


SPILL_DRIVER = textwrap.dedent("""
    import sys
    sys.path.insert(0, ".")  # this checkout's perflaw (cwd is the repository root)
    import perflaw.quality.bounded as b
    b.BYTES_PER_ROW = 200_000  # several user-range chunks of ml-latest-small under 8GB
    from perflaw.__main__ import run
    sys.argv = ["perflaw", *sys.argv[1:]]
    run()
""")


@pytest.mark.slow
@pytest.mark.parametrize(
    "sig, code", [(signal.SIGINT, 130), (signal.SIGTERM, 143), (signal.SIGKILL, -9)]
)
def test_signals_while_spilling_remove_the_spill_folder(tmp_path, sig, code):
    spill = tmp_path / "spill"
    spill.mkdir()
    args = [
        "-c",
        SPILL_DRIVER,
        "apen",
        str(LOG),
        "--memory-limit",
        "8GB",
        "--spill-dir",
        str(spill),
        "-q",
    ]

    def spilling():
        return any(
            p.name.startswith("perflaw-spill-") and any(p.iterdir()) for p in spill.iterdir()
        )

    proc = subprocess.Popen(
        [sys.executable, *args], cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    deadline = time.monotonic() + 120
    while proc.poll() is None and time.monotonic() < deadline and not spilling():
        time.sleep(0.002)
    assert proc.poll() is None, "the run ended before spilling"
    proc.send_signal(sig)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == code, err
    if sig == signal.SIGKILL:
        assert os.listdir(spill)  # kill -9 cannot clean up ...
        done = subprocess.run(
            [sys.executable, *args], cwd=REPO, capture_output=True, text=True, timeout=240
        )
        assert done.returncode == 0, done.stderr  # ... the next run in that place does
    else:
        assert "stopped by SIG" in _one_line_error(err)
    assert os.listdir(spill) == []


@pytest.mark.slow
def test_kill_9_during_fit_and_apen_never_damages_the_previous_output(tmp_path):
    law = tmp_path / "law.json"
    table = tmp_path / "per_user.parquet"
    assert _cli("fit", RUNS, *FIT, "--out", law).returncode == 0
    assert _cli("apen", LOG, "--per-user", table, "-q", "--json").returncode == 0
    for delay in (0.5, 1.5, 2.5, 3.5):
        rc, _ = _signal_run(["fit", RUNS, *FIT, "--out", law], signal.SIGKILL, _after(delay))
        json.loads(law.read_text())  # the old file or the new one, whole either way
        rc, _ = _signal_run(
            ["apen", LOG, "--per-user", table, "-q", "--json"], signal.SIGKILL, _after(delay)
        )
        assert pl.read_parquet(table).height == 671
    # kill -9 can leave hidden temporary files beside the target, never in its place
    assert all(name.startswith(".") for name in _leftovers(tmp_path))


@pytest.mark.slow
@pytest.mark.filterwarnings("ignore::DeprecationWarning")
@pytest.mark.filterwarnings("ignore:The copy keyword is deprecated")
@pytest.mark.filterwarnings("ignore:PySpark does not yet fully support pandas")
def test_spark_per_user_never_deletes_a_foreign_folder(runner, tmp_path):
    from scale_helpers import require_spark

    require_spark()
    out = tmp_path / "per_user"
    out.mkdir()
    (out / "precious.csv").write_text("not perflaw's\n")
    args = [
        "apen",
        str(LOG),
        "--engine",
        "spark",
        "--spark-master",
        "local[2]",
        "--per-user",
        str(out),
        "-q",
        "--json",
    ]
    res = runner.invoke(main, args)
    assert res.exit_code == 1 and "--overwrite" in res.output, res.output
    assert os.listdir(out) == ["precious.csv"]
    res = runner.invoke(main, [*args, "--overwrite"])
    assert res.exit_code == 0, res.output
    assert files.MARKER in os.listdir(out) and "precious.csv" not in os.listdir(out)
    assert pl.read_parquet(out / "*.parquet").height == 671
    # perflaw's own folder is replaced without --overwrite, and nothing is left beside it
    res = runner.invoke(main, args)
    assert res.exit_code == 0, res.output
    assert pl.read_parquet(out / "*.parquet").height == 671
    assert _leftovers(tmp_path) == []


# --- the one error-mapping place and the signal handler (in process) -----------------


@pytest.mark.parametrize(
    "exc, expected, code",
    [
        (
            OSError(errno.EROFS, "Read-only file system", "/data/x"),
            "Error: cannot use /data/x: the file system is read-only",
            1,
        ),
        (
            MemoryError("Unable to allocate 745. GiB for an array"),
            "Error: out of memory in `perflaw apen` (Unable to allocate 745. GiB for an array): "
            "measure in bounded memory with --memory-limit",
            1,
        ),
        (KeyboardInterrupt(), "Error: stopped by SIGINT (Ctrl-C)", 130),
    ],
)
def test_cli_maps_unexpected_failures_to_one_line(runner, monkeypatch, exc, expected, code):
    import perflaw.cli.apen as apen_cli

    def boom(*args, **kwargs):
        raise exc

    monkeypatch.setattr(apen_cli, "expand_paths", boom)
    res = runner.invoke(main, ["apen", str(LOG)])
    assert res.exit_code == code
    assert res.output.startswith(expected) and len(res.output.strip().splitlines()) == 1


def test_terminated_maps_to_143(runner, monkeypatch):
    import perflaw.cli.apen as apen_cli
    from perflaw.errors import Terminated

    def boom(*args, **kwargs):
        raise Terminated(signal.SIGTERM)

    monkeypatch.setattr(apen_cli, "expand_paths", boom)
    res = runner.invoke(main, ["apen", str(LOG)])
    assert res.exit_code == 143 and res.output.startswith("Error: stopped by SIGTERM")


def test_sigterm_handler_raises_and_defers_inside_numba(monkeypatch):
    from perflaw import _signals
    from perflaw.errors import Terminated

    class Frame:
        def __init__(self, name, back=None, code="f"):
            self.f_globals = {"__name__": name}
            self.f_back = back
            self.f_code = type("C", (), {"co_name": code})()

    kills = []

    class FakeTimer:
        def __init__(self, delay, fn, args):
            kills.append(args)
            self.daemon = False
            self.fn, self.args = fn, args

        def start(self):
            pass

        def cancel(self):
            pass

    monkeypatch.setattr(_signals.threading, "Timer", FakeTimer)
    _signals._fired.clear()
    _signals._deferred.clear()
    inside = Frame("perflaw.quality.report", Frame("numba.core.dispatcher"))
    _signals._handler(signal.SIGTERM, inside)  # deferred: re-sent later
    assert kills == [(signal.SIGTERM,)] and not _signals._fired
    _signals._handler(signal.SIGTERM, Frame("x", code="__del__"))  # deferred too, once
    assert len(kills) == 1 and signal.SIGTERM in _signals._deferred
    sent = []
    monkeypatch.setattr(_signals.os, "kill", lambda pid, sig: sent.append((pid, sig)))
    _signals._deferred[signal.SIGTERM].fn(signal.SIGTERM)  # the timer fires: re-sent
    assert sent == [(os.getpid(), signal.SIGTERM)] and not _signals._deferred
    with pytest.raises(Terminated):
        _signals._handler(signal.SIGTERM, Frame("perflaw.quality.report"))
    _signals._handler(signal.SIGINT, Frame("perflaw"))  # after the first: ignored
    _signals._fired.clear()


def test_a_signal_deferred_as_the_command_ends_still_decides_the_exit():
    """Deferred out of the command's last critical section (handled()'s own exit), a
    signal would be re-sent once perflaw's handlers are gone: a traceback for Ctrl-C, a
    silent kill for SIGTERM.  handled() settles it: the re-send is cancelled and the
    signal's exception is raised there, where the command line reports it."""
    from perflaw import _signals

    class Frame:
        f_globals = {"__name__": "numba.core.dispatcher"}
        f_back = None
        f_code = type("C", (), {"co_name": "f"})()

    with pytest.raises(KeyboardInterrupt):
        with _signals.handled():
            _signals._handler(signal.SIGINT, Frame())  # deferred, a real timer started
            assert signal.SIGINT in _signals._deferred
    assert not _signals._deferred
    time.sleep(5 * _signals.RETRY_SECONDS)  # a re-send not cancelled would land here
    _signals._fired.clear()


@pytest.mark.parametrize("fail", [False, True])
def test_a_signal_entering_the_writers_exit_leaves_no_temporary_file(tmp_path, fail):
    """The window behind a CI flake: a signal handled as contextlib's ``__exit__`` starts,
    before it resumes atomic_path's generator, left that generator suspended at its yield
    and the temporary file to the garbage collector.  The signal is sent exactly there (a
    trace function on that call); it must be deferred until the writer has finished."""
    from perflaw import _signals

    target = tmp_path / "table.csv"
    target.write_text("old\n")
    sent = []

    def tracer(frame, event, arg):
        code = frame.f_code
        if (
            event == "call"
            and not sent
            and code.co_name == "__exit__"
            and frame.f_globals.get("__name__") == "contextlib"
        ):
            sent.append(True)
            os.kill(os.getpid(), signal.SIGINT)

    previous = sys.gettrace()  # coverage's tracer, when it runs
    stopped = None
    try:
        with _signals.handled():
            try:
                with files.atomic_path(target) as tmp:
                    tmp.write_text("new\n")
                    sys.settrace(tracer)
                    if fail:
                        raise ValueError("a writer's own failure")
            except ValueError:
                pass
            finally:
                sys.settrace(previous)
            deadline = time.monotonic() + 10
            while time.monotonic() < deadline:  # the deferred signal lands here
                time.sleep(0.01)
    except KeyboardInterrupt as exc:
        stopped = exc  # kept, as the command line keeps it: no help from the collector
    assert sent and stopped is not None
    assert sorted(p.name for p in tmp_path.iterdir()) == ["table.csv"]
    assert target.read_text() == ("old\n" if fail else "new\n")


EXIT_WINDOW_DRIVER = textwrap.dedent("""
    import os, signal, sys
    sys.path.insert(0, ".")  # this checkout's perflaw (cwd is the repository root)
    import perflaw.cli

    def finished(**kwargs):  # a command that has just finished, successfully
        raise SystemExit(0)

    perflaw.cli.main = finished
    from perflaw.__main__ import run

    def tracer(frame, event, arg):
        if frame.f_code.co_name != "run" or frame.f_globals["__name__"] != "perflaw.__main__":
            return None

        def line(frame, event, arg):
            if event == "line" and frame.f_code.co_name == "run":
                import linecache
                text = linecache.getline(frame.f_code.co_filename, frame.f_lineno)
                if "status = exc.code" in text:
                    os.kill(os.getpid(), signal.SIG{name})
            return line

        return line

    sys.settrace(tracer)
    run()
""")


@pytest.mark.parametrize("name, code", [("INT", 130), ("TERM", 143)])
def test_a_signal_as_the_command_line_sets_its_exit_status_is_reported(name, code):
    """The last window of a command: the signal lands while run() turns click's
    SystemExit into the exit status, before the handlers are replaced.  It must end
    with the one-line stop message and 130 / 143, not a traceback."""
    proc = subprocess.run(
        [sys.executable, "-c", EXIT_WINDOW_DRIVER.replace("{name}", name)],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == code, proc.stderr
    assert "stopped by SIG" in _one_line_error(proc.stderr)


def test_scaling_law_fits_get_the_same_runs_table_checks(runner, tmp_path):
    import pandas as pd

    rng = __import__("numpy").random.default_rng(0)
    x = [1e5, 3e5, 1e6, 3e6, 1e7, 3e7]
    table = pd.DataFrame(
        {"params": x, "eval_loss": [2 + (1e5 / v) ** 0.3 + rng.normal(0, 1e-3) for v in x]}
    )
    doubled = tmp_path / "doubled.csv"
    pd.concat([table, table]).to_csv(doubled, index=False)
    res = runner.invoke(
        main,
        [
            "fit",
            str(doubled),
            "--law",
            "power",
            "--x-col",
            "params",
            "--metric",
            "eval_loss",
            "--no-save",
        ],
    )
    assert "6 run(s) repeat an earlier row exactly" in res.output
    constant = tmp_path / "constant.csv"
    table.assign(eval_loss=2.5).to_csv(constant, index=False)
    res = runner.invoke(
        main,
        [
            "fit",
            str(constant),
            "--law",
            "power",
            "--x-col",
            "params",
            "--metric",
            "eval_loss",
            "--no-save",
        ],
    )
    assert res.exit_code == 1 and "metric 'eval_loss' is constant" in res.output


def test_a_signal_inside_polars_python_code_is_deferred(monkeypatch):
    """polars' Rust core calls back into Python (conversions); a KeyboardInterrupt raised
    there made polars panic: a multi-line Rust message and exit 1 (seen once in CI, apen
    under SIGINT).  A signal with a polars frame on the stack waits until control is back
    in perflaw."""
    from perflaw import _signals

    class Frame:
        def __init__(self, name, back=None):
            self.f_globals = {"__name__": name}
            self.f_back = back
            self.f_code = type("C", (), {"co_name": "f"})()

    started = []

    class FakeTimer:
        def __init__(self, delay, fn, args):
            self.daemon = False

        def start(self):
            started.append(True)

        def cancel(self):
            pass

    monkeypatch.setattr(_signals.threading, "Timer", FakeTimer)
    _signals._fired.clear()
    _signals._deferred.clear()
    callback = Frame("datetime", Frame("polars.dataframe.frame", Frame("perflaw.quality.report")))
    _signals._handler(signal.SIGINT, callback)  # deferred, not raised
    assert started and not _signals._fired
    _signals._deferred.clear()


def test_a_panic_after_a_signal_is_reported_as_the_signal():
    """pyo3's PanicException is a BaseException, not an Exception: after a signal it is
    the signal's consequence and ends with the one stop line, 130."""
    from perflaw import _signals
    from perflaw.cli import _PerflawGroup

    class PanicException(BaseException):
        pass

    group = _PerflawGroup("perflaw")

    @group.command("boom")
    def boom():
        _signals._fired.append(signal.SIGINT)
        raise PanicException("a Rust extension panicked")

    try:
        res = CliRunner().invoke(group, ["boom"])
    finally:
        _signals._fired.clear()
    assert res.exit_code == 130, (res.exception, res.output)
    assert "stopped by SIGINT" in res.output
