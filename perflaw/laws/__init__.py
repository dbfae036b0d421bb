"""Laws: one module per family, each a declaration (see :mod:`perflaw.laws.base`)."""

from perflaw.laws.base import LAWS, Law, Start, get_law, loss_value, register
from perflaw.laws.performance import PerformanceLaw

__all__ = ["LAWS", "Law", "PerformanceLaw", "Start", "get_law", "loss_value", "register"]
