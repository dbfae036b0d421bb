"""Runs read from trackers (perflaw.sources): each filled by the tracker's own client,
then `perflaw fit SOURCE --metric ndcg@10` must give the law the same runs give as a CSV.

Every tracker test skips, saying why, when its extra is not installed."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner

from perflaw.cli import main
from perflaw.errors import DataError
from perflaw.runs import read_table
from perflaw.sources.columns import canonical_name, normalise_columns

BUNDLED = Path(__file__).resolve().parents[1] / "data" / "ml-latest-small-sweep.csv"
RECBOLE_LOG = Path(__file__).resolve().parent / "data" / "recbole-1.2.1-SASRec.log"


@pytest.fixture(scope="module")
def runs() -> pd.DataFrame:
    """48 runs of the bundled sweep (all data, 16 shapes x 3 seeds)."""
    frame = pd.read_csv(BUNDLED)
    frame = frame[frame["data_fraction"] == 1].reset_index(drop=True)
    return frame[["layers", "d_emb", "seed", "ndcg@10", "hr@10"]]


def fit_json(source: str, *args: str) -> dict:
    res = CliRunner().invoke(
        main, ["fit", source, "--metric", "ndcg@10", "--json", "--no-save", *args]
    )
    assert res.exit_code == 0, res.output
    return json.loads(res.stdout)


def csv_law(frame: pd.DataFrame, tmp_path: Path) -> dict:
    path = tmp_path / "same-runs.csv"
    frame.to_csv(path, index=False)
    return fit_json(str(path))


def assert_same_law(got: dict, want: dict, rtol: float = 1e-9) -> None:
    assert got["n_points"] == want["n_points"]
    assert got["form"] == want["form"] and got["law"] == want["law"]
    assert got["params"].keys() == want["params"].keys()
    for k, v in want["params"].items():
        assert got["params"][k] == pytest.approx(v, rel=rtol, abs=1e-12), k
    assert got["noise_sd"] == pytest.approx(want["noise_sd"], rel=rtol)


# ----------------------------------------------------------------- the column normaliser


@pytest.mark.parametrize(
    ("name", "full", "want"),
    [
        ("params.n_layers", True, "layers"),
        ("params_num_blocks", True, "layers"),
        ("num_layers", True, "layers"),
        ("hidden_size", True, "d_emb"),
        ("embedding_size", True, "d_emb"),
        ("params.seed", True, "seed"),
        ("random_seed", False, "seed"),  # a seed is never lost, even in a user's table
        ("test/ndcg@10", True, "ndcg@10"),
        ("metrics.NDCG@10", False, "NDCG@10"),
        ("metrics.ndcg_at_10", True, "ndcg@10"),
        ("user_attrs_hr@10", True, "hr@10"),
        ("valid/ndcg@10", True, "val_ndcg@10"),
        ("eval/NDCG@10", False, "val_NDCG@10"),
        ("test_ndcg_at_5", False, "test_ndcg_at_5"),  # a user's own name stays
        ("params_total", False, "params_total"),  # perflaw's own column stays
        ("val_ndcg@10", True, "val_ndcg@10"),
    ],
)
def test_canonical_names(name, full, want):
    assert canonical_name(name, full=full) == want


def test_normaliser_never_overwrites_a_column():
    frame = pd.DataFrame({"ndcg@10": [1.0], "test/ndcg@10": [2.0], "params.n_layers": [3]})
    out, mapped = normalise_columns(frame, full=True)
    assert mapped == {"params.n_layers": "layers"}
    assert out["ndcg@10"].tolist() == [1.0] and out["test/ndcg@10"].tolist() == [2.0]


def test_csv_with_tracker_names_fits_like_the_plain_csv(runs, tmp_path):
    """An MLflow-shaped export (the issue's example): no flags needed, the seed kept."""
    want = csv_law(runs, tmp_path)
    exported = runs.rename(
        columns={
            "layers": "params.num_blocks",
            "d_emb": "params.hidden_size",
            "seed": "params.seed",
            "ndcg@10": "metrics.ndcg@10",
            "hr@10": "metrics.hr@10",
        }
    )
    path = tmp_path / "export.csv"
    exported.to_csv(path, index=False)
    res = CliRunner().invoke(
        main, ["fit", str(path), "--metric", "ndcg@10", "--json", "--no-save"]
    )
    assert res.exit_code == 0, res.output
    assert "mapped params.num_blocks -> layers" in res.stderr
    assert "params.seed -> seed" in res.stderr
    assert_same_law(json.loads(res.stdout), want)
    # the old spelling given to an option still finds the column
    got = fit_json(str(path), "--layers-col", "params.num_blocks")
    assert_same_law(got, want)


def test_unknown_scheme_and_missing_target_are_one_line_errors(tmp_path):
    res = CliRunner().invoke(main, ["fit", "recbole:" + str(tmp_path / "nope"), "-m", "ndcg@10"])
    assert res.exit_code != 0 and "neither a RecBole log file" in res.output
    assert "Traceback" not in res.output


# ----------------------------------------------------------------------------- RecBole


RECBOLE_TEMPLATE = """\
{date} INFO  ['run_recbole.py', '--model=SASRec', '--dataset=ml-latest-small']
{date} INFO  
General Hyper Parameters:
gpu_id = 0
use_gpu = True
seed = {seed}
state = INFO
reproducibility = True
data_path = dataset/ml-latest-small
checkpoint_dir = saved
show_progress = False
save_dataset = False
dataset_save_path = None
save_dataloaders = False
dataloaders_save_path = None
log_wandb = False

Training Hyper Parameters:
epochs = 300
train_batch_size = 2048
learner = adam
learning_rate = 0.001
train_neg_sample_args = None
eval_step = 1
stopping_step = 10
clip_grad_norm = None
weight_decay = 0.0
loss_decimal_place = 4

Evaluation Hyper Parameters:
eval_args = {{'split': {{'LS': 'valid_and_test'}}, 'order': 'TO', 'group_by': 'user', 'mode': {{'valid': 'full', 'test': 'full'}}}}
repeatable = True
metrics = ['Recall', 'MRR', 'NDCG', 'Hit', 'Precision']
topk = [10]
valid_metric = NDCG@10
valid_metric_bigger = True
eval_batch_size = 4096
metric_decimal_place = 4

Dataset Hyper Parameters:
field_separator = \t
seq_separator =  
USER_ID_FIELD = user_id
ITEM_ID_FIELD = item_id
RATING_FIELD = rating
TIME_FIELD = timestamp
seq_len = None
MAX_ITEM_LIST_LENGTH = 50

Other Hyper Parameters: 
worker = 0
wandb_project = recbole
shuffle = True
require_pow = False
enable_amp = False
enable_scaler = False
transform = None
n_layers = {layers}
n_heads = 1
hidden_size = {d_emb}
inner_size = {inner}
hidden_dropout_prob = 0.2
attn_dropout_prob = 0.2
hidden_act = gelu
layer_norm_eps = 1e-12
initializer_range = 0.02
loss_type = CE
numerical_features = []
discretization = None
kg_reverse_r = False
entity_kg_num_interval = [0,inf)
relation_kg_num_interval = [0,inf)
MODEL_TYPE = ModelType.SEQUENTIAL
MODEL_INPUT_TYPE = InputType.POINTWISE
eval_type = EvaluatorType.RANKING
single_spec = True
local_rank = 0
device = cpu
valid_neg_sample_args = {{'distribution': 'uniform', 'sample_num': 'none'}}
test_neg_sample_args = {{'distribution': 'uniform', 'sample_num': 'none'}}


{date} INFO  ml-latest-small
The number of users: 611
Average actions of users: 165.30491803278687
The number of items: 9725
Average actions of items: 10.369806663924312
The number of inters: 100836
The sparsity of the dataset: 98.30102244444352%
Remain Fields: ['user_id', 'item_id', 'rating', 'timestamp']
{date} INFO  [Training]: train_batch_size = [2048] train_neg_sample_args: [{{'distribution': 'none', 'sample_num': 'none', 'alpha': 'none', 'dynamic': False, 'candidate_num': 0}}]
{date} INFO  [Evaluation]: eval_batch_size = [4096] eval_args: [{{'split': {{'LS': 'valid_and_test'}}, 'order': 'TO', 'group_by': 'user', 'mode': {{'valid': 'full', 'test': 'full'}}}}]
{date} INFO  SASRec(
  (item_embedding): Embedding(9725, {d_emb}, padding_idx=0)
)
Trainable parameters: 123456
{date} INFO  FLOPs: 1234.0
{date} INFO  epoch 0 training [time: 1.05s, train loss: 8765.4321]
{date} INFO  epoch 0 evaluating [time: 0.10s, valid_score: 0.012300]
{date} INFO  valid result: 
recall@10 : 0.0461    mrr@10 : 0.0086    ndcg@10 : 0.0123    hit@10 : 0.0461    precision@10 : 0.0046
{date} INFO  Saving current: saved/SASRec-Dec-07-2026_10-00-00.pth
{date} INFO  The running environment of this training is as follows:
+-------------+----------------+
| Environment |     Usage      |
+=============+================+
| CPU         |     5.10 %     |
+-------------+----------------+
{date} INFO  best valid : {valid}
{date} INFO  test result: {test}
"""


def _ordered(metrics: dict) -> str:
    # the repr RecBole's results print with, on this Python (3.12 changed OrderedDict's)
    from collections import OrderedDict

    return repr(OrderedDict(metrics))


def write_recbole_log(folder: Path, row, i: int, style: str = "auto") -> Path:
    test = {
        "recall@10": round(float(row["hr@10"]), 4),
        "mrr@10": 0.01,
        "ndcg@10": round(float(row["ndcg@10"]), 4),
        "hit@10": round(float(row["hr@10"]), 4),
        "precision@10": 0.005,
    }
    valid = {k: round(v * 1.1, 4) for k, v in test.items()}
    if style == "py311":
        text_t = "OrderedDict([" + ", ".join(f"({k!r}, {v!r})" for k, v in test.items()) + "])"
        text_v = "OrderedDict([" + ", ".join(f"({k!r}, {v!r})" for k, v in valid.items()) + "])"
    elif style == "numpy2":
        text_t = "OrderedDict({" + ", ".join(f"{k!r}: np.float64({v!r})" for k, v in test.items()) + "})"
        text_v = _ordered(valid)
    else:
        text_t, text_v = _ordered(test), _ordered(valid)
    stamp = f"Dec-07-2026_10-{i // 60:02d}-{i % 60:02d}"
    path = folder / "SASRec" / f"SASRec-ml-latest-small-{stamp}-{i:06x}.log"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(
        RECBOLE_TEMPLATE.format(
            date="Mon 07 Dec 2026 10:00:00",
            seed=int(row["seed"]),
            layers=int(row["layers"]),
            d_emb=int(row["d_emb"]),
            inner=4 * int(row["d_emb"]),
            valid=text_v,
            test=text_t,
        )
    )
    return path


def test_recbole_logs_fit_like_the_csv(runs, tmp_path):
    logs = tmp_path / "log"
    styles = ("auto", "py311", "numpy2")
    for i, row in runs.iterrows():
        write_recbole_log(logs, row, int(i), style=styles[int(i) % 3])
    unfinished = write_recbole_log(logs, runs.iloc[0], 999)
    unfinished.write_text(unfinished.read_text().split("INFO  best valid")[0])
    rounded = runs.assign(**{c: runs[c].round(4) for c in ("ndcg@10", "hr@10")})
    want = csv_law(rounded, tmp_path)
    assert_same_law(fit_json(f"recbole:{logs}"), want)
    with warnings.catch_warnings(record=True):
        warnings.simplefilter("always")
        table = read_table(f"recbole:{logs}")
    assert len(table) == len(runs)  # the unfinished run is left out
    assert {"layers", "d_emb", "seed", "ndcg@10", "val_ndcg@10", "hit@10"} <= set(table.columns)
    assert set(table["model"]) == {"SASRec"} and set(table["dataset"]) == {"ml-latest-small"}


def test_recbole_bundled_log_sample():
    """A log in RecBole 1.2.1's format kept as a file (see its header for the source)."""
    with warnings.catch_warnings(record=True):
        warnings.simplefilter("always")
        table = read_table(f"recbole:{RECBOLE_LOG}")
    row = table.iloc[0]
    assert row["layers"] == 2 and row["d_emb"] == 64 and row["seed"] == 2020
    assert row["ndcg@10"] == pytest.approx(0.0321) and row["val_ndcg@10"] == pytest.approx(0.0402)
    assert row["hit@10"] == pytest.approx(0.0656)
