"""`perflaw recommend-config`'s screen tells one story: the table's first row is the pick,
the run the decision names next is listed, carry-forward gives untried configurations no
prediction and no p_best, and p_best is explained -- in the table, --json and --csv alike."""

import csv
import io
import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from perflaw.cli import main

ROOT = Path(__file__).resolve().parents[1]
SWEEP = ROOT / "data" / "ml-latest-small-sweep.csv"
BEAUTY = ROOT / "benchmarks" / "data" / "amazon-beauty-sweep.csv"


def run(*args):
    res = CliRunner().invoke(main, [str(a) for a in args])
    assert res.exit_code == 0, res.output
    return res


@pytest.fixture(scope="module")
def laws(tmp_path_factory):
    d = tmp_path_factory.mktemp("laws")
    ml, beauty = d / "ml.json", d / "beauty.json"
    # the bundled sweep keeps carry-forward (no trend beats it out of sample)
    run("fit", SWEEP, "--where", "data_fraction==1", "-m", "ndcg@10", "--out", ml)
    # amazon-beauty's width scan: a fitted form, whose pick keeps the best trained run
    run("fit", BEAUTY, "-m", "hr@10", "--backtest-axis", "d_emb", "--out", beauty)
    return {"ml": ml, "beauty": beauty}


def _csv(res):
    return list(csv.DictReader(io.StringIO(res.stdout)))


def _same(row, conf):
    return (int(row["layers"]), int(row["d_emb"])) == (conf["layers"], conf["d_emb"])


def test_carry_forward_ranks_no_untried_configuration(laws):
    obj = json.loads(run("recommend-config", "--law", laws["ml"], "--top", 20, "--json").stdout)
    assert obj["form"] == "carry"  # the case this test is about
    top = obj["top"]
    assert top[0]["role"].startswith("pick") and _same(top[0], obj["recommendation"])
    untried = [r for r in top if not r["trained"]]
    assert untried  # 16 configurations are trained: --top 20 lists some untried ones
    for r in untried:  # carry-forward only copies a trained run there
        assert r["prediction"] is None and r["p_best"] is None
    trained = [r for r in top if r["trained"]]
    assert all(r["p_best"] is not None for r in trained)
    # the pick's chance is the best among the trained runs, which are all that is ranked
    assert top[0]["p_best"] == max(r["p_best"] for r in trained)
    assert "trained run is the best of the trained runs" in obj["p_best_means"]

    text = run("recommend-config", "--law", laws["ml"], "--top", 20).stdout
    assert "p_best: the share of the law's predictive draws" in text
    assert "perflaw next" in text  # where the law cannot rank untried runs, the loop can
    lines = [ln for ln in text.splitlines() if ln.strip()[:2].strip().isdigit()]
    assert "pick" in lines[0]
    assert sum("no prediction" in ln for ln in lines) == len(untried)

    rows = _csv(run("recommend-config", "--law", laws["ml"], "--top", 20, "--csv"))
    assert rows[0]["role"].startswith("pick")
    assert [r["ndcg@10 predicted"] for r in rows if not r["trained"]] == [""] * len(untried)


def test_the_pick_and_the_next_run_are_listed_under_a_budget(laws):
    args = ("recommend-config", "--law", laws["beauty"], "--budget", "200k", "--top", 3)
    obj = json.loads(run(*args, "--json").stdout)
    pick, nxt, top = obj["recommendation"], obj["next"], obj["top"]
    assert nxt is not None and (nxt["layers"], nxt["d_emb"]) != (pick["layers"], pick["d_emb"])
    # the law ranks three trained widths above the run the pick keeps: it is row 1 anyway
    assert _same(top[0], pick) and top[0]["role"] == "pick"
    assert _same(top[1], nxt) and top[1]["role"] == "next"
    assert len(top) == 3 and all(r["params"] <= 200_000 for r in top)
    # what it keeps is the best trained value shown, though rows below are predicted higher
    assert top[0]["observed"] == pytest.approx(obj["best_observed"]["observed"])
    assert top[0]["observed"] == max(r["observed"] for r in top if r["observed"] is not None)
    assert top[1]["observed"] is None  # untried
    assert "configuration is the best of those ranked" in obj["p_best_means"]
    rows = _csv(run(*args, "--csv"))
    assert [(r["role"], r["layers"], r["d_emb"]) for r in rows[:2]] == [
        ("pick", str(pick["layers"]), str(pick["d_emb"])),
        ("next", str(nxt["layers"]), str(nxt["d_emb"])),
    ]
    text = run(*args).stdout
    table = [ln.split() for ln in text.splitlines() if ln.strip()[:2].strip().isdigit()]
    assert table[0][1:3] == [str(pick["layers"]), str(pick["d_emb"])] and table[0][-1] == "pick"
    assert table[1][1:3] == [str(nxt["layers"]), str(nxt["d_emb"])] and table[1][-1] == "next"
    assert f"train layers {nxt['layers']} × d_emb {nxt['d_emb']}" in text


def test_a_pick_off_the_grid_asked_for_is_still_row_one(laws):
    # the user's grid leaves out the best trained width (96): the pick keeps that run
    args = ("recommend-config", "--law", laws["beauty"], "--layers", "1,2,4")
    obj = json.loads(run(*args, "--d-emb", "64,128,256,512", "--json").stdout)
    pick, top = obj["recommendation"], obj["top"]
    assert (pick["layers"], pick["d_emb"]) == (1, 96)
    assert _same(top[0], pick) and top[0]["role"].startswith("pick")
    assert top[0]["p_best"] is None  # not one of the configurations ranked
