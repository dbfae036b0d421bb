#!/usr/bin/env bash
# The bundled sweep rebuilt with --min-steps 1500 (issue 12; docs/sweep.md, "Early peaks"):
# --min-steps 500 stops d 16 runs still on the popularity plateau, which lasts ~1,000 steps
# at 1 layer and ~1,600 at 8 layers on ml-latest-small.  Done 2026-12-01: the rebuild is
# data/ml-latest-small-sweep.csv (144 runs; the table it replaced is
# benchmarks/results_issue12/sweep-min-steps-500.csv), and data/ml-latest-small-sweep.sh is
# its command; this script stays as the record of the carry-over.
#
#   bash benchmarks/rebuild_bundled_sweep.sh carry   # once: the earlier tables carried over
#   bash benchmarks/rebuild_bundled_sweep.sh [N]     # resume: N processes (default 2)
#
# "carry" keeps the runs a longer minimum cannot touch (perflaw.train.runs_table.
# raise_min_steps: best step >= the new minimum, or ended on the cap), settings relabelled.
# History (2026-11-30, fourth session, 2-core CPU): data/ml-latest-small-sweep.csv (136
# runs, --min-steps 500) carried to 1000 kept 75 (rebuild-min-steps-1000.csv); 7 runs were
# retrained there before 8 x 16, fraction 1, seed 0 was seen to leave the plateau at ~1,600
# steps, just after --min-steps 1000 had stopped it at 1,500; that file carried to 1500
# kept 46 (42 + 4 retrained).  A resume (data/ml-latest-small-sweep.sh) trains what the
# table lacks, so an interrupted session loses at most the runs in flight; on a GPU,
# benchmarks/gpu_session.sh ROOT OUT rebuild resumes from a copy of it under MPS.  Same
# settings as the bundled sweep otherwise.
set -euo pipefail
OUT=data/ml-latest-small-sweep.csv
export OMP_NUM_THREADS=1 NUMBA_NUM_THREADS=1
if [ "${1:-}" = carry ]; then
  [ -e "$OUT" ] && { echo "$OUT exists: not overwritten" >&2; exit 1; }
  python - "$OUT" <<'EOF'
import sys
import pandas as pd
from perflaw.files import atomic_path
from perflaw.train.runs_table import raise_min_steps

table = pd.read_csv(
    "benchmarks/results_issue12/rebuild-min-steps-1000.csv", dtype=str, keep_default_na=False
)
kept, dropped = raise_min_steps(table.assign(best_step=pd.to_numeric(table["best_step"])), 1500)
text = table.loc[kept.index].assign(settings=kept["settings"])
with atomic_path(sys.argv[1]) as tmp:
    text.to_csv(tmp, index=False, lineterminator="\n")
print(f"kept {len(kept)}, to retrain {len(dropped)}")
EOF
  exit 0
fi
# resume: the rebuild is the bundled table now, and its command trains what it lacks
PROCESSES="${1:-2}" exec bash data/ml-latest-small-sweep.sh
