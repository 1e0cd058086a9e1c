"""Control flow in ONNX Runtime: portable ONNX function body vs. Python kernel vs. eager torch.

For the recurrence over a dynamic time dim (``LeakyRecurrence``) and the convergence loop
(``NewtonSqrt``) of tests/control_flow_ops.py, at two sizes, one run measures:

* ``eager``: the torch reference (its Python loop) in eager PyTorch;
* ``kernel``: the exported model in ``opforge.InferenceSession`` (the numpy CPU kernel, through
  onnxruntime-extensions);
* ``body``: the portable export in a plain ``onnxruntime.InferenceSession``, the body kept as a
  model-local function (opforge's default);
* ``body-inlined``: the same, inlined by opforge before ONNX Runtime sees it.

Each time is the median of ``--repeat`` runs after a warm-up, the four contenders interleaved;
ratios are against eager.

    python benchmarks/control_flow.py [--repeat 30] [--threads 1]
"""

from __future__ import annotations

import argparse
import functools
import pathlib
import statistics
import sys
import time
from collections.abc import Callable

import numpy as np
import onnxruntime as ort
import torch

import opforge
from opforge.portable import make_portable

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent.parent / "tests"))
import control_flow_ops as cf  # noqa: E402

Dim = torch.export.Dim


class Layer(torch.nn.Module):
    def __init__(self, op: opforge.OpDef) -> None:
        super().__init__()
        self.op = op

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.op(x)


def _median_times(fns: dict[str, Callable[[], object]], repeat: int) -> dict[str, float]:
    """Median seconds per call of each function, runs interleaved so that load on the machine
    (other processes, frequency changes) hits every contender alike."""
    for fn in fns.values():
        fn()
    times: dict[str, list[float]] = {name: [] for name in fns}
    for _ in range(repeat):
        for name, fn in fns.items():
            start = time.perf_counter()
            fn()
            times[name].append(time.perf_counter() - start)
    return {name: statistics.median(values) for name, values in times.items()}


def _inputs(name: str, size: str, rng: np.random.Generator) -> np.ndarray:
    if name == "recurrence":
        shape = (32, 4, 32) if size == "small" else (256, 32, 256)
        return rng.standard_normal(shape).astype(np.float32)
    shape = (16, 16) if size == "small" else (512, 512)
    return (rng.random(shape) * 1e4 + 1.0).astype(np.float32)


def measure(repeat: int = 30, threads: int = 1) -> list[dict]:
    """One row per (layer, size): seconds per run for each way of running it, and ratios to eager."""
    torch.set_num_threads(threads)
    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    rng = np.random.default_rng(0)
    rows = []
    for name, op, dynamic in (("recurrence", cf.leaky_recurrence, {0: Dim("T"), 1: Dim("B"), 2: Dim("H")}),
                              ("convergence", cf.newton_sqrt, {0: Dim("n"), 1: Dim("m")})):
        example = _inputs(name, "small", rng)
        proto = opforge.export(Layer(op), (torch.from_numpy(example),), dynamic_shapes=(dynamic,))
        kernel_options = ort.SessionOptions()
        kernel_options.intra_op_num_threads = threads
        kernel = opforge.InferenceSession(proto, kernel_options)
        body = ort.InferenceSession(make_portable(proto, inline=False).SerializeToString(), options,
                                    providers=["CPUExecutionProvider"])
        inlined = ort.InferenceSession(make_portable(proto, inline=True).SerializeToString(), options,
                                       providers=["CPUExecutionProvider"])
        for size in ("small", "large"):
            x = _inputs(name, size, rng)
            tx = torch.from_numpy(x)
            expected = op(tx).numpy()
            for session in (kernel, body, inlined):
                opforge.assert_close(expected, session.run(None, {"x": x})[0], f"{name} {size}")
            with torch.no_grad():
                timed = _median_times({
                    "eager": functools.partial(op, tx),
                    "kernel": functools.partial(kernel.run, None, {"x": x}),
                    "body": functools.partial(body.run, None, {"x": x}),
                    "body-inlined": functools.partial(inlined.run, None, {"x": x}),
                }, repeat)
            rows.append({"layer": name, "size": size, "shape": x.shape, **timed})
    return rows


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=30)
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args(argv)
    rows = measure(args.repeat, args.threads)
    print(f"median of {args.repeat} runs, {args.threads} thread(s); ratio = time / eager torch time")
    header = f"{'layer':<12} {'size':<6} {'shape':<15} {'eager ms':>9} {'kernel':>14} {'body':>14} {'body-inlined':>14}"
    print(header)
    print("-" * len(header))
    for r in rows:
        cells = [f"{r[k] * 1e3:7.2f}ms x{r[k] / r['eager']:.2f}" for k in ("kernel", "body", "body-inlined")]
        print(f"{r['layer']:<12} {r['size']:<6} {str(r['shape']):<15} {r['eager'] * 1e3:9.2f} "
              + " ".join(f"{c:>14}" for c in cells))


if __name__ == "__main__":
    main()
