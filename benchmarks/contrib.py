"""Contrib ops at a realistic size: ONNX Runtime (Python kernel via the bridge, and the portable
ONNX body where there is one) against eager PyTorch on CPU, measured in one run.

    python benchmarks/contrib.py [--repeat 20] [--only NAME]

Ratios are ONNX Runtime time / eager torch time (lower is better; 1.0 = as fast as torch).
Two floors, each a node with the op's inputs and its output shapes and dtypes through
``opforge.InferenceSession`` whose ``out`` kernel does the least a kernel can: *fixed* leaves ONNX Runtime's output buffers untouched
(``session.run``, the node's dispatch, the output allocation and the outputs handed back to Python);
*floor* writes zeros into them (adds one pass of writes into ONNX Runtime's output buffers, which every
kernel pays).
"""

from __future__ import annotations

import os

# one thread for every library, as for torch and ONNX Runtime below: numpy's OpenBLAS runs Cholesky's kernel
os.environ["OPENBLAS_NUM_THREADS"] = "1"

import argparse
import statistics
import time
from collections.abc import Callable

import numpy as np
import onnx
import onnxruntime as ort
import torch
from onnx import helper
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

import opforge
import opforge.ops  # noqa: F401 - declares the contrib ops
from opforge.kernels.registry import takes_out
from opforge.portable import attach_functions
from opforge.schemas import attribute_proto
from opforge.types import TensorSpec, onnx_dtype

_FLOOR = "opforge.benchmark"
SLOW_PORTABLE_S = 0.5  # a portable body slower than this per call is timed once (KthValue's quickselect Loop)


# The floors: a node with the op's inputs and its output shapes and dtypes (attributes ``shapes``: each
# output's rank then its dims; ``dtypes``), whose out kernel does the least a kernel can. One op per
# input x output count, so that ONNX Runtime and the bridge take the path the op's own node takes.


def _out_specs(shapes: list[int], dtypes: list[str]) -> tuple[TensorSpec, ...]:
    specs, at = [], 0
    for dtype in dtypes:
        rank = shapes[at]
        specs.append(TensorSpec(tuple(shapes[at + 1:at + 1 + rank]), dtype))
        at += 1 + rank
    return tuple(specs)


def _floor_kernel(shapes: list[int], dtypes: list[str], touch: int, out: object) -> object:
    if out is None:  # no buffers from ONNX Runtime: new zeros
        arrays = tuple(np.zeros(s.shape, s.dtype) for s in _out_specs(shapes, dtypes))
        return arrays if len(arrays) > 1 else arrays[0]
    if touch:
        for buffer in out if isinstance(out, tuple) else (out,):
            buffer.fill(0)
    return out


def _floor_reference(shapes: list[int], dtypes: list[str]) -> object:
    outs = tuple(torch.zeros(s.shape, dtype=getattr(torch, s.dtype)) for s in _out_specs(shapes, dtypes))
    return outs if len(outs) > 1 else outs[0]


@opforge.op(f"{_FLOOR}::Floor1x1")
def _floor1x1(a: torch.Tensor, shapes: list[int], dtypes: list[str], touch: int = 1) -> torch.Tensor:
    """Zeros of the given shape (``touch=0``: the kernel leaves ONNX Runtime's buffer untouched)."""
    return _floor_reference(shapes, dtypes)


@opforge.op(f"{_FLOOR}::Floor2x1")
def _floor2x1(a: torch.Tensor, b: torch.Tensor, shapes: list[int], dtypes: list[str], touch: int = 1) -> torch.Tensor:
    """Zeros of the given shape (``touch=0``: the kernel leaves ONNX Runtime's buffer untouched)."""
    return _floor_reference(shapes, dtypes)


@opforge.op(f"{_FLOOR}::Floor3x1")
def _floor3x1(a: torch.Tensor, b: torch.Tensor, c: torch.Tensor, shapes: list[int], dtypes: list[str],
              touch: int = 1) -> torch.Tensor:
    """Zeros of the given shape (``touch=0``: the kernel leaves ONNX Runtime's buffer untouched)."""
    return _floor_reference(shapes, dtypes)


@opforge.op(f"{_FLOOR}::Floor1x2", outputs=["y", "z"])
def _floor1x2(a: torch.Tensor, shapes: list[int], dtypes: list[str],
              touch: int = 1) -> tuple[torch.Tensor, torch.Tensor]:
    """Zeros of the given shapes (``touch=0``: the kernel leaves ONNX Runtime's buffers untouched)."""
    return _floor_reference(shapes, dtypes)  # type: ignore[return-value]


@_floor1x1.kernel("cpu")
def _(a: np.ndarray, *, shapes: list[int], dtypes: list[str], touch: int, out: object = None) -> object:
    return _floor_kernel(shapes, dtypes, touch, out)


@_floor2x1.kernel("cpu")
def _(a: np.ndarray, b: np.ndarray, *, shapes: list[int], dtypes: list[str], touch: int, out: object = None) -> object:
    return _floor_kernel(shapes, dtypes, touch, out)


@_floor3x1.kernel("cpu")
def _(a: np.ndarray, b: np.ndarray, c: np.ndarray, *, shapes: list[int], dtypes: list[str], touch: int,
      out: object = None) -> object:
    return _floor_kernel(shapes, dtypes, touch, out)


@_floor1x2.kernel("cpu")
def _(a: np.ndarray, *, shapes: list[int], dtypes: list[str], touch: int, out: object = None) -> object:
    return _floor_kernel(shapes, dtypes, touch, out)


@_floor1x1.infer
def _(a: TensorSpec, *, shapes: list[int], dtypes: list[str], touch: int) -> TensorSpec:
    return _out_specs(shapes, dtypes)[0]


@_floor2x1.infer
def _(a: TensorSpec, b: TensorSpec, *, shapes: list[int], dtypes: list[str], touch: int) -> TensorSpec:
    return _out_specs(shapes, dtypes)[0]


@_floor3x1.infer
def _(a: TensorSpec, b: TensorSpec, c: TensorSpec, *, shapes: list[int], dtypes: list[str],
      touch: int) -> TensorSpec:
    return _out_specs(shapes, dtypes)[0]


@_floor1x2.infer
def _(a: TensorSpec, *, shapes: list[int], dtypes: list[str], touch: int) -> tuple[TensorSpec, ...]:
    return _out_specs(shapes, dtypes)


_FLOORS = {(1, 1): _floor1x1, (2, 1): _floor2x1, (3, 1): _floor3x1, (1, 2): _floor1x2}


def _floor_session(inputs: tuple, results: list, touch: int, options: ort.SessionOptions) -> opforge.InferenceSession:
    shapes = [d for r in results for d in (r.ndim, *r.shape)]
    attrs = {"shapes": shapes, "dtypes": [r.dtype.name for r in results], "touch": touch}
    return opforge.InferenceSession(_model(_FLOORS[len(inputs), len(results)], inputs, attrs, False), options)


def _sizes(rng: np.random.Generator) -> dict[str, tuple[tuple, dict]]:
    """op type -> (inputs, attributes) at a size a real model meets."""
    f32 = np.float32
    spd = rng.standard_normal((64, 32, 32))
    spd = (spd @ spd.transpose(0, 2, 1) + 32 * np.eye(32)).astype(f32)
    big = rng.standard_normal((256, 1024)).astype(f32)
    degrees = rng.integers(0, 8, (256, 1024)).astype(f32)

    def uniform(low: float, high: float) -> np.ndarray:
        return rng.uniform(low, high, (256, 1024)).astype(f32)

    return {
        "SearchSorted": ((np.sort(rng.standard_normal(1024)).astype(f32), rng.standard_normal((256, 1024)).astype(f32)),
                         {}),
        "CumMax": ((big,), {"dim": 1}),
        "CumMin": ((big,), {"dim": 1}),
        "CumProd": ((rng.uniform(0.99, 1.01, (256, 1024)).astype(f32),), {"dim": 1}),
        "LinalgSolve": ((spd, rng.standard_normal((64, 32, 8)).astype(f32)), {}),
        "LinalgInv": ((spd,), {}),
        "Cholesky": ((spd,), {}),
        "LinalgQR": ((rng.standard_normal((64, 64, 32)).astype(f32),), {}),
        "Eigvalsh": ((spd,), {}),
        "Svdvals": ((rng.standard_normal((64, 32, 32)).astype(f32),), {}),
        "LinalgPinv": ((rng.standard_normal((64, 32, 32)).astype(f32), np.array(0.0), np.array(32 * 1.2e-7)), {}),
        "ScatterReduce": ((np.zeros((64, 1024), f32), rng.integers(0, 1024, (64, 4096)),
                           rng.standard_normal((64, 4096)).astype(f32)), {"dim": 1, "reduce": "mean"}),
        "Hypot": ((big, big[::-1].copy()), {}),
        "FMax": ((big, big[::-1].copy()), {}),
        "FMin": ((big, big[::-1].copy()), {}),
        "Erfinv": ((rng.uniform(-0.99, 0.99, (256, 1024)).astype(f32),), {}),
        "LGamma": ((rng.uniform(0.1, 20, (256, 1024)).astype(f32),), {}),
        "Digamma": ((rng.uniform(0.1, 20, (256, 1024)).astype(f32),), {}),
        "I0": ((rng.uniform(-10, 10, (256, 1024)).astype(f32),), {}),
        "Erfcx": ((rng.uniform(-3, 30, (256, 1024)).astype(f32),), {}),
        "LogNdtr": ((rng.uniform(-30, 6, (256, 1024)).astype(f32),), {}),
        "Polygamma": ((rng.uniform(0.1, 20, (256, 1024)).astype(f32),), {"n": 2}),
        "ChebyshevPolynomialT": ((rng.uniform(-1, 1, (256, 1024)).astype(f32),
                                  rng.integers(0, 8, (256, 1024)).astype(f32)), {}),
        "LegendrePolynomialP": ((rng.uniform(-1, 1, (256, 1024)).astype(f32),
                                 rng.integers(0, 8, (256, 1024)).astype(f32)), {}),
        "NextAfter": ((big, big[::-1].copy()), {}),
        "CopySign": ((big, big[::-1].copy()), {}),
        "AiryAi": ((uniform(-10, 10),), {}),
        **{name: ((uniform(0.1, 30),), {}) for name in ("BesselJ0", "BesselJ1", "BesselY0", "BesselY1")},
        "SphericalBesselJ0": ((uniform(-30, 30),), {}),
        **{name: ((uniform(-10, 10),), {}) for name in ("I1", "I1e")},
        **{name: ((uniform(0.1, 20),), {}) for name in ("ModifiedBesselK0", "ModifiedBesselK1", "ScaledModifiedBesselK0",
                                                         "ScaledModifiedBesselK1")},
        **{name: ((uniform(-1, 1), degrees), {}) for name in ("ChebyshevPolynomialU", "ChebyshevPolynomialV",
                                                               "ChebyshevPolynomialW")},
        **{name: ((uniform(0, 1), degrees), {}) for name in ("ShiftedChebyshevPolynomialT", "ShiftedChebyshevPolynomialU",
                                                              "ShiftedChebyshevPolynomialV", "ShiftedChebyshevPolynomialW")},
        **{name: ((uniform(-2, 2), degrees), {}) for name in ("HermitePolynomialH", "HermitePolynomialHe")},
        "LaguerrePolynomialL": ((uniform(0, 5), degrees), {}),
        "Zeta": ((uniform(1.5, 10), uniform(0.5, 10)), {}),
        **{name: ((uniform(0.5, 20), uniform(0, 30)), {}) for name in ("Igamma", "Igammac")},
        "Cdist": ((rng.standard_normal((32, 128, 64)).astype(f32), rng.standard_normal((32, 96, 64)).astype(f32)), {}),
        # opforge.export routes F.cross_entropy here only with label_smoothing (or a 1-D input): without it
        # stock's SoftmaxCrossEntropyLoss is right and stays native
        "CrossEntropyLoss": ((rng.standard_normal((256, 1024)).astype(f32), rng.integers(0, 1024, 256),
                              rng.uniform(0.5, 2, 1024).astype(f32)), {"label_smoothing": 0.1}),
        "IsIn": ((rng.integers(0, 4096, (256, 1024)), rng.integers(0, 4096, 512)), {}),
        "KthValue": ((big,), {"k": 100, "dim": 1}),
        "Median": ((big,), {"dim": 1}),
        "NanMedian": ((np.where(big > 2, np.nan, big).astype(f32),), {"dim": 1}),
        "Cov": ((rng.standard_normal((64, 4096)).astype(f32), rng.integers(0, 4, 4096),
                 rng.uniform(0.1, 2.0, 4096).astype(f32)), {}),
        "GaussianNllLoss": ((big, big[::-1].copy(), rng.uniform(0.1, 2.0, (256, 1024)).astype(f32)),
                            {"reduction": 0}),
    }


def _model(op: opforge.OpDef, inputs: tuple, attrs: dict, portable: bool) -> onnx.ModelProto:
    names = [f"in{i}" for i in range(len(inputs))]
    outs = [o.name for o in op.outputs]
    node = helper.make_node(op.op_type, names, outs, domain=op.domain)
    values = {a.name: attrs.get(a.name, a.default) for a in op.attributes}
    node.attribute.extend(attribute_proto(a.name, a.kind, values[a.name]) for a in op.attributes)
    graph = helper.make_graph([node], op.op_type, [helper.make_tensor_value_info(n, onnx_dtype(x.dtype), x.shape)
                                                   for n, x in zip(names, inputs, strict=True)],
                              [helper.make_value_info(o, onnx.TypeProto()) for o in outs])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 18), helper.make_opsetid(op.domain, 1)])
    if portable:  # the body and the functions it calls, as opforge.export attaches them
        model = attach_functions(model)
    return model


def interleaved_medians(runs: dict[str, Callable[[], object]], repeat: int) -> dict[str, float]:
    """Median seconds of each callable over ``repeat`` rounds. Each round calls every one, so that load from
    other processes on a shared machine falls on all of them alike; each timed call follows an untimed one of
    the same callable, so that it runs warm (as in a loop over batches), not after another's cache traffic."""
    times: dict[str, list[float]] = {name: [] for name in runs}
    for _ in range(repeat):
        for name, fn in runs.items():
            fn()
            start = time.perf_counter()
            fn()
            times[name].append(time.perf_counter() - start)
    return {name: statistics.median(values) for name, values in times.items()}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=20)
    parser.add_argument("--only", default=None)
    ns = parser.parse_args(argv)
    torch.set_num_threads(1)
    rng = np.random.default_rng(0)
    ops = {o.op_type: o for o in opforge.list_ops("opforge.ops")}
    rows = []
    chosen = {name: case for name, case in _sizes(rng).items() if not ns.only or ns.only in name}
    progress = Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn(),
                        console=Console(stderr=True), transient=True)
    task = progress.add_task("contrib ops", total=len(chosen))
    progress.start()
    for name, (inputs, attrs) in chosen.items():
        progress.update(task, description=name)
        op = ops[name]
        feed = {f"in{i}": x for i, x in enumerate(inputs)}
        options = ort.SessionOptions()
        options.intra_op_num_threads = 1
        session = opforge.InferenceSession(_model(op, inputs, attrs, False), options)
        tensors = [torch.from_numpy(x) for x in inputs]

        def eager(o: opforge.OpDef = op, t: list = tensors, a: dict = attrs) -> None:
            with torch.no_grad():
                o.reference(*t, **a)

        # the CPU kernel called directly on numpy arrays (writing into preallocated buffers where it takes
        # out, as in ONNX Runtime): its own cost, without ONNX Runtime and the bridge
        values = {a.name: attrs.get(a.name, a.default) for a in op.attributes}
        results = [np.asarray(r) for r in session.run(None, feed)]
        if takes_out(op.kernels["cpu"]):
            values["out"] = tuple(np.empty_like(r) for r in results) if len(results) > 1 else np.empty_like(results[0])
        # the floors: nodes with the op's inputs and outputs whose kernel does (almost) nothing
        fixed, floor = (_floor_session(inputs, results, touch, options) for touch in (0, 1))
        runs = {"eager": eager, "kernel": lambda s=session, f=feed: s.run(None, f),
                "direct": lambda k=op.kernels["cpu"], x=inputs, v=values: k(*x, **v),
                "fixed": lambda s=fixed, f=feed: s.run(None, f),
                "floor": lambda s=floor, f=feed: s.run(None, f)}
        slow_portable = None
        if op.function_body is not None:
            plain = ort.InferenceSession(_model(op, inputs, attrs, True).SerializeToString(), options,
                                         providers=["CPUExecutionProvider"])
            start = time.perf_counter()
            plain.run(None, feed)
            slow_portable = time.perf_counter() - start
            if slow_portable < SLOW_PORTABLE_S:
                runs["portable"], slow_portable = (lambda s=plain, f=feed: s.run(None, f)), None
        t = interleaved_medians(runs, ns.repeat)
        eager_t, direct_t, kernel_t, fixed_t, floor_t = (t[k] for k in ("eager", "direct", "kernel", "fixed", "floor"))
        portable_t = t.get("portable", slow_portable)
        progress.advance(task)
        shapes = " ".join("x".join(map(str, x.shape)) for x in inputs)
        rows.append((name, shapes, eager_t, direct_t, kernel_t, fixed_t, floor_t, portable_t))
    progress.stop()
    header = (f"{'op':<20} {'inputs':<26} {'eager ms':>9} {'kernel/eager':>12} {'ORT kernel ms':>13} {'ratio':>6} "
              f"{'fixed':>6} {'floor':>6} {'portable ms':>11} {'ratio':>6}")
    print(header)
    print("-" * len(header))
    for name, shapes, eager_t, direct_t, kernel_t, fixed_t, floor_t, portable_t in rows:
        portable = (f"{portable_t * 1e3:>11.3f} {portable_t / eager_t:>6.2f}" if portable_t is not None
                    else f"{'-':>11} {'-':>6}")
        print(f"{name:<20} {shapes:<26} {eager_t * 1e3:>9.3f} {direct_t / eager_t:>12.2f} {kernel_t * 1e3:>13.3f} "
              f"{kernel_t / eager_t:>6.2f} {fixed_t / eager_t:>6.2f} {floor_t / eager_t:>6.2f} {portable}")
    if any(row[-1] is not None and row[-1] >= SLOW_PORTABLE_S for row in rows):
        print(f"\nportable ms: the time of one (first) call where that call takes {SLOW_PORTABLE_S:g} s or more")
    print("\nkernel/eager = the CPU kernel called directly on numpy / eager torch; ratio = ONNX Runtime time / eager "
          "torch CPU time (1 thread each; median of "
          f"{ns.repeat} rounds, each calling every variant twice and timing the second call)")
    print("fixed / floor = nodes with the op's inputs, output shapes and dtypes through opforge.InferenceSession whose out\n"
          "kernel leaves the buffers untouched / writes zeros into them, over eager torch: what session.run, the\n"
          "dispatch, the bridge, ONNX Runtime's output buffers (and one pass of writes into them) cost.\n"
          "The CPU kernels write into ONNX Runtime's output buffers with torch's out= variant (or numpy's where\n"
          "faster and exact: FMax/FMin) through zero-copy views (opforge/ops/_torch.py).")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
