"""perflaw.train: the learning-rate schedule (warm-up, cosine over ``decay_steps`` to a
floor), its place in the ``settings`` column, and the ``--compile`` option (compiled
training, and the eager fallback when ``torch.compile`` fails)."""

import math
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
from perflaw.train import TrainConfig, load_sequences  # noqa: E402
from perflaw.train.evaluation import Evaluator  # noqa: E402
from perflaw.train.trainer import lr_factor, train_one  # noqa: E402


@pytest.fixture(scope="module")
def log():
    return shifted_log(80)


def test_cosine_over_decay_steps_then_floor():
    c = TrainConfig(warmup_steps=4, decay="cosine", decay_steps=8, decay_floor=0.2)
    f = [lr_factor(s, c) for s in range(20)]
    assert f[:4] == [0.25, 0.5, 0.75, 1.0]
    assert f[4] == 1.0  # the cosine starts where warm-up ends
    assert math.isclose(f[8], 0.2 + 0.8 * 0.5)  # half-way
    assert all(math.isclose(v, 0.2) for v in f[12:])  # floor from warm-up + decay_steps on
    assert all(a >= b for a, b in zip(f[4:], f[5:]))  # never rises after warm-up
    # decay_steps=0 keeps the old meaning: to the floor (here 0) at max_steps
    old = TrainConfig(decay="cosine", max_steps=100)
    assert math.isclose(lr_factor(50, old), 0.5) and lr_factor(100, old) == 0.0


def test_settings_name_the_new_fields_only_when_used():
    base = TrainConfig().settings()
    # the text every existing runs table holds (e.g. data/ml-latest-small-sweep.csv)
    assert "warmup_steps=0 decay=none eval_every=100" in base
    assert "decay_steps" not in base and "decay_floor" not in base
    used = TrainConfig(decay="cosine", decay_steps=2000, decay_floor=0.1).settings()
    assert "decay=cosine decay_steps=2000 decay_floor=0.1 eval_every=100" in used


@pytest.mark.parametrize(
    "kwargs, message",
    [
        (dict(decay_steps=-1), "decay_steps"),
        (dict(decay_floor=1.0), "decay_floor"),
        (dict(decay_floor=-0.1), "decay_floor"),
    ],
)
def test_bad_schedule_values(kwargs, message):
    with pytest.raises(DataError, match=message):
        TrainConfig(**kwargs).check()


def _train(log, **kw):
    data = load_sequences(log)
    cfg = TrainConfig(
        layers=1, d_emb=8, max_len=6, max_steps=4, min_steps=0, eval_every=2, batch_size=32
    )
    valid = Evaluator(data, "valid", 6, mask_seen=False)
    test = Evaluator(data, "test", 6, mask_seen=False)
    return train_one(data, cfg, fraction=1.0, seed=0, valid=valid, test=test, device="cpu", **kw)


_SAME = ["steps", "best_step", "val_ndcg@10", "val_curve", "hr@10", "ndcg@10", "flops"]


@pytest.mark.parametrize("where", ["wrap", "first call"])
def test_compile_failure_warns_once_and_matches_eager(log, monkeypatch, where):
    eager = _train(log)

    def broken(model, *a, **k):
        if where == "wrap":
            raise RuntimeError("no C++ compiler\nsecond line")

        def fn(seq):
            torch.rand(3)  # a failed attempt may have drawn random numbers: undone
            raise RuntimeError("inductor: no C++ compiler")

        return fn

    monkeypatch.setattr(torch, "compile", broken)
    with pytest.warns(RuntimeWarning, match="torch.compile is unavailable") as caught:
        fallback = _train(log, compile=True)
    assert len(caught) == 1 and "\n" not in str(caught[0].message)
    assert {k: fallback[k] for k in _SAME} == {k: eager[k] for k in _SAME}


def _compile_works() -> bool:
    try:
        f = torch.compile(lambda x: x * 2)
        return bool((f(torch.ones(2)) == 2).all())
    except Exception:
        return False


def test_cli_compile_option(log, tmp_path):
    """``perflaw sweep --compile`` trains (compiled where torch.compile works here, else
    through the fallback, which must then say so); not in the settings column."""
    works = _compile_works()
    path = tmp_path / "log.parquet"
    log.to_parquet(path)
    out = tmp_path / "runs.csv"
    args = ["sweep", str(path), "--layers", "1", "--d-emb", "8", "--max-steps", "3"]
    args += ["--min-steps", "0", "--eval-every", "3", "--max-len", "6", "--threads", "1"]
    res = CliRunner().invoke(main, [*args, "--compile", "--out", str(out), "--quiet", "--csv"])
    assert res.exit_code == 0, res.output
    assert ("torch.compile is unavailable" in res.output) != works
    runs = pd.read_csv(out)
    assert runs["steps"].tolist() == [3] and np.isfinite(runs["ndcg@10"]).all()
    assert "compile" not in runs["settings"].iloc[0]
    # the same table resumes without --compile: a speed option, not a setting
    res = CliRunner().invoke(main, [*args, "--out", str(out), "--quiet", "--csv"])
    assert res.exit_code == 0 and len(pd.read_csv(out)) == 1


def test_cli_passes_compile_and_schedule_to_the_trainer(log, tmp_path, monkeypatch):
    sw = sys.modules["perflaw.train.sweep"]  # (perflaw.train.sweep the name is the function)
    real, seen = sw.train_one, {}

    def spy(data, cfg, **kw):
        seen["compile"], seen["cfg"] = kw["compile"], cfg
        return real(data, cfg, **{**kw, "compile": False})

    monkeypatch.setattr(sw, "train_one", spy)
    path = tmp_path / "log.parquet"
    log.to_parquet(path)
    args = ["sweep", str(path), "--layers", "1", "--d-emb", "8", "--max-steps", "2"]
    args += ["--min-steps", "0", "--eval-every", "2", "--max-len", "6", "--threads", "1"]
    args += ["--decay", "cosine", "--decay-steps", "5", "--decay-floor", "0.1", "--csv"]
    res = CliRunner().invoke(main, [*args, "--compile", "--quiet"])
    assert res.exit_code == 0, res.output
    assert seen["compile"] is True and seen["cfg"].decay_steps == 5
    assert seen["cfg"].decay_floor == 0.1
    assert "decay_steps=5 decay_floor=0.1" in res.output
    assert CliRunner().invoke(main, [*args, "--quiet"]).exit_code == 0
    assert seen["compile"] is False
