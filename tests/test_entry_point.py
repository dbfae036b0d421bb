"""One entry point: the installed `perflaw` console script goes through the same signal
handling as `python -m perflaw` (it used to call the click group directly: SIGTERM while
`fit` wrote its law gave a 27-line traceback)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_the_console_script_is_the_signal_handling_entry_point():
    meta = tomllib.loads((ROOT / "pyproject.toml").read_text())
    assert meta["project"]["scripts"]["perflaw"] == "perflaw.__main__:run"


def test_sigterm_in_a_console_script_is_one_line_and_143(tmp_path):
    # the wrapper pip writes for "perflaw.__main__:run"
    script = tmp_path / "perflaw"
    script.write_text(
        "import re, sys\nfrom perflaw.__main__ import run\n"
        "if __name__ == '__main__':\n"
        "    sys.argv[0] = re.sub(r'(-script\\.pyw|\\.exe)?$', '', sys.argv[0])\n"
        "    sys.exit(run())\n"
    )
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    log = ROOT / "data" / "ml-latest-small.parquet"
    for delay in (1.5, 3.0, 6.0):  # a signal before the interpreter reaches run() is
        # Python's own (a silent exit): give it time to get there on a busy machine
        p = subprocess.Popen(
            [
                sys.executable,
                str(script),
                "sweep",
                str(log),
                "--layers",
                "1",
                "--d-emb",
                "8",
                "--max-steps",
                "100000",
                "--threads",
                "1",
                "--quiet",
                "--out",
                str(tmp_path / "runs.csv"),
            ],  # fmt: skip
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            env=env,
            text=True,
        )
        time.sleep(delay)
        p.send_signal(signal.SIGTERM)
        err = p.communicate(timeout=120)[1]
        if p.returncode != -signal.SIGTERM:
            break
    assert p.returncode == 143, err
    lines = err.strip().splitlines()
    assert lines[-1].startswith("Error: stopped by SIGTERM") and "Traceback" not in err


def test_a_ctrl_c_swallowed_in_a_weakref_callback_still_stops_the_command(tmp_path):
    # Python cannot pass an exception out of a weakref callback: it prints "Exception
    # ignored in ..." and goes on, and the command used to finish with exit 0.
    code = (
        "import signal, sys, weakref, click\n"
        "from perflaw.cli import main\n"
        "class Thing: pass\n"
        "@main.command('swallow')\n"
        "def swallow():\n"
        "    t = Thing()\n"
        "    r = weakref.ref(t, lambda _: signal.raise_signal(signal.SIGINT))\n"
        "    del t\n"
        "    click.echo('finished')\n"
        "from perflaw.__main__ import run\n"
        "sys.argv = ['perflaw', 'swallow']\n"
        "run()\n"
    )
    res = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )
    assert res.returncode == 130, (res.returncode, res.stdout, res.stderr)
    assert res.stderr.strip().splitlines()[-1].startswith("Error: stopped by SIGINT")
