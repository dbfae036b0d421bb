"""Seed replicates of one configuration, and the run-to-run noise they measure.

The noise is one number across perflaw: ``fit`` prints it, the law file keeps it,
``recommend-config`` weighs a predicted gain against it and ``perflaw next`` stops when no
untried run is likely to beat the best by more than it.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from perflaw.runs import Runs


def average_replicates(runs: Runs, seeds) -> tuple[Runs, float | None, int]:
    """Average seed replicates of the same configuration (issue 9).

    ``seeds`` holds one seed per row.  Rows with equal inputs (and group keys) become one
    row whose metric is their mean.  Returns ``(runs, noise_sd, n_replicated)``:
    ``noise_sd`` is the pooled within-configuration standard deviation of one run (the
    run-to-run noise; ``None`` without any replicated configuration) and
    ``n_replicated`` the number of configurations with two or more seeds.
    """
    seeds = np.asarray(seeds)
    if len(seeds) != len(runs.y):
        # averaging by another table's seeds would pair runs with the wrong seeds
        raise ValueError(f"{len(seeds)} seeds for {len(runs.y)} runs")
    if len(np.unique(seeds)) < 2:
        return runs, None, 0
    key = pd.concat([runs.keys.reset_index(drop=True), runs.X.reset_index(drop=True)], axis=1)
    # a group key may be an input too (--group-by layers: one width law per depth)
    key = key.loc[:, ~key.columns.duplicated()]
    cols = list(key.columns)
    key = key.assign(_y=runs.y)
    grouped = key.groupby(cols, sort=False, dropna=False)["_y"]
    mean = grouped.mean().reset_index()
    n_groups = int((grouped.size() > 1).sum())
    noise = run_noise(g.to_numpy(float) for _, g in grouped)
    X = mean[list(runs.X.columns)].reset_index(drop=True)
    keys = (
        mean[list(runs.keys.columns)].reset_index(drop=True) if runs.group_cols else pd.DataFrame()
    )
    return Runs(X, mean["_y"].to_numpy(float), runs.metric, keys, runs.source), noise, n_groups


def run_noise(groups) -> float | None:
    """The run-to-run noise of one run: the pooled within-configuration standard
    deviation of the metric over seed replicates, on the metric's own scale.

    ``groups`` holds one sequence of values per configuration.  This is the one noise
    estimate every screen quotes (``fit``, ``recommend-config``, ``next``); ``None``
    when no configuration has two values.

    >>> round(run_noise([[0.30, 0.32], [0.40], [0.50, 0.54, 0.52]]), 4)
    0.0183
    """
    ss, dof = 0.0, 0
    for g in groups:
        g = np.asarray(g, dtype=float)
        g = g[np.isfinite(g)]
        if len(g) > 1:
            ss += float(((g - g.mean()) ** 2).sum())
            dof += len(g) - 1
    return float(np.sqrt(ss / dof)) if dof > 0 else None
