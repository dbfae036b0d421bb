"""``perflaw predict``: the fitted law's prediction, with intervals, for a grid of sizes."""

from __future__ import annotations

import itertools
import warnings

import click
import numpy as np
import pandas as pd

from perflaw.cli._laws_common import (
    _floats,
    _joint_groups,
    _prediction_fields,
    _select,
    _warnings_to_stderr,
)
from perflaw.cli._options import law_option
from perflaw.cli._output import output_options, render
from perflaw.cli.scaling import is_scaling_law, scaling_predict_options
from perflaw.errors import DataError


@click.command()
@law_option
@click.option(
    "--layers",
    help="Comma-separated numbers of layers, e.g. 8,16 (required for the performance law).",
)
@click.option(
    "--d-emb", "d_emb", help="Comma-separated embedding dims (required for the performance law)."
)
@click.option("--d-prime", "d_prime", help="Comma-separated D′ values (laws with a D′ term).")
@click.option("--group", help="Only this group of a grouped law file (e.g. 'panel=0').")
@click.option("--level", type=float, default=None, help="Interval level (default: the fit's).")
@click.option(
    "--kind",
    type=click.Choice(["mean", "observation"]),
    default="mean",
    show_default=True,
    help="Interval for the expected metric or for a new run.",
)
@scaling_predict_options
@output_options
def predict(law_path, layers, d_emb, d_prime, group, level, kind, fmt, x_values, n_params, data):
    """Predict the metric for every combination of --layers × --d-emb, with intervals.

    Power laws take --x, chinchilla laws --n-params × --data.
    """
    from perflaw.fitting.fitter import load_fits

    if level is not None and not 0 < level < 1:
        raise DataError(f"--level must be strictly between 0 and 1, got {level:g}")
    fits = _select(load_fits(law_path), group, law_path)
    if any(is_scaling_law(f.law_.name) for _, f in fits):
        from perflaw.cli.scaling import run_predict

        return run_predict(
            fits, x_values=x_values, n_params=n_params, data=data, level=level, kind=kind, fmt=fmt
        )
    if layers is None or d_emb is None:
        raise DataError("--layers and --d-emb are required for the performance law")
    L = _floats(layers, "--layers")
    D = _floats(d_emb, "--d-emb")
    P = _floats(d_prime, "--d-prime")
    records = []
    with _warnings_to_stderr():
        for key, f in fits:
            needs_dp = "d_prime" in f.law_.inputs
            if needs_dp and P is None:
                raise DataError(f"the law in {law_path!r} has a D′ term: give --d-prime")
            combos = list(itertools.product(L, D, P if needs_dp else [None]))
            frame = pd.DataFrame(
                {"layers": [c[0] for c in combos], "d_emb": [c[1] for c in combos]}
            )
            if needs_dp:
                frame["d_prime"] = [c[2] for c in combos]
            # a law file grouped by an input (--group-by layers: one width law per depth)
            # answers each value of that input by its own fit, not by every fit
            own = {c: v for c, v in key.items() if c in frame.columns}
            if own:
                keep = np.all([frame[c].to_numpy(float) == float(v) for c, v in own.items()], 0)
                frame = frame[keep].reset_index(drop=True)
                if frame.empty:
                    continue
            keyed = f.law_.grouped_input()
            if keyed is not None:
                col, labels = keyed
                missing = sorted(set(frame[col].astype(float)) - set(labels))
                if missing and len(missing) < frame[col].nunique():
                    warnings.warn(
                        f"{col} {', '.join(f'{v:g}' for v in missing)} not predicted: the law "
                        f"has a term per {col} value, for {col} "
                        f"{', '.join(f'{v:g}' for v in sorted(labels))} only",
                        stacklevel=1,
                    )
            for g in _joint_groups(f, group):
                rows = frame
                if keyed is not None:  # one term per depth (or width): its own rows only
                    own = [v for v, label in labels.items() if g is None or label == g]
                    rows = frame[frame[col].astype(float).isin(own)].reset_index(drop=True)
                    if rows.empty:
                        continue
                glabel = g if "group" in f.law_.inputs else None  # a depth term: by value
                res = f.predict(rows, groups=glabel, interval=True, level=level, kind=kind)
                for i in range(len(rows)):
                    rec = dict(key)
                    if g is not None:
                        rec["group"] = g
                    rec.update({c: rows.iloc[i][c] for c in rows.columns})
                    rec.update(_prediction_fields(f, res, i))
                    for c in ("layers", "d_emb"):
                        if float(rec[c]).is_integer():
                            rec[c] = int(rec[c])
                    records.append(rec)
    keyed = fits[0][1].law_.grouped_input() if fits else None
    if not records and keyed is not None:
        col, labels_of = keyed
        raise DataError(
            f"the law in {law_path!r} has a term per {col} value, for {col} "
            f"{', '.join(f'{v:g}' for v in sorted(labels_of))} only: ask for those values"
        )
    if not records and fits:
        labels = ", ".join(
            "; ".join(f"{k}={v:g}" if isinstance(v, float) else f"{k}={v}" for k, v in key.items())
            for key, _ in fits
        )
        raise DataError(
            f"the law in {law_path!r} has one fit per {' and '.join(fits[0][0])} ({labels}): "
            "ask for those values"
        )
    if fmt == "table" and records:
        lvl = level if level is not None else fits[0][1].level
        names = {
            "prediction": f"{records[0]['metric']} predicted",
            "lower": f"lower {100 * lvl:g}%",
            "upper": f"upper {100 * lvl:g}%",
        }
        records = [{names.get(k, k): v for k, v in r.items() if k != "metric"} for r in records]
    click.echo(render(records, fmt))
