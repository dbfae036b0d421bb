"""The loop's one door to the fitting wing (fit.py / backtest.py today; fitting/ later).

Everything the decide-loop modules and their commands take from the fitting code comes
through here, so that moving that code is a change of this file only.
"""

from __future__ import annotations

from perflaw.fit import parse_condition

__all__ = ["parse_condition"]
