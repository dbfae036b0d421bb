"""The law file: one fit to and from a dict, its validation, and the JSON file of fits.

Every field read back is validated (type, range, finiteness): a damaged or hand-edited
law file gives one :class:`~perflaw.errors.LawFileError` line naming the field, never a
traceback.  The fitter (:class:`perflaw.fitting.LawFitter`) calls this module; it never
calls the fitter back.
"""

from __future__ import annotations

import datetime as _dt
import json
import math
from pathlib import Path
from typing import Any, NoReturn

import numpy as np

from perflaw._version import __version__
from perflaw.errors import DataError, LawFileError
from perflaw.files import write_text
from perflaw.laws.base import Law, get_law
from perflaw.laws.scales import SCALES

FORMAT_VERSION = 1
#: a law file larger than this is not one perflaw wrote (a fit of a few hundred runs
#: with a thousand bootstrap refits is a few MB)
MAX_BYTES = 256 * 2**20


def to_dict(f) -> dict[str, Any]:
    """Everything a law file holds about one fit."""
    s = f.summary_
    lo_col, hi_col = "lower", "upper"
    return {
        "law": f.law_.name,
        "law_options": f.law_.options(),
        "metric": f.metric_,
        "n_points": int(len(f.y_)),
        "r2": f.diagnostics_["r2"],
        "params": dict(zip(f.law_.param_names, map(float, f.theta_))),
        "ci": {
            n: [float(s.loc[n, lo_col]), float(s.loc[n, hi_col])]
            for n in s.index
            if s.loc[n, "kind"] == "param"
        },
        "derived": {k: float(v) for k, v in f.derived_.items()},
        "derived_ci": {
            n: [float(s.loc[n, lo_col]), float(s.loc[n, hi_col])]
            for n in s.index
            if s.loc[n, "kind"] == "derived"
        },
        "diagnostics": f.diagnostics_,
        "notes": list(f.notes_),
        "warnings": list(getattr(f, "warnings_", [])),
        "loss_value": getattr(f, "cost_", None),
        "data_ranges": {c: list(v) for c, v in f.ranges_.items()},
        # how the fitted D′ was measured: a D′ asked about must be measured the same way
        "d_prime_def": _d_prime_def(f),
        "level": f.level,
        "fit_options": {
            "loss": f.loss,
            "huber_delta": f.huber_delta_,
            "seed": f.seed,
            "n_random_starts": f.n_random_starts,
            "bootstrap": f.bootstrap,
            "bootstrap_by": f.bootstrap_by,
            "solver": f.solver,
            "holdout": f.holdout_condition_,
            "exclude": getattr(f, "exclude_", None),
            "n_excluded": getattr(f, "n_excluded_", 0),
        },
        "starts": {"tried": f.n_starts_, "reached_best": f.n_best_starts_},
        "residual_dof": int(len(f.y_) - f.law_.n_params),
        "residual_sse": float(f.residuals_ @ f.residuals_),
        "covariance": f.cov_.tolist(),
        "bootstrap_params": None if f.bootstrap_params_ is None else f.bootstrap_params_.tolist(),
        "holdout": f.holdout_metrics_,
        "loo": f.loo_metrics_,
        "scale": getattr(f, "transform_", "none"),
        "form": getattr(f, "form_", None),
        "selection": getattr(f, "selection_", None),
        "calibration": getattr(f, "calibration_", None),
        "edge": getattr(f, "edge_", None),
        "alternatives": [dict(a) for a in getattr(f, "alternatives_", [])],
        "best_observed": getattr(f, "best_observed_", None),
        "noise_sd": getattr(f, "noise_sd_", None),
        # the same noise on the metric's own scale, as `fit` prints it (seed replicates)
        "run_noise": getattr(f, "noise_sd", None),
        "data": {
            "inputs": {c: v.tolist() for c, v in f.X_.items()},
            "y": f.y_.tolist(),
            "groups": None if f.groups_ is None else [str(g) for g in f.groups_],
        },
    }


def is_num(v: Any) -> bool:
    """A finite number that JSON wrote (not a bool)."""
    return isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)


_CAL_RULE = "must hold sd >= 0, n >= 1, df >= 1, axis and axis_max > 0"


def _calibration_ok(cal: Any) -> bool:
    def count(v, default):
        v = default if v is None else v
        return isinstance(v, int) and not isinstance(v, bool) and v >= 1

    return (
        isinstance(cal, dict)
        and is_num(cal.get("sd"))
        and cal["sd"] >= 0
        and count(cal.get("n"), None)
        and count(cal.get("df"), 1)
        and cal.get("axis") in ("layers", "d_emb")
        and is_num(cal.get("axis_max"))
        and cal["axis_max"] > 0
        and (
            cal.get("max_horizon") is None
            or (is_num(cal["max_horizon"]) and cal["max_horizon"] >= 0)
        )
    )


def _bad(source: str, field: str, why: str) -> NoReturn:
    raise LawFileError(f"{source}: field {field!r} {why}")


def validate(data: Any, source: str) -> None:
    """One-line :class:`LawFileError` for the first invalid field of a stored fit."""
    law = _check_law(data, source)
    _check_numbers(data, law, source)
    _check_runs(data, source)
    _check_fields(data, source)
    _check_alternatives(data, source)
    _check_edges(data, source)


def _check_law(data: Any, source: str) -> Law:
    """The law and its parameter values."""
    if not isinstance(data, dict):
        _bad(source, "fits[]", "must be an object")
    if not isinstance(data.get("law"), str):
        _bad(source, "law", "must be a law name (string)")
    opts = data.get("law_options")
    if opts is not None and not isinstance(opts, dict):
        _bad(source, "law_options", "must be an object")
    try:
        law = get_law(data["law"], **(opts or {}))
    except (DataError, TypeError, ValueError) as exc:
        raise LawFileError(f"{source}: field 'law_options' is invalid ({exc})") from None
    params = data.get("params")
    if not isinstance(params, dict):
        _bad(source, "params", "must be an object of parameter values")
    for name in law.param_names:
        if name not in params:
            _bad(source, f"params.{name}", "is missing")
        if not is_num(params[name]):
            _bad(source, f"params.{name}", f"must be a finite number, got {params[name]!r}")
    return law


def _check_numbers(data: dict, law: Law, source: str) -> None:
    """Metric, level, fitted ranges, covariance and bootstrap draws."""
    metric = data.get("metric")
    if metric is not None and not isinstance(metric, str):
        _bad(source, "metric", f"must be a string, got {metric!r}")
    level = data.get("level", 0.95)
    if not is_num(level) or not 0 < level < 1:
        _bad(source, "level", f"must be a number between 0 and 1, got {level!r}")
    ranges = data.get("data_ranges")
    if not isinstance(ranges, dict):
        _bad(source, "data_ranges", "is missing (the fitted range of every input)")
    for c in dict.fromkeys([*(c for c in law.inputs if c != "group"), *ranges]):
        r = ranges.get(c)
        if not (isinstance(r, list) and len(r) == 2 and all(is_num(v) for v in r) and r[0] <= r[1]):
            _bad(source, f"data_ranges.{c}", f"must be [min, max] finite numbers, got {r!r}")
    d_def = data.get("d_prime_def")
    if d_def is not None:
        from perflaw.quality.definition import parse_dprime_definition

        if not isinstance(d_def, str):
            _bad(source, "d_prime_def", f"must be a string, got {d_def!r}")
        try:
            parse_dprime_definition(d_def)
        except DataError as exc:
            _bad(source, "d_prime_def", str(exc).split(": ", 1)[-1])
    k = len(law.param_names)
    cov = data.get("covariance")
    if cov is not None:
        if not (
            isinstance(cov, list)
            and len(cov) == k
            and all(isinstance(r, list) and len(r) == k and all(is_num(v) for v in r) for r in cov)
        ):
            _bad(source, "covariance", f"must be a {k}×{k} matrix of finite numbers")
    boot = data.get("bootstrap_params")
    if boot is not None:
        if not (
            isinstance(boot, list)
            and all(isinstance(r, list) and len(r) == k and all(is_num(v) for v in r) for r in boot)
        ):
            _bad(source, "bootstrap_params", f"must be a list of {k}-number rows")


def _check_runs(data: dict, source: str) -> None:
    """The fitted runs kept in the file."""
    stored = data.get("data")
    if not isinstance(stored, dict) or not isinstance(stored.get("inputs"), dict):
        _bad(source, "data", "is missing (the fitted runs)")
    y = stored.get("y")
    if not (isinstance(y, list) and y and all(is_num(v) for v in y)):
        _bad(source, "data.y", "must be a non-empty list of finite numbers")
    for c, v in stored["inputs"].items():
        if not (isinstance(v, list) and len(v) == len(y) and all(is_num(u) for u in v)):
            _bad(source, f"data.inputs.{c}", f"must list {len(y)} finite numbers")
    groups = stored.get("groups")
    if groups is not None and not (
        isinstance(groups, list)
        and len(groups) == len(y)
        and all(isinstance(g, str) for g in groups)
    ):
        _bad(source, "data.groups", f"must list {len(y)} group labels (strings)")


def _check_fields(data: dict, source: str) -> None:
    """The scale, the types of the optional sections, the fit options and the starts."""
    scale = data.get("scale", "none")
    if scale is not None and (not isinstance(scale, str) or scale not in SCALES):
        _bad(source, "scale", f"must be one of {', '.join(SCALES)}, got {scale!r}")
    for name, kind in (
        ("fit_options", dict),
        ("starts", dict),
        ("diagnostics", dict),
        ("holdout", dict),
        ("loo", dict),
        ("selection", dict),
        ("notes", list),
        ("warnings", list),
        ("alternatives", list),
    ):
        if data.get(name) is not None and not isinstance(data[name], kind):
            _bad(source, name, f"must be {'an object' if kind is dict else 'a list'}")
    for name in ("notes", "warnings"):
        if not all(isinstance(v, str) for v in data.get(name) or []):
            _bad(source, name, "must be a list of strings")
    for name in ("metric", "form"):
        if data.get(name) is not None and not isinstance(data[name], str):
            _bad(source, name, f"must be a string, got {data[name]!r}")
    fo = data.get("fit_options") or {}
    if fo.get("loss", "l2") not in ("l2", "huber"):
        _bad(source, "fit_options.loss", f"must be 'l2' or 'huber', got {fo.get('loss')!r}")
    if fo.get("bootstrap_by", "row") not in ("row", "group"):
        _bad(
            source,
            "fit_options.bootstrap_by",
            f"must be 'row' or 'group', got {fo.get('bootstrap_by')!r}",
        )
    for name in ("seed", "bootstrap", "n_excluded"):
        v = fo.get(name, 0)
        if not (isinstance(v, int) and not isinstance(v, bool) and 0 <= v < 2**63):
            _bad(source, f"fit_options.{name}", f"must be a non-negative integer, got {v!r}")
    hd = fo.get("huber_delta")
    if hd is not None and not (is_num(hd) and hd > 0):
        _bad(source, "fit_options.huber_delta", f"must be a positive number, got {hd!r}")
    for name in ("holdout", "exclude"):
        if fo.get(name) is not None and not isinstance(fo[name], str):
            _bad(source, f"fit_options.{name}", "must be a condition (string)")
    starts = data.get("starts") or {}
    for name in ("tried", "reached_best"):
        v = starts.get(name, 0)
        if not (isinstance(v, int) and not isinstance(v, bool) and v >= 0):
            _bad(source, f"starts.{name}", f"must be a non-negative integer, got {v!r}")


def _check_alternatives(data: dict, source: str) -> None:
    """The weighted alternative forms, each with its law, parameters and calibration."""
    for i, a in enumerate(data.get("alternatives") or []):
        if not (
            isinstance(a, dict)
            and isinstance(a.get("form"), str)
            and is_num(a.get("weight"))
            and a["weight"] >= 0
        ):
            _bad(source, f"alternatives[{i}]", "must hold a form name and a weight >= 0")
        if a.get("params") is None:
            continue
        if not (
            isinstance(a.get("law"), str)
            and isinstance(a.get("law_options") or {}, dict)
            and isinstance(a["params"], list)
            and all(is_num(v) for v in a["params"])
        ):
            _bad(
                source, f"alternatives[{i}]", "must hold a law name, its options and numeric params"
            )
        try:
            alt = get_law(a["law"], **(a.get("law_options") or {}))
        except (DataError, TypeError, ValueError) as exc:
            raise LawFileError(f"{source}: field 'alternatives[{i}]' is invalid ({exc})") from None
        if len(a["params"]) != alt.n_params:
            _bad(source, f"alternatives[{i}].params", f"must list {alt.n_params} numbers")
        if not _calibration_ok(a.get("calibration")):
            _bad(source, f"alternatives[{i}].calibration", _CAL_RULE)


def _check_edges(data: dict, source: str) -> None:
    """Calibration, the edge of the fitted range, the best run observed, the noise."""
    cal = data.get("calibration")
    if cal is not None and not _calibration_ok(cal):
        _bad(source, "calibration", _CAL_RULE)
    edge = data.get("edge")
    if edge is not None and not (
        isinstance(edge, dict)
        and edge.get("axis") in ("layers", "d_emb")
        and is_num(edge.get("axis_max"))
        and edge["axis_max"] > 0
    ):
        _bad(source, "edge", "must hold axis (layers or d_emb) and axis_max > 0")
    best = data.get("best_observed")
    if best is not None and not (isinstance(best, dict) and is_num(best.get("observed"))):
        _bad(source, "best_observed", "must hold a finite 'observed' value")
    for key in ("noise_sd", "run_noise"):
        noise = data.get(key)
        if noise is not None and not (is_num(noise) and noise >= 0):
            _bad(source, key, f"must be a non-negative number, got {noise!r}")


def save_fits(fits: list[tuple[dict, Any]], path: str | Path, inputs=()) -> Path:
    """Write one or more fits (``[(group_key, fitter), ...]``) to a law JSON file,
    atomically (:func:`perflaw.files.write_text`; ``inputs`` are never overwritten)."""
    doc = {
        "format": "perflaw-law",
        "format_version": FORMAT_VERSION,
        "perflaw_version": __version__,
        "created": _dt.datetime.now(_dt.UTC).isoformat(timespec="seconds"),
        "fits": [dict(group=dict(key), **f.to_dict()) for key, f in fits],
    }
    return write_text(
        Path(path), json.dumps(_jsonable(doc), indent=1) + "\n", inputs, option="--out"
    )


def _jsonable(value: Any) -> Any:
    """numpy scalars/arrays to Python, non-finite floats to None (JSON has no NaN)."""
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple, np.ndarray)):
        return [_jsonable(v) for v in (value.tolist() if isinstance(value, np.ndarray) else value)]
    if isinstance(value, (bool, np.bool_)):
        return bool(value)
    if isinstance(value, (np.integer,)):
        return int(value)
    if isinstance(value, (float, np.floating)):
        return float(value) if math.isfinite(value) else None
    return value


def _major_minor(version: str) -> tuple[str, ...]:
    return tuple(str(version).split(".")[:2])


def settings(data: dict) -> tuple[Law, dict[str, Any]]:
    """The law of a validated fit and the fitter settings that rebuild it."""
    law = get_law(data["law"], **(data.get("law_options") or {}))
    fo = data.get("fit_options") or {}
    return law, dict(
        loss=fo.get("loss", "l2"),
        seed=fo.get("seed", 0),
        bootstrap=fo.get("bootstrap", 0),
        bootstrap_by=fo.get("bootstrap_by", "row"),
        level=data.get("level", 0.95),
        **(data.get("law_options") or {}),
    )


def _d_prime_def(f) -> str | None:
    """How the fitted D′ was measured (``d_prime_def_``; perflaw sweep's definition when
    the fit has a D′ input and nobody said otherwise); None without a D′ input."""
    if "d_prime" not in f.ranges_:
        return None
    from perflaw.quality.definition import DPRIME_DEF

    return getattr(f, "d_prime_def_", None) or DPRIME_DEF


def restore(f, law: Law, data: dict) -> None:
    """Set the fitted attributes of a fitter ``f`` from a validated fit (predicting, not
    refitting); the fitter then recomputes what follows from them."""
    fo = data.get("fit_options") or {}
    f.law_ = law
    f.theta_ = np.array([data["params"][n] for n in law.param_names], dtype=float)
    f.metric_ = data.get("metric")
    f.huber_delta_ = fo.get("huber_delta")
    f.holdout_condition_ = fo.get("holdout")
    f.ranges_ = {c: tuple(v) for c, v in data.get("data_ranges", {}).items()}
    f.d_prime_def_ = data.get("d_prime_def")
    f.derived_ = law.derived(f.theta_, f.ranges_)
    f.notes_ = list(data.get("notes") or [])
    f.warnings_ = list(data.get("warnings") or [])
    f.cost_ = data.get("loss_value")
    f.exclude_ = fo.get("exclude")
    f.n_excluded_ = fo.get("n_excluded", 0)
    f.diagnostics_ = data.get("diagnostics") or {}
    f.transform_ = data.get("scale") or "none"
    f.form_ = data.get("form")
    f.selection_ = data.get("selection")
    f.calibration_ = data.get("calibration")
    # files written before the edge was stored: the calibration's edge, if any
    f.edge_ = data.get("edge")
    f.alternatives_ = [a for a in data.get("alternatives") or [] if a.get("params")]
    f.best_observed_ = data.get("best_observed")
    f.noise_sd_ = data.get("noise_sd")
    f.noise_sd = data.get("run_noise")
    f.unidentified_, f.inert_ = [], []
    f.cov_ = np.array(data.get("covariance") or np.zeros((law.n_params,) * 2), dtype=float)
    bp = data.get("bootstrap_params")
    f.bootstrap_params_ = None if bp is None else np.array(bp, dtype=float)
    f.n_bootstrap_failed_ = 0
    stored = data["data"]
    f.X_ = {c: np.asarray(v, dtype=float) for c, v in stored["inputs"].items()}
    f.y_ = np.asarray(stored["y"], dtype=float)
    g = stored.get("groups")
    f.groups_ = None if g is None else np.asarray(g, dtype=str)
    f.n_starts_ = (data.get("starts") or {}).get("tried", 0)
    f.n_best_starts_ = (data.get("starts") or {}).get("reached_best", 0)
    f.holdout_metrics_ = data.get("holdout")
    f.loo_metrics_ = data.get("loo")


def read_fits(path: str | Path) -> list[tuple[dict, dict, str]]:
    """The fits of a law file written by :func:`save_fits`: ``(group, fit, source)`` each,
    every fit validated; :class:`LawFileError` (one line) if the file is unusable."""
    path = Path(path)
    if not path.exists():
        raise LawFileError(
            f"law file {str(path)!r} not found: run `perflaw fit` first or pass --law"
        )
    if path.stat().st_size > MAX_BYTES:
        raise LawFileError(
            f"law file {str(path)!r} is {path.stat().st_size:,} bytes, more than the "
            f"{MAX_BYTES:,} a law file can be"
        )
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        why = exc.msg if hasattr(exc, "msg") else exc
        raise LawFileError(f"law file {str(path)!r} is not valid JSON ({why})") from None
    except RecursionError:
        raise LawFileError(
            f"law file {str(path)!r} is nested too deeply to be a law file"
        ) from None
    except ValueError as exc:  # e.g. an integer longer than Python converts
        raise LawFileError(f"law file {str(path)!r} is not a law file ({exc})") from None
    if not isinstance(doc, dict) or doc.get("format") != "perflaw-law":
        raise LawFileError(f"{str(path)!r} is not a perflaw law file")
    version = str(doc.get("perflaw_version", "unknown"))
    if doc.get("format_version") != FORMAT_VERSION or _major_minor(version) != _major_minor(
        __version__
    ):
        raise LawFileError(
            f"law file {str(path)!r} was written by perflaw {version}; this is perflaw "
            f"{__version__}: refit it with `perflaw fit`"
        )
    fits = doc.get("fits")
    if not isinstance(fits, list) or not fits:
        raise LawFileError(f"law file {str(path)!r} holds no fits")
    source = f"law file {str(path)!r}"
    out = []
    for f in fits:
        validate(f, source)
        group = f.get("group")
        if group is not None and not isinstance(group, dict):
            raise LawFileError(f"{source}: field 'group' must be an object")
        out.append((dict(group or {}), f, source))
    return out
