"""The stopping rule (perflaw.train.trainer.end_reason, TrainConfig.patience_from): an
early validation peak no longer ends a run before min_steps + patience; tables made
before the option keep resuming with --patience-from best."""

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from conftest import shifted_log
from perflaw import DataError
from perflaw.train.runs_table import training_rule
from perflaw.train.trainer import TrainConfig, end_reason


def stop_step(config: TrainConfig, curve: list[float]) -> tuple[int, int, str]:
    """(last step, best step, end) of the trainer's loop over a validation curve (one
    value per validation, every ``eval_every`` steps; strictly better = new best)."""
    best, best_step = -1.0, 0
    for i, score in enumerate(curve):
        step = (i + 1) * config.eval_every
        if score > best:
            best, best_step = score, step
        end = end_reason(config, step, best_step, False)
        if end:
            return step, best_step, end
    raise AssertionError("curve too short for the cap")


#: The first bundled sweep (--min-steps 500), replaced by the --min-steps 1500 rebuild.
FIRST_BUNDLED = "benchmarks/data/ml-latest-small-sweep-min-steps-500.csv"

#: A validation curve (one value per validation) and a stopping rule's settings.
RULES = dict(
    curve=st.lists(st.floats(0, 1), min_size=40, max_size=40),
    eval_every=st.integers(1, 5),
    patience=st.integers(1, 30),
    min_steps=st.integers(0, 60),
)


@settings(max_examples=200, deadline=None)
@given(**RULES)
def test_the_two_rules_differ_only_for_an_early_peak(curve, eval_every, patience, min_steps):
    kw = dict(
        eval_every=eval_every, patience=patience, min_steps=min_steps, max_steps=40 * eval_every
    )
    new = stop_step(TrainConfig(**kw), curve)
    old = stop_step(TrainConfig(**kw, patience_from="best"), curve)
    assert new[0] >= old[0]  # never earlier
    if old[2] != "patience" or old[1] >= min_steps:
        assert new == old  # a run whose best came after min_steps ends alike
    if new[2] == "patience":
        assert new[0] >= min_steps + patience or new[1] >= min_steps


@settings(max_examples=200, deadline=None)
@given(**RULES, more=st.integers(0, 60))
def test_a_longer_min_steps_changes_only_runs_that_peaked_before_it(
    curve, eval_every, patience, min_steps, more
):
    kw = dict(eval_every=eval_every, patience=patience, max_steps=40 * eval_every)
    short = stop_step(TrainConfig(**kw, min_steps=min_steps), curve)
    long = stop_step(TrainConfig(**kw, min_steps=min_steps + more), curve)
    assert long[0] >= short[0]  # never earlier
    if short[2] != "patience" or short[1] >= min_steps + more:
        assert long == short  # what raise_min_steps keeps


def test_raise_min_steps_keeps_what_a_longer_minimum_cannot_touch():
    from perflaw.train.runs_table import raise_min_steps

    s = TrainConfig(eval_every=50, patience=500, min_steps=500, max_steps=5000).settings()
    t = pd.DataFrame(
        {
            "seed": [0, 1, 2, 3, 4],
            "end": ["patience", "patience", "patience", "cap", "time"],
            "best_step": [150, 999, 1000, 200, 300],
            "settings": [s] * 5,
        }
    )
    kept, dropped = raise_min_steps(t, 1000)
    assert kept["seed"].tolist() == [2, 3, 4] and dropped["seed"].tolist() == [0, 1]
    longer = TrainConfig(eval_every=50, patience=500, min_steps=1000, max_steps=5000)
    assert (kept["settings"] == longer.settings()).all()
    assert (dropped["settings"] == s).all()  # the dropped runs keep what they were made with
    again, none = raise_min_steps(kept, 1000)  # idempotent
    assert none.empty and again.equals(kept)
    with pytest.raises(DataError, match="below runs' min_steps 1000"):
        raise_min_steps(kept, 500)
    old = t.assign(settings=TrainConfig(min_steps=500, patience_from="best").settings())
    with pytest.raises(DataError, match="adopt_patience_from_min_steps first"):
        raise_min_steps(old, 1000)


def test_an_early_peak_ends_the_run_at_min_steps_plus_patience():
    curve = [0.5] + [0.1] * 39  # the popularity peak at the first validation, then a plateau
    kw = dict(eval_every=50, patience=500, min_steps=500, max_steps=2000)
    assert stop_step(TrainConfig(**kw), curve) == (1000, 50, "patience")
    assert stop_step(TrainConfig(**kw, patience_from="best"), curve) == (550, 50, "patience")


def test_settings_name_the_rule_unless_it_is_the_old_one():
    # the text a table made before --patience-from holds (the first bundled sweep's)
    before = (
        "heads=1 dropout=0.2 samples=windows batch_size=128 lr=0.001 warmup_steps=0 "
        "decay=none eval_every=50 patience=500 min_steps=500 max_steps=5000 max_seconds=None"
    )
    kw = dict(eval_every=50, patience=500, min_steps=500, max_steps=5000)
    assert TrainConfig(**kw, patience_from="best").settings() == before
    first = pd.read_csv(FIRST_BUNDLED)["settings"]
    assert (first == TrainConfig(**kw).settings()).all()  # carried over to the default
    # the rebuild that replaced it: one rule, --min-steps 1500 (data/ml-latest-small-sweep.sh)
    bundled = pd.read_csv("data/ml-latest-small-sweep.csv")["settings"]
    rebuild = TrainConfig(**{**kw, "min_steps": 1500})
    # ... whose two capped runs were retrained with a longer cap: a budget, not a rule
    assert (bundled.map(training_rule) == training_rule(rebuild.settings())).all()
    longer = TrainConfig(**{**kw, "min_steps": 1500, "max_steps": 20000}).settings()
    assert bundled.value_counts().to_dict() == {rebuild.settings(): 142, longer: 2}
    assert "patience=1000 patience_from=min_steps min_steps=1000" in TrainConfig().settings()


def test_bad_rule_is_refused():
    with pytest.raises(DataError, match="patience_from"):
        TrainConfig(patience_from="epochs").check()


torch = pytest.importorskip(
    "torch", reason="perflaw sweep needs torch: pip install 'perflaw[train]'"
)
from perflaw.train import load_sequences, sweep  # noqa: E402
from perflaw.train.evaluation import Evaluator  # noqa: E402
from perflaw.train.packed import train_packed  # noqa: E402
from perflaw.train.trainer import train_one  # noqa: E402


@pytest.fixture(scope="module")
def data():
    torch.set_num_threads(1)
    return load_sequences(shifted_log(60, n_items=20, lengths=(4, 10)))


class Scripted(Evaluator):
    """A validation that peaks at the first check and falls after (the early peak)."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.calls = 0

    def metrics(self, model, device, **kwargs):
        out = super().metrics(model, device, **kwargs)
        self.calls += 1
        return {**out, "ndcg@10": 0.9 if self.calls == 1 else 0.1}


@pytest.mark.parametrize("rule, steps", [("min_steps", 8), ("best", 6)])
def test_both_trainers_apply_the_rule(data, rule, steps):
    config = TrainConfig(
        layers=1,
        d_emb=8,
        max_len=8,
        batch_size=16,
        dropout=0.0,
        eval_every=2,
        patience=4,
        min_steps=4,
        max_steps=20,
        patience_from=rule,
    )

    def evaluators():
        return Scripted(data, "valid", 8, mask_seen=False), Evaluator(
            data, "test", 8, mask_seen=False
        )

    valid, test = evaluators()
    one = train_one(
        data, config, fraction=1.0, seed=0, valid=valid, test=test, device=torch.device("cpu")
    )
    assert (one["steps"], one["best_step"], one["end"]) == (steps, 2, "patience")
    valid, test = evaluators()
    packed = train_packed(
        data, config, [(1.0, 0)], valid=valid, test=test, device=torch.device("cpu")
    )
    assert [(r["steps"], r["best_step"], r["end"]) for r in packed] == [(steps, 2, "patience")]


def test_resuming_an_old_table_says_how(data, tmp_path):
    out = tmp_path / "runs.csv"
    kw = dict(layers=[1], d_emb=[8], threads=1, progress=False)
    old = TrainConfig(
        max_len=8, eval_every=2, patience=2, min_steps=0, max_steps=4, patience_from="best"
    )
    sweep(data, config=old, out=out, **kw)
    with pytest.raises(DataError, match="resume it with --patience-from best"):
        sweep(
            data,
            config=TrainConfig(max_len=8, eval_every=2, patience=2, min_steps=0, max_steps=4),
            out=out,
            **kw,
        )
    again = sweep(data, config=old, out=out, **kw)  # the old rule resumes it
    assert len(again) == 1


def test_the_first_bundled_table_carried_over_to_the_default_rule():
    from perflaw.train.runs_table import adopt_patience_from_min_steps

    old = pd.read_csv(FIRST_BUNDLED)
    old = old.assign(
        settings=TrainConfig(
            eval_every=50, patience=500, min_steps=500, max_steps=5000, patience_from="best"
        ).settings()
    )
    kept, dropped = adopt_patience_from_min_steps(old)
    assert len(kept) + len(dropped) == len(old) and len(dropped) > 0
    assert (dropped["end"] == "patience").all() and (dropped["best_step"] < 500).all()
    assert ((kept["end"] != "patience") | (kept["best_step"] >= 500)).all()
    new = TrainConfig(eval_every=50, patience=500, min_steps=500, max_steps=5000).settings()
    assert (kept["settings"] == new).all()
    again, none = adopt_patience_from_min_steps(kept)  # already carried over: unchanged
    assert none.empty and again.equals(kept)


def test_the_amazon_beauty_scan_is_one_runs_table_made_by_its_recipe():
    # benchmarks/data/README.md: one rule, one row per configuration and seed, and
    # perflaw reads it as a runs table
    from perflaw.train.runs_table import read_runs_file

    scan = read_runs_file("benchmarks/data/amazon-beauty-sweep.csv")
    kw = dict(eval_every=100, patience=500, min_steps=1500)
    # the narrow widths train with a 30,000-step cap (benchmarks/data/README.md), the rest 6,000;
    # 1 x 80 seed 1, the one other run that ended on the 6,000 cap, was retrained with 30,000;
    # so were 1 x 48 seeds 0 and 2 (seed 0 still improving near the cap)
    one = scan["layers"] == 1
    narrow = one & scan["d_emb"].isin([16, 32])
    longer = (
        narrow
        | (one & (scan["d_emb"] == 80) & (scan["seed"] == 1))
        | (one & (scan["d_emb"] == 48) & scan["seed"].isin([0, 2]))
    )
    cap = np.where(longer, 30000, 6000)
    for c in (6000, 30000):
        rule = TrainConfig(**kw, max_steps=c).settings()
        assert (scan.loc[cap == c, "settings"] == rule).all()
    assert narrow.sum() == 6 and (scan["end"] == "patience").all()
    assert not scan.duplicated(["layers", "d_emb", "data_fraction", "seed"]).any()
    assert set(scan["dataset"]) == {"amazon-beauty"} and (scan["data_fraction"] == 1).all()
    assert (scan["steps"] >= 2000).all() and (scan["steps"] <= cap).all()  # min + patience
