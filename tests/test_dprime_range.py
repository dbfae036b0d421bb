"""A law asked about a D′ outside the D′ it was fitted on says so, naming how that D′ was
measured: the sweep's d_prime column is D′ of whole training sequences, and a log
measured on its last --max-len events gives a D′ 39x lower (issue 39)."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pandas as pd
import pytest
from click.testing import CliRunner

from perflaw.cli import main

TABLE = "data/ml-latest-small-sweep.csv"
LOG = "data/ml-latest-small.parquet"


@pytest.fixture(scope="module")
def law(tmp_path_factory):
    path = tmp_path_factory.mktemp("law") / "law.json"
    args = ["fit", TABLE, "--metric", "hr@10", "--group-by", "data_fraction", "--joint",
            "dprime", "--d-prime-col", "d_prime", "--out", str(path)]  # fmt: skip
    res = CliRunner().invoke(main, args)
    assert res.exit_code == 0, res.output
    return path


def _taken_d_prime(stderr: str) -> float:
    line = next(x for x in stderr.splitlines() if x.startswith("from "))
    return float(re.search(r"--d-prime ([\d,]+)", line).group(1).replace(",", ""))


@pytest.mark.parametrize("fmt", ["--table", "--json"])
def test_max_len_does_not_cut_the_d_prime_of_data(law, fmt):
    """One definition: --max-len is the model's input length, not how D′ is measured; the
    log measured the law's way agrees with the sweep's d_prime at data_fraction 1 within
    the 2 events per user the split leaves out."""
    res = CliRunner().invoke(
        main, ["recommend-config", "--law", str(law), "--data", LOG, "--max-len", "50", fmt]
    )
    assert res.exit_code == 0, res.output
    assert "D′ per-user m=2 whole, the law's runs' definition" in res.stderr
    assert "outside the D′" not in res.stderr
    measured = _taken_d_prime(res.stderr)
    table = pd.read_csv(TABLE)
    sweep = table.loc[table.data_fraction == 1, "d_prime"].iloc[0]
    assert measured == pytest.approx(50_576_412, abs=1)
    assert sweep == pytest.approx(50_181_093, abs=1)
    assert abs(measured / sweep - 1) < 0.01


def test_the_law_file_records_the_definition_and_data_follows_it(law, tmp_path):
    doc = json.loads(Path(law).read_text())
    assert {f["d_prime_def"] for f in doc["fits"]} == {"per-user m=2 whole"}
    for f in doc["fits"]:
        f["d_prime_def"] = "per-user m=2 last 50"  # runs measured on the last 50 events
    cut = tmp_path / "cut.json"
    cut.write_text(json.dumps(doc))
    res = CliRunner().invoke(main, ["recommend-config", "--law", str(cut), "--data", LOG])
    assert res.exit_code == 0, res.output
    assert "D′ per-user m=2 last 50" in res.stderr
    assert _taken_d_prime(res.stderr) == 1_278_665
    for f in doc["fits"]:
        f["d_prime_def"] = "whole, more or less"
    cut.write_text(json.dumps(doc))
    res = CliRunner().invoke(main, ["recommend-config", "--law", str(cut), "--data", LOG])
    assert res.exit_code != 0 and "d_prime_def" in res.output and "Traceback" not in res.output


def test_apen_json_measured_another_way_is_flagged(law, tmp_path):
    res = CliRunner().invoke(main, ["apen", LOG, "--max-len", "50", "--json"])
    assert res.exit_code == 0, res.output
    assert json.loads(res.stdout)[0]["d_prime_def"] == "per-user m=2 last 50"
    measured = tmp_path / "apen.json"
    measured.write_text(res.stdout)
    res = CliRunner().invoke(main, ["recommend-config", "--law", str(law), "--data", str(measured)])
    assert res.exit_code == 0, res.output
    assert "was measured 'per-user m=2 last 50', the law's runs 'per-user m=2 whole'" in (
        res.stderr
    )
    assert "outside the D′ the law was fitted on" in res.stderr


def test_apen_names_its_definition_in_its_first_lines():
    whole = CliRunner().invoke(main, ["apen", LOG])
    assert "D′ measured 'per-user m=2 whole' (as perflaw sweep's d_prime column)" in (
        "\n".join(whole.stdout.splitlines()[:4])
    )
    cut = CliRunner().invoke(main, ["apen", LOG, "--max-len", "50"])
    assert "D′ measured 'per-user m=2 last 50' (perflaw sweep's d_prime column" in cut.stdout


def test_a_fit_refuses_d_prime_of_two_definitions(tmp_path):
    table = pd.read_csv(TABLE)
    table["d_prime_def"] = "per-user m=2 whole"
    table.loc[table.index[:5], "d_prime_def"] = "per-user m=2 last 50"
    p = tmp_path / "mixed.csv"
    table.to_csv(p, index=False)
    args = ["fit", str(p), "--metric", "hr@10", "--group-by", "data_fraction", "--joint",
            "dprime", "--d-prime-col", "d_prime", "--no-save"]  # fmt: skip
    res = CliRunner().invoke(main, args)
    assert res.exit_code != 0
    assert "D′ measured 2 ways in one fit" in res.output


def test_the_sweeps_own_definition_is_inside(law):
    res = CliRunner().invoke(main, ["recommend-config", "--law", str(law), "--data", LOG])
    assert res.exit_code == 0, res.output
    assert "outside the D′" not in res.stderr  # whole sequences: ~50.6 M, the table's scale
    res = CliRunner().invoke(main, ["recommend-config", "--law", str(law), "--d-prime", "1e3"])
    assert "D′ 1,000 (given with --d-prime) is outside" in res.stderr


def test_an_older_sweep_table_is_read_as_the_sweeps_definition_but_not_appended_to(tmp_path):
    from perflaw.errors import DataError
    from perflaw.train import runs_table as rt

    old = tmp_path / "old.csv"
    pd.read_csv(TABLE).drop(columns="d_prime_def").to_csv(old, index=False)
    table = rt.read_runs_file(old)
    assert list(table.columns) == rt.RUNS_COLUMNS
    assert (table["d_prime_def"] == "per-user m=2 whole").all()
    with pytest.raises(DataError, match="not a perflaw sweep runs table of this version"):
        rt.read_runs_file(old, legacy=False)  # what a resumed sweep reads
