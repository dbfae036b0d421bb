"""Row conditions (``--where``, ``--holdout``, ``--exclude``): the parser against plain
pandas masks, string columns, ``|``, ``in``, parentheses, and what it refuses."""

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner

from perflaw.cli import main
from perflaw.conditions import MAX_DEPTH, MAX_LENGTH, parse_condition, tokenize
from perflaw.errors import DataError

SWEEP = Path(__file__).resolve().parents[1] / "data" / "ml-latest-small-sweep.csv"

FRAME = pd.DataFrame(
    {
        "layers": [1, 2, 4, 8, 1, 8],
        "d_emb": [16, 32, 64, 128, 64, 16],
        "end": ["cap", "patience", "cap", "patience", "patience", "cap"],
        "backbone": ["sasrec", "sasrec", "gru4rec", "sasrec", "gru4rec", "sasrec"],
        "hr@10": [0.1, 0.2, 0.3, 0.4, np.nan, 0.6],
    }
)


@pytest.mark.parametrize(
    "condition, expected",
    [
        ("layers>=4", FRAME.layers >= 4),
        ("layers = 8", FRAME.layers == 8),
        ("end!='cap' & backbone=='sasrec'", (FRAME.end != "cap") & (FRAME.backbone == "sasrec")),
        ('end=="cap"', FRAME.end == "cap"),
        ("layers==1 | layers==8", FRAME.layers.isin([1, 8])),
        ("layers in (1, 8)", FRAME.layers.isin([1, 8])),
        ("layers not in (1, 8)", ~FRAME.layers.isin([1, 8])),
        ("backbone in ('gru4rec')", FRAME.backbone == "gru4rec"),
        # & binds tighter than |
        (
            "layers==1 | layers==8 & d_emb==16",
            (FRAME.layers == 1) | ((FRAME.layers == 8) & (FRAME.d_emb == 16)),
        ),
        ("(layers==1 | layers==8) & d_emb==16", FRAME.layers.isin([1, 8]) & (FRAME.d_emb == 16)),
        ("((layers<2))", FRAME.layers < 2),
        ("hr@10 > 0.25", FRAME["hr@10"] > 0.25),
        ("d_emb<1e2 & d_emb>=.5e2", (FRAME.d_emb < 100) & (FRAME.d_emb >= 50)),
        ("Layers>-1", FRAME.layers > -1),  # the one column lookup ignores case
    ],
)
def test_conditions_match_the_pandas_masks(condition, expected):
    assert parse_condition(condition, FRAME).tolist() == expected.tolist()


@pytest.mark.parametrize(
    "condition, message",
    [
        ("__import__('os').system('true')", "unexpected '.' at character 17"),
        ("__import__('os')", "names unknown column '__import__'"),
        ("layers('os')", "expected a comparison operator"),
        ("layers>=4; import os", "unexpected ';'"),
        ("layers>=4 & ", "expected a column name, found the end"),
        ("layers >= ", "expected a number or a quoted string"),
        ("(layers>=4", "expected ')'"),
        ("layers in 1, 8", "expected '(' opening a list"),
        ("layers not 8", "expected 'in' after 'not'"),
        ("end < 'cap'", "text compares with ==, != or in"),
        ("depth>2", "names unknown column 'depth'"),
        ("layers>=4 layers<8", "expected '&', '|' or the end"),
        ("", "expected a comparison"),
        ("lambda: 1", "unexpected ':'"),
    ],
)
def test_bad_conditions_are_refused_in_one_line(condition, message):
    with pytest.raises(DataError, match=None) as err:
        parse_condition(condition, FRAME)
    text = str(err.value)
    assert message in text and "\n" not in text


def test_an_over_long_or_over_deep_condition_is_refused_before_it_is_read():
    # a 30,000-digit number once took the regular expression quadratic time
    with pytest.raises(DataError, match=f"at most {MAX_LENGTH:,} are read"):
        parse_condition("layers<" + "9" * 30_000, FRAME)
    deep = "(" * (MAX_DEPTH + 1) + "layers>1" + ")" * (MAX_DEPTH + 1)
    with pytest.raises(DataError, match="deeper than"):
        parse_condition(deep, FRAME)
    ok = "(" * MAX_DEPTH + "layers>1" + ")" * MAX_DEPTH
    assert parse_condition(ok, FRAME).tolist() == (FRAME.layers > 1).tolist()


def test_tokens_never_overlap_and_cover_the_condition():
    text = "layers in (1,8)|end!='a b'&d_emb>=16"
    toks = tokenize(text)
    assert "".join(t.text for t in toks) == text.replace(" ", "").replace("'ab'", "'a b'")
    assert [t.pos for t in toks] == sorted(t.pos for t in toks)


# -- through the CLI ------------------------------------------------------------------
@pytest.fixture
def table(tmp_path):
    """The bundled sweep at full data, with runs marked as capped or of another backbone
    (configurations with 8 layers capped, d_emb 128 another backbone)."""
    df = pd.read_csv(SWEEP)
    df = df[df.data_fraction == 1].copy()
    df.loc[df.layers == 8, "end"] = "cap"
    df.loc[df.d_emb == 128, "backbone"] = "gru4rec"
    path = tmp_path / "runs.csv"
    df.to_csv(path, index=False)
    return path


def fit_json(path, where):
    res = CliRunner().invoke(
        main, ["fit", str(path), "-m", "ndcg@10", "--where", where, "--json", "--no-save"]
    )
    return res, (json.loads(res.stdout) if res.exit_code == 0 else None)


def test_where_on_string_columns_through_the_cli(table):
    res, rec = fit_json(table, "end!='cap' & backbone=='sasrec'")
    assert res.exit_code == 0, res.output
    fitted = pd.DataFrame(rec["best_observed"], index=[0])
    assert rec["n_points"] == 3 * 3  # layers 1, 2, 4 × d_emb 16, 32, 64 (seeds averaged)
    assert int(fitted.layers[0]) != 8 and int(fitted.d_emb[0]) != 128


def test_where_with_or_and_in_through_the_cli(table):
    res, rec = fit_json(table, "layers==1 | layers==8")
    assert res.exit_code == 0, res.output
    assert rec["n_points"] == 2 * 4
    res2, rec2 = fit_json(table, "layers in (1, 8)")
    assert res2.exit_code == 0 and rec2["n_points"] == rec["n_points"]
    assert rec2["params"] == rec["params"]


def test_code_in_a_condition_is_refused_through_the_cli(table, tmp_path):
    marker = tmp_path / "ran"
    res, _ = fit_json(table, f"__import__('os').system('touch {marker}')")
    assert res.exit_code != 0 and not marker.exists()
    assert "cannot parse condition" in res.output and "Traceback" not in res.output
