"""Tests of perflaw.train and the `perflaw sweep` command (tiny grids, a few steps)."""

import subprocess
import sys

import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner

# the trainer needs perflaw[train]; CI installs torch (see .ci/run)
torch = pytest.importorskip(
    "torch", reason="perflaw sweep needs torch: pip install 'perflaw[train]'"
)
from perflaw import DataError, count_parameters  # noqa: E402
from perflaw.cli import main  # noqa: E402
from perflaw.train import RUNS_COLUMNS, d_prime, load_sequences, sweep  # noqa: E402
from perflaw.train.data import training_users as _training_users  # noqa: E402

TINY = dict(
    max_steps=3, min_steps=0, eval_every=3, max_len=8, batch_size=64, threads=1, progress=False
)


@pytest.fixture(scope="module")
def log():
    """300 users, 40 items, 5-14 interactions each, with a little sequential structure."""
    rng = np.random.default_rng(0)
    rows = []
    for u in range(300):
        n = rng.integers(5, 15)
        start = rng.integers(0, 40)
        items = (start + np.arange(n) + rng.integers(0, 3, n)) % 40
        rows += [(u, int(i), t) for t, i in enumerate(items)]
    return pd.DataFrame(rows, columns=["user_id", "item_id", "timestamp"])


@pytest.fixture(scope="module")
def log_file(log, tmp_path_factory):
    path = tmp_path_factory.mktemp("logs") / "tiny.parquet"
    log.to_parquet(path)
    return path


@pytest.fixture(scope="module")
def runs(log):
    return sweep(log, layers=[1, 2], d_emb=[8], name="tiny", **TINY)


# ----------------------------------------------------------------------------- data
def test_load_sequences_orders_by_time_stably_and_drops_short_users():
    df = pd.DataFrame(
        {
            "user_id": [5, 5, 5, 5, 9, 9],
            "item_id": ["a", "b", "c", "d", "a", "b"],
            "timestamp": [2, 1, 2, 0, 1, 1],
        }
    )
    data = load_sequences(df)
    assert data.n_items == 4 and data.n_users == 1  # user 9 has 2 interactions
    # codes: a=1 b=2 c=3 d=4; time order d, b, then a and c tied (file order)
    assert data.sequences[0].tolist() == [4, 2, 1, 3]


def test_load_sequences_without_timestamp_uses_file_order():
    df = pd.DataFrame({"user_id": [1, 2, 1, 1, 2, 2], "item_id": [7, 8, 9, 7, 7, 9]})
    assert [s.tolist() for s in load_sequences(df).sequences] == [[1, 3, 1], [2, 1, 3]]


def test_load_sequences_errors(tmp_path):
    with pytest.raises(DataError, match="no such file"):
        load_sequences(tmp_path / "missing.parquet")
    with pytest.raises(DataError, match="needs user_id, item_id"):
        load_sequences(pd.DataFrame({"foo": [1], "bar": [2]}))
    csv = tmp_path / "log.csv"
    csv.write_text("uid,movie_id,time\n1,a,3\n1,b,1\n1,c,2\n")
    data = load_sequences(csv)  # columns found by name, as perflaw apen finds them
    assert data.name == "log" and data.sequences[0].tolist() == [2, 3, 1]


def test_training_users_are_nested_across_fractions():
    half = set(_training_users(100, 0.5, seed=3))
    quarter = set(_training_users(100, 0.25, seed=3))
    assert len(half) == 50 and len(quarter) == 25 and quarter <= half


@pytest.mark.parametrize(
    "seq, expected",
    [
        ([1, 2, 1, 2, 3], 0.0588915178),
        ([5, 3, 5, 3, 9, 5, 3, 7, 5, 3], 0.4983477915),
        ([7, 8, 9], 0.6931471806),
    ],
)
def test_d_prime_matches_spec_reference_values(seq, expected):
    assert d_prime([np.array(seq)], max_len=50) == pytest.approx(len(seq) / expected, rel=1e-8)


def test_d_prime_leaves_out_zero_apen_and_truncates():
    assert d_prime([np.array([1, 1, 1, 1, 1, 1])], max_len=50) == 0.0
    long = np.array([9, 9, 9, 1, 2, 1, 2, 3])
    assert d_prime([long], max_len=5) == pytest.approx(5 / 0.0588915178, rel=1e-8)


# ------------------------------------------------------------------------ backbones
@pytest.mark.parametrize("backbone", ["sasrec", "llama", "hstu"])
@pytest.mark.parametrize("layers, d_emb, heads", [(1, 8, 1), (2, 16, 2), (3, 24, 1)])
def test_backbone_sizes_equal_count_parameters(backbone, layers, d_emb, heads):
    from perflaw.train.backbones import build

    model = build(backbone, 37, d_emb, layers, 12, heads=heads)
    counted = count_parameters(layers, d_emb, arch=backbone, n_items=37, max_len=12)
    assert sum(p.numel() for p in model.parameters()) == counted.total


@pytest.mark.parametrize("backbone", ["sasrec", "llama", "hstu"])
def test_backbones_handle_left_padding(backbone):
    from perflaw.train.backbones import build

    torch.manual_seed(0)
    model = build(backbone, 20, 8, 2, 6).eval()
    seq = torch.tensor([[0, 0, 0, 3, 4, 5], [1, 2, 6, 3, 4, 5], [0, 0, 0, 0, 0, 7]])
    hidden = model(seq)
    assert hidden.shape == (3, 6, 8) and torch.isfinite(hidden).all()
    scores = model.scores(hidden[:, -1])
    assert scores.shape == (3, 21)
    if backbone == "llama":  # rotary positions are relative: padding must not matter
        assert torch.allclose(model(seq[:1, 3:])[:, -1], hidden[:1, -1], atol=1e-5)


# ------------------------------------------------------------------------ runs table
def test_runs_table_schema(runs, log):
    assert list(runs.columns) == RUNS_COLUMNS
    assert len(runs) == 2
    assert runs["layers"].tolist() == [1, 2] and set(runs["d_emb"]) == {8}
    assert (runs["backbone"] == "sasrec").all() and (runs["dataset"] == "tiny").all()
    assert (runs["eval"] == "full-unmasked").all() and (runs["objective"] == "ce").all()
    n_items = log["item_id"].nunique()
    for _, r in runs.iterrows():
        c = count_parameters(r["layers"], r["d_emb"], arch="sasrec", n_items=n_items, max_len=8)
        assert (r["params_total"], r["params_non_embedding"]) == (c.total, c.non_embedding)
        assert 0 <= r["ndcg@10"] <= r["hr@10"] <= r["hr@50"] <= 1
        assert r["ndcg@10"] <= r["ndcg@50"] <= r["hr@50"]
        assert r["train_users"] == 300 and r["train_tokens"] > 0
        assert r["d_prime"] > 0 and r["flops"] > 0 and r["seconds"] > 0
        assert r["d_prime_def"] == "per-user m=2 whole"  # how d_prime was measured
        assert r["steps"] == 3 and r["best_step"] == 3 and r["end"] == "cap"


def test_data_fraction_shrinks_tokens_and_d_prime(log):
    runs = sweep(log, layers=[1], d_emb=[8], data_fraction=[0.25, 1], **TINY)
    small, full = runs.iloc[0], runs.iloc[1]
    assert small["data_fraction"] == 0.25 and small["train_users"] == 75
    assert small["train_tokens"] < full["train_tokens"]
    assert small["d_prime"] < full["d_prime"]
    # Same targets for every fraction: the model size does not depend on the data.
    assert small["params_total"] == full["params_total"]


def test_sampled_evaluation_is_stated(log):
    runs = sweep(log, layers=[1], d_emb=[8], eval_negatives=20, backbone="llama", **TINY)
    assert runs["eval"].tolist() == ["sampled-uniform-20"]
    assert runs["backbone"].tolist() == ["llama"]


def test_bce_loss_and_hstu(log):
    runs = sweep(log, layers=[1], d_emb=[8], loss="bce", backbone="hstu", **TINY)
    assert runs["objective"].tolist() == ["bce"] and np.isfinite(runs["ndcg@10"]).all()


def test_same_seed_same_result(log):
    a = sweep(log, layers=[1], d_emb=[8], **TINY)
    b = sweep(log, layers=[1], d_emb=[8], **TINY)
    assert a["ndcg@10"].tolist() == b["ndcg@10"].tolist()


# ------------------------------------------------------------------------------ resume
def test_resume_skips_finished_configurations(log, tmp_path, monkeypatch):
    out = tmp_path / "runs.csv"
    first = sweep(log, layers=[1], d_emb=[8], out=out, **TINY)
    assert len(pd.read_csv(out)) == 1

    mod = sys.modules["perflaw.train.sweep"]

    calls = []
    real = mod.train_one

    def counting(data, config, **kwargs):
        calls.append((config.layers, config.d_emb))
        return real(data, config, **kwargs)

    monkeypatch.setattr(mod, "train_one", counting)
    again = sweep(log, layers=[1], d_emb=[8], out=out, **TINY)
    assert calls == [] and again.equals(pd.read_csv(out))
    grown = sweep(log, layers=[1, 2], d_emb=[8], out=out, **TINY)
    assert calls == [(2, 8)]
    table = pd.read_csv(out)
    assert list(table.columns) == RUNS_COLUMNS and len(table) == 2 and len(grown) == 2
    assert table.iloc[0]["ndcg@10"] == pytest.approx(first.iloc[0]["ndcg@10"])


def test_resume_refuses_a_table_from_other_settings(log, tmp_path):
    out = tmp_path / "runs.csv"
    sweep(log, layers=[1], d_emb=[8], out=out, **TINY)
    with pytest.raises(DataError, match="other settings"):
        sweep(log, layers=[1], d_emb=[8], out=out, **{**TINY, "eval_every": 1})
    foreign = tmp_path / "foreign.csv"
    foreign.write_text("a,b\n1,2\n")
    with pytest.raises(DataError, match="not a perflaw sweep runs table"):
        sweep(log, layers=[1], d_emb=[8], out=foreign, **TINY)


def _layers_trained(monkeypatch) -> list:
    """The layers of every run the sweep trains from now on (train_one, counted)."""
    calls: list = []
    mod = sys.modules["perflaw.train.sweep"]
    real = mod.train_one
    monkeypatch.setattr(
        mod, "train_one", lambda d, c, **k: calls.append(c.layers) or real(d, c, **k)
    )
    return calls


def test_resume_takes_a_table_that_differs_only_in_the_cap(log, tmp_path, monkeypatch):
    """The amazon-beauty scan's narrow widths were retrained with a longer cap and moved
    into its table; a resume of the other widths then refused the whole table ("other
    settings") and trained nothing.  A cap is a budget, not a rule (training_rule)."""
    out = tmp_path / "runs.csv"
    sweep(log, layers=[1], d_emb=[8], out=out, **TINY)
    calls = _layers_trained(monkeypatch)
    # the first run ended on its 3-step cap: a longer cap trains it again (below)
    sweep(log, layers=[1, 2], d_emb=[8], out=out, **{**TINY, "max_steps": 6})
    sweep(log, layers=[1, 2, 3], d_emb=[8], out=out, **{**TINY, "max_seconds": 60.0})
    assert calls == [1, 2, 3]
    table = pd.read_csv(out)
    assert table["settings"].str.extract(r"max_steps=(\d+)")[0].tolist() == ["6", "6", "3"]
    # a cosine decay to the cap reads the cap: there it is part of the rule
    cos = tmp_path / "cosine.csv"
    sweep(log, layers=[1], d_emb=[8], out=cos, decay="cosine", **TINY)
    with pytest.raises(DataError, match="other settings"):
        sweep(log, layers=[2], d_emb=[8], out=cos, decay="cosine", **{**TINY, "max_steps": 6})


def test_a_longer_cap_trains_the_capped_runs_again_in_place(log, tmp_path, monkeypatch):
    """`perflaw fit` says "raise --max-steps" for runs that ended on their cap; a sweep
    rerun with a larger cap used to skip them (their keys were in the table).  It now
    trains them again and replaces their rows in place, keeping the old ones in
    <out>.replaced; runs that ended on patience are left alone."""
    out = tmp_path / "runs.csv"
    rule = dict(TINY, eval_every=2, patience=4)
    sweep(log, layers=[1], d_emb=[8], out=out, **{**rule, "max_steps": 300})  # patience
    sweep(log, layers=[2], d_emb=[8], out=out, **{**rule, "max_steps": 4})  # cap
    before = out.read_text().splitlines()
    first = pd.read_csv(out)
    assert first["end"].tolist() == ["patience", "cap"]
    calls = _layers_trained(monkeypatch)
    sweep(log, layers=[1, 2], d_emb=[8], out=out, **{**rule, "max_steps": 300})
    assert calls == [2]
    after = pd.read_csv(out)
    assert len(after) == 2 and after["layers"].tolist() == [1, 2]
    assert out.read_text().splitlines()[:2] == before[:2]  # header and the patience run
    assert after.loc[1, "steps"] > 4 and "max_steps=300" in after.loc[1, "settings"]
    kept = pd.read_csv(tmp_path / "runs.csv.replaced")
    assert kept.to_dict("records") == first.iloc[[1]].to_dict("records")
    # the same cap again: nothing left to extend
    sweep(log, layers=[1, 2], d_emb=[8], out=out, **{**rule, "max_steps": 300})
    assert calls == [2]


def test_replace_row_keeps_a_row_appended_meanwhile(tmp_path, monkeypatch):
    """The table is rewritten (read, then renamed over) under a lock that appends take
    too: a row another process appends between the read and the rename is not lost."""
    import threading

    from perflaw.train import runs_table as rt

    out = tmp_path / "runs.csv"
    base = {c: 0 for c in rt.RUNS_COLUMNS} | {
        "dataset": "d", "backbone": "sasrec", "layers": 1, "d_emb": 8,
        "data_fraction": 1.0, "max_len": 8, "settings": "max_steps=3", "end": "cap",
    }  # fmt: skip
    rt.append_row(out, {**base, "seed": 0})
    rt.append_row(out, {**base, "seed": 1})
    real = rt._write_atomically
    other = threading.Thread(target=rt.append_row, args=(out, {**base, "seed": 2}))

    def rewrite_while_another_appends(path, text):
        other.start()  # another writer, between the read and the rename
        other.join(timeout=0.5)  # it waits for the lock (without one it appends now)
        real(path, text)

    monkeypatch.setattr(rt, "_write_atomically", rewrite_while_another_appends)
    assert rt.replace_row(out, {**base, "seed": 0, "end": "patience"})
    other.join()
    table = pd.read_csv(out)
    assert table["seed"].tolist() == [0, 1, 2]
    assert table["end"].tolist() == ["patience", "cap", "cap"]
    monkeypatch.setattr(rt, "_write_atomically", real)
    assert not rt.replace_row(out, {**base, "seed": 9})  # no such row: appended
    assert pd.read_csv(out)["seed"].tolist() == [0, 1, 2, 9]


def test_a_longer_cap_leaves_a_run_that_ended_on_patience_as_it_was(log):
    """Why a table may mix caps: the same run under a cap it did not reach is the same
    run (same steps, best step, validation curve and test metrics)."""
    rule = dict(TINY, eval_every=2, patience=4, max_steps=300)
    a = sweep(log, layers=[1], d_emb=[8], **rule).iloc[0]
    b = sweep(log, layers=[1], d_emb=[8], **{**rule, "max_steps": 900}).iloc[0]
    assert a["end"] == b["end"] == "patience" and a["steps"] < 300
    same = ["steps", "best_step", "val_curve", "val_ndcg@10", "hr@10", "ndcg@10", "ndcg@50"]
    assert a[same].tolist() == b[same].tolist()
    assert a["settings"] != b["settings"]


@pytest.mark.parametrize(
    "kwargs, message",
    [
        (dict(layers=[0]), "layers"),
        (dict(d_emb=[8.5]), "d_emb"),
        (dict(data_fraction=[1.5]), "data_fraction"),
        (dict(backbone="mamba"), "unknown backbone"),
        (dict(d_emb=[9], heads=2), "divisible"),
        (dict(loss="mse"), "unknown loss"),
        (dict(eval_negatives=1000), "eval_negatives"),
    ],
)
def test_bad_arguments(log, kwargs, message):
    with pytest.raises(DataError, match=message):
        sweep(log, **{**dict(layers=[1], d_emb=[8]), **TINY, **kwargs})


# --------------------------------------------------------------------------------- CLI
def test_cli_runs_and_writes_table(log_file, tmp_path):
    out = tmp_path / "runs.csv"
    args = [
        "sweep",
        str(log_file),
        "--layers",
        "1",
        "--d-emb",
        "8,16",
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
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 0, result.output
    table = pd.read_csv(out)
    assert list(table.columns) == RUNS_COLUMNS and len(table) == 2
    assert (table["dataset"] == "tiny").all()
    printed = pd.read_csv(__import__("io").StringIO(result.output))
    assert printed["d_emb"].tolist() == [8, 16]
    # The rerun finds everything done and still prints the table.
    again = CliRunner().invoke(main, args[:-1])
    assert again.exit_code == 0 and "ndcg@10" in again.output and len(pd.read_csv(out)) == 2


def test_cli_missing_file(tmp_path):
    result = CliRunner().invoke(main, ["sweep", str(tmp_path / "nope.parquet")])
    assert result.exit_code == 1
    assert "no such file" in result.output and "Traceback" not in result.output


@pytest.mark.parametrize(
    "option, value, message",
    [
        ("--layers", "1,x", "not a comma-separated list"),
        ("--layers", "0,2", "positive integers"),
        ("--d-emb", "", "empty"),
        ("--data-fraction", "0.5,2", "fractions must be in"),
        ("--seed", "a", "comma-separated list of integers"),
    ],
)
def test_cli_bad_grid_values(log_file, option, value, message):
    result = CliRunner().invoke(main, ["sweep", str(log_file), option, value])
    assert result.exit_code == 2
    assert message in result.output


def test_cli_unknown_backbone(log_file):
    result = CliRunner().invoke(main, ["sweep", str(log_file), "--backbone", "rnn"])
    assert result.exit_code == 1 and "unknown backbone 'rnn'" in result.output


def test_import_perflaw_does_not_import_torch():
    code = (
        "import sys, perflaw, perflaw.cli, perflaw.sweep, perflaw.train; "
        "from click.testing import CliRunner; "
        "CliRunner().invoke(perflaw.cli.main, ['--help']); "
        "CliRunner().invoke(perflaw.cli.main, ['sweep', '--help']); "
        "assert 'torch' not in sys.modules, 'torch imported'"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


# ---------------------------------------------------------------------- bundled sweep
BUNDLED = "data/ml-latest-small-sweep.csv"


def test_bundled_sweep_table_is_complete_and_consistent():
    table = pd.read_csv(BUNDLED)
    assert list(table.columns) == RUNS_COLUMNS
    assert table["layers"].nunique() >= 4 and table["d_emb"].nunique() >= 4
    assert table["data_fraction"].nunique() >= 3 and table["seed"].nunique() >= 3
    assert not table.duplicated(["backbone", "layers", "d_emb", "data_fraction", "seed"]).any()
    # The whole grid (data/ml-latest-small-sweep.sh made it).
    assert len(table) >= 100
    assert (table["eval"] == "full-unmasked").all() and (table["backbone"] == "sasrec").all()
    assert table["end"].isin(["patience", "cap", "time"]).all()
    assert (table["best_step"] <= table["steps"]).all()
    for _, r in table.iterrows():
        c = count_parameters(
            r["layers"], r["d_emb"], arch="sasrec", n_items=9066, max_len=r["max_len"]
        )
        assert (r["params_total"], r["params_non_embedding"]) == (c.total, c.non_embedding)
    # D′ and tokens grow with the fraction (same seed: nested users).
    by_fraction = (
        table[table["seed"] == 0].groupby("data_fraction")[["d_prime", "train_tokens"]].first()
    )
    assert by_fraction["d_prime"].is_monotonic_increasing
    assert by_fraction["train_tokens"].is_monotonic_increasing


def test_fit_reads_the_bundled_sweep_without_reshaping():
    runs_module = pytest.importorskip("perflaw.runs")  # the fitter (issue 4) may not be merged
    table = runs_module.read_runs(
        BUNDLED, metric="ndcg@10", d_prime_col="d_prime", group_by="data_fraction"
    )
    assert len(table.y) == len(pd.read_csv(BUNDLED))
    assert table.X.columns.tolist() == ["layers", "d_emb", "d_prime"]


def test_processes_sharing_an_out_file_split_the_grid(log, tmp_path):
    import hashlib
    import os

    from perflaw.train.runs_table import key as _key

    out = tmp_path / "runs.csv"
    claims = tmp_path / "runs.csv.running"
    claims.mkdir()

    def claim_file(layers):
        key = _key(
            dict(
                dataset="log",
                backbone="sasrec",
                layers=layers,
                d_emb=8,
                data_fraction=1.0,
                max_len=8,
                seed=0,
            )
        )
        return claims / hashlib.sha1(repr(key).encode()).hexdigest()[:16]

    # layers=1 is being run by a live process (our parent): skipped here.
    claim_file(1).write_text(str(os.getppid()))
    # layers=2 was claimed by a process that died: taken over.
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    claim_file(2).write_text(str(dead.pid))
    table = sweep(log, layers=[1, 2], d_emb=[8], out=out, **TINY)
    assert table["layers"].tolist() == [2]
    assert not claim_file(2).exists() and claim_file(1).exists()
