#!/usr/bin/env bash
# Create (or reuse) the project's virtual environment in .venv and install workbench into it.
#   source scripts/env.sh [extras]      extras: comma-separated, e.g. "dev" or "dev,fairseq"
# torch is installed FIRST and explicitly (the CPU build when no NVIDIA GPU is visible), so that no
# other package can drag in a different torch or gigabytes of CUDA wheels: every later pip call runs
# with a constraint pinning the installed torch, and the torch version is checked after each step.
#
# The "fairseq" extra installs fairseq's dependencies, then fairseq-fixed itself without its
# dependencies (it requires torchaudio, which would bring another torch) and without build isolation
# (its C++/Cython extensions compile against this torch: about 6 minutes on 2 cores). The built wheel is
# kept per torch and Python version in pip's cache folder (or WORKBENCH_WHEEL_CACHE), so later
# environments install it in seconds.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV="${WORKBENCH_VENV:-$ROOT/.venv}"
TORCH_VERSION="${TORCH_VERSION:-2.13.0}"
FAIRSEQ_VERSION="${FAIRSEQ_VERSION:-0.12.3.1}"
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
CONSTRAINT="$VENV/workbench-torch-constraint.txt"
echo "torch==$TORCH_BEFORE" >"$CONSTRAINT"

check_torch() {  # $1: what was just installed
  local after
  after="$("$PY" -c 'import torch; print(torch.__version__)')"
  if [ "$TORCH_BEFORE" != "$after" ]; then
    echo "[workbench] error: installing $1 replaced torch $TORCH_BEFORE by $after" >&2
    exit 1
  fi
}

install_fairseq() {
  if "$PY" -c "import sys, fairseq; sys.exit(fairseq.__version__ != '$FAIRSEQ_VERSION')" 2>/dev/null; then
    echo "[workbench] fairseq-fixed $FAIRSEQ_VERSION already installed"
  else
    local tag cache wheels
    tag="$("$PY" -c 'import sys; print(f"cp{sys.version_info[0]}{sys.version_info[1]}")')-torch-$TORCH_BEFORE"
    cache="${WORKBENCH_WHEEL_CACHE:-$("$PY" -m pip cache dir 2>/dev/null || echo "${XDG_CACHE_HOME:-$HOME/.cache}/pip")/workbench-wheels}"
    wheels="$cache/$tag"
    if ! compgen -G "$wheels/fairseq_fixed-$FAIRSEQ_VERSION-*.whl" >/dev/null; then
      echo "[workbench] building fairseq-fixed $FAIRSEQ_VERSION against torch $TORCH_BEFORE (about 6 minutes on 2 cores; kept in $wheels)"
      "$PY" -m pip install -q -c "$CONSTRAINT" "setuptools>=70.1" wheel cython ninja "numpy>=1.21.3"
      # --no-cache-dir: never reuse a wheel pip cached from a build against another torch
      "$PY" -m pip wheel -q --no-cache-dir --no-deps --no-build-isolation -c "$CONSTRAINT" -w "$wheels" \
        "fairseq-fixed==$FAIRSEQ_VERSION"
    fi
    echo "[workbench] installing fairseq-fixed $FAIRSEQ_VERSION from $wheels (no dependencies: never torchaudio)"
    "$PY" -m pip install -q --no-deps "$wheels"/fairseq_fixed-"$FAIRSEQ_VERSION"-*.whl
  fi
  check_torch "fairseq-fixed"
  if "$PY" -c "import torchaudio" 2>/dev/null; then
    echo "[workbench] error: torchaudio is installed; fairseq-fixed must be installed without it (--no-deps)" >&2
    exit 1
  fi
  if ! "$PY" -c "from fairseq.models.roberta import RobertaModel; from fairseq.data import MMapIndexedDataset" >/dev/null 2>&1; then
    echo "[workbench] error: fairseq-fixed does not import; run: $PY -c 'import fairseq.models.roberta'" >&2
    exit 1
  fi
}

SPEC="$ROOT"
[ -n "$EXTRAS" ] && SPEC="$ROOT[$EXTRAS]"
echo "[workbench] installing workbench${EXTRAS:+[$EXTRAS]} (torch $TORCH_BEFORE kept)"
"$PY" -m pip install -q -c "$CONSTRAINT" -e "$SPEC"
check_torch "workbench${EXTRAS:+[$EXTRAS]}"
case ",$EXTRAS," in
  *,fairseq,*) install_fairseq ;;
esac
export PATH="$VENV/bin:$PATH"
