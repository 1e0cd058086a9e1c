#!/usr/bin/env bash
# Download, into .whl/, the wheels that benchmarks/gpu_check.sh installs on a GPU machine.
#
# The device image (Python 3.12; /work/.library/device/KINDS.md) already has torch, cupy, numpy,
# onnx, typer, rich, pytest, protobuf, sympy, flatbuffers and packaging, but not
# onnxruntime-extensions, and its onnxruntime (1.30) is older than opforge needs (>=1.32).
# ml_dtypes, onnxscript and onnx_ir travel too, at the versions this project is tested with, so
# the GPU run does not depend on what that image happens to hold. typer and rich stay the image's:
# the GPU check does not use the command line, and typer 0.29 would want pydantic, which it lacks.
#
#   bash tools/fetch_gpu_wheels.sh          # then: device run, carry [".whl"],
#                                           # command "bash benchmarks/gpu_check.sh"
set -euo pipefail
cd "$(dirname "$0")/.."
grep -qx '/.whl/' .git/info/exclude 2>/dev/null || echo /.whl/ >> .git/info/exclude

PACKAGES=(
  onnxruntime==1.32.0
  onnxruntime-extensions==0.15.2
  ml_dtypes==0.6.0
  onnxscript==0.7.2
  onnx-ir==1.1.0
)
PYTHON=${PYTHON:-python3}
rm -rf .whl && mkdir -p .whl
for spec in "${PACKAGES[@]}"; do
  "$PYTHON" -m pip download -q --no-deps --only-binary=:all: --python-version 3.12 --implementation cp \
    --platform manylinux_2_28_x86_64 --platform manylinux_2_27_x86_64 --platform manylinux_2_17_x86_64 \
    --platform manylinux2014_x86_64 --platform manylinux1_x86_64 -d .whl "$spec"
done
ls -l .whl
total=$(du -cb .whl/*.whl | tail -1 | cut -f1)
echo "total: $((total / 1024 / 1024)) MiB in $(ls .whl/*.whl | wc -l) wheels"
if [ "$total" -gt $((48 * 1024 * 1024)) ]; then
  echo "error: the wheels exceed 48 MiB; the device tool carries at most 64 MiB with the repo" >&2
  exit 1
fi
