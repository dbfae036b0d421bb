#!/usr/bin/env bash
# One prepared GPU session for issue 12 (run once, on one H200, inside a 540 s call):
#   (b) the ml-100k peer check, seeds 0-2, default stopping rule (windows and prefixes);
#   (a+c) the bundled multi-seed sweep on ml-latest-small, P processes sharing one --out,
#         GPU utilisation sampled by nvidia-smi (this is also the throughput measurement);
#   (d) fit on seed means, recommend-config, train the recommendation for seeds 0-2.
# SCALE "resume" (the second call): skip (b), start CUDA MPS when the machine has it (so
# the processes' kernels share the GPU instead of time-slicing it), resume the sweep from
# ROOT/prev/ml-latest-small-sweep.csv, then (d).
# SCALE "finish" (the next session with a GPU): "resume", preceded by (p) packing
# (bench_pack.py: K runs separate vs one pack) and torch.compile (bench_compile.py) timed
# on the GPU, before MPS starts.  Prepare with ROOT/prev = the committed table, e.g.
#   mkdir -p .gpu/prev .gpu/data && cp data/ml-latest-small-sweep.csv .gpu/prev/ &&
#   cp ../shared/data/ml-100k.parquet data/ml-latest-small.parquet .gpu/data/ &&
#   ln -s .. .gpu/repo   # (or copy perflaw/ and benchmarks/ into .gpu/repo)
# and carry .gpu (plus wheels of what the machine lacks, e.g. polars, in .gpu/whl).
# SCALE "rebuild": the bundled grid with --min-steps ${MIN_STEPS:-1500} (no (b), no (p)):
# d 16 runs leave the popularity plateau only after ~1,000-1,600 steps (docs/sweep.md, "Early
# peaks"), which --min-steps 500 cuts short.  It resumes from ROOT/prev/rebuild.csv when
# there is one (prepare with `cp data/ml-latest-small-sweep.csv .gpu/prev/rebuild.csv`;
# the bundled table has been the complete --min-steps 1500 rebuild since 2026-12-01, so
# that resume trains nothing); without it the whole grid is trained afresh (e.g. with
# another MIN_STEPS).
# Each part has its own time guard and writes its results as it goes.
#
#   bash benchmarks/gpu_session.sh ROOT OUTDIR [full|resume|finish|rebuild|mini]
# ROOT holds repo/ (perflaw, benchmarks), data/ (ml-100k.parquet, ml-latest-small.parquet)
# and optionally whl/ (wheels installed into /tmp/site).  "mini" is the CPU rehearsal.
set -u
ROOT=$(cd "${1:-.gpu}" && pwd); O=${2:-${OUT:-/tmp/gpu-out}}; SCALE=${3:-full}
mkdir -p "$O"; W=$(mktemp -d); R=$W/res; mkdir -p "$R"; LOG=$O/session.log
pack() { tar -czf "$O/results.tar.gz.tmp" -C "$W" res && mv "$O/results.tar.gz.tmp" "$O/results.tar.gz"; }
export PYTHONUNBUFFERED=1 MALLOC_MMAP_THRESHOLD_=4294967296 OMP_NUM_THREADS=1 NUMBA_NUM_THREADS=2
if ls "$ROOT"/whl/*.whl >/dev/null 2>&1; then
  python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade \
    --target /tmp/site "$ROOT"/whl/*.whl && export PYTHONPATH=/tmp/site
fi
export PYTHONPATH=$ROOT/repo${PYTHONPATH:+:$PYTHONPATH}
PY=${PY:-python3}
T0=$SECONDS
say() { echo "[$(date -u +%T) +$((SECONDS - T0))s] $*" | tee -a "$LOG"; }
say "start scale=$SCALE root=$ROOT python=$($PY -c 'import sys,torch;print(sys.version.split()[0],torch.__version__,torch.cuda.is_available())' 2>&1)"

if [ "$SCALE" = full ] || [ "$SCALE" = resume ] || [ "$SCALE" = finish ] || [ "$SCALE" = rebuild ]; then
  DEV=cuda; P=16; TB=80; TC=280; TD=85; BSEEDS="0 1 2"
  [ "$SCALE" != full ] && TC=${TC_RESUME:-185} && TD=${TD_RESUME:-70}
  [ "$SCALE" = rebuild ] && TC=${TC_REBUILD:-420}
  GRID=(--layers 1,2,4,8 --d-emb 16,32,64,128 --data-fraction 0.25,0.5,1 --seed 0,1,2)
  MS=500; [ "$SCALE" = rebuild ] && MS=${MIN_STEPS:-1500}
  STEPS=(--eval-every 50 --patience 500 --min-steps $MS --max-steps 5000 --threads 1)
  BUDGET_FROM="4 64"
else
  DEV=cpu; P=2; TB=100; TC=60; TD=100; BSEEDS="0"
  GRID=(--layers 1,2,3 --d-emb 8,16,24 --data-fraction 0.25,0.5,1 --seed 0,1)
  STEPS=(--max-steps 4 --min-steps 0 --eval-every 2 --max-len 8 --threads 1)
  BUDGET_FROM="2 16"
fi
DEV=${DEV_OVERRIDE:-$DEV}
if command -v nvidia-smi >/dev/null; then
  nvidia-smi --query-gpu=timestamp,utilization.gpu,memory.used --format=csv,noheader,nounits \
    -lms 500 > "$R/smi.csv" 2>/dev/null &
  SMI=$!
fi
mark() { echo "$(date -u +%Y/%m/%d\ %T.%3N), MARK $1" >> "$R/smi.csv"; }

# Compile the numba kernels once (cached) before many processes want them at once.
$PY -c "import numpy as np; from perflaw.train.data import d_prime; d_prime([np.array([1,2,3,1,2])], 50)"
say "numba warm"

# ------------------------------------------- (p) packing and torch.compile on the device
if [ "$SCALE" = finish ] || [ "$SCALE" = mini ]; then
  TP=${TP:-100}; say "(p) bench_pack + bench_compile, guard ${TP}s each"
  mark p-start
  if [ "$SCALE" = finish ]; then pk=(--pack 8 --shapes 1x32,2x64); cp_=(--shapes 1x32,2x64)
  else pk=(--pack 2 --shapes 1x8 --steps 6 --base-steps 2); cp_=(--shapes 1x8 --steps 2 --rounds 1); fi
  timeout "$TP" $PY "$ROOT/repo/benchmarks/bench_pack.py" --log "$ROOT/data/ml-latest-small.parquet" \
    --device $DEV "${pk[@]}" --json "$R/pack.json" > "$R/pack.log" 2>&1
  say "(p) bench_pack exit $?"
  timeout "$TP" $PY "$ROOT/repo/benchmarks/bench_compile.py" --log "$ROOT/data/ml-latest-small.parquet" \
    --device $DEV "${cp_[@]}" --json "$R/compile.json" > "$R/compile.log" 2>&1
  say "(p) bench_compile exit $?"
  mark p-end
  pack
fi

MPS=off
if [ "$SCALE" = resume ] || [ "$SCALE" = finish ] || [ "$SCALE" = rebuild ]; then
  export CUDA_MPS_PIPE_DIRECTORY=/tmp/mps-pipe CUDA_MPS_LOG_DIRECTORY=/tmp/mps-log
  mkdir -p "$CUDA_MPS_PIPE_DIRECTORY" "$CUDA_MPS_LOG_DIRECTORY"
  if command -v nvidia-cuda-mps-control >/dev/null && nvidia-cuda-mps-control -d; then
    if timeout 40 $PY -c "import torch; print(float(torch.ones(8, device='cuda').sum()))"; then
      MPS=on
    else
      echo quit | nvidia-cuda-mps-control; sleep 1
    fi
  fi
  [ "$MPS" = on ] || unset CUDA_MPS_PIPE_DIRECTORY CUDA_MPS_LOG_DIRECTORY
  say "MPS $MPS"
  if [ "$SCALE" != rebuild ]; then
    cp "$ROOT/prev/ml-latest-small-sweep.csv" "$R/ml-latest-small-sweep.csv"
  elif [ -f "$ROOT/prev/rebuild.csv" ]; then
    cp "$ROOT/prev/rebuild.csv" "$R/ml-latest-small-sweep.csv"
  fi
  BSEEDS=""
fi

# ---------------------------------------------------------------- (b) ml-100k peer check
say "(b) ml-100k: seeds [$BSEEDS] x {windows, prefixes}, guard ${TB}s"
mark b-start
for s in $BSEEDS; do
  for mode in windows prefixes; do
    extra=(--threads 2); [ "$SCALE" = full ] || extra=(--max-steps 3 --threads 1)
    timeout "$TB" $PY "$ROOT/repo/benchmarks/bench_trainer.py" --log "$ROOT/data/ml-100k.parquet" \
      --seeds $s --samples $mode --device $DEV "${extra[@]}" --verbose --json "$R/ml100k-$mode-$s.json" \
      > "$R/ml100k-$mode-$s.log" 2>&1 &
  done
done
wait_jobs() { for j in $(jobs -p); do [ "$j" = "${SMI:-x}" ] || wait "$j"; done; }
wait_jobs
mark b-end
pack
say "(b) done: $(ls "$R"/ml100k-*.json 2>/dev/null | wc -l) of 6 results"

# ---------------------------------------------- (a+c) bundled sweep = throughput measurement
RUNS=$R/ml-latest-small-sweep.csv
say "(c) sweep ${GRID[*]} with $P processes, guard ${TC}s"
mark c-start
C0=$SECONDS
( while sleep 60; do pack; done ) &
PACKER=$!
for i in $(seq 1 "$P"); do
  timeout "$TC" $PY -m perflaw sweep "$ROOT/data/ml-latest-small.parquet" --backbone sasrec \
    "${GRID[@]}" "${STEPS[@]}" --device $DEV --out "$RUNS" --csv \
    > /dev/null 2>> "$R/sweep-stderr.log" &
  sleep 0.3
done
for j in $(jobs -p); do [ "$j" = "${SMI:-x}" ] || [ "$j" = "$PACKER" ] || wait "$j"; done
kill "$PACKER" 2>/dev/null
C1=$SECONDS
mark c-end
NROWS=$(($(wc -l < "$RUNS") - 1))
[ "$MPS" = on ] && echo "{\"mps\": true}" > "$R/mps.json"
say "(c) done: $NROWS rows in $((C1 - C0))s with $P processes"
echo "{\"rows\": $NROWS, \"seconds\": $((C1 - C0)), \"processes\": $P}" > "$R/sweep-throughput.json"
pack

# ------------------------------------ (d) fit on seed means, recommend, train the pick
say "(d) fit + recommend + train, guard ${TD}s"
mark d-start
timeout "$TD" $PY "$ROOT/repo/benchmarks/check_recommendation.py" --runs "$RUNS" \
  --log "$ROOT/data/ml-latest-small.parquet" --budget-from $BUDGET_FROM --device $DEV \
  --out "$R" > "$R/recommend.log" 2>&1
rc=$?
mark d-end
say "(d) exit $rc"
[ -n "${SMI:-}" ] && kill "$SMI" 2>/dev/null
[ "$MPS" = on ] && echo quit | nvidia-cuda-mps-control
pack
say "end"
