"""The law file: a fit round-trips, and a damaged or hand-edited field is refused in one
line (LawFileError naming the field), never a traceback."""

import copy
import json
import warnings

import numpy as np
import pandas as pd
import pytest

from perflaw.errors import LawFileError
from perflaw.fitting import FormSelector, LawFitter, load_fitter
from perflaw.fitting.evidence import paired_gain, paired_t
from perflaw.fitting.selection import choose_form


@pytest.fixture(scope="module")
def law_doc(tmp_path_factory):
    N, d = np.meshgrid([2.0, 4.0, 8.0, 16.0], [32.0, 64.0], indexing="ij")
    X = pd.DataFrame({"layers": N.ravel(), "d_emb": d.ravel()})
    y = 0.2 - 0.05 / X.layers + 0.01 * np.log(X.d_emb)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        f = FormSelector(LawFitter(seed=0), form="auto").fit(X, y, metric="hr@10").best_
    path = f.save(tmp_path_factory.mktemp("law") / "law.json")
    return f, json.loads(path.read_text())


def write(tmp_path, doc):
    path = tmp_path / "edited.json"
    path.write_text(json.dumps(doc))
    return path


def test_a_law_file_round_trips(law_doc, tmp_path):
    f, doc = law_doc
    g = load_fitter(write(tmp_path, doc))
    ask = pd.DataFrame({"layers": [4.0, 32.0], "d_emb": [64.0, 64.0]})
    a = f.predict(ask, interval=True, warn=False)
    b = g.predict(ask, interval=True, warn=False)
    pd.testing.assert_frame_equal(a, b)
    assert g.form_ == f.form_ and g.alternatives_ == f.alternatives_


@pytest.mark.parametrize(
    "field, value",
    [
        ("fit_options", "l2"),
        ("fit_options.loss", "cubic"),
        ("fit_options.seed", -1),
        ("fit_options.bootstrap", 1.5),
        ("fit_options.holdout", 3),
        ("notes", "a note"),
        ("notes", [1, 2]),
        ("warnings", {"a": 1}),
        ("starts", []),
        ("starts.tried", "many"),
        ("form", 7),
        ("selection", "auto"),
        ("scale", "log"),
        ("scale", ["logit"]),
        ("alternatives", {"form": "carry"}),
        ("alternatives.0", "carry"),
        ("alternatives.0.weight", "heavy"),
        ("alternatives.0.params", ["a"]),
        ("alternatives.0.law", "nope"),
        ("alternatives.0.calibration", {"sd": 1}),
        ("calibration.df", 0),
        ("calibration.max_horizon", -1),
        ("data_ranges.layers", "2-16"),
        ("data.groups", [1, 2]),
        ("diagnostics", [0.9]),
        ("holdout", "layers>8"),
    ],
)
def test_a_hand_edited_field_is_refused_in_one_line(law_doc, tmp_path, field, value):
    _, doc = law_doc
    doc = copy.deepcopy(doc)
    *path, last = field.split(".")
    node = doc["fits"][0]
    for key in path:
        node = node[int(key)] if isinstance(node, list) else node[key]
    node[int(last) if isinstance(node, list) else last] = value
    with pytest.raises(LawFileError) as err:
        load_fitter(write(tmp_path, doc))
    assert "\n" not in str(err.value) and "field" in str(err.value)


def test_hostile_json_is_refused_in_one_line(tmp_path):
    deep = tmp_path / "deep.json"
    deep.write_text("[" * 100_000 + "]" * 100_000)
    with pytest.raises(LawFileError, match="nested too deeply|not valid JSON"):
        load_fitter(deep)
    big = tmp_path / "big.json"
    big.write_text('{"format": "perflaw-law", "x": ' + "9" * 5000 + "}")
    with pytest.raises(LawFileError, match="not a law file"):
        load_fitter(big)


# -- the paired comparison with carry-forward (issue: a tie adopted at t = 25.8) --------
def test_differences_at_float_noise_are_a_tie():
    e = np.random.default_rng(0).uniform(0.01, 0.1, 12)
    noise = 1 + np.random.default_rng(1).integers(1, 4, 12) * np.finfo(float).eps
    assert paired_t(paired_gain(e, e * noise)) == 0.0
    assert paired_t(paired_gain(e, 0.5 * e)) > 1  # a real gain still counts


def test_a_form_equal_to_carry_forward_to_13_digits_is_not_adopted():
    """Two layer counts, a backtest along d_emb: the per-width forms predict the wider
    widths exactly as carry-forward does, up to the last bits of a float.  Before the
    tie tolerance loglinear "beat carry-forward by 2.97 standard errors" here."""
    rng = np.random.default_rng(1)
    N, d = np.meshgrid([4.0, 8.0], [25.0, 50.0, 75.0, 100.0], indexing="ij")
    X = pd.DataFrame({"layers": N.ravel(), "d_emb": d.ravel()})
    y = 0.15 + 0.01 * np.log(X.d_emb) + 0.003 * np.log(X.layers) + rng.normal(0, 0.004, 8)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        sel = choose_form(X, y, metric="ndcg@10")
    s = sel.scores.set_index("form")
    assert s.loc["loglinear", "mape_common"] == pytest.approx(
        s.loc["loglinear", "carry_mape_common"]
    )
    assert s.loc["loglinear", "t_vs_carry"] == 0 and s.loc["saturating", "t_vs_carry"] == 0
    assert sel.form == "carry" and sel.reason.startswith("carry: no form beat carry-forward")
