"""Progress bars on stderr for the long loops of a fit (bootstrap, backtest)."""

from __future__ import annotations

import sys


def progress_bar(iterable, total: int, desc: str, enabled: bool):
    """``iterable`` wrapped in a tqdm bar on stderr when ``enabled``, else as it is."""
    if not enabled:
        return iterable
    from tqdm import tqdm  # imported only when a bar is shown

    return tqdm(iterable, total=total, desc=desc, file=sys.stderr, leave=False)
