#!/usr/bin/env bash
# A size scan on a larger log than the bundled one (issue 12, item 5): does an optimum in
# d_emb or layers show on amazon-beauty (22,363 users, 12,101 items), where 22,363 test
# users rank configurations with far less noise than ml-latest-small's 671?
#
# The log may not be bundled (research use only), its runs table may:
# benchmarks/results_issue12/amazon-beauty-sweep.csv.  Same settings as the bundled sweep
# except --eval-every 100 and --max-steps 6000 (an epoch of windows here is 176 steps).
# Seed 0 of every configuration first, then seed 1, then seed 2, so an interrupted scan
# still covers the whole range.  Resumable: rerun it and finished runs are skipped;
# PROCESSES workers share the table through perflaw sweep's claim files.
#
# WIDTHS (at 1 layer) and DEPTHS (at each of DEPTH_WIDTHS, default d_emb 64) extend the
# scan, e.g. on a GPU:
#   WIDTHS=16,32,64,128,256,512,1024 DEPTHS=2,4,8,16 DEPTH_WIDTHS=64,128,256 bash ...
# (d_emb 512 joined the default widths on 2026-12-01, once d 256 looked like the optimum;
# 2 layers at d 128 and 256 were added the same day with DEPTHS=2 DEPTH_WIDTHS=128,256;
# 1 x 160, seeds 0-2, the run recommend-config named next, was trained with the settings
# of sweep() below and `--layers 1 --d-emb 160 --seed 0,1,2`, after its predictions were
# committed in benchmarks/results_issue12/prediction-1x160.json; 1 x 72, 80, 88, 96, 56 and
# 104, 112 and 120 the same way, each after its prediction-1xD.json.)
#
# NARROW widths (default 16 and 32) train with --max-steps NARROW_MAX_STEPS (30000): at
# 6,000 every seed of 1 x 16 and 1 x 32 was still improving at the cap.  They were
# retrained so on 2026-12-02 (`--layers 1 --d-emb 16` and `--d-emb 32`, seeds 0-2, into
# their own tables, then moved into OUT); the capped rows they replaced are kept in
# benchmarks/results_issue12/amazon-beauty-capped-6000.csv.  1 x 80 seed 1, the last run on
# the 6,000-step cap (best step 5,600), was retrained so too on 2026-12-02 (ended on
# patience at 6,100, best step 5,600 again) and moved in by benchmarks/replace_runs.py.
# A resume takes the mixed caps (a cap is a budget, not a rule: runs_table.training_rule);
# before 2026-12-02 it refused the table once the 30,000-step rows were in.
# 1 x 48 (named next after 1 x 136, prediction-1x48.json) was trained on 2026-12-02 with the
# 6,000 cap; seed 0 was still improving near it, so seeds 0 and 2 were retrained with
# --max-steps 30000 (best steps 6,500 and 7,000; seed 1 ended on patience at 4,700) and the
# three rows were appended from their own table (commit 31681a6).
# 2 x 80, named next for HR@10 by the p2 law once a falling law's fall past the edge was
# halved (prediction-2x80.json), was trained on 2026-12-02 with `--layers 2 --d-emb 80
# --seed 0,1,2` and the settings of sweep() below (all three on patience, best steps
# 3,200-3,900) into its own table, then appended.
# 2 x 88, named next by the p2 law on those 66 runs (prediction-2x88.json), was trained on
# 2026-12-03 the same way (all three on patience, best steps 3,500-3,900), then appended.
# 2 x 72, named next by the p2 law on 69 runs (prediction-2x72.json), was trained on
# 2026-12-03 the same way (all three on patience, best steps 4,400-5,000), then appended.
#
#   LOG=../shared/data/amazon-beauty.parquet OUT=... PROCESSES=2 bash benchmarks/amazon_beauty_sweep.sh
set -uo pipefail
LOG=${LOG:-../shared/data/amazon-beauty.parquet}
OUT=${OUT:-benchmarks/results_issue12/amazon-beauty-sweep.csv}
PYTHON=${PYTHON:-python}
WIDTHS=${WIDTHS:-64,128,256,512}
NARROW=${NARROW:-16,32}
NARROW_MAX_STEPS=${NARROW_MAX_STEPS:-30000}
DEPTHS=${DEPTHS:-2,4}
DEPTH_WIDTHS=${DEPTH_WIDTHS:-64}
export OMP_NUM_THREADS=1 NUMBA_NUM_THREADS=1
sweep() {
  # exit status 3: some configurations are being trained by the other worker
  "$PYTHON" -m perflaw sweep "$LOG" --backbone sasrec --data-fraction 1 \
    --eval-every 100 --patience 500 --min-steps 1500 --max-steps 6000 --threads 1 \
    --out "$OUT" --csv "$@" > /dev/null || [ $? -eq 3 ]
}
worker() {
  for seed in 0 1 2; do
    sweep --layers 1 --d-emb "$NARROW" --seed "$seed" --max-steps "$NARROW_MAX_STEPS"
    sweep --layers 1 --d-emb "$WIDTHS" --seed "$seed"
    sweep --layers "$DEPTHS" --d-emb "$DEPTH_WIDTHS" --seed "$seed"
  done
}
for i in $(seq 1 "${PROCESSES:-2}"); do worker & sleep 0.3; done
wait
