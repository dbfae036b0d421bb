"""Reading runs tables: formats, column detection, groups, D′, errors."""

import json
import re
import warnings

import numpy as np
import pandas as pd
import pytest

from perflaw import DataError
from perflaw.replicates import average_replicates
from perflaw.runs import (
    RunsTableWarning,
    apen_dprime,
    metric_columns,
    read_runs,
    runs_from_frame,
)


@pytest.fixture
def frame():
    return pd.DataFrame(
        {
            "dataset": ["a", "a", "b", "b"],
            "num_blocks": [2, 4, 2, 4],
            "hidden_size": [32, 32, 64, 64],
            "HR@10": [0.1, 0.2, 0.15, 0.25],
            "eval_loss": [3.0, 2.9, 2.8, 2.7],
        }
    )


@pytest.mark.parametrize("suffix", ["csv", "tsv", "parquet", "json", "jsonl"])
def test_formats(tmp_path, frame, suffix):
    path = tmp_path / f"runs.{suffix}"
    if suffix == "csv":
        frame.to_csv(path, index=False)
    elif suffix == "tsv":
        frame.to_csv(path, sep="\t", index=False)
    elif suffix == "parquet":
        frame.to_parquet(path)
    elif suffix == "json":
        path.write_text(frame.to_json(orient="records"))
    else:
        frame.to_json(path, orient="records", lines=True)
    runs = read_runs(path, metric="hr@10")
    assert runs.metric == "HR@10"
    np.testing.assert_allclose(runs.X.layers, [2, 4, 2, 4])
    np.testing.assert_allclose(runs.X.d_emb, [32, 32, 64, 64])
    np.testing.assert_allclose(runs.y, frame["HR@10"])


def test_metric_detection_and_loss(frame):
    assert metric_columns(frame.columns) == ["HR@10", "eval_loss"]
    assert runs_from_frame(frame, metric="EVAL_LOSS").y.tolist() == [3.0, 2.9, 2.8, 2.7]
    with pytest.raises(DataError, match="metric 'ndcg@10' not found .* HR@10, eval_loss"):
        runs_from_frame(frame, metric="ndcg@10")


def test_explicit_columns_and_errors(frame):
    f = frame.rename(columns={"num_blocks": "stack", "hidden_size": "width"})
    with pytest.raises(DataError, match="no layers column .* --layers-col"):
        runs_from_frame(f, metric="hr@10")
    runs = runs_from_frame(f, metric="hr@10", layers_col="STACK", d_emb_col="width")
    assert runs.X.layers.tolist() == [2, 4, 2, 4]
    with pytest.raises(DataError, match="layers column 'depthx' not found"):
        runs_from_frame(f, metric="hr@10", layers_col="depthx")


def test_non_numeric_and_missing_values(frame):
    bad = frame.astype({"num_blocks": object})
    bad.loc[2, "num_blocks"] = "four"
    with pytest.raises(
        DataError, match="layers column 'num_blocks' has a non-numeric value 'four' .row 3."
    ):
        runs_from_frame(bad, metric="hr@10")
    nan = frame.copy()
    nan.loc[1, "HR@10"] = np.nan
    with pytest.raises(DataError, match="metric column 'HR@10' has 1 missing value.*rows 2"):
        runs_from_frame(nan, metric="hr@10")
    zero = frame.copy()
    zero.loc[0, "hidden_size"] = 0
    with pytest.raises(DataError, match="must be positive"):
        runs_from_frame(zero, metric="hr@10")


def test_groups_and_where(frame):
    runs = runs_from_frame(frame, metric="hr@10", group_by="dataset")
    groups = list(runs.groups())
    assert [k for k, _ in groups] == [{"dataset": "a"}, {"dataset": "b"}]
    assert groups[1][1].y.tolist() == [0.15, 0.25]
    assert runs.group_labels().tolist() == ["dataset=a"] * 2 + ["dataset=b"] * 2
    assert len(runs_from_frame(frame, metric="hr@10", where="num_blocks>=4").y) == 2
    with pytest.raises(DataError, match="group column 'panel' not found"):
        runs_from_frame(frame, metric="hr@10", group_by="panel")


def test_dprime_from_column_and_apen_json(tmp_path, frame):
    f = frame.assign(d_prime=[1e5, 1e5, 2e5, 2e5])
    runs = runs_from_frame(f, metric="hr@10", d_prime_col="d_prime")
    assert runs.X.d_prime.tolist() == [1e5, 1e5, 2e5, 2e5]
    apen = tmp_path / "apen.json"
    apen.write_text(
        json.dumps(
            [
                {"file": "logs/a.parquet", "d_prime": 123.0, "apen_mean": 0.1},
                {"file": "b.csv", "d_prime": 456.0},
            ]
        )
    )
    assert apen_dprime(apen) == {"a": 123.0, "b": 456.0}
    runs = runs_from_frame(frame, metric="hr@10", apen_json=apen)
    assert runs.X.d_prime.tolist() == [123.0, 123.0, 456.0, 456.0]
    apen.write_text(json.dumps([{"file": "a.parquet", "d_prime": 1.0}]))
    with pytest.raises(DataError, match="no D′ .* for dataset.s. b"):
        runs_from_frame(frame, metric="hr@10", apen_json=apen)


def test_missing_and_unreadable_files(tmp_path):
    with pytest.raises(DataError, match="runs table .*nope.csv' not found"):
        read_runs(tmp_path / "nope.csv", metric="hr@10")
    empty = tmp_path / "empty.csv"
    empty.write_text("layers,d_emb,hr@10\n")
    with pytest.raises(DataError, match="has no rows"):
        read_runs(empty, metric="hr@10")
    broken = tmp_path / "broken.parquet"
    broken.write_text("not parquet")
    with pytest.raises(DataError, match="cannot read runs table"):
        read_runs(broken, metric="hr@10")


# --- boundary validation (issue 11) -----------------------------------------------------


def _grid(n_layers=(2, 4, 8), d=(32, 64)):
    rows = [
        {"layers": L, "d_emb": e, "ndcg@10": 0.1 + 0.01 * np.log(L) + 0.001 * e / 8}
        for L in n_layers
        for e in d
    ]
    return pd.DataFrame(rows)


def test_exactly_repeated_runs_are_counted_once_with_a_warning():
    frame = _grid()
    doubled = pd.concat([frame, frame], ignore_index=True)
    with pytest.warns(
        RunsTableWarning,
        match=r"6 run\(s\) repeat an earlier row exactly "
        r"\(rows 7, 8, 9, 10, 11, …\).*6 runs, not 12",
    ):
        runs = runs_from_frame(doubled, metric="ndcg@10")
    assert len(runs.y) == 6
    np.testing.assert_allclose(runs.y, frame["ndcg@10"])


def test_replicates_with_another_metric_value_are_kept():
    frame = _grid()
    other = frame.assign(**{"ndcg@10": frame["ndcg@10"] + 0.001})
    import warnings as w

    with w.catch_warnings():
        w.simplefilter("error")
        runs = runs_from_frame(pd.concat([frame, other]), metric="ndcg@10")
    assert len(runs.y) == 12


@pytest.mark.parametrize("noise", [0.0, 1e-17])
def test_constant_metric_is_refused(noise):
    frame = _grid()
    frame["ndcg@10"] = 0.1 + noise * np.arange(len(frame))
    with pytest.raises(DataError, match="metric 'ndcg@10' is constant"):
        runs_from_frame(frame, metric="ndcg@10")


def test_constant_metric_inside_one_group_is_refused():
    a = _grid().assign(dataset="a")
    b = _grid().assign(dataset="b", **{"ndcg@10": 0.2})
    with pytest.raises(DataError, match="constant in group dataset=b"):
        runs_from_frame(pd.concat([a, b]), metric="ndcg@10", group_by="dataset")


@pytest.mark.parametrize(
    "col, value, match",
    [
        ("layers", 1e18, "layers column 'layers' has 1e\\+18 \\(row 1\\), beyond"),
        ("d_emb", 1e12, "embedding-dimension column 'd_emb' has 1e\\+12"),
    ],
)
def test_implausible_sizes_are_refused(col, value, match):
    frame = _grid()
    frame[col] = frame[col].astype(float)
    frame.loc[0, col] = value
    with pytest.raises(DataError, match=match):
        runs_from_frame(frame, metric="ndcg@10")


@pytest.mark.parametrize(
    "where",
    ["layers>=-", "layers>=1.2.3", "layers>=1e", "layers>=+", "layers>=", ">=3", "layers>=3 &"],
)
def test_malformed_where_is_one_line(where):
    with pytest.raises(DataError, match="cannot parse condition") as info:
        runs_from_frame(_grid(), metric="ndcg@10", where=where)
    assert "\n" not in str(info.value)


def test_where_accepts_signed_and_exponent_numbers():
    runs = runs_from_frame(_grid(), metric="ndcg@10", where="layers >= 3e0 & d_emb > -1")
    assert sorted(set(runs.X.layers)) == [4, 8]


def test_csv_with_utf8_bom_reads_its_first_column(tmp_path):
    path = tmp_path / "runs.csv"
    path.write_bytes(b"\xef\xbb\xbf" + _grid().to_csv(index=False).encode())
    runs = read_runs(path, metric="ndcg@10")
    assert len(runs.y) == 6


def test_utf16_runs_table_names_the_encoding(tmp_path):
    path = tmp_path / "runs.csv"
    path.write_bytes(_grid().to_csv(index=False).encode("utf-16"))
    with pytest.raises(DataError, match="UTF-16") as info:
        read_runs(path, metric="ndcg@10")
    assert str(path) in str(info.value)


def test_runs_table_folder_is_refused(tmp_path):
    with pytest.raises(DataError, match="is a folder"):
        read_runs(tmp_path, metric="ndcg@10")


def test_runs_kept_from_before_min_steps_are_flagged_as_early_peaks(tmp_path):
    settings = "patience=500 min_steps=500 max_steps=5000"
    frame = pd.DataFrame(
        {
            "layers": [1, 2, 4, 8, 16],
            "d_emb": [16] * 5,
            "ndcg@10": [0.01, 0.02, 0.03, 0.04, 0.05],
            "end": ["patience", "patience", "cap", "patience", "patience"],
            "best_step": [100, 800, 100, 499, 100],
            "settings": [settings] * 4 + ["patience=500"],  # the last: min_steps unknown
        }
    )
    path = tmp_path / "runs.csv"
    frame.to_csv(path, index=False)
    with pytest.warns(RunsTableWarning, match=r"2 of 5 run\(s\) ended on patience .* early peak"):
        read_runs(path, metric="ndcg@10")
    # the hint it gives fits without them
    with pytest.warns(RunsTableWarning, match="early peak") as caught:
        read_runs(path, metric="ndcg@10")
    hint = re.search(r"--where '([^']+)' fits without them", str(caught[-1].message))
    assert hint and hint.group(1) == "best_step>=500"
    with warnings.catch_warnings(record=True) as after:
        warnings.simplefilter("always")
        kept = read_runs(path, metric="ndcg@10", where=hint.group(1))
    assert kept.X["layers"].tolist() == [2]  # the 800-step run; the cap run is dropped too
    assert not [w for w in after if "early peak" in str(w.message)]
    frame.drop(columns="settings").to_csv(path, index=False)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        read_runs(path, metric="ndcg@10")
    assert [str(w.message) for w in caught if "early peak" in str(w.message)] == []
    assert any("step cap" in str(w.message) for w in caught)  # the cap run still counts


def test_two_seeds_with_the_same_score_are_two_runs_and_still_averaged():
    # HR@K counts hits, so two seeds can tie exactly (amazon-beauty 1 x 96: seeds 0 and 1
    # both read 0.080490); they were taken for one run recorded twice, and the seed
    # column then no longer matched the rows, so no replicate was averaged at all
    frame = _grid().assign(seed=0)
    tie = frame.assign(seed=1)
    other = frame.assign(seed=2, **{"ndcg@10": frame["ndcg@10"] + 0.003})
    import warnings as w

    with w.catch_warnings():
        w.simplefilter("error")
        runs = runs_from_frame(pd.concat([frame, tie, other]), metric="ndcg@10")
    assert len(runs.y) == 18 and sorted(set(runs.seeds)) == [0, 1, 2]
    means, noise, n_rep = average_replicates(runs, runs.seeds)
    assert len(means.y) == 6 and n_rep == 6
    np.testing.assert_allclose(means.y, frame["ndcg@10"] + 0.001)
    assert noise == pytest.approx(np.sqrt(6 * (2 * 0.001**2 + 0.002**2) / 12))
    # a row repeated with its seed is still one run recorded twice; the seeds stay aligned
    with pytest.warns(RunsTableWarning, match="repeat an earlier row exactly"):
        runs = runs_from_frame(pd.concat([frame, tie, tie, other]), metric="ndcg@10")
    assert len(runs.y) == len(runs.seeds) == 18
    assert average_replicates(runs, runs.seeds)[2] == 6
    with pytest.raises(ValueError, match="seeds for"):
        average_replicates(runs, runs.seeds[:-1])
