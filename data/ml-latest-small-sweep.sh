#!/usr/bin/env bash
# The command that produced data/ml-latest-small-sweep.csv (run from the repository root
# with perflaw[train] installed; torch 2.13.0 CPU).  Processes that share one --out split
# the grid between them (claim files in <out>.running/), so this script runs the same
# command in 3 single-threaded processes.  Rerunning it resumes an interrupted sweep.
#
# History of the committed table, on a 2-core machine shared with other jobs (load 5-10):
# runs 1-6 came from one 2-thread process, runs 7-20 from two single-threaded processes
# (one per --data-fraction, same settings), the rest from this script.  Same settings
# throughout; the `settings` column records them and a rerun refuses other settings.
set -euo pipefail
# Keep glibc from returning the large logits buffers to the OS after every batch.
export MALLOC_MMAP_THRESHOLD_=4294967296 MALLOC_TRIM_THRESHOLD_=4294967296
run() {
  python -m perflaw sweep data/ml-latest-small.parquet \
    --backbone sasrec --layers 1,2,4,8 --d-emb 16,32,48,64 --data-fraction "$1" \
    --max-len 50 --epochs 30 --patience 5 --batch-size 64 --lr 0.005 --dropout 0.5 \
    --seed 0 --threads 1 --out data/ml-latest-small-sweep.csv --csv
}
run 1 > /dev/null &
run 1,0.5 > /dev/null &
run 0.5,1 > /dev/null &
wait
