"""perflaw.data_facts: n_items, max_len and D′ from a log or from `perflaw apen --json`."""

import json

import pytest
from click.testing import CliRunner

import perflaw
from perflaw.cli import main
from perflaw.errors import DataError

BUNDLED = "data/ml-latest-small.parquet"


def test_from_log_equals_measure():
    facts = perflaw.data_facts(BUNDLED, max_len=50)
    summary = perflaw.measure(BUNDLED, max_len=50).summary
    assert facts.n_items == summary["items"] == 9066
    assert facts.max_len == 50 and facts.d_prime == summary["d_prime"]
    assert (facts.users, facts.interactions, facts.tokens) == (
        summary["users"],
        summary["interactions"],
        summary["tokens"],
    )


def test_from_apen_json_equals_from_log(tmp_path):
    out = tmp_path / "quality.json"
    res = CliRunner().invoke(main, ["apen", BUNDLED, "--max-len", "50", "--json", "-q"])
    assert res.exit_code == 0
    out.write_text(res.stdout)
    from_json = perflaw.data_facts(out)
    from_log = perflaw.data_facts(BUNDLED, max_len=50)
    assert from_json.as_dict() | {"source": ""} == from_log.as_dict() | {"source": ""}


def test_several_logs_need_a_choice(tmp_path):
    summaries = [
        {
            "file": f"logs/{n}.parquet",
            "items": i,
            "users": 2,
            "interactions": 9,
            "tokens": 9,
            "max_len": None,
            "d_prime": 12.5,
        }
        for n, i in (("a", 5), ("b", 7))
    ]
    path = tmp_path / "q.json"
    path.write_text(json.dumps(summaries))
    with pytest.raises(DataError, match="2 logs match \\(logs/a.parquet, logs/b.parquet\\)"):
        perflaw.data_facts(path)
    facts = perflaw.data_facts(path, file="b.parquet")
    assert facts.n_items == 7 and facts.max_len is None and facts.d_prime == 12.5


@pytest.mark.parametrize(
    "content,match",
    [
        ("{not json", "not readable as JSON"),
        ('{"users": 3}', "missing items, interactions, tokens, d_prime"),
        ("[1, 2]", "not `perflaw apen --json` output"),
        (
            '{"items": 3, "users": 1, "interactions": 3, "tokens": 3, "d_prime": null}',
            "D′ is undefined",
        ),
    ],
)
def test_bad_json(tmp_path, content, match):
    path = tmp_path / "q.json"
    path.write_text(content)
    with pytest.raises(DataError, match=match):
        perflaw.data_facts(path)


def test_missing_file():
    with pytest.raises(DataError, match="no such file"):
        perflaw.data_facts("nothing.json")


def test_recommend_config_takes_data_instead_of_retyped_numbers(tmp_path):
    law = tmp_path / "law.json"
    runner = CliRunner()
    res = runner.invoke(
        main,
        [
            "fit",
            "data/ml-latest-small-sweep.csv",
            "--metric",
            "ndcg@10",
            "--where",
            "data_fraction==1",
            "--bootstrap",
            "20",
            "--out",
            str(law),
        ],
    )
    assert res.exit_code == 0, res.output
    quality = tmp_path / "quality.json"
    res = runner.invoke(main, ["apen", BUNDLED, "--max-len", "50", "--json", "-q"])
    quality.write_text(res.stdout)
    typed = runner.invoke(
        main,
        [
            "recommend-config",
            "--law",
            str(law),
            "--budget",
            "1M",
            "--n-items",
            "9066",
            "--max-len",
            "50",
            "--json",
        ],
    )
    chained = runner.invoke(
        main,
        ["recommend-config", "--law", str(law), "--budget", "1M", "--data", str(quality), "--json"],
    )
    assert typed.exit_code == 0 and chained.exit_code == 0, chained.output
    assert json.loads(chained.stdout) == json.loads(typed.stdout)
    assert (
        f"from {quality} (671 users; D′ per-user m=2 last 50, as {quality} says): "
        "--n-items 9066, --max-len 50, --d-prime" in chained.stderr
    )
    # an explicit option wins over the file
    other = runner.invoke(
        main,
        [
            "recommend-config",
            "--law",
            str(law),
            "--budget",
            "1M",
            "--data",
            str(quality),
            "--max-len",
            "200",
            "--json",
        ],
    )
    assert "--max-len" not in other.stderr.split(":", 1)[1]
    assert json.loads(other.stdout) != json.loads(typed.stdout)
