"""`perflaw apen` through click's CliRunner: outputs, options and one-line errors."""

import json

import polars as pl
import pytest
from click.testing import CliRunner

from perflaw.cli import main

BUNDLED = "data/ml-latest-small.parquet"
JSON_KEYS = {"file", "users", "items", "interactions", "tokens", "m", "max_len", "apen_mean",
             "no_repeat_share", "apen_median", "apen_prime_mean", "d_prime", "zero_apen_users",
             "shannon_entropy", "actual_entropy", "compression_ratio", "seconds"}


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
        pl.DataFrame({"user_id": [u for u, s in enumerate(seqs) for _ in s],
                      "item_id": [v for s in seqs for v in s]}).write_csv(tmp_path / f"{name}.csv")
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
    assert {"user_id", "length", "apen", "apen_prime", "shannon_entropy", "actual_entropy",
            "compression_ratio", "file"} <= set(table.columns)


def test_notes_go_to_stderr_not_json():
    runner = CliRunner()
    res = runner.invoke(main, ["apen", BUNDLED, "--json"])
    assert res.exit_code == 0
    assert "function of length alone" in res.stderr
    json.loads(res.stdout)


@pytest.mark.parametrize("args,message", [
    (["missing.parquet"], "no such file"),
    (["data/"], "is a directory"),
    (["README.md"], "unknown log format"),
    ([BUNDLED, "--m", "0"], "--m must be a positive integer"),
    ([BUNDLED, "--max-len", "0"], "--max-len must be a positive integer"),
    ([BUNDLED, "--user-col", "nobody"], "no column 'nobody'"),
    (["nomatch*.parquet"], "no file matches"),
])
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
