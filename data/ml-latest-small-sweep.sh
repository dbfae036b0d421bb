#!/usr/bin/env bash
# The command that produced data/ml-latest-small-sweep.csv (issue 12), run from the
# repository root with perflaw[train] installed: the 144-run grid (layers 1,2,4,8 x d_emb
# 16,32,64,128 x data fraction 0.25,0.5,1 x seeds 0,1,2), --min-steps 1500.  PROCESSES
# (default 2) share one --out: claim files in <out>.running/ split the grid, each run is
# appended as it ends, so an interrupted sweep loses at most the runs in flight, and
# rerunning the script trains only what the table lacks.
#
# History (docs/sweep.md, "The bundled sweep" and "Early peaks"):
# 1. 2026-11-29/30: the first table, --min-steps 500: 136 of 144 runs, 87 on one H200
#    (torch 2.11, CUDA, bf16 autocast), 49 on the 2-core CPU (torch 2.13, fp32, one thread
#    a run).  Kept as benchmarks/results_issue12/sweep-min-steps-500.csv.  --min-steps 500
#    stopped 19 of its runs (18 at d_emb 16) still on the popularity plateau, which lasts
#    ~1,000 steps at 1 layer and ~1,600 at 8 layers on this log.
# 2. 2026-11-30 to 2026-12-01: rebuilt with --min-steps 1500 on the 2-core CPU, two
#    one-thread processes.  46 runs were carried over because the longer minimum cannot
#    touch them (perflaw.train.runs_table.raise_min_steps: best step >= 1,500 or ended on
#    the cap; settings relabelled; `benchmarks/rebuild_bundled_sweep.sh carry`): 42 of the
#    first table (28 of them GPU runs, the `device` column says which) and 4 trained during
#    a short-lived --min-steps 1000 attempt.  The other 98 were trained with this command's
#    settings, one configuration per `perflaw sweep` call.
# 3. 2026-12-02: the two runs that had ended on the 5,000-step cap (1 x 16 seed 1 and
#    4 x 16 seed 2, fraction 1) retrained with --max-steps 20000 on the 2-core CPU (same
#    seeds, one process each, --out a table of their own) and moved in place of the capped
#    rows by benchmarks/replace_runs.py; the capped rows are kept in
#    benchmarks/results_issue12/ml-latest-small-capped-5000.csv.  Both ended on patience
#    (5,500 and 5,600 steps).  Every run of the table now ended on patience.
# A rerun refuses a table made with other settings (the `settings` column records them),
# except for the cap (--max-steps, --max-seconds): this command resumes the table.
set -euo pipefail
export OMP_NUM_THREADS=1 NUMBA_NUM_THREADS=1
run() {
  python -m perflaw sweep data/ml-latest-small.parquet --backbone sasrec \
    --layers 1,2,4,8 --d-emb 16,32,64,128 --data-fraction 0.25,0.5,1 --seed 0,1,2 \
    --eval-every 50 --patience 500 --min-steps 1500 --max-steps 5000 --threads 1 \
    --out data/ml-latest-small-sweep.csv --csv
}
for i in $(seq 1 "${PROCESSES:-2}"); do run > /dev/null & sleep 0.3; done
wait
