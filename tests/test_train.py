"""perflaw.train: training samples, evaluation against plain references, the runs table's
torn-line and claim handling, argument checks (device, seeds, NaN ids), stopping rules."""

import json
import os
import socket
import subprocess
import sys
import warnings

import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner

from conftest import shifted_log

torch = pytest.importorskip(
    "torch", reason="perflaw sweep needs torch: pip install 'perflaw[train]'"
)

from perflaw import DataError  # noqa: E402
from perflaw.backbone_registry import BACKBONES  # noqa: E402
from perflaw.cli import main  # noqa: E402
from perflaw.train import RUNS_COLUMNS, TrainConfig, load_sequences, sweep  # noqa: E402
from perflaw.train import runs_table as rt  # noqa: E402
from perflaw.train.backbones import build  # noqa: E402
from perflaw.train.data import training_samples  # noqa: E402
from perflaw.train.evaluation import (  # noqa: E402
    Evaluator,
    popularity_metrics,
    rank_metrics,
    sample_negatives,
)
from perflaw.train.trainer import lr_factor  # noqa: E402

TINY = dict(
    max_steps=3, min_steps=0, eval_every=3, max_len=8, batch_size=64, threads=1, progress=False
)


@pytest.fixture(scope="module")
def log():
    return shifted_log(120)


# ------------------------------------------------------------------- training samples
def _targets_reference(seqs):
    return sorted((u, i) for u, s in enumerate(seqs) for i in range(1, len(s)))


@pytest.mark.parametrize("max_len", [1, 3, 5, 50])
def test_windows_make_every_prefix_a_target_once(max_len):
    rng = np.random.default_rng(max_len)
    seqs = [rng.integers(1, 9, n) for n in (1, 2, 3, 7, 12, 13)]
    x, y = training_samples(seqs, max_len, "windows")
    assert x.shape == y.shape and x.shape[1] == max_len
    assert ((y != 0) <= (x != 0)).all()  # no target from a padding input position
    # Every item after the first of every sequence is a target exactly once.
    got = sorted(y[y != 0].tolist())
    want = sorted(int(v) for s in seqs for v in s[1:])
    assert got == want
    # Each target's input is the item right before it in its sequence.
    assert (x[:, 1:][y[:, :-1] != 0] == y[:, :-1][y[:, :-1] != 0]).all() or max_len == 1


@pytest.mark.parametrize("max_len", [1, 3, 50])
def test_prefixes_match_a_plain_loop(max_len):
    rng = np.random.default_rng(0)
    seqs = [rng.integers(1, 9, n) for n in (1, 2, 5, 9)]
    x, y = training_samples(seqs, max_len, "prefixes")
    ref_x, ref_y = [], []
    for s in seqs:
        for i in range(1, len(s)):
            row = s[max(0, i - max_len) : i]
            ref_x.append(np.concatenate([np.zeros(max_len - len(row), int), row]))
            ref_y.append(s[i])
    assert x.tolist() == np.array(ref_x).tolist() and y.tolist() == ref_y
    assert (x[:, -1] != 0).all()  # never an all-padding input


def test_unknown_samples_kind():
    with pytest.raises(DataError, match="unknown training samples"):
        training_samples([np.array([1, 2])], 3, "both")


# -------------------------------------------------------------------------- evaluation
def _reference_ranks(scores, data, cut, mask_seen):
    out = []
    for i, s in enumerate(data.sequences):
        target, seen = s[-cut], set(s[:-cut].tolist())
        sc = scores[i].copy()
        pos = sc[target]
        cands = [
            j for j in range(1, data.n_items + 1) if j == target or not (mask_seen and j in seen)
        ]
        out.append(sum(sc[j] > pos for j in cands if j != target))
    return np.array(out)


@pytest.mark.parametrize("mask_seen", [True, False])
@pytest.mark.parametrize("split, cut", [("valid", 2), ("test", 1)])
def test_evaluator_ranks_match_a_plain_reference(log, mask_seen, split, cut):
    data = load_sequences(log)
    torch.manual_seed(0)
    model = build("sasrec", data.n_items, 8, 1, 6).eval()
    ev = Evaluator(data, split, 6, mask_seen=mask_seen)
    ranks = ev.ranks(model, "cpu", batch_size=17)  # batches that cut the history arrays
    with torch.no_grad():
        scores = model.scores(model(torch.as_tensor(ev.inputs))[:, -1]).numpy()
    assert ranks.tolist() == _reference_ranks(scores, data, cut, mask_seen).tolist()


@pytest.mark.parametrize("mask_seen", [True, False])
@pytest.mark.parametrize("split, cut", [("valid", 2), ("test", 1)])
def test_popularity_metrics_match_a_plain_reference(log, mask_seen, split, cut):
    data = load_sequences(log)
    counts = np.zeros(data.n_items + 1)
    for s in data.sequences:
        for item in s[:-2]:  # training parts only: validation and test targets left out
            counts[item] += 1
    ev = Evaluator(data, split, 6, mask_seen=mask_seen)
    expected = rank_metrics(
        _reference_ranks(np.tile(counts, (data.n_users, 1)), data, cut, mask_seen)
    )
    assert popularity_metrics(ev, data) == pytest.approx(expected)


def popular_target_log(users: int = 40):
    """Every user keeps coming back to item 0, which is also every validation target:
    ranking by popularity is perfect on validation (NDCG@10 = 1)."""
    rng = np.random.default_rng(0)
    rows = []
    for u in range(users):
        items = [0, *rng.integers(1, 30, 3).tolist(), 0, 0, int(rng.integers(1, 30))]
        rows += [(u, i, t) for t, i in enumerate(items)]
    return pd.DataFrame(rows, columns=["user_id", "item_id", "timestamp"])


def test_runs_no_better_than_popularity_are_named_in_a_warning(tmp_path):
    with pytest.warns(UserWarning, match=r"1 run\(s\) .* popularity, e\.g\. layers=1 d_emb=8"):
        runs = sweep(popular_target_log(), layers=[1], d_emb=[8], **TINY)
    assert runs.attrs["popularity_val_ndcg@10"] == {0: 1.0}
    path = tmp_path / "log.csv"
    popular_target_log().to_csv(path, index=False)
    args = ["sweep", str(path), "--layers", "1", "--d-emb", "8", "--max-steps", "3"]
    args += ["--min-steps", "0", "--eval-every", "3", "--max-len", "8", "--quiet", "--csv"]
    res = CliRunner().invoke(main, args)
    assert res.exit_code == 0
    assert "warning: 1 run(s) ended with a best validation NDCG@10 below 1.25x" in res.output


def test_a_run_that_learned_the_sequences_is_not_warned_about(log):
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # any warning fails the test
        runs = sweep(log, layers=[1], d_emb=[8], **{**TINY, "max_steps": 60, "lr": 1e-2})
    pop = runs.attrs["popularity_val_ndcg@10"][0]
    assert runs["val_ndcg@10"].iloc[0] > 1.25 * pop


def test_masking_only_raises_metrics(log):
    data = load_sequences(log)
    model = build("sasrec", data.n_items, 8, 1, 6).eval()
    masked = Evaluator(data, "test", 6, mask_seen=True).ranks(model, "cpu")
    unmasked = Evaluator(data, "test", 6, mask_seen=False).ranks(model, "cpu")
    assert (masked <= unmasked).all()


@pytest.mark.parametrize("sampling", ["uniform", "popularity"])
def test_sampled_negatives_are_unseen_and_not_the_target(log, sampling):
    data = load_sequences(log)
    ev = Evaluator(data, "test", 6, mask_seen=False, negatives=10, sampling=sampling, seed=3)
    assert ev.negatives.shape == (data.n_users, 10)
    for i, s in enumerate(data.sequences):
        assert not set(ev.negatives[i].tolist()) & set(s.tolist())
    assert (ev.negatives >= 1).all() and (ev.negatives <= data.n_items).all()


def test_popularity_sampling_prefers_popular_items():
    rng = np.random.default_rng(0)
    p = np.array([0.0, 100.0, 1.0, 1.0, 1.0])
    neg = sample_negatives(np.array([], dtype=np.int64), np.array([4] * 500), 4, 5, rng, p)
    assert (neg == 1).mean() > 0.9


def test_rank_metrics_reference():
    ranks = np.array([0, 1, 4, 9, 10, 49, 50])
    m = rank_metrics(ranks)
    assert m["hr@5"] == pytest.approx(3 / 7) and m["hr@10"] == pytest.approx(4 / 7)
    assert m["hr@50"] == pytest.approx(6 / 7)
    ref = sum(1 / np.log2(r + 2) for r in ranks if r < 10) / 7
    assert m["ndcg@10"] == pytest.approx(ref)


# ------------------------------------------------------------------------------ trainer
def test_lr_schedule():
    c = TrainConfig(warmup_steps=4, decay="none")
    assert [lr_factor(s, c) for s in range(6)] == [0.25, 0.5, 0.75, 1.0, 1.0, 1.0]
    assert lr_factor(0, TrainConfig()) == 1.0


def test_patience_in_steps_ends_a_run(log):
    runs = sweep(
        log,
        layers=[1],
        d_emb=[8],
        **{**TINY, "max_steps": 400, "eval_every": 1, "patience": 2, "lr": 1e-6},
    )
    r = runs.iloc[0]
    assert r["end"] == "patience" and r["steps"] - r["best_step"] == 2 and r["steps"] < 400
    assert len(r["val_curve"].split()) >= 2


def test_time_cap_ends_a_run(log):
    runs = sweep(
        log,
        layers=[1],
        d_emb=[8],
        **{**TINY, "max_steps": 100000, "eval_every": 1000, "max_seconds": 0.01},
    )
    assert runs.iloc[0]["end"] == "time"


def test_prefixes_and_warmup_train(log):
    runs = sweep(
        log, layers=[1], d_emb=[8], samples="prefixes", warmup_steps=2, decay="cosine", **TINY
    )
    assert np.isfinite(runs["ndcg@10"]).all()
    assert "samples=prefixes" in runs.iloc[0]["settings"]


@pytest.mark.parametrize(
    "kwargs, message",
    [
        (dict(samples="all"), "unknown training samples"),
        (dict(decay="step"), "unknown decay"),
        (dict(max_seconds=-1), "max_seconds"),
        (dict(min_steps=-1), "min_steps"),
        (dict(seeds=[-1]), "non-negative"),
        (dict(eval_sampling="zipf", eval_negatives=5), "unknown eval sampling"),
        (dict(device="quantum"), "not a device"),
    ],
)
def test_bad_training_arguments(log, kwargs, message):
    with pytest.raises(DataError, match=message):
        sweep(log, **{**dict(layers=[1], d_emb=[8]), **TINY, **kwargs})


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the no-CUDA message")
def test_cuda_without_cuda_is_one_line_error(tmp_path, log):
    path = tmp_path / "log.parquet"
    log.to_parquet(path)
    for device in ("cuda:99", "cuda", "quantum"):
        res = CliRunner().invoke(main, ["sweep", str(path), "--device", device])
        assert res.exit_code == 1, res.output
        assert "--device" in res.output and "Traceback" not in res.output
        assert len(res.output.strip().splitlines()) == 1


def test_cli_refuses_negative_seed(tmp_path, log):
    path = tmp_path / "log.parquet"
    log.to_parquet(path)
    res = CliRunner().invoke(main, ["sweep", str(path), "--seed", "0,-1"])
    assert res.exit_code == 2 and "non-negative" in res.output


def test_nan_item_ids_are_refused(tmp_path):
    df = pd.DataFrame(
        {"user_id": [1, 1, 1, 1], "item_id": [1.0, np.nan, 2.0, 3.0], "timestamp": [1, 2, 3, 4]}
    )
    with pytest.raises(DataError, match="item"):
        load_sequences(df)
    path = tmp_path / "nan.parquet"
    df.to_parquet(path)
    with pytest.raises(DataError, match="--drop-null-ids"):
        load_sequences(path)
    # the option the message names exists: the NaN row is dropped, the rest kept in order
    kept = load_sequences(path, drop_null_ids=True)
    assert kept.n_items == 3 and [s.tolist() for s in kept.sequences] == [[1, 2, 3]]
    assert "--drop-null-ids" in CliRunner().invoke(main, ["sweep", "--help"]).output


# --------------------------------------------------------------------------- runs table
def _row(**kw):
    row = {c: 0 for c in RUNS_COLUMNS}
    row.update(
        dataset="d",
        backbone="sasrec",
        layers=1,
        d_emb=8,
        data_fraction=1.0,
        max_len=8,
        seed=0,
        end="cap",
        eval="full-unmasked",
        objective="ce",
        settings="s",
        val_curve="0.1 0.2",
        device="cpu",
    )
    row.update(kw)
    return row


def test_torn_last_line_is_reported_and_set_aside(tmp_path):
    out = tmp_path / "runs.csv"
    rt.append_row(out, _row(layers=1))
    rt.append_row(out, _row(layers=2))
    with open(out, "a") as fh:  # a process killed in the middle of a write
        fh.write("d,sasrec,4,8,1.0,8,0,12")
    with pytest.warns(UserWarning, match="1 torn or malformed"):
        table = rt.read_runs_file(out)
    assert table["layers"].tolist() == [1, 2]
    # The next append starts on a new line, so the torn fragment stays on its own.
    rt.append_row(out, _row(layers=8))
    with pytest.warns(UserWarning):
        assert rt.read_runs_file(out)["layers"].tolist() == [1, 2, 8]
    assert rt.set_aside_bad_lines(out) == 1
    assert "d,sasrec,4,8,1.0,8,0,12" in (tmp_path / "runs.csv.rejected").read_text()
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert rt.read_runs_file(out)["layers"].tolist() == [1, 2, 8]


def test_sweep_resume_sets_torn_line_aside(log, tmp_path):
    out = tmp_path / "runs.csv"
    sweep(log, layers=[1], d_emb=[8], out=out, **TINY)
    with open(out, "a") as fh:
        fh.write("log,sasrec,2,8,1.0,8,0,99")
    with pytest.warns(UserWarning, match="set aside"):
        table = sweep(log, layers=[1, 2], d_emb=[8], out=out, **TINY)
    assert sorted(table["layers"].tolist()) == [1, 2]
    assert (tmp_path / "runs.csv.rejected").exists()


def test_claims_hold_host_pid_and_start_time(tmp_path):
    out = tmp_path / "runs.csv"
    key = ("d", "sasrec", 1, 8, 1.0, 8, 0)
    path = rt.claim(out, key)
    info = json.loads(path.read_text())
    assert info["host"] == socket.gethostname() and info["pid"] == os.getpid()
    assert info["start"] == rt.process_start(os.getpid())
    # A live process whose start time matches owns its claim ...
    parent = os.getppid()
    live = {"host": socket.gethostname(), "pid": parent, "start": rt.process_start(parent)}
    assert rt.owner_alive(json.dumps(live))
    # ... but the same pid with another start time is a reused pid: not the owner.
    assert not rt.owner_alive(json.dumps({**live, "start": "1"}))
    # Another host's claim cannot be checked: assumed live.
    assert rt.owner_alive(json.dumps({**live, "host": "elsewhere", "pid": 1}))
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    assert not rt.owner_alive(json.dumps({**live, "pid": dead.pid}))
    assert rt.owner_alive(str(parent))  # an old bare-pid claim


def test_reused_pid_claim_is_taken_over(log, tmp_path):
    out = tmp_path / "runs.csv"
    key = rt.key(
        dict(
            dataset="log",
            backbone="sasrec",
            layers=1,
            d_emb=8,
            data_fraction=1.0,
            max_len=8,
            seed=0,
        )
    )
    path = rt.claim_path(out, key)
    path.parent.mkdir(parents=True)
    parent = os.getppid()  # alive, but not the process that wrote this claim
    path.write_text(json.dumps({"host": socket.gethostname(), "pid": parent, "start": "7"}))
    table = sweep(log, layers=[1], d_emb=[8], out=out, **TINY)
    assert table["layers"].tolist() == [1] and not path.exists()


def test_configurations_trained_elsewhere_are_reported_and_exit_0(log, tmp_path):
    # A worker whose remaining configuration is being trained by a live process did its
    # share: it names the holder and its claim file and exits 0 (a job array must not
    # mark it failed).
    path = tmp_path / "log.parquet"
    log.to_parquet(path)
    out = tmp_path / "runs.csv"
    key = rt.key(
        dict(
            dataset="log",
            backbone="sasrec",
            layers=2,
            d_emb=8,
            data_fraction=1.0,
            max_len=8,
            seed=0,
        )
    )
    claim = rt.claim_path(out, key)
    claim.parent.mkdir(parents=True)
    parent = os.getppid()
    claim.write_text(
        json.dumps({"host": socket.gethostname(), "pid": parent, "start": rt.process_start(parent)})
    )
    with pytest.warns(UserWarning, match="1 of 2 configurations are not in the table yet"):
        table = sweep(log, layers=[1, 2], d_emb=[8], out=out, **TINY)
    assert table.attrs["not_run"] == []
    assert table.attrs["running_elsewhere"][0]["layers"] == 2
    args = [
        "sweep",
        str(path),
        "--layers",
        "1,2",
        "--d-emb",
        "8",
        "--max-steps",
        "3",
        "--min-steps",
        "0",
        "--eval-every",
        "3",
        "--max-len",
        "8",
        "--threads",
        "1",
        "--batch-size",
        "64",
        "--out",
        str(out),
        "--quiet",
        "--csv",
    ]
    res = CliRunner().invoke(main, args)
    assert res.exit_code == 0, (res.output, res.exception)
    assert "1 configuration(s) of the grid are being trained by other live processes" in (
        res.output
    )
    assert f"pid {parent} on this host" in res.output and str(claim) in res.output


def test_seed_means(log):
    runs = sweep(log, layers=[1], d_emb=[8], seeds=[0, 1], **TINY)
    means = rt.seed_means(runs)
    assert len(means) == 1 and means.iloc[0]["seeds"] == 2
    assert means.iloc[0]["ndcg@10"] == pytest.approx(runs["ndcg@10"].mean())


# ----------------------------------------------------------------------------- registry
def test_one_registry_for_training_and_counting():
    from perflaw.decide.params import ARCHITECTURES

    assert tuple(BACKBONES) == tuple(ARCHITECTURES)
    for name in BACKBONES:
        model = build(name, 11, 8, 1, 5)
        assert type(model).__name__ == BACKBONES[name].model


def test_fit_warns_about_runs_stopped_at_their_cap(tmp_path):
    from perflaw.runs import RunsTableWarning, read_runs

    table = pd.read_csv("data/ml-latest-small-sweep.csv")
    table["end"] = "patience"  # the bundled table has its own (few) runs on the cap
    table.loc[:2, "end"] = "cap"
    path = tmp_path / "runs.csv"
    table.to_csv(path, index=False)
    with pytest.warns(RunsTableWarning, match=r"3 of \d+ run"):
        read_runs(path, metric="ndcg@10")


def test_cli_reports_a_torn_line_in_one_warning_line(log, tmp_path):
    path = tmp_path / "log.parquet"
    log.to_parquet(path)
    out = tmp_path / "runs.csv"
    args = [
        "sweep",
        str(path),
        "--layers",
        "1",
        "--d-emb",
        "8",
        "--max-steps",
        "2",
        "--min-steps",
        "0",
        "--eval-every",
        "2",
        "--max-len",
        "8",
        "--threads",
        "1",
        "--out",
        str(out),
        "--quiet",
        "--csv",
    ]
    assert CliRunner().invoke(main, args).exit_code == 0
    with open(out, "a") as fh:
        fh.write("log,sasrec,2,8,1")
    res = CliRunner().invoke(main, args)
    assert res.exit_code == 0
    assert "warning:" in res.output and "set aside" in res.output


def test_bf16_autocast_path_runs_on_cpu_and_ranks_like_float32(log):
    """The CUDA path (bf16 autocast in training and evaluation) exercised on the CPU."""
    from perflaw.train.trainer import train_one

    data = load_sequences(log)
    cfg = TrainConfig(
        layers=1, d_emb=8, max_len=6, max_steps=3, min_steps=0, eval_every=3, batch_size=32
    )
    valid = Evaluator(data, "valid", 6, mask_seen=False)
    test = Evaluator(data, "test", 6, mask_seen=False)
    r = train_one(
        data, cfg, fraction=1.0, seed=0, valid=valid, test=test, device="cpu", autocast=True
    )
    assert r["end"] == "cap" and np.isfinite(r["ndcg@10"])
    torch.manual_seed(0)
    model = build("sasrec", data.n_items, 8, 1, 6).eval()
    exact = test.ranks(model, "cpu")
    mixed = test.ranks(model, "cpu", autocast=True)
    # Scores are float32 even under autocast, so ranks move only where bf16 hidden states
    # reorder near-equal items: never a systematic gain from ties.
    assert np.abs(mixed - exact).mean() < 2 and (mixed == exact).mean() > 0.5


def test_a_run_keeps_the_torch_threads_it_was_given(log):
    """D′ (numba, parallel) used to reset torch's CPU threads after the first run, so
    ``sweep --threads 1`` ran every later run on all cores."""
    from perflaw.train.trainer import train_one

    data = load_sequences(log)
    cfg = TrainConfig(layers=1, d_emb=8, max_len=6, max_steps=2, min_steps=0, eval_every=2)
    valid = Evaluator(data, "valid", 6, mask_seen=False)
    before = torch.get_num_threads()
    try:
        torch.set_num_threads(1)
        train_one(data, cfg, fraction=1.0, seed=0, valid=valid, test=valid, device="cpu")
        assert torch.get_num_threads() == 1
    finally:
        torch.set_num_threads(before)
