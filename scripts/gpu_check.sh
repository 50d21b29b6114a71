#!/usr/bin/env bash
# The first command to run whenever a GPU is available (under 8 minutes on one H100, every step time-limited):
#   bash scripts/gpu_check.sh                       results in $OUT/gpu_check/ if OUT is set, else results/gpu_check-<time>/
#   GPU_CHECK_DRY_RUN=1 bash scripts/gpu_check.sh   print the steps and commands, run nothing (any machine)
# Steps, each with its own log; a failed or timed-out step is reported and the next one still runs:
#   1. the environment: scripts/env.sh dev (creates or reuses .venv from requirements/lock.txt). Offline, pip can
#      only install what its cache or local wheel folders hold: if that fails, a python3 whose torch sees CUDA is
#      used instead, with the message in the summary.
#   2. pytest tests/gpu (precision, attention kernels, padding-free path on CUDA).
#   3. benchmarks/bench_gpu_mfu.py: camembert_base, 32 x 512, bf16, workbench vs transformers (MFU, tokens/s).
#   4. a short bf16 pretraining run: the quickstart's tiny CamemBERT on the shipped sample, hardware=gpu.
# summary.md lists each step's status, time and figures; copy the figures into docs/gpu.md.
# Exit status: 0 when every step passed, 1 when one failed, 2 when torch saw no CUDA device (the GPU steps were
# skipped). Never part of CI: CI has no GPU.
set -uo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
DRY="${GPU_CHECK_DRY_RUN:-0}"
if [ -n "${OUT:-}" ]; then RESULTS="$OUT/gpu_check"; else RESULTS="$ROOT/results/gpu_check-$(date -u +%Y%m%d-%H%M%S)"; fi
RUN_NAME="gpu-check-bf16"
PRETRAIN_STEPS="${GPU_CHECK_PRETRAIN_STEPS:-300}"
# time limits in seconds; together 460 s, plus the summary
LIMIT_ENV=120 LIMIT_TESTS=120 LIMIT_BENCH=100 LIMIT_PRETRAIN=120
export HF_HUB_OFFLINE=1 HF_DATASETS_OFFLINE=1 TRANSFORMERS_OFFLINE=1 PYTHONPATH="$ROOT${PYTHONPATH:+:$PYTHONPATH}"

STEPS=(env tests bench pretrain)
declare -A STATUS SECONDS_TAKEN
FAILED=0

if [ "$DRY" != "1" ]; then
  mkdir -p "$RESULTS"
  SUMMARY="$RESULTS/summary.md"
else
  SUMMARY=/dev/null
fi

say() { echo "[gpu_check] $*"; }

# run_step NAME LIMIT COMMAND...: runs COMMAND under `timeout`, its output in $RESULTS/NAME.log
run_step() {
  local name="$1" limit="$2"
  shift 2
  if [ "$DRY" = "1" ]; then
    say "step $name (limit ${limit}s): $*"
    STATUS[$name]="dry run"
    return 0
  fi
  say "step $name (limit ${limit}s): $*"
  local start=$SECONDS rc=0
  timeout --kill-after=10 "$limit" "$@" >"$RESULTS/$name.log" 2>&1 || rc=$?
  SECONDS_TAKEN[$name]=$((SECONDS - start))
  case $rc in
    0) STATUS[$name]="passed" ;;
    124 | 137) STATUS[$name]="TIMED OUT after ${limit}s"; FAILED=1 ;;
    *) STATUS[$name]="FAILED (exit $rc)"; FAILED=1 ;;
  esac
  say "  -> ${STATUS[$name]} in ${SECONDS_TAKEN[$name]}s (log: $RESULTS/$name.log)"
  tail -n 3 "$RESULTS/$name.log" | sed 's/^/    /'
  return $rc
}

skip_step() {  # NAME REASON
  STATUS[$1]="skipped: $2"
  say "step $1 skipped: $2"
}

# 1. environment -----------------------------------------------------------------------------------------------
PY="${WORKBENCH_VENV:-$ROOT/.venv}/bin/python"
ENV_NOTE=""
if ! run_step env "$LIMIT_ENV" bash -c 'source scripts/env.sh dev'; then
  if [ "$DRY" != "1" ]; then
    if python3 -c 'import torch, sys; sys.exit(not torch.cuda.is_available())' 2>/dev/null; then
      PY="$(command -v python3)"
      ENV_NOTE="scripts/env.sh failed (see env.log; offline without cached wheels?): using $PY, whose torch sees CUDA"
    elif [ -x "$PY" ] && "$PY" -c 'import torch' 2>/dev/null; then
      ENV_NOTE="scripts/env.sh failed (see env.log): using the partly installed $PY"
    else
      ENV_NOTE="scripts/env.sh failed (see env.log) and no python with torch was found: nothing else can run"
      PY=""
    fi
    say "$ENV_NOTE"
  fi
fi

CUDA_OK=0
if [ "$DRY" != "1" ] && [ -n "$PY" ]; then
  if "$PY" -c 'import torch, sys; sys.exit(not torch.cuda.is_available())' 2>/dev/null; then
    CUDA_OK=1
  fi
  { nvidia-smi 2>&1 || echo "nvidia-smi: not available"
    "$PY" -c 'import torch; print("torch", torch.__version__, "CUDA", torch.version.cuda, "available", torch.cuda.is_available()); print(torch.cuda.get_device_name() if torch.cuda.is_available() else "no CUDA device")' 2>&1
  } >"$RESULTS/device.txt"
fi
NO_CUDA="no CUDA device visible to torch (see device.txt)"

# 2. tests/gpu (they skip themselves without CUDA: run anyway, the log says so) --------------------------------
if [ "$DRY" = "1" ] || [ -n "$PY" ]; then
  run_step tests "$LIMIT_TESTS" "$PY" -m pytest -q -p no:cacheprovider tests/gpu -rs
fi

# 3. MFU benchmark ------------------------------------------------------------------------------------------------
if [ "$DRY" = "1" ] || [ "$CUDA_OK" = "1" ]; then
  run_step bench "$LIMIT_BENCH" "$PY" benchmarks/bench_gpu_mfu.py --family camembert --size base --batch 32 --seq 512 --precision bf16
else
  skip_step bench "$NO_CUDA"
fi

# 4. short bf16 pretraining (vocabulary and shards of the shipped sample are built first, or reused) -------------
if [ "$DRY" = "1" ] || [ "$CUDA_OK" = "1" ]; then
  [ "$DRY" = "1" ] || rm -rf "runs/$RUN_NAME"  # a fresh run each time, not a resume of the last check
  run_step pretrain "$LIMIT_PRETRAIN" "$PY" -m workbench pipeline +model=camembert_tiny trainer=quickstart \
    packing.mode=full_sentences packing.max_seq_len=128 hardware=gpu run_name="$RUN_NAME" \
    trainer.max_steps="$PRETRAIN_STEPS"
else
  skip_step pretrain "$NO_CUDA"
fi

[ "$DRY" = "1" ] && { say "dry run: results would go to $RESULTS"; exit 0; }

# summary ---------------------------------------------------------------------------------------------------------
{
  echo "# gpu_check $(date -u +%Y-%m-%dT%H:%M:%SZ)"
  echo
  echo "commit $(git rev-parse --short HEAD 2>/dev/null || echo unknown)$(git diff --quiet 2>/dev/null || echo ' (with uncommitted changes)')"
  echo
  echo '```'
  grep -m1 -E "^\|? *NVIDIA|Driver Version" "$RESULTS/device.txt" 2>/dev/null
  tail -n 2 "$RESULTS/device.txt" 2>/dev/null
  echo '```'
  [ -n "$ENV_NOTE" ] && { echo; echo "**environment:** $ENV_NOTE"; }
  echo
  echo "| step | status | seconds |"
  echo "|---|---|---|"
  for step in "${STEPS[@]}"; do
    echo "| $step | ${STATUS[$step]:-not run} | ${SECONDS_TAKEN[$step]:-} |"
  done
  if [ -f "$RESULTS/tests.log" ]; then
    echo; echo "## tests/gpu"; echo '```'; grep -E "passed|failed|skipped|error" "$RESULTS/tests.log" | tail -n 12; echo '```'
  fi
  if [ -f "$RESULTS/bench.log" ]; then
    echo; echo "## benchmarks/bench_gpu_mfu.py"; echo '```'; tail -n 8 "$RESULTS/bench.log"; echo '```'
  fi
  if [ -f "runs/$RUN_NAME/metrics.jsonl" ]; then
    cp "runs/$RUN_NAME/metrics.jsonl" "$RESULTS/pretrain_metrics.jsonl"
    echo; echo "## bf16 pretraining ($PRETRAIN_STEPS steps, runs/$RUN_NAME): first and last logged records"; echo '```'
    head -n 1 "runs/$RUN_NAME/metrics.jsonl"; tail -n 2 "runs/$RUN_NAME/metrics.jsonl"; echo '```'
  fi
} >"$SUMMARY"
say "summary: $SUMMARY"
cat "$SUMMARY"
if [ "$FAILED" = "1" ]; then exit 1; fi
if [ "$CUDA_OK" != "1" ]; then
  say "no CUDA device: only the environment and the (skipped) tests/gpu ran; nothing was measured"
  exit 2
fi
exit 0
