"""Token maps (perflaw.quality.tokens): built right, applied identically by every engine.

Each engine's numbers are checked against a plain reference: the map applied with a
Python dict, sequences sorted by hand, ApEn from tests/reference/measures.py.
"""

from __future__ import annotations

import math
from collections import Counter

import numpy as np
import polars as pl
import pytest
from click.testing import CliRunner

from perflaw.cli import main
from perflaw.errors import DataError
from perflaw.quality import measure
from perflaw.quality.tokens import build_token_map, read_attribute, token_map_for_log
from tests.reference import measures as ref


def small_log(seed: int = 0, users: int = 40, items: int = 30) -> pl.DataFrame:
    """Users with 1-25 events over a skewed item pool, times with ties, rows shuffled."""
    rng = np.random.default_rng(seed)
    rows = []
    weights = 1.0 / np.arange(1, items + 1)
    weights /= weights.sum()
    for u in range(users):
        n = int(rng.integers(1, 26))
        seq = rng.choice(items, size=n, p=weights) + 100
        times = np.sort(rng.integers(0, n + 3, size=n))
        rows += [(u * 7 + 3, int(i), int(t)) for i, t in zip(seq, times)]
    order = rng.permutation(len(rows))
    rows = [rows[k] for k in order]
    return pl.DataFrame(rows, schema=["user_id", "item_id", "timestamp"], orient="row")


def reference(frame: pl.DataFrame, mapping: dict, m: int = 2, max_len=None):
    """Per-user ApEn of the mapped sequences (stable sort by time) and D′, by hand."""
    by_user: dict = {}
    for u, i, t in frame.iter_rows():  # file order kept inside ties (stable sort)
        by_user.setdefault(u, []).append((t, mapping[i]))
    apens, d = {}, 0.0
    for u, events in by_user.items():
        seq = [tok for _, tok in sorted(events, key=lambda e: e[0])]
        if max_len is not None:
            seq = seq[-max_len:]
        a = ref.apen(seq, m)
        apens[u] = a
        if a > 0:
            d += len(seq) / a
    return apens, d


def as_dict(tm) -> dict:
    return dict(tm.table.select("item", "token").iter_rows())


def check_engine(rep, apens, d):
    per_user = rep.per_user
    got = dict(zip(per_user["user_id"].to_list(), per_user["apen"].to_list()))
    assert set(got) == set(apens)
    for u, a in apens.items():
        assert abs(got[u] - a) <= 1e-12, u
    assert rep.summary["d_prime"] == pytest.approx(d, rel=1e-12)


def popularity_reference(frame: pl.DataFrame, k: int) -> dict:
    """Quantile buckets of item counts: (q_j, q_j+1] intervals, the lowest closed."""
    counts = Counter(frame["item_id"].to_list())
    values = np.array(list(counts.values()), float)
    edges = np.unique(np.quantile(values, np.linspace(0, 1, k + 1)))
    return {
        item: max(int(np.searchsorted(edges, c, side="left")) - 1, 0) + 1
        for item, c in counts.items()
    }


def _canonical(frame):
    return frame.rename({"user_id": "user", "item_id": "item", "timestamp": "time"})


@pytest.mark.parametrize("k", [2, 4, 10])
def test_popularity_buckets_match_quantiles(k):
    frame = small_log(1)
    tm = build_token_map(_canonical(frame), f"popularity:{k}")
    assert as_dict(tm) == popularity_reference(frame, k)
    assert tm.n_tokens <= k and f"popularity:{k}" in tm.description


@pytest.mark.parametrize("spec", ["popularity:3", "cluster:4"])
@pytest.mark.parametrize("m,max_len", [(2, None), (1, 8)])
def test_memory_and_bounded_equal_reference(spec, m, max_len, tmp_path):
    frame = small_log(2)
    tm = build_token_map(_canonical(frame), spec)
    apens, d = reference(frame, as_dict(tm), m=m, max_len=max_len)
    check_engine(measure(frame, token_map=tm, m=m, max_len=max_len), apens, d)
    path = tmp_path / "log.parquet"
    frame.write_parquet(path)
    bounded = measure(path, "bounded", token_map=tm, m=m, max_len=max_len, chunk_rows=60)
    assert bounded.summary["chunks"] > 1
    check_engine(bounded, apens, d)
    assert bounded.summary["token_map"] == tm.description


def test_tokens_make_repeats_that_item_ids_lack():
    # every user sees distinct items, but the items share a genre: repeats appear
    frame = pl.DataFrame(
        {
            "user_id": [1] * 6 + [2] * 4,
            "item_id": [10, 20, 11, 21, 12, 22, 13, 23, 14, 24],
            "timestamp": list(range(6)) + list(range(4)),
            "genre": ["a", "b"] * 5,
        }
    )
    raw = measure(frame.drop("genre"), m=2)
    attr = read_attribute_frame(frame)
    tm = build_token_map(_canonical(frame.drop("genre")), attribute=attr, token_col="genre")
    mapped = measure(frame.drop("genre"), m=2, token_map=tm)
    assert raw.summary["repeat_users"] == 0 and mapped.summary["repeat_users"] == 2
    assert mapped.summary["items"] == 2 and raw.summary["items"] == 10
    apens, d = reference(frame.drop("genre"), as_dict(tm), m=2)
    check_engine(mapped, apens, d)


def read_attribute_frame(frame):
    return frame.select(pl.col("item_id").alias("item"), "genre")


def test_clusters_find_disjoint_groups_and_are_seeded():
    # two groups of items never consumed together: two clusters are the two groups
    rng = np.random.default_rng(0)
    rows = []
    for u in range(60):
        group = np.arange(5) + (0 if u % 2 else 50)
        for t, i in enumerate(rng.choice(group, size=12)):
            rows.append((u, int(i), t))
    frame = pl.DataFrame(rows, schema=["user", "item", "time"], orient="row")
    a = build_token_map(frame, "cluster:2", seed=3)
    b = build_token_map(frame, "cluster:2", seed=3)
    assert a.table.equals(b.table)
    tok = as_dict(a)
    assert len({tok[i] for i in range(5)}) == 1 and len({tok[i] for i in range(50, 55)}) == 1
    assert tok[0] != tok[50]


def test_attribute_from_log_and_item_table(tmp_path):
    frame = small_log(3).with_columns((pl.col("item_id") % 4).alias("genre"))
    log = tmp_path / "log.parquet"
    frame.write_parquet(log)
    items = frame.select("item_id", "genre").unique().sort("item_id")
    table = tmp_path / "items.csv"
    items.write_csv(table)
    from_log = token_map_for_log(log, token_col="genre")
    from_table = token_map_for_log(log.with_suffix(".parquet"), token_col="genre", item_table=table)
    assert as_dict(from_log) == as_dict(from_table)
    assert from_log.n_tokens == 4
    apens, d = reference(frame.drop("genre"), as_dict(from_log))
    check_engine(measure(log, token_map=from_log), apens, d)


def test_bad_token_inputs_say_what_is_wrong(tmp_path):
    frame = small_log(4)
    log = tmp_path / "log.parquet"
    frame.write_parquet(log)
    with pytest.raises(DataError, match="popularity:K or cluster:K"):
        token_map_for_log(log, "genre:3")
    with pytest.raises(DataError, match="popularity:K or cluster:K"):
        token_map_for_log(log, "popularity:0")
    partial = frame.select("item_id").unique().head(3).with_columns(pl.lit("x").alias("genre"))
    partial.write_csv(tmp_path / "items.csv")
    with pytest.raises(DataError, match="items have no value"):
        token_map_for_log(log, token_col="genre", item_table=tmp_path / "items.csv")
    with pytest.raises(DataError, match="genre"):
        read_attribute(log, "genre")
    tm = build_token_map(_canonical(frame.head(10)), "popularity:2")
    with pytest.raises(DataError, match="does not cover"):
        measure(frame, token_map=tm)


def test_cli_popularity_on_bundled_log_repeats_and_names_the_map():
    res = CliRunner().invoke(
        main, ["apen", "data/ml-latest-small.parquet", "--tokens", "popularity:10", "--json"]
    )
    assert res.exit_code == 0, res.output
    import json

    summary = json.loads(res.stdout)[0]
    assert summary["token_map"].startswith("popularity:10 (")
    assert summary["repeat_users"] > 0 and summary["no_repeat_share"] < 1
    table = CliRunner().invoke(
        main, ["apen", "data/ml-latest-small.parquet", "--tokens", "popularity:10"]
    )
    assert table.exit_code == 0 and "item ids mapped to popularity:10" in table.output
    bad = CliRunner().invoke(main, ["apen", "data/ml-latest-small.parquet", "--tokens", "x"])
    assert bad.exit_code != 0 and "Traceback" not in bad.output
    assert not math.isnan(summary["d_prime"])
