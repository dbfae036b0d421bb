"""Helpers shared by the law commands (fit, predict, recommend-config, backtest, plot)."""

from __future__ import annotations

import warnings
from contextlib import contextmanager

import click

from perflaw.cli._output import render, to_json
from perflaw.errors import DataError

DEFAULT_RUNS = "runs.csv"
DEFAULT_LAW = "perflaw-law.json"
_GROUPISH = {
    "panel",
    "dataset",
    "dataset_name",
    "max_seq_len",
    "max_len",
    "seq_len",
    "group",
    "data_fraction",
    "backbone",
    "arch",
    "eval",
    "objective",
}


@contextmanager
def _warnings_to_stderr(skip: tuple[type[Warning], ...] = ()):
    """Show library warnings as one ``warning:`` line each on stderr (not those of the
    ``skip`` categories: the caller prints them with its output)."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        yield
    seen = set()
    for w in caught:
        if issubclass(w.category, skip):
            continue
        msg = str(w.message)
        if msg not in seen:
            seen.add(msg)
            click.echo(f"warning: {msg}", err=True)


def _floats(text: str | None, what: str) -> list[float] | None:
    if text is None:
        return None
    from perflaw.io import parse_list  # the one list syntax of every option

    return parse_list(text, float, what=what)


def _metric(metric: str | None, columns, runs: str) -> str:
    """``metric``, or the runs table's only metric column when none is given."""
    if metric is not None:
        return metric
    from perflaw.runs import metric_columns  # the one metric-name rule (pulls in pandas)

    found = metric_columns(columns)
    if len(found) != 1:
        raise DataError(
            f"choose a metric with --metric: {runs!r} has metric columns "
            f"{', '.join(map(str, found)) or 'none'}"
        )
    return found[0]


def _prediction_fields(fitter, res, i: int) -> dict:
    """The prediction of row ``i`` of ``fitter.predict(..., interval=True)``'s frame, as
    every output format prints it."""
    return {
        "metric": fitter.metric_,
        "prediction": res["prediction"].iloc[i],
        "lower": res["lower"].iloc[i],
        "upper": res["upper"].iloc[i],
        "interval": res["interval"].iloc[i],
    }


def _fit_record(key: dict, fitter, *, with_ci: bool) -> dict:
    from perflaw.fitting.report import fit_record  # the one fit record (pulls in scipy)

    return fit_record(key, fitter, with_ci=with_ci)


def _flat(rec: dict) -> dict:
    out = {k: v for k, v in rec.items() if not isinstance(v, (dict, list))}
    out["warnings"] = " | ".join(rec.get("warnings") or [])
    out.update(rec["params"])
    for k in ("N_opt", "d_opt"):
        if k in rec["derived"]:
            out[k] = rec["derived"][k]
    if "holdout" in rec:
        out["holdout_mape"] = rec["holdout"]["mape"]
    if "loo" in rec:
        out["loo_mape"] = rec["loo"]["mape"]
    return out


def emit_fit_results(
    fits,
    records,
    fmt,
    *,
    law_name,
    metric,
    grouped,
    saved_to,
    plot_path,
    per_fit=None,
    comparison=None,
    verbose=True,
) -> None:
    """Print fitted laws as JSON, CSV or readable summaries (every ``fit`` variant).

    ``per_fit(fitter)`` may echo extra lines under a summary; ``comparison`` (records) is
    added to the JSON and printed as a table after the summaries.
    """
    if fmt == "json":
        if grouped:
            obj = {"law": law_name, "metric": str(metric), "groups": records}
            if comparison:
                obj["comparison"] = comparison
        else:
            obj = records[0]
        if saved_to is not None:
            obj = dict(obj, saved_to=str(saved_to))
        click.echo(to_json(obj))
    elif fmt == "csv":
        click.echo(render([_flat(r) for r in records], "csv"))
    else:
        for key, f in fits:
            if key:
                click.echo("== " + ", ".join(f"{k}={v}" for k, v in key.items()))
            click.echo(f.summary_text(verbose=verbose))
            if per_fit is not None:
                per_fit(f)
            click.echo("")
        if comparison:
            click.echo("comparison of the data columns (lower AIC is better):")
            click.echo(render(comparison, "table"))
    if saved_to is not None:
        click.echo(f"saved the law to {saved_to}", err=True)
    if plot_path:
        click.echo(f"saved the figure to {plot_path}", err=True)


def _panels(fits, group: str | None = None) -> list[tuple[dict, object, str | None]]:
    """One ``(key, fitter, group)`` per figure panel: a joint fit gives one per group (or
    the one ``--group`` names), with the group's label in its key; other fits one each,
    with group None."""
    out: list[tuple[dict, object, str | None]] = []
    for key, f in fits:
        if "group" in f.law_.inputs:
            for g in _joint_groups(f, group):
                named = dict(p.split("=", 1) for p in g.split(",") if "=" in p)
                out.append(({**key, **(named or {"group": g})}, f, g))
        else:
            out.append((key, f, None))
    return out


def _save_fit_plots(fits, path):
    from perflaw.plot import plot_fitter, save_fit_grid

    def draw(ax, label, item):
        f, group = item
        r2 = f.diagnostics_["r2"]
        title = f"{label or f.metric_} (R² = {r2:.3f})"
        plot_fitter(f, "fit", ax=ax, title=title, group=group)

    save_fit_grid([(key, (f, g)) for key, f, g in _panels(fits)], path, draw)


def _select(fits, group: str | None, law_path: str):
    """Keep the fits whose group key matches ``--group`` (``k=v[,k=v]`` or a bare value)."""
    if not group:
        return fits
    wanted: dict[str | None, str] = {}
    for part in group.split(","):
        if "=" in part:
            k, v = part.split("=", 1)
            wanted[k.strip()] = v.strip()
        else:
            wanted[None] = part.strip()
    out = []
    for key, f in fits:
        vals = {k: str(v) for k, v in key.items()}
        if all(
            (vals.get(k) == v) if k is not None else (v in vals.values()) for k, v in wanted.items()
        ) or _in_joint(f, group):
            out.append((key, f))
    if not out:
        labels = [
            "; ".join(f"{k}={v}" for k, v in key.items())
            or ", ".join(_term_labels(f))  # a joint fit's groups, a law's depth terms
            for key, f in fits
        ]
        raise DataError(
            f"no group {group!r} in {law_path!r}; it has "
            f"{', '.join(l for l in labels if l) or 'a single ungrouped fit'}"
        )
    return out


def _names(label: str, group: str) -> bool:
    """Whether ``--group`` names a joint fit's group label (whole, or one ``k=v`` of it)."""
    return label == group or group in label.split(",")


def _term_labels(f) -> list[str]:
    """Labels of a law's per-group or per-value terms: a joint fit's groups, or a law's
    intercepts per depth (or width); empty for other laws."""
    if "group" in f.law_.inputs:
        return list(getattr(f.law_, "groups", None) or [])
    keyed = f.law_.grouped_input()
    return list(keyed[1].values()) if keyed else []


def _in_joint(f, group: str) -> bool:
    """Whether ``group`` names one of a law's per-group or per-value terms."""
    return any(_names(g, group) for g in _term_labels(f))


def _joint_groups(f, group):
    """The labels to answer separately: a joint fit's groups (or the one ``--group``
    names); ``[None]`` for a law without groups, and for a law with a term per depth
    (each configuration takes its own depth's term) unless ``--group`` names one."""
    labels = _term_labels(f)
    if not labels:
        return [None]
    if group:
        chosen = [g for g in labels if _names(g, group)]
        if not chosen:
            raise DataError(f"no group {group!r} in the joint law; it has {', '.join(labels)}")
        return chosen
    return labels if "group" in f.law_.inputs else [None]
