#!/usr/bin/env bash
# The command that produced data/ml-latest-small-sweep.csv (issue 12), run from the
# repository root with perflaw[train] installed.  16 processes share one --out (claim files
# in <out>.running/ split the grid); rerunning the script resumes an interrupted sweep, and
# finishes the configurations the committed table still lacks (see docs/sweep.md).
#
# History of the committed table (docs/sweep.md, "The bundled sweep"):
# 1. Two calls on one H200 (torch 2.11, CUDA, bf16 autocast) with the old stopping rule
#    (now): 39 runs in 285 s with 16 plain processes, then 73 more in
#    240 s under CUDA MPS (`nvidia-cuda-mps-control -d`); the GPU time allotted ran out.
# 2. On the 2-core CPU (torch 2.13, fp32, one thread a run), 2026-11-30: 8 more seed-2
#    runs with the old rule; then the table was carried over to the default rule
#    (--patience-from min_steps) with perflaw.train.runs_table.adopt_patience_from_min_steps,
#    which kept the runs the rule change cannot touch (best step >= --min-steps) and
#    dropped the early-peak ones; then this script's command (the default rule) retrained
#    missing runs with two single-threaded processes (the `device` column says cpu).
# 3. Same CPU, next session (2026-11-30): 33 more runs with this command's settings, one
#    configuration per process (--layers L --d-emb D --data-fraction F --seed S), two
#    processes: 136 of the 144 runs.
# Same settings otherwise throughout; the `settings` column records them and a rerun
# refuses other settings.
set -euo pipefail
export OMP_NUM_THREADS=1 NUMBA_NUM_THREADS=2
run() {
  python -m perflaw sweep data/ml-latest-small.parquet --backbone sasrec \
    --layers 1,2,4,8 --d-emb 16,32,64,128 --data-fraction 0.25,0.5,1 --seed 0,1,2 \
    --eval-every 50 --patience 500 --min-steps 500 --max-steps 5000 --threads 1 \
    --out data/ml-latest-small-sweep.csv --csv
}
for i in $(seq 1 "${PROCESSES:-16}"); do run > /dev/null & sleep 0.3; done
wait
