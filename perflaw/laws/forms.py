r"""The candidate forms a backtest chooses among, declared by the laws themselves.

Every registered law lists its ``candidate_forms`` (name -> simplicity rank, law
options); :data:`FORMS` collects them, simplest first, so that a new form is one
declaration in its law's module:

========== ========================================================================
carry      carry-forward baseline: the deepest trained run of the same width
saturating per-width :math:`a_d - b_d/N`: each doubling gains half the previous one
loglinear  per-width :math:`a_d + b_d \ln N` (baseline)
p2         the Performance Law with the authors' :math:`p = 2`
free       the Performance Law with :math:`p` free per factor
========== ========================================================================
"""

from __future__ import annotations

from typing import Any

import perflaw.laws.chinchilla  # noqa: F401  (registers the built-in laws)
import perflaw.laws.performance  # noqa: F401
import perflaw.laws.perwidth  # noqa: F401
import perflaw.laws.power  # noqa: F401
from perflaw.errors import DataError
from perflaw.laws.base import LAWS, Law, get_law


def _collect_forms() -> dict[str, tuple[str, dict[str, Any]]]:
    """Every registered law's ``candidate_forms``, simplest first."""
    found = []
    for name, cls in LAWS.items():
        for form, (rank, opts) in cls.candidate_forms.items():
            found.append((rank, form, name, opts))
    return {form: (name, dict(opts)) for _, form, name, opts in sorted(found)}


#: candidate forms, simplest first: name -> (law, law options)
FORMS: dict[str, tuple[str, dict[str, Any]]] = _collect_forms()
#: forms that are plain baselines rather than laws
BASELINES = tuple(f for f, (law, _) in FORMS.items() if get_law(law).kind == "baseline")


def form_law(form: str, axis: str = "layers") -> Law:
    """The (unbound) law of a candidate form, for a backtest along ``axis`` (a law that
    depends on it, carry-forward, carries along that axis).

    >>> form_law("p2").p, form_law("carry").name, form_law("carry", "d_emb").axis
    (2.0, 'carry', 'd_emb')
    """
    key = str(form).lower()
    if key not in FORMS:  # a law registered after import (a user's own file)
        FORMS.update(_collect_forms())
    if key not in FORMS:
        raise DataError(f"unknown form {form!r}: use auto or one of {', '.join(FORMS)}")
    name, opts = FORMS[key]
    law = get_law(name, **opts)
    if "axis" in law.options() and axis != law.options()["axis"]:
        law = get_law(name, **{**opts, "axis": axis})
    return law
