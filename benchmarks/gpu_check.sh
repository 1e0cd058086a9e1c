#!/usr/bin/env bash
# The GPU check of opforge, in one run on a GPU machine (about 6 minutes at most):
#   1. installs the carried wheels (.whl/, made here by tools/fetch_gpu_wheels.sh) into /tmp/site;
#   2. runs tests/test_gpu.py (the gpu-marked tests, and the conformance gpu check of every contrib
#      op with a cuda kernel);
#   3. runs benchmarks/gpu.py (cupy kernels vs torch CUDA eager, the ONNX Runtime path);
# and writes under $OUT: summary.md, env.txt, pytest_gpu.log, gpu_results.md, bench.log.
#
# With the device tool: bash tools/fetch_gpu_wheels.sh here first, then
#   run(command="bash benchmarks/gpu_check.sh", carry=[".whl"], timeout_s=480)
# Elsewhere it works too (OUT defaults to ./gpu_check_out); without a GPU the tests skip and the
# benchmark says "no CUDA device".
set -uo pipefail
cd "$(dirname "$0")/.."
OUT=${OUT:-$PWD/gpu_check_out}
mkdir -p "$OUT"
START=$(date +%s)
export PYTHONUNBUFFERED=1
PYTHON=${PYTHON:-python3}

if ! "$PYTHON" -c 'import sys; sys.exit(sys.version_info[:2] != (3, 12))'; then
  echo "$PYTHON is not Python 3.12, which the carried wheels are for: using what this machine has"
  export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}"
elif compgen -G ".whl/*.whl" > /dev/null; then
  "$PYTHON" -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site \
    .whl/*.whl > "$OUT/pip.log" 2>&1 || { echo "pip install of .whl failed:"; cat "$OUT/pip.log"; exit 1; }
  export PYTHONPATH="$PWD:/tmp/site${PYTHONPATH:+:$PYTHONPATH}"
else
  echo "no .whl/ here: using what this machine has (run tools/fetch_gpu_wheels.sh and carry .whl)"
  export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}"
fi

{
  echo "date: $(date -u +%FT%TZ)"
  nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader 2>&1 || echo "nvidia-smi: none"
  "$PYTHON" - <<'EOF'
import importlib, sys
print("python", sys.version.split()[0], sys.executable)
for name in ["numpy", "torch", "cupy", "onnx", "onnxruntime", "onnxruntime_extensions", "onnxscript", "onnx_ir",
             "ml_dtypes", "typer", "rich", "pytest", "opforge"]:
    try:
        module = importlib.import_module(name)
        print(f"{name:24} {getattr(module, '__version__', '?'):16} {getattr(module, '__file__', '')}")
    except Exception as exc:
        print(f"{name:24} IMPORT FAILED: {type(exc).__name__}: {exc}")
try:
    import onnxruntime
    print("onnxruntime providers:", onnxruntime.get_available_providers())
    from opforge.kernels import cuda_unavailable_reason
    print("opforge cuda_unavailable_reason():", cuda_unavailable_reason())
except Exception as exc:
    print("opforge check failed:", type(exc).__name__, exc)
EOF
} > "$OUT/env.txt" 2>&1
cat "$OUT/env.txt"

echo "== pytest tests/test_gpu.py and the native runtime's device tests"
timeout 210 "$PYTHON" -m pytest tests/test_gpu.py "tests/test_native_runtime.py::test_11_cuda_provider_runs_kernels_on_device_memory" \
  "tests/test_native_runtime.py::test_11_device_kernel_path_with_a_stand_in_cupy" -q -rs -p no:cacheprovider --durations=10 \
  > "$OUT/pytest_gpu.log" 2>&1
PYTEST_RC=$?
tail -n 40 "$OUT/pytest_gpu.log"

echo "== benchmarks/gpu.py"
timeout 130 "$PYTHON" benchmarks/gpu.py --out "$OUT/gpu_results.md" > "$OUT/bench.log" 2>&1
BENCH_RC=$?
cat "$OUT/bench.log"

ELAPSED=$(( $(date +%s) - START ))
{
  echo "# opforge GPU check"
  echo
  echo "- pytest tests/test_gpu.py: exit $PYTEST_RC ($(grep -E '^[0-9]+ (passed|failed)|^=+ .*(passed|failed|skipped)' "$OUT/pytest_gpu.log" | tail -1))"
  echo "- benchmarks/gpu.py: exit $BENCH_RC"
  echo "- elapsed: ${ELAPSED}s"
  echo
  echo '```'
  cat "$OUT/env.txt"
  echo '```'
  echo
  [ -f "$OUT/gpu_results.md" ] && cat "$OUT/gpu_results.md"
} > "$OUT/summary.md"
echo "== done in ${ELAPSED}s: pytest exit $PYTEST_RC, benchmark exit $BENCH_RC; results in $OUT"
[ "$PYTEST_RC" -eq 0 ] && [ "$BENCH_RC" -eq 0 ]
