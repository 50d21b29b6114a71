#!/usr/bin/env bash
# Regenerate requirements/lock.txt: the exact versions that scripts/env.sh installs (so scripts/quickstart.sh,
# scripts/test.sh and CI), from pyproject.toml's ranges (extras dev and fairseq) and requirements/lock.in.
#   bash scripts/lock.sh             keep every locked version that still fits; resolve only what changed
#   bash scripts/lock.sh --upgrade   the newest versions the ranges allow (then run bash scripts/test.sh before committing)
#   bash scripts/lock.sh --upgrade-package transformers   one package (uv's options pass through)
# One universal resolution (uv's --universal): every Python >= 3.10 (pyproject's requires-python) and platform, with
# environment markers where they need other versions; the tests ran on the Python 3.11 / Linux x86_64 versions.
# Needs uv (https://docs.astral.sh/uv/): `pip install uv` in any environment, or UV=/path/to/uv.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
UV="${UV:-uv}"
if ! command -v "$UV" >/dev/null 2>&1; then
  echo "[workbench] error: uv not found: pip install uv (in any environment, e.g. python3 -m venv /tmp/uv && /tmp/uv/bin/pip install uv), then UV=/tmp/uv/bin/uv bash scripts/lock.sh" >&2
  exit 1
fi
# written beside the lock, renamed over it only once uv succeeded (the current lock gives uv its preferences)
TMP="$(mktemp requirements/.lock.txt.XXXXXX)"
trap 'rm -f "$TMP"' EXIT
[ -f requirements/lock.txt ] && cp requirements/lock.txt "$TMP"
"$UV" pip compile pyproject.toml requirements/lock.in --extra dev --extra fairseq --universal --python-version 3.10 \
  --custom-compile-command "bash scripts/lock.sh" --quiet -o "$TMP" "$@"
mv "$TMP" requirements/lock.txt
trap - EXIT
echo "[workbench] wrote requirements/lock.txt ($(grep -c '==' requirements/lock.txt) pins); run bash scripts/test.sh before committing it"
