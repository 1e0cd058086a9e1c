"""opforge's cuda kernels against their peers, measured in one run on one GPU.

* contrib ops: each contrib op's cupy kernel (through ``op.call_kernel(..., device="cuda")``, so
  DLPack's hand-off is counted) against the op's torch reference run eagerly on CUDA tensors;
* ONNX Runtime: the same op as a one-node model, ``opforge.InferenceSession(kernel_device="cuda")``
  against ``kernel_device="cpu"`` (host inputs and outputs, as ONNX Runtime's Python ops have);
* the bridge's hand-off for y = 2x: what ONNX Runtime adds on top of the copies, and pinned
  against pageable device-to-host copies.

Every figure is the median of 5 timed batches after a warm-up (the device is synchronised at
the end of each batch); ratios below 1 mean opforge's side is faster. Each row also says whether
the two sides agree (ONNX Runtime tolerances).

    python benchmarks/gpu.py                     # Markdown on stdout
    python benchmarks/gpu.py --out results.md    # and into a file

Without cupy or a CUDA device it says "no CUDA device" and exits 0.
"""

from __future__ import annotations

import argparse
import platform
import statistics
import sys
import time
import traceback
from collections.abc import Callable
from typing import Any

import numpy as np
import torch

import opforge
from opforge.kernels import cuda_unavailable_reason

BENCH_DOMAIN = "opforge.bench.gpu"


# -- inputs: sizes where a GPU matters, per contrib op (others use their largest sample) -------------

def _inputs_cum(rng: np.random.Generator) -> tuple[tuple, dict]:
    return (rng.standard_normal((256, 4096)).astype(np.float32),), {"dim": 1}


def _inputs_searchsorted(rng: np.random.Generator) -> tuple[tuple, dict]:
    seq = np.sort(rng.standard_normal(65536)).astype(np.float32)
    return (seq, rng.standard_normal(1_000_000).astype(np.float32)), {"right": False}


def _inputs_scatter_reduce(rng: np.random.Generator) -> tuple[tuple, dict]:
    data = rng.standard_normal((4096, 64)).astype(np.float32)
    index = rng.integers(0, 4096, (16384, 64)).astype(np.int64)
    src = rng.standard_normal((16384, 64)).astype(np.float32)
    return (data, index, src), {"dim": 0, "reduce": "sum"}


def _inputs_linalg_solve(rng: np.random.Generator) -> tuple[tuple, dict]:
    a = (rng.standard_normal((512, 64, 64)) + 64 * np.eye(64)).astype(np.float32)
    return (a, rng.standard_normal((512, 64, 8)).astype(np.float32)), {"left": True}


BENCH_INPUTS: dict[str, Callable[[np.random.Generator], tuple[tuple, dict]]] = {
    "CumMax": _inputs_cum,
    "CumMin": _inputs_cum,
    "SearchSorted": _inputs_searchsorted,
    "ScatterReduce": _inputs_scatter_reduce,
    "LinalgSolve": _inputs_linalg_solve,
}


def _size(value: Any) -> int:
    if isinstance(value, (list, tuple)):
        return sum(_size(v) for v in value)
    return int(np.asarray(value).size) if value is not None else 0


def bench_inputs(op: opforge.OpDef) -> tuple[tuple, dict, str]:
    """(inputs, attributes, where they came from) for ``op``."""
    rng = np.random.default_rng(0)
    if op.op_type in BENCH_INPUTS:
        args, attrs = BENCH_INPUTS[op.op_type](rng)
        return args, attrs, "benchmark size"
    samples = [s for s in op.example_samples() if s.skip_reason is None and s.xfail_reason is None]
    if not samples:
        raise ValueError("no inputs: the op has no samples")
    biggest = max(samples, key=lambda s: _size(s.args))
    return biggest.args, biggest.kwargs, f"largest sample ({biggest.name or 'unnamed'})"


# -- timing -------------------------------------------------------------------------------------------

def timed(fn: Callable[[], Any], sync: Callable[[], None]) -> float:
    """Seconds per call: the median of 5 batches, each long enough to time (about 50 ms)."""
    fn()
    sync()
    count = 1
    while True:
        start = time.perf_counter()
        for _ in range(count):
            fn()
        sync()
        elapsed = time.perf_counter() - start
        if elapsed > 0.05 or count >= 4096:
            break
        count *= 4
    batches = []
    for _ in range(5):
        start = time.perf_counter()
        for _ in range(count):
            fn()
        sync()
        batches.append((time.perf_counter() - start) / count)
    return statistics.median(batches)


def _ms(seconds: float | None) -> str:
    return "" if seconds is None else f"{seconds * 1e3:.3f}"


def _ratio(a: float | None, b: float | None) -> str:
    return "" if a is None or b is None or b == 0 else f"{a / b:.2f}"


def _agree(expected: list[np.ndarray], actual: list[np.ndarray]) -> str:
    try:
        for n, (e, a) in enumerate(zip(expected, actual)):
            opforge.assert_close(np.asarray(e), np.asarray(a), f"output {n}")
    except opforge.VerificationError as exc:
        return f"**no**: {exc}"
    return "yes" if len(expected) == len(actual) else f"**no**: {len(actual)} outputs, expected {len(expected)}"


def _as_list(out: Any) -> list[Any]:
    return list(out) if isinstance(out, (tuple, list)) else [out]


def _one_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {text[0][:160] if text else ''}".replace("|", "\\|")


# -- the ONNX model of one node ------------------------------------------------------------------------

def one_node_model(op: opforge.OpDef, args: tuple, attrs: dict, outputs: list[np.ndarray]) -> tuple[Any, dict]:
    """A model with the single node ``op(args; attrs)`` and its feeds."""
    from onnx import helper

    from opforge.types import onnx_dtype

    feeds: dict[str, np.ndarray] = {}
    names: list[str] = []
    inputs = []

    def add(name: str, array: np.ndarray) -> None:
        feeds[name] = array
        names.append(name)
        inputs.append(helper.make_tensor_value_info(name, onnx_dtype(array.dtype), list(array.shape)))

    bound_inputs, bound_attrs = op.bind(args, attrs)
    for spec, value in zip(op.inputs, bound_inputs):
        if value is None:
            names.append("")
        elif spec.variadic:
            for n, item in enumerate(value):
                add(f"{spec.name}_{n}", np.asarray(item))
        else:
            add(spec.name, np.asarray(value))
    attributes = {k: int(v) if isinstance(v, bool) else v for k, v in bound_attrs.items() if v is not None}
    node = helper.make_node(op.op_type, names, [o.name for o in op.outputs], domain=op.domain, **attributes)
    outs = [helper.make_tensor_value_info(o.name, onnx_dtype(a.dtype), list(a.shape))
            for o, a in zip(op.outputs, outputs)]
    graph = helper.make_graph([node], f"bench_{op.op_type}", inputs, outs)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 18),
                                                    helper.make_opsetid(op.domain, op.version)])
    return model, feeds


# -- the three tables ---------------------------------------------------------------------------------

def contrib_ops() -> list[opforge.OpDef]:
    opforge.load_ops("opforge.ops")
    return [o for o in opforge.list_ops("opforge.ops") if "cuda" in o.kernels]


def _kernel_row(op: opforge.OpDef) -> str:
    args, attrs, origin = bench_inputs(op)
    on_gpu = [None if a is None else [torch.from_numpy(np.asarray(t)).cuda() for t in a]
              if isinstance(a, list) else torch.from_numpy(np.asarray(a)).cuda() for a in args]
    ours = timed(lambda: op.call_kernel(*on_gpu, device="cuda", **attrs), torch.cuda.synchronize)
    with torch.no_grad():
        theirs = timed(lambda: op.reference(*on_gpu, **attrs), torch.cuda.synchronize)
        expected = [t.cpu().numpy() for t in _as_list(op.reference(*on_gpu, **attrs))]
    actual = [t.cpu().numpy() for t in _as_list(op.call_kernel(*on_gpu, device="cuda", **attrs))]
    return (f"| {op.name} | {origin} | {_ms(ours)} | {_ms(theirs)} | {_ratio(ours, theirs)} | "
            f"{_agree(expected, actual)} |")


def bench_kernels(ops: list[opforge.OpDef]) -> list[str]:
    rows = ["| op | inputs | cupy kernel ms | torch CUDA eager ms | cupy / torch | agree |",
            "|---|---|---|---|---|---|"]
    for op in ops:
        try:
            rows.append(_kernel_row(op))
        except Exception as exc:  # noqa: BLE001 - one op's failure must not hide the others' numbers
            rows.append(f"| {op.name} | | | | | **error** {_one_line(exc)} |")
            traceback.print_exc(file=sys.stderr)
    return rows


def cpu_outputs(op: opforge.OpDef, args: tuple, attrs: dict) -> list[np.ndarray]:
    """The op's outputs computed on the CPU (its cpu kernel, else its torch reference)."""
    if "cpu" in op.kernels:
        inputs, filled = op.bind(args, attrs)
        return [np.asarray(o) for o in _as_list(op.kernels["cpu"](*inputs, **filled))]
    return [t.numpy() for t in _as_list(op.reference(*_torch_args(args), **attrs))]


def _onnxruntime_row(op: opforge.OpDef) -> str:
    args, attrs, _ = bench_inputs(op)
    model, feeds = one_node_model(op, args, attrs, cpu_outputs(op, args, attrs))
    cuda = opforge.InferenceSession(model, kernel_device="cuda")
    cpu = opforge.InferenceSession(model, kernel_device="cpu")
    t_cuda = timed(lambda: cuda.run(None, feeds), lambda: None)
    t_cpu = timed(lambda: cpu.run(None, feeds), lambda: None)
    agree = _agree(cpu.run(None, feeds), cuda.run(None, feeds))
    return f"| {op.name} | {_ms(t_cuda)} | {_ms(t_cpu)} | {_ratio(t_cuda, t_cpu)} | {agree} |"


def bench_onnxruntime(ops: list[opforge.OpDef]) -> list[str]:
    rows = ["| op | kernel_device='cuda' ms | kernel_device='cpu' ms | cuda / cpu | agree |", "|---|---|---|---|---|"]
    for op in ops:
        try:
            rows.append(_onnxruntime_row(op))
        except Exception as exc:  # noqa: BLE001
            rows.append(f"| {op.name} | | | | **error** {_one_line(exc)} |")
            traceback.print_exc(file=sys.stderr)
    return rows


def _torch_args(args: tuple) -> list[Any]:
    return [None if a is None else [torch.from_numpy(np.asarray(t)) for t in a] if isinstance(a, list)
            else torch.from_numpy(np.asarray(a)) for a in args]


def _scale_op() -> opforge.OpDef:
    @opforge.op(f"{BENCH_DOMAIN}::Double")
    def double(x: torch.Tensor) -> torch.Tensor:
        """y = 2x"""
        return x * 2

    @double.kernel("cpu")
    def _(x: np.ndarray) -> np.ndarray:
        return x * np.float32(2)

    @double.kernel("cuda")
    def _(x):  # noqa: ANN001, ANN202
        return x * np.float32(2)

    return double


def _bridge_row(double: opforge.OpDef, n: int) -> str:
    import cupy

    from opforge.kernels import gpu

    x = np.random.default_rng(n).standard_normal(n).astype(np.float32)
    model, feeds = one_node_model(double, (x,), {}, [x])
    cpu = opforge.InferenceSession(model, kernel_device="cpu")
    cuda = opforge.InferenceSession(model, kernel_device="cuda")
    t_cpu = timed(lambda: cpu.run(None, feeds), lambda: None)
    t_cuda = timed(lambda: cuda.run(None, feeds), lambda: None)
    t_raw = timed(lambda: gpu.run_on_device(double, [x], {}), lambda: None)
    on_device = cupy.asarray(x)
    sync = cupy.cuda.get_current_stream().synchronize
    t_pageable = timed(lambda: cupy.asnumpy(on_device), sync)
    t_pinned = timed(lambda: gpu.to_host(double, [on_device]), sync)
    return f"| {n:,} | {_ms(t_cpu)} | {_ms(t_cuda)} | {_ms(t_raw)} | {_ms(t_pageable)} | {_ms(t_pinned)} |"


def bench_bridge(sizes: tuple[int, ...] = (1_000, 1_000_000, 10_000_000)) -> list[str]:
    double = _scale_op()
    rows = ["| elements | ORT, cpu kernel ms | ORT, cuda kernel ms | H2D + kernel + D2H, no ORT ms | "
            "D2H pageable (cupy.asnumpy) ms | D2H pinned (opforge) ms |", "|---|---|---|---|---|---|"]
    for n in sizes:
        try:
            rows.append(_bridge_row(double, n))
        except Exception as exc:  # noqa: BLE001
            rows.append(f"| {n:,} | **error** {_one_line(exc)} | | | | |")
            traceback.print_exc(file=sys.stderr)
    return rows


def environment() -> str:
    import cupy
    import onnxruntime
    name = torch.cuda.get_device_name(0) if torch.cuda.is_available() else "?"
    return (f"{name}; Python {platform.python_version()}, torch {torch.__version__}, cupy {cupy.__version__}, "
            f"onnxruntime {onnxruntime.__version__} ({', '.join(onnxruntime.get_available_providers())}), "
            f"numpy {np.__version__}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", help="also write the Markdown tables to this file")
    options = parser.parse_args(argv)
    reason = cuda_unavailable_reason()
    if reason is not None:
        print(f"no CUDA device ({reason}): nothing to measure" if reason != "no CUDA device"
              else "no CUDA device: nothing to measure")
        return 0
    ops = contrib_ops()
    lines = ["# opforge cuda kernels", "", environment(), "",
             "## cupy kernel vs torch CUDA eager (call_kernel, CUDA tensors in and out)", "",
             *bench_kernels(ops), "",
             "## ONNX Runtime: one-node model, host inputs and outputs", "",
             *bench_onnxruntime(ops), "",
             "## The bridge's hand-off for y = 2x (float32)", "",
             *bench_bridge(), ""]
    text = "\n".join(lines)
    print(text)
    if options.out:
        with open(options.out, "w") as f:
            f.write(text + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
