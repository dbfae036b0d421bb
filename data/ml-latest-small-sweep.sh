#!/usr/bin/env bash
# The command that produced data/ml-latest-small-sweep.csv (run from the repository root,
# with perflaw[train] installed; torch 2.13.0 CPU, 2 threads).  Rerunning it resumes: rows
# already in the CSV are skipped.
set -euo pipefail
python -m perflaw sweep data/ml-latest-small.parquet \
  --backbone sasrec --layers 1,2,4,8 --d-emb 16,32,48,64 --data-fraction 0.5,1 \
  --max-len 50 --epochs 30 --patience 5 --batch-size 64 --lr 0.005 --dropout 0.5 \
  --seed 0 --threads 2 --out data/ml-latest-small-sweep.csv --csv
