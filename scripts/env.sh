#!/usr/bin/env bash
# Create (or reuse) the project's virtual environment in .venv and install workbench into it.
#   source scripts/env.sh [extras]      e.g. extras "dev"
# torch is installed FIRST and explicitly (the CPU build when no NVIDIA GPU is visible), so that no
# other package can drag in a different torch or gigabytes of CUDA wheels.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV="${WORKBENCH_VENV:-$ROOT/.venv}"
TORCH_VERSION="${TORCH_VERSION:-2.13.0}"
EXTRAS="${1:-}"

if [ ! -x "$VENV/bin/python" ]; then
  echo "[workbench] creating virtual environment in $VENV"
  python3 -m venv "$VENV"
fi
PY="$VENV/bin/python"
"$PY" -m pip install -q --upgrade pip >/dev/null

if ! "$PY" -c "import torch" 2>/dev/null; then
  if command -v nvidia-smi >/dev/null 2>&1 && nvidia-smi -L >/dev/null 2>&1; then
    echo "[workbench] NVIDIA GPU found: installing torch==$TORCH_VERSION (CUDA build)"
    "$PY" -m pip install -q "torch==$TORCH_VERSION" ${TORCH_INDEX_URL:+--index-url "$TORCH_INDEX_URL"}
  else
    # On a machine without GPU, point TORCH_INDEX_URL at the CPU wheel index if your pip would
    # otherwise fetch the CUDA build (https://download.pytorch.org/whl/cpu).
    echo "[workbench] no GPU: installing torch==$TORCH_VERSION (CPU build)"
    "$PY" -m pip install -q "torch==$TORCH_VERSION" ${TORCH_INDEX_URL:+--index-url "$TORCH_INDEX_URL"}
  fi
fi
TORCH_BEFORE="$("$PY" -c 'import torch; print(torch.__version__)')"

SPEC="$ROOT"
[ -n "$EXTRAS" ] && SPEC="$ROOT[$EXTRAS]"
echo "[workbench] installing workbench${EXTRAS:+[$EXTRAS]} (torch $TORCH_BEFORE kept)"
"$PY" -m pip install -q -e "$SPEC"

TORCH_AFTER="$("$PY" -c 'import torch; print(torch.__version__)')"
if [ "$TORCH_BEFORE" != "$TORCH_AFTER" ]; then
  echo "[workbench] error: installing the package replaced torch $TORCH_BEFORE by $TORCH_AFTER" >&2
  exit 1
fi
export PATH="$VENV/bin:$PATH"
