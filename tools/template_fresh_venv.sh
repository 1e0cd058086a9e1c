#!/usr/bin/env bash
# Render a project with `opforge new`, install it into a FRESH venv exactly as its README says, and
# run its tests: proves the generated package finds opforge at the recorded source (not on an index).
# Takes minutes (it installs torch, onnx, onnxruntime, ... into the new venv); not part of the suite.
#   tools/template_fresh_venv.sh [WORK_DIR] [extra `opforge new` options, e.g. --opforge-source ...]
set -euo pipefail
repo="$(cd "$(dirname "$0")/.." && pwd)"
work="${1:-$(mktemp -d -t opforge-fresh-XXXXXX)}"
shift || true
python="${PYTHON:-$repo/.venv/bin/python}"
"$python" -m opforge.cli new "Fresh Venv Ops" -o "$work" --no-input --op FreshOp "$@"
python3 -m venv "$work/venv"
cd "$work/fresh-venv-ops"
# torch first, as the generated README says (the local CPU wheel here; PyTorch's CPU index elsewhere)
"$work/venv/bin/python" -m pip install -q "torch==2.13.0" ${TORCH_INDEX_URL:+--index-url "$TORCH_INDEX_URL"}
"$work/venv/bin/python" -m pip install -q -e ".[test]"
"$work/venv/bin/python" -m pip show opforge | grep -E "^(Name|Version|Location|Editable)"
"$work/venv/bin/python" -m pytest -q -p no:cacheprovider
echo "fresh venv OK: $work"
