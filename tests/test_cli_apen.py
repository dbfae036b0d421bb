"""`perflaw apen` through click's CliRunner: outputs, options and one-line errors."""

import json
from pathlib import Path

import numpy as np
import polars as pl
import pytest
from click.testing import CliRunner

from perflaw.cli import main

BUNDLED = "data/ml-latest-small.parquet"
ROOT = Path(__file__).resolve().parents[1]
JSON_KEYS = {
    "file",
    "users",
    "items",
    "interactions",
    "tokens",
    "m",
    "max_len",
    "apen_mean",
    "no_repeat_share",
    "apen_median",
    "apen_prime_mean",
    "d_prime",
    "zero_apen_users",
    "shannon_entropy",
    "actual_entropy",
    "compression_ratio",
    "seconds",
}


def run(*args):
    return CliRunner().invoke(main, list(args))


def test_table_on_bundled_data():
    res = run("apen", BUNDLED, "--max-len", "50", "--quiet")
    assert res.exit_code == 0, res.output
    assert "d_prime" in res.output and "ml-latest-small.parquet" in res.output


def test_json_keys_and_values():
    res = run("apen", BUNDLED, "--max-len", "50", "--json", "--quiet")
    assert res.exit_code == 0, res.output
    (obj,) = json.loads(res.output)
    assert JSON_KEYS <= obj.keys()
    assert obj["users"] == 671 and obj["interactions"] == 100_004
    assert obj["tokens"] <= 671 * 50
    assert obj["m"] == 2 and obj["max_len"] == 50


def test_csv_and_several_files_and_glob(tmp_path):
    for name, seqs in (("a", [[1, 2, 1, 2]]), ("b", [[1, 2, 3], [4, 4]])):
        pl.DataFrame(
            {
                "user_id": [u for u, s in enumerate(seqs) for _ in s],
                "item_id": [v for s in seqs for v in s],
            }
        ).write_csv(tmp_path / f"{name}.csv")
    res = run("apen", str(tmp_path / "*.csv"), "--csv", "--m", "1", "--quiet")
    assert res.exit_code == 0, res.output
    lines = res.output.strip().splitlines()
    assert len(lines) == 3 and lines[0].startswith("file,users")


def test_per_user_parquet(tmp_path):
    out = tmp_path / "per_user.parquet"
    res = run("apen", BUNDLED, "--per-user", str(out), "--quiet", "--json")
    assert res.exit_code == 0, res.output
    table = pl.read_parquet(out)
    assert table.height == 671
    assert {
        "user_id",
        "length",
        "apen",
        "apen_prime",
        "shannon_entropy",
        "actual_entropy",
        "compression_ratio",
        "file",
    } <= set(table.columns)


def test_notes_go_to_stderr_not_json():
    runner = CliRunner()
    res = runner.invoke(main, ["apen", BUNDLED, "--json"])
    assert res.exit_code == 0
    assert "function of length alone" in res.stderr
    json.loads(res.stdout)


@pytest.mark.parametrize(
    "args,message",
    [
        (["missing.parquet"], "no such file"),
        (["data/"], "is a directory"),
        (["README.md"], "unknown log format"),
        ([BUNDLED, "--m", "0"], "--m must be a positive integer"),
        ([BUNDLED, "--max-len", "0"], "--max-len must be a positive integer"),
        ([BUNDLED, "--user-col", "nobody"], "no column 'nobody'"),
        (["nomatch*.parquet"], "no file matches"),
    ],
)
def test_errors_are_one_line(args, message):
    res = run("apen", *args)
    assert res.exit_code != 0
    assert message in res.output
    assert "Traceback" not in res.output
    error_lines = [ln for ln in res.output.splitlines() if ln.startswith("Error:")]
    assert len(error_lines) == 1


def test_empty_csv(tmp_path):
    p = tmp_path / "empty.csv"
    p.write_text("user_id,item_id\n")
    res = run("apen", str(p))
    assert res.exit_code == 1 and "no rows" in res.output


# --------------------------------------------------------------------------- first screen


def _two_logs_same_name(tmp_path):
    for folder, seqs in (("a", [[1, 2, 1, 2, 1, 2], [3, 4, 5, 6]]), ("b", [[1, 1, 1, 2]] * 3)):
        (tmp_path / folder).mkdir()
        pl.DataFrame(
            {
                "user_id": [u for u, s in enumerate(seqs) for _ in s],
                "item_id": [v for s in seqs for v in s],
            }
        ).write_csv(tmp_path / folder / "log.csv")
    return tmp_path / "a" / "log.csv", tmp_path / "b" / "log.csv"


def test_same_base_name_gets_distinct_columns(tmp_path):
    a, b = _two_logs_same_name(tmp_path)
    res = run("apen", str(a), str(b), "--m", "1", "--quiet")
    assert res.exit_code == 0, res.output
    header = res.output.splitlines()[0]
    assert "a/log.csv" in header and "b/log.csv" in header
    users = next(ln for ln in res.output.splitlines() if ln.startswith("users "))
    assert users.split()[-2:] == ["2", "3"]


def test_header_explains_and_units_and_formatting():
    res = run("apen", BUNDLED)
    assert res.exit_code == 0, res.output
    out = res.stdout
    assert out.startswith("Data quality of this log")
    flat = " ".join(out.split())
    for words in (
        "lower = more regular",
        "higher = more learnable signal",
        "D′ =",
        "Compare it",
        "% of users repeat no window",
    ):
        assert words in flat
    rows = {
        ln.split()[0]: ln
        for ln in out.splitlines()
        if ln
        and ln.split()[0] in ("apen_mean", "shannon_entropy", "actual_entropy", "d_prime", "items")
    }
    assert " nats " in rows["apen_mean"] and " bits " in rows["shannon_entropy"]
    assert " nats " in rows["actual_entropy"]
    assert "9,066" in rows["items"] and "e+" not in rows["d_prime"]
    table = out[out.index("measure ") :]
    assert "None" not in table and "nan" not in table
    # the length-only case: said once (in the header, with its share), not again in a note
    assert " ".join((res.stdout + res.stderr).split()).count("length alone") == 1


def test_length_only_note_once_for_several_logs_in_json(tmp_path):
    a, b = _two_logs_same_name(tmp_path)
    c = tmp_path / "c.csv"
    pl.DataFrame({"user_id": [0] * 6 + [1] * 6, "item_id": list(range(12))}).write_csv(c)
    d = tmp_path / "d.csv"
    pl.DataFrame({"user_id": [0] * 6, "item_id": list(range(6))}).write_csv(d)
    res = run("apen", str(c), str(d), "--json")
    assert res.exit_code == 0, res.output
    assert res.stderr.count("function of length alone") == 1
    assert "100% of sequences in c.csv and 100% in d.csv" in res.stderr
    assert len(json.loads(res.stdout)) == 2


@pytest.mark.parametrize("suffix,reader", [(".csv", pl.read_csv), (".parquet", pl.read_parquet)])
def test_per_user_format_follows_suffix(tmp_path, suffix, reader):
    out = tmp_path / f"users{suffix}"
    res = run("apen", BUNDLED, "--per-user", str(out), "--json")
    assert res.exit_code == 0, res.output
    assert f"wrote 671 users' measures ({suffix[1:]}) to {out}" in res.stderr
    table = reader(out)
    assert table.height == 671 and "apen_prime" in table.columns
    assert [p.name for p in tmp_path.iterdir()] == [out.name]  # no temporary left behind


@pytest.mark.parametrize(
    "target,message",
    [("users.txt", "name a .parquet or .csv"), (BUNDLED, "this output is also an input")],
)
def test_per_user_refusals(target, message):
    res = run("apen", BUNDLED, "--per-user", target)
    assert res.exit_code == 1 and message in res.output


def test_compile_notice_only_on_a_cold_cache(monkeypatch):
    from perflaw.quality import _kernels

    monkeypatch.setattr(_kernels, "kernels_cached", lambda: False)
    res = run("apen", BUNDLED, "--json")
    assert res.exit_code == 0
    assert res.stderr.count("compiling kernels once (cached afterwards") == 1
    assert "compiling" not in run("apen", BUNDLED, "--json", "--quiet").stderr
    monkeypatch.setattr(_kernels, "kernels_cached", lambda: True)
    assert "compiling" not in run("apen", BUNDLED, "--json").stderr


def test_kernels_cached_reads_numba_index():
    from perflaw.quality import _kernels

    _kernels.sequence_measures(np.arange(5), np.zeros(1, np.int64), np.full(1, 5), 2)
    assert _kernels.kernels_cached() is True


def test_engine_choice_passes_through(tmp_path):
    mem = json.loads(run("apen", BUNDLED, "--json", "-q").stdout)[0]
    bnd = json.loads(run("apen", BUNDLED, "--json", "-q", "--engine", "bounded").stdout)[0]
    assert mem["engine"] == "memory" and bnd["engine"] == "local-bounded"
    assert mem["d_prime"] == bnd["d_prime"] and mem["users"] == bnd["users"]


def test_first_screen_says_what_the_cross_log_study_found():
    res = run("apen", BUNDLED, "--max-len", "50")
    assert res.exit_code == 0, res.output
    import re

    text = re.sub(r"\s+", " ", res.output)
    assert "D′ predicted a small SASRec's HR@10 only as well as sequence length" in text


def test_first_screen_quotes_the_committed_study():
    # the numbers on every first screen are those benchmarks/dprime_vs_size.py wrote from
    # the committed runs: rerunning the study with other runs must update the screen
    import pandas as pd

    from perflaw.cli._apen_render import EVIDENCE

    lolo = pd.read_csv(ROOT / "benchmarks" / "data" / "dprime_vs_size_lolo.csv")
    mean = lolo[lolo["metric"] == "hr@10"].drop(columns=["metric", "held_out"]).mean()
    quoted = (
        f"mean error {mean['dprime_items']:.3f} vs Σ|S|² {mean['length_only']:.3f}; "
        f"interactions {mean['interactions']:.3f}, a constant {mean['constant']:.3f}), "
        f"and token-mapped D′ did worse ({mean['dprime_popularity10']:.3f}, "
        f"{mean['dprime_cluster20']:.3f})"
    )
    assert quoted in EVIDENCE
    assert f"on {lolo['held_out'].nunique()} public logs" in EVIDENCE
