"""The Spark engine on a real standalone cluster (a master and a worker on 127.0.0.1).

Starts ``org.apache.spark.deploy.master.Master`` and ``...worker.Worker`` from the
pyspark installation (``spark-class``), then runs, each in its own process:

* ``perflaw apen --engine spark --spark-master spark://127.0.0.1:PORT`` (the CLI as the
  driver, per-user table written as CSV), and
* ``spark-submit`` of the job in docs/scaling-out.md (extracted from the page, so the
  documented recipe is what runs),

and checks both against the in-memory engine.  The cluster is stopped in every case
(the fixture's finaliser kills the process groups it started).  Loopback only; every
wait is bounded.  Needs pyspark and Java (see tests/test_spark.py; with
``PERFLAW_REQUIRE_SPARK=1`` a missing runtime fails instead of skipping).
"""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import polars as pl
import pytest
from scale_helpers import assert_per_user_equal, assert_summaries_equal

from perflaw.quality.report import measure

pytestmark = [
    pytest.mark.slow,
    pytest.mark.xdist_group("spark-cluster"),  # one worker, one cluster (-n auto)
    pytest.mark.filterwarnings("ignore:PySpark does not yet fully support pandas"),
]

REPO = Path(__file__).resolve().parents[1]
LOG = "data/ml-latest-small.parquet"
MAX_LEN = 50
START_TIMEOUT = 120  # s, master up and worker registered
JOB_TIMEOUT = 420  # s, per driver process


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _spark_home() -> Path:
    import pyspark

    return Path(pyspark.__file__).resolve().parent


def _alive_workers(ui_port: int) -> int:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{ui_port}/json/", timeout=5) as resp:
            return int(json.load(resp).get("aliveworkers", 0))
    except (OSError, ValueError):
        return 0


def _stop(proc: subprocess.Popen) -> None:
    if proc.poll() is not None:
        return
    try:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(timeout=20)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=20)
    except ProcessLookupError:
        pass


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    from scale_helpers import require_spark

    require_spark("SPARK CLUSTER TESTS")
    home = _spark_home()
    work = tmp_path_factory.mktemp("spark-cluster")
    env = {
        **os.environ,
        "SPARK_HOME": str(home),
        "SPARK_LOCAL_IP": "127.0.0.1",
        "SPARK_LOCAL_DIRS": str(work / "local"),
        "SPARK_LOG_DIR": str(work / "logs"),
        "SPARK_WORKER_DIR": str(work / "worker"),
        # perflaw "installed on every node": the executors import this checkout
        "PYTHONPATH": os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH", "")]),
        "PYSPARK_PYTHON": sys.executable,
        "PYSPARK_DRIVER_PYTHON": sys.executable,
    }
    port, ui, worker_ui = _free_port(), _free_port(), _free_port()
    url = f"spark://127.0.0.1:{port}"
    spark_class = str(home / "bin" / "spark-class")
    procs = []
    logs = []
    try:
        for name, args in (
            (
                "master",
                [
                    "org.apache.spark.deploy.master.Master",
                    "--host",
                    "127.0.0.1",
                    "--port",
                    str(port),
                    "--webui-port",
                    str(ui),
                ],
            ),
            (
                "worker",
                [
                    "org.apache.spark.deploy.worker.Worker",
                    "--host",
                    "127.0.0.1",
                    "--cores",
                    "2",
                    "--memory",
                    "2G",
                    "--webui-port",
                    str(worker_ui),
                    "--work-dir",
                    str(work / "worker"),
                    url,
                ],
            ),
        ):
            log = open(work / f"{name}.log", "w")  # noqa: SIM115 - closed below
            logs.append(log)
            procs.append(
                subprocess.Popen(
                    [spark_class, *args],
                    env=env,
                    cwd=work,
                    stdout=log,
                    stderr=subprocess.STDOUT,
                    start_new_session=True,
                )
            )
        deadline = time.monotonic() + START_TIMEOUT
        while _alive_workers(ui) < 1:
            if time.monotonic() > deadline or any(p.poll() is not None for p in procs):
                tails = "\n".join(
                    (work / f"{n}.log").read_text()[-1500:] for n in ("master", "worker")
                )
                pytest.fail(f"standalone cluster did not come up in {START_TIMEOUT} s:\n{tails}")
            time.sleep(1)
        yield {"url": url, "env": env, "work": work}
    finally:
        for proc in reversed(procs):
            _stop(proc)
        for log in logs:
            log.close()


def _run(cmd, cluster) -> subprocess.CompletedProcess:
    res = subprocess.run(
        cmd, env=cluster["env"], cwd=REPO, capture_output=True, text=True, timeout=JOB_TIMEOUT
    )
    assert res.returncode == 0, (
        f"{' '.join(map(str, cmd))}\n{res.stdout[-3000:]}\n{res.stderr[-3000:]}"
    )
    return res


def _conf(cluster) -> list[str]:
    return [
        "--conf",
        "spark.executor.memory=1g",
        "--conf",
        "spark.cores.max=2",
        "--conf",
        f"spark.local.dir={cluster['work'] / 'local'}",
        "--conf",
        "spark.ui.enabled=false",
    ]


@pytest.fixture(scope="module")
def local():
    return measure(LOG, max_len=MAX_LEN, per_user_compression=True)


def test_cli_on_standalone_cluster(cluster, local, tmp_path):
    out = tmp_path / "users.csv"
    res = _run(
        [
            sys.executable,
            "-m",
            "perflaw",
            "apen",
            LOG,
            "--engine",
            "spark",
            "--spark-master",
            cluster["url"],
            "--max-len",
            str(MAX_LEN),
            "--json",
            "--per-user",
            str(out),
        ],
        cluster,
    )
    (got,) = json.loads(res.stdout)
    assert got["engine"] == "spark"
    assert_summaries_equal({k: v for k, v in local.summary.items() if v == v}, got)
    assert f"wrote 671 users' measures (csv) to {out}" in res.stderr
    written = pl.read_csv(sorted(out.glob("*.csv")))
    assert_per_user_equal(local.per_user, written.drop("file"))


def _documented_job() -> str:
    page = (REPO / "docs" / "scaling-out.md").read_text(encoding="utf-8")
    blocks = re.findall(r"```python\n(# job\.py.*?)```", page, flags=re.S)
    assert len(blocks) == 1, "docs/scaling-out.md must hold exactly one '# job.py' block"
    return blocks[0]


def test_spark_submit_of_the_documented_job(cluster, local, tmp_path):
    job = tmp_path / "job.py"
    job.write_text(_documented_job())
    out = tmp_path / "apen_users"
    spark_submit = str(_spark_home() / "bin" / "spark-submit")
    res = _run(
        [
            spark_submit,
            "--master",
            cluster["url"],
            *_conf(cluster),
            "--conf",
            f"spark.pyspark.python={sys.executable}",
            str(job),
            LOG,
            str(out),
            str(MAX_LEN),
        ],
        cluster,
    )
    got = json.loads(res.stdout.strip().splitlines()[-1])
    assert got["engine"] == "spark" and got["users"] == 671
    want = {k: v for k, v in local.summary.items() if v == v}
    assert_summaries_equal(want, got, skip=("notes",))
    written = pl.read_parquet(out / "*.parquet")
    per_user = local.per_user.drop("compression_ratio")
    assert_per_user_equal(per_user, written)
