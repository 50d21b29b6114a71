#!/usr/bin/env bash
# One command on a fresh machine: create the environment, then run the whole chain on the shipped
# French sample (vocabulary, shards, tiny pretraining, fine-tuning on four tasks, report).
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
source scripts/env.sh
export HF_HUB_OFFLINE="${HF_HUB_OFFLINE:-1}" HF_DATASETS_OFFLINE="${HF_DATASETS_OFFLINE:-1}"
python -m workbench pipeline +experiment=quickstart "$@"
echo "[workbench] report: $ROOT/evals/report/leaderboard.html"
