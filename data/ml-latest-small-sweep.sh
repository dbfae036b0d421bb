#!/usr/bin/env bash
# The command that produced data/ml-latest-small-sweep.csv (issue 12), run from the
# repository root with perflaw[train] installed.  16 processes share one --out (claim files
# in <out>.running/ split the grid); rerunning the script resumes an interrupted sweep, and
# finishes the configurations the committed table still lacks (see docs/sweep.md).
#
# History of the committed table: two calls on one H200 (torch 2.11, CUDA, bf16 autocast):
# 39 runs in 285 s with 16 plain processes, then 73 more in 240 s with the same 16
# processes under CUDA MPS (`nvidia-cuda-mps-control -d`), after which the GPU time
# allotted was spent: 112 of the grid's 144 runs are in the table (seeds 0 and 1 nearly
# complete, seed 2 at fractions 0.25 and 0.5 partly).  Same settings throughout; the
# `settings` column records them and a rerun refuses other settings.
set -euo pipefail
export OMP_NUM_THREADS=1 NUMBA_NUM_THREADS=2
run() {
  python -m perflaw sweep data/ml-latest-small.parquet --backbone sasrec \
    --layers 1,2,4,8 --d-emb 16,32,64,128 --data-fraction 0.25,0.5,1 --seed 0,1,2 \
    --eval-every 50 --patience 500 --patience-from best --min-steps 500 --max-steps 5000 --threads 1 \
    --out data/ml-latest-small-sweep.csv --csv
}
for i in $(seq 1 "${PROCESSES:-16}"); do run > /dev/null & sleep 0.3; done
wait
