#!/usr/bin/env bash
# One command: create the environment with the dev extras and fairseq (fairseq-fixed, installed without
# torchaudio and built against the environment's torch; see scripts/env.sh), then run the test suite.
# WORKBENCH_TEST_EXTRAS=dev skips fairseq: its tests are then skipped, with the reason printed.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
source scripts/env.sh "${WORKBENCH_TEST_EXTRAS:-dev,fairseq}"
export HF_HUB_OFFLINE=1 HF_DATASETS_OFFLINE=1 TRANSFORMERS_OFFLINE=1
python -m pytest -q "$@"
