"""Run another benchmark with a different minimum of residual degrees of freedom for the
Performance Law (issue 12): the rule "a form is fitted, at an origin or in the end, only
with at least ``min_dof`` runs more than its parameters".  perflaw uses 1; this is how
the variants in docs/performance-law.md ("Residual degrees of freedom at an origin")
were measured, in the same process as the benchmark, without editing the package.

    python benchmarks/with_min_dof.py 2 benchmarks/selection_rule_sim.py
    python benchmarks/with_min_dof.py free2 benchmarks/calibration_coverage.py

``2``: every Performance-Law form (p2, free, joint) needs two; ``free2``: only the law
with p free does (p pinned keeps one).
"""

from __future__ import annotations

import runpy
import sys

from perflaw.laws.performance import PerformanceLaw


def main() -> None:
    if len(sys.argv) < 3 or sys.argv[1] not in ("1", "2", "free2"):
        raise SystemExit("usage: with_min_dof.py {1,2,free2} SCRIPT [ARGS...]")
    variant, script = sys.argv[1], sys.argv[2]
    if variant == "free2":
        PerformanceLaw.min_dof = property(lambda self: 2 if self.p is None else 1)  # type: ignore[assignment]
    else:
        PerformanceLaw.min_dof = int(variant)  # type: ignore[misc]
    sys.argv = sys.argv[2:]
    runpy.run_path(script, run_name="__main__")


if __name__ == "__main__":
    main()
