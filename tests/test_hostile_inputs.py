"""Inputs that gave a silently wrong answer or a crash (issue 39): compressed text logs,
glob characters in an existing file name, readers' expansion and parsing limits, CSV
formula injection, two options naming one file, sweep --out naming its log, a full disk
in the middle of a runs-table append."""

from __future__ import annotations

import errno
import json
import os
import subprocess
import sys

import numpy as np
import polars as pl
import pyarrow as pa
import pytest
from click.testing import CliRunner

from perflaw import limits
from perflaw.cli import main
from perflaw.errors import DataError, FileError
from perflaw.files import check_distinct_outputs
from perflaw.io import read_log

TEXT = b"user_id,item_id,timestamp\n1,10,1\n1,11,2\n1,10,3\n2,10,3\n2,12,4\n2,13,5\n"


@pytest.mark.parametrize("suffix, codec", [("gz", "gzip"), ("bz2", "bz2"), ("zst", "zstd")])
def test_compressed_csv_is_read_as_the_csv(tmp_path, suffix, codec):
    plain = tmp_path / "log.csv"
    plain.write_bytes(TEXT)
    packed = tmp_path / f"log.csv.{suffix}"
    with pa.CompressedOutputStream(str(packed), codec) as s:
        s.write(TEXT)
    assert read_log(packed).equals(read_log(plain))
    tsv = tmp_path / f"log.tsv.{suffix}"
    with pa.CompressedOutputStream(str(tsv), codec) as s:
        s.write(TEXT.replace(b",", b"\t"))
    assert read_log(tsv).equals(read_log(plain))


def test_compressed_files_that_are_not_text_logs_are_refused_by_name(tmp_path):
    p = tmp_path / "log.parquet.gz"
    p.write_bytes(b"\x1f\x8b")
    with pytest.raises(DataError, match="parquet compresses its own columns"):
        read_log(p)
    bad = tmp_path / "log.csv.gz"
    bad.write_bytes(b"not gzip at all")
    with pytest.raises(DataError, match="log.csv.gz: not readable as gzip"):
        read_log(bad)


def test_a_compression_bomb_is_refused_in_one_line(tmp_path, monkeypatch):
    p = tmp_path / "bomb.csv.gz"
    with pa.CompressedOutputStream(str(p), "gzip") as s:
        s.write(b"user_id,item_id\n" + b"1,1\n" * 2_000_000)  # 8 MB of text, a few KB packed
    monkeypatch.setenv("PERFLAW_MEMORY_HEADROOM", str(6_000_000))
    with pytest.raises(DataError, match="bomb.csv.gz: expands to more than 2.0 MB"):
        read_log(p)


def test_a_parquet_that_expands_past_the_memory_left_is_one_line(tmp_path, monkeypatch):
    p = tmp_path / "dense.parquet"
    n = 2_000_000  # 32 MB of columns, a few KB on disk
    pl.DataFrame({"user_id": np.zeros(n, np.int64), "item_id": np.ones(n, np.int64)}).write_parquet(
        p
    )
    assert p.stat().st_size < 1_000_000
    monkeypatch.setenv("PERFLAW_MEMORY_HEADROOM", str(20_000_000))
    with pytest.raises(
        DataError, match=r"dense.parquet: its columns take 3\d.\d MB once decompressed"
    ):
        read_log(p)


@pytest.mark.skipif(sys.platform != "linux", reason="RLIMIT_AS and /proc")
def test_a_parquet_that_expands_past_ulimit_v_ends_in_one_line_not_sigabrt(tmp_path):
    p = tmp_path / "dense.parquet"
    n = 40_000_000  # 640 MB of columns once read, a few hundred KB on disk
    pl.DataFrame({"user_id": np.zeros(n, np.int64), "item_id": np.ones(n, np.int64)}).write_parquet(
        p
    )
    code = (
        "import resource, sys; from pathlib import Path; "
        "import polars, pyarrow.parquet; "  # loaded first: the limit is what is left after
        "size = int(Path('/proc/self/statm').read_text().split()[0]) * 4096; "
        "resource.setrlimit(resource.RLIMIT_AS, (size + 400_000_000, resource.RLIM_INFINITY)); "
        "from perflaw.__main__ import run; "
        f"sys.argv = ['perflaw', 'apen', {str(p)!r}]; run()"
    )
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert res.returncode == 1, (res.returncode, res.stderr[-2000:])
    lines = res.stderr.strip().splitlines()
    assert len(lines) == 1 and "dense.parquet: its columns take" in lines[0], res.stderr


@pytest.mark.parametrize(
    "text, match",
    [
        ("[" * 100_000 + "]" * 100_000, "nested too deep"),
        ('{"d_prime": ' + "7" * 5000 + "}", "an integer of 5000 digits"),
        ('{"d_prime": ', "not readable as JSON"),
    ],
)
def test_hostile_json_is_one_line(tmp_path, text, match):
    with pytest.raises(DataError, match=match):
        limits.loads_json(text, "apen.json")
    p = tmp_path / "apen.json"
    p.write_text(text)
    from perflaw.quality.facts import data_facts

    with pytest.raises(DataError, match=match):
        data_facts(p)


def test_an_existing_file_name_with_glob_characters_is_that_file(tmp_path):
    (tmp_path / "log[1].csv").write_bytes(TEXT)
    (tmp_path / "log1.csv").write_bytes(b"user_id,item_id\n5,5\n5,6\n")
    res = CliRunner().invoke(main, ["apen", str(tmp_path / "log[1].csv"), "--json"])
    assert res.exit_code == 0, res.output
    out = json.loads(res.stdout)
    assert out[0]["file"].endswith("log[1].csv") and out[0]["interactions"] == 6
    # a pattern that is not a file is still a pattern
    res = CliRunner().invoke(main, ["apen", str(tmp_path / "log[1]*.csv"), "--json"])
    assert res.exit_code == 0 and len(json.loads(res.stdout)) == 1


def test_csv_cells_a_spreadsheet_would_run_are_written_as_text(tmp_path):
    log = tmp_path / "log.csv"
    log.write_text(
        "user_id,item_id,timestamp\n=HYPERLINK(1),a,1\n=HYPERLINK(1),@b,2\n"
        "=HYPERLINK(1),a,3\n+u,-c,1\n+u,a,2\n+u,-c,3\n"
    )
    per_user = tmp_path / "users.csv"
    res = CliRunner().invoke(main, ["apen", str(log), "--per-user", str(per_user), "-q", "--csv"])
    assert res.exit_code == 0, res.output
    text = per_user.read_text()
    assert "'=HYPERLINK(1)" in text and "'+u" in text
    assert not any(line.startswith(("=", "+", "-", "@")) for line in text.splitlines())
    for cell in res.stdout.replace("\n", ",").split(","):
        assert (
            not cell.startswith(("=", "+", "@"))
            and not cell.startswith("-")
            or (cell.lstrip("-").replace(".", "").replace("e", "").isdigit())
        )


def test_two_options_naming_one_file_are_refused(tmp_path):
    with pytest.raises(FileError, match="--out and --plot name the same file"):
        check_distinct_outputs(out=tmp_path / "a.png", plot=tmp_path / "." / "a.png")
    check_distinct_outputs(out=tmp_path / "a.json", plot=tmp_path / "a.png", other=None)


def test_sweep_out_naming_its_log_is_refused_and_the_log_kept(tmp_path):
    pytest.importorskip("torch")
    log = tmp_path / "log.parquet"
    pl.DataFrame({"user_id": [1, 1, 1, 2, 2, 2], "item_id": [1, 2, 3, 1, 2, 3]}).write_parquet(log)
    before = log.read_bytes()
    res = CliRunner().invoke(main, ["sweep", str(log), "--out", str(log), "--quiet"])
    assert res.exit_code != 0 and "this is the log being trained on" in res.output
    assert log.read_bytes() == before


def test_a_full_disk_mid_append_leaves_the_runs_table_byte_identical(tmp_path, monkeypatch):
    from perflaw.train import runs_table as rt

    out = tmp_path / "runs.csv"
    row = {c: 1 for c in rt.RUNS_COLUMNS} | {"dataset": "d", "backbone": "sasrec"}
    rt.append_row(out, row)
    before = out.read_bytes()
    real_write = os.write

    def half_then_full(fd, data):  # what a filling disk does: part of it, then ENOSPC
        if len(data) > 10:
            return real_write(fd, bytes(data[: len(data) // 2]))
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(rt.os, "write", half_then_full)
    with pytest.raises(OSError, match="No space left"):
        rt.append_row(out, {**row, "layers": 2})
    monkeypatch.setattr(rt.os, "write", real_write)
    assert out.read_bytes() == before


def test_fit_out_and_plot_naming_one_file_are_refused_before_fitting(tmp_path):
    target = tmp_path / "law.png"
    res = CliRunner().invoke(
        main,
        ["fit", "data/ml-latest-small-sweep.csv", "--metric", "hr@10", "--out", str(target),
         "--plot", str(tmp_path / "." / "law.png")],
    )  # fmt: skip
    assert res.exit_code == 1 and "--out and --plot name the same file" in res.output
    assert not target.exists()
