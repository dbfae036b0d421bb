#!/usr/bin/env bash
# The commands that produced data/ml-latest-small-sweep.csv (run from the repository root
# with perflaw[train] installed; torch 2.13.0 CPU).  The two data fractions ran as two
# single-threaded processes appending to the same table (one line per run; each process
# skips the rows already there).  Rerunning this script resumes an interrupted sweep.
set -euo pipefail
# Keep glibc from returning the large logits buffers to the OS after every batch.
export MALLOC_MMAP_THRESHOLD_=4294967296 MALLOC_TRIM_THRESHOLD_=4294967296
run() {
  python -m perflaw sweep data/ml-latest-small.parquet \
    --backbone sasrec --layers 1,2,4,8 --d-emb 16,32,48,64 --data-fraction "$1" \
    --max-len 50 --epochs 30 --patience 5 --batch-size 64 --lr 0.005 --dropout 0.5 \
    --seed 0 --threads 1 --out data/ml-latest-small-sweep.csv --csv
}
run 0.5 > /dev/null &
run 1 > /dev/null &
wait
