"""Laws: one module per family, each a declaration (see :mod:`perflaw.laws.base`)."""

from perflaw.laws.base import LAWS, Law, Start, get_law, loss_value, register
from perflaw.laws.chinchilla import ChinchillaLaw
from perflaw.laws.performance import PerformanceLaw
from perflaw.laws.perwidth import CarryForwardLaw, LogLinearLaw, SaturatingLaw
from perflaw.laws.power import PowerLaw

__all__ = [
    "LAWS",
    "CarryForwardLaw",
    "ChinchillaLaw",
    "Law",
    "LogLinearLaw",
    "PerformanceLaw",
    "PowerLaw",
    "SaturatingLaw",
    "Start",
    "get_law",
    "loss_value",
    "register",
]
