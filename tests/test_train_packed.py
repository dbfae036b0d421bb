"""perflaw.train.packed: K runs of one shape trained as one vmapped stack reproduce the
separate runs (dropout 0), each with its own stopping; ``sweep(pack=K)`` and ``--pack``."""

import json
import os
import socket
import sys

import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner

from conftest import shifted_log

torch = pytest.importorskip(
    "torch", reason="perflaw sweep needs torch: pip install 'perflaw[train]'"
)

from perflaw import DataError  # noqa: E402
from perflaw.cli import main  # noqa: E402
from perflaw.train import TrainConfig, load_sequences, sweep  # noqa: E402
from perflaw.train import runs_table as rt  # noqa: E402
from perflaw.train.evaluation import Evaluator  # noqa: E402
from perflaw.train.packed import train_packed  # noqa: E402
from perflaw.train.trainer import train_one  # noqa: E402

TINY = dict(
    max_steps=6,
    min_steps=0,
    eval_every=2,
    patience=2,
    max_len=8,
    batch_size=64,
    dropout=0.0,
    threads=1,
    progress=False,
)
KEY = ["backbone", "layers", "d_emb", "data_fraction", "seed"]


@pytest.fixture(scope="module")
def log():
    return shifted_log(120)


@pytest.fixture(scope="module")
def data(log):
    torch.set_num_threads(1)
    return load_sequences(log)


def _evaluators(data, max_len=8):
    return (
        Evaluator(data, "valid", max_len, mask_seen=False),
        Evaluator(data, "test", max_len, mask_seen=False),
    )


def _same_runs(separate, packed):
    assert len(separate) == len(packed)
    for a, b in zip(separate, packed):
        assert set(a) == set(b)
        for name in a:
            if name == "seconds":
                continue
            if isinstance(a[name], float):
                assert b[name] == pytest.approx(a[name], rel=1e-6, abs=1e-9), name
            else:
                assert b[name] == a[name], name


def _compare(data, config, runs, **kwargs):
    valid, test = _evaluators(data, config.max_len)
    separate = [
        train_one(data, config, fraction=f, seed=s, valid=valid, test=test, device="cpu", **kwargs)
        for f, s in runs
    ]
    packed = train_packed(data, config, runs, valid=valid, test=test, device="cpu", **kwargs)
    _same_runs(separate, packed)
    return separate, packed


@pytest.mark.parametrize(
    "backbone, samples",
    [("sasrec", "windows"), ("sasrec", "prefixes"), ("llama", "windows"), ("hstu", "windows")],
)
def test_packed_seeds_equal_separate_runs(data, backbone, samples):
    """The correctness reference: with dropout 0, K=3 seeds packed = 3 train_one runs."""
    config = TrainConfig(
        backbone=backbone,
        layers=2,
        d_emb=8,
        heads=2,
        max_len=8,
        dropout=0.0,
        batch_size=64,
        max_steps=8,
        min_steps=0,
        eval_every=2,
        samples=samples,
        lr=3e-3,
    )
    separate, _ = _compare(data, config, [(1.0, 0), (1.0, 1), (1.0, 2)])
    # The seeds really made three different runs (a pack of copies would pass trivially).
    assert len({r["val_curve"] for r in separate}) == 3


def test_packed_fractions_with_short_last_batches(data):
    """Different fractions: other sample counts, so epochs end at other steps and short
    last batches are padded; each run keeps its own users, batch order and epochs."""
    config = TrainConfig(
        layers=1,
        d_emb=8,
        max_len=8,
        dropout=0.0,
        batch_size=48,
        max_steps=10,
        min_steps=0,
        eval_every=5,
        lr=3e-3,
    )
    separate, _ = _compare(data, config, [(1.0, 0), (0.3, 0), (0.55, 1)])
    assert len({r["train_tokens"] for r in separate}) == 3
    assert len({r["epochs"] for r in separate}) == 3


def test_packed_early_stopping_is_per_run(data):
    """Runs that end early (patience) leave the stack; the others go on unchanged, and
    every run's end, steps and best step equal its unpacked run's."""
    config = TrainConfig(
        layers=2,
        d_emb=8,
        heads=2,
        max_len=8,
        dropout=0.0,
        batch_size=64,
        max_steps=12,
        min_steps=0,
        eval_every=2,
        patience=4,
        lr=3e-3,
    )
    separate, packed = _compare(data, config, [(1.0, 0), (0.5, 1), (0.3, 2)])
    assert [r["end"] for r in packed] == ["patience", "patience", "cap"]
    assert len({r["steps"] for r in packed}) == 2


def test_packed_reports_each_run_as_it_ends(data):
    config = TrainConfig(
        layers=1, d_emb=8, max_len=8, dropout=0.0, max_steps=4, min_steps=0, eval_every=2
    )
    valid, test = _evaluators(data)
    seen = []
    out = train_packed(
        data,
        config,
        [(1.0, 0), (0.5, 1)],
        valid=[valid, valid],
        test=test,
        device="cpu",
        on_done=lambda i, r: seen.append((i, r["steps"])),
        also={"again": test},
    )
    assert sorted(seen) == [(0, 4), (1, 4)]
    assert out[0]["also"]["again"] == {k: out[0][k] for k in out[0]["also"]["again"]}


@pytest.mark.parametrize("loss", ["ce", "bce"])
def test_packed_autocast_and_dropout_run_on_cpu(data, loss):
    """The CUDA path (bf16 autocast) with dropout and both losses, exercised on the CPU."""
    config = TrainConfig(
        backbone="llama", layers=1, d_emb=8, max_len=8, max_steps=3, min_steps=0, eval_every=3
    )
    config = TrainConfig(**{**config.as_dict(), "loss": loss, "dropout": 0.2})
    valid, test = _evaluators(data)
    out = train_packed(
        data, config, [(1.0, 0), (1.0, 1)], valid=valid, test=test, device="cpu", autocast=True
    )
    assert [r["end"] for r in out] == ["cap", "cap"]
    assert all(np.isfinite(r["ndcg@10"]) for r in out)
    assert out[0]["val_curve"] != out[1]["val_curve"]


@pytest.mark.parametrize(
    "runs, kwargs, message",
    [
        ([], {}, "at least one"),
        ([(1.0, -1)], {}, "non-negative"),
        ([(0.0, 0)], {}, r"in \(0, 1\]"),
        ([1.0], {}, r"\(fraction, seed\)"),
        ([(1.0, 0), (1.0, 1)], {"valid": "three"}, "one per run"),
        ([(1.0, 0), (1.0, 1)], {"labels": ["a"]}, "must name the 2 runs"),
    ],
)
def test_packed_bad_arguments(data, runs, kwargs, message):
    valid, test = _evaluators(data)
    with pytest.raises(DataError, match=message):
        train_packed(data, TrainConfig(), runs, **{"valid": valid, "test": test, **kwargs})


# ------------------------------------------------------------------------------ sweep
def test_sweep_pack_gives_the_rows_of_pack_1_and_resumes(log, tmp_path, monkeypatch):
    grid = dict(layers=[1, 2], d_emb=[8], data_fraction=[0.5, 1], seeds=[0, 1, 2])
    one = sweep(log, out=tmp_path / "one.csv", **grid, **TINY)
    out = tmp_path / "packed.csv"
    packed = sweep(log, out=out, pack=4, **grid, **TINY)
    assert len(one) == len(packed) == 12
    cols = [c for c in one.columns if c != "seconds"]
    a = one[cols].sort_values(KEY).reset_index(drop=True)
    b = pd.read_csv(out)[cols].sort_values(KEY).reset_index(drop=True)
    pd.testing.assert_frame_equal(a, b, check_exact=False, rtol=1e-6)
    assert not (tmp_path / "packed.csv.running").exists() or not any(
        (tmp_path / "packed.csv.running").iterdir()
    )

    mod = sys.modules["perflaw.train.sweep"]
    calls = []
    real_packed, real_one = mod.train_packed, mod.train_one

    def counting_packed(data, config, runs, **kwargs):
        calls.append(("packed", config.layers, len(runs)))
        return real_packed(data, config, runs, **kwargs)

    def counting_one(data, config, **kwargs):
        calls.append(("one", config.layers, 1))
        return real_one(data, config, **kwargs)

    monkeypatch.setattr(mod, "train_packed", counting_packed)
    monkeypatch.setattr(mod, "train_one", counting_one)
    again = sweep(log, out=out, pack=4, **grid, **TINY)
    assert calls == [] and len(again) == 12
    # A grown grid runs only the new configurations: 3 of one shape = a pack of 2 + 1 alone.
    grown = sweep(
        log, out=out, pack=2, **{**grid, "layers": [1, 2, 3], "data_fraction": [1]}, **TINY
    )
    assert calls == [("packed", 3, 2), ("one", 3, 1)]
    assert len(grown) == 15 and len(pd.read_csv(out)) == 15


def test_sweep_pack_skips_a_configuration_claimed_elsewhere(log, tmp_path):
    out = tmp_path / "runs.csv"
    key = rt.key(
        dict(
            dataset="log",
            backbone="sasrec",
            layers=1,
            d_emb=8,
            data_fraction=1.0,
            max_len=8,
            seed=1,
        )
    )
    claim = rt.claim_path(out, key)
    claim.parent.mkdir(parents=True)
    parent = os.getppid()  # a live process that holds the claim
    claim.write_text(
        json.dumps({"host": socket.gethostname(), "pid": parent, "start": rt.process_start(parent)})
    )
    with pytest.warns(UserWarning, match="1 of 3 configurations are not in the table yet"):
        table = sweep(log, layers=[1], d_emb=[8], seeds=[0, 1, 2], out=out, pack=3, **TINY)
    assert sorted(table["seed"]) == [0, 2] and claim.exists()
    assert sorted(p.name for p in claim.parent.iterdir()) == [claim.name]


@pytest.mark.parametrize("pack", [0, -2, 1.5, "2", True, float("nan")])
def test_sweep_refuses_a_bad_pack(log, pack):
    with pytest.raises(DataError, match="pack must be a positive integer"):
        sweep(log, layers=[1], d_emb=[8], pack=pack, **TINY)


def test_cli_pack(log, tmp_path):
    path = tmp_path / "log.parquet"
    log.to_parquet(path)
    args = ["sweep", str(path), "--layers", "1", "--d-emb", "8", "--seed", "0,1"]
    args += ["--max-steps", "2", "--min-steps", "0", "--eval-every", "2", "--max-len", "8"]
    args += ["--threads", "1", "--quiet", "--csv"]
    bad = CliRunner().invoke(main, [*args, "--pack", "0"])
    assert bad.exit_code == 1 and "pack must be a positive integer, got 0" in bad.output
    assert len(bad.output.strip().splitlines()) == 1
    both = CliRunner().invoke(main, [*args, "--pack", "2", "--compile"])
    assert both.exit_code == 1 and "compile cannot be combined with pack > 1" in both.output
    good = CliRunner().invoke(main, [*args, "--pack", "2"])
    assert good.exit_code == 0, (good.output, good.exception)
    assert sorted(pd.read_csv(__import__("io").StringIO(good.output))["seed"]) == [0, 1]
