"""A law asked about a D′ outside the D′ it was fitted on says so, naming how that D′ was
measured: the sweep's d_prime column is D′ of whole training sequences, and a log
measured on its last --max-len events gives a D′ 39x lower (issue 39)."""

from __future__ import annotations

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


@pytest.mark.parametrize("fmt", ["--table", "--json"])
def test_a_d_prime_measured_another_way_is_flagged(law, fmt):
    res = CliRunner().invoke(
        main, ["recommend-config", "--law", str(law), "--data", LOG, "--max-len", "50", fmt]
    )
    assert res.exit_code == 0, res.output
    assert "warning: D′ 1,278,665 (measured from data/ml-latest-small.parquet on the last 50 " in (
        res.stderr
    )
    assert "outside the D′ the law was fitted on" in res.stderr


def test_the_sweeps_own_definition_is_inside(law):
    res = CliRunner().invoke(main, ["recommend-config", "--law", str(law), "--data", LOG])
    assert res.exit_code == 0, res.output
    assert "outside the D′" not in res.stderr  # whole sequences: ~50.6 M, the table's scale
    res = CliRunner().invoke(main, ["recommend-config", "--law", str(law), "--d-prime", "1e3"])
    assert "D′ 1,000 (given with --d-prime) is outside" in res.stderr
