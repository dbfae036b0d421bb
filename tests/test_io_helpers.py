"""The one list parser and the one column lookup (perflaw.io)."""

import pytest

from perflaw.errors import DataError
from perflaw.io import find_any, find_column, parse_list


@pytest.mark.parametrize(
    "text,kind,want",
    [
        ("8,16,32", int, [8, 16, 32]),
        (" 8 , 16 ", int, [8, 16]),
        ("4:12:4", int, [4, 8, 12]),
        ("4:6", int, [4, 5, 6]),
        ("1,2,4:8:2", int, [1, 2, 4, 6, 8]),
        ("1e3", int, [1000]),
        ([2, "3"], int, [2, 3]),
        ("0.1,1", float, [0.1, 1.0]),
        ("sasrec, hstu", str, ["sasrec", "hstu"]),
    ],
)
def test_parse_list(text, kind, want):
    assert parse_list(text, kind) == want


@pytest.mark.parametrize(
    "text,kind,kwargs,match",
    [
        ("", int, {}, "is empty"),
        ("8,,16", int, {}, "cannot parse"),
        ("8.5", int, {}, "cannot parse --layers '8.5': use 'a,b,c' or 'a:b\\[:step\\]'"),
        ("12:4", int, {}, "cannot parse"),
        ("4:12:0", int, {}, "cannot parse"),
        ("1:2:3:4", int, {}, "cannot parse"),
        ("0,4", int, {"positive": True}, "must list positive"),
        ("a,b", float, {}, "cannot parse --layers 'a,b': use 'a,b,c'$"),
    ],
)
def test_parse_list_errors(text, kind, kwargs, match):
    with pytest.raises(DataError, match=match):
        parse_list(text, kind, what="--layers", **kwargs)


def test_find_column_exact_then_case_insensitive():
    assert find_column(["Layers", "layers"], "layers") == "layers"
    assert find_column(["Layers", "d_emb"], "LAYERS") == "Layers"
    with pytest.raises(DataError, match="ambiguous: Layers, LAYERS differ only in case"):
        find_column(["Layers", "LAYERS"], "layers")
    with pytest.raises(
        DataError, match="runs.csv: metric 'hr' \\(--metric\\) not found; columns are a, b"
    ):
        find_column(["a", "b"], "hr", source="runs.csv", option="--metric", what="metric")


def test_find_any():
    assert find_any(["x", "ItemId"], ("item_id", "itemid")) == "ItemId"
    assert find_any(["x"], ("item_id",)) is None
    with pytest.raises(
        DataError, match="ambiguous user column \\(user_id, uid\\); choose one with --user-col"
    ):
        find_any(["user_id", "uid"], ("user_id", "uid"), option="--user-col", what="user column")
