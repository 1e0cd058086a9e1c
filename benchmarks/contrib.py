"""Contrib ops at a realistic size: ONNX Runtime (Python kernel via the bridge, and the portable
ONNX body where there is one) against eager PyTorch on CPU, measured in one run.

    python benchmarks/contrib.py [--repeat 20] [--only NAME]

Ratios are ONNX Runtime time / eager torch time (lower is better; 1.0 = as fast as torch).
"""

from __future__ import annotations

import argparse

import numpy as np
import onnx
import onnxruntime as ort
import torch
from onnx import helper

import opforge
import opforge.ops  # noqa: F401 - declares the contrib ops
from opforge._timing import median_seconds
from opforge.portable import attach_functions
from opforge.schemas import attribute_proto
from opforge.types import onnx_dtype


def _sizes(rng: np.random.Generator) -> dict[str, tuple[tuple, dict]]:
    """op type -> (inputs, attributes) at a size a real model meets."""
    f32 = np.float32
    spd = rng.standard_normal((64, 32, 32))
    spd = (spd @ spd.transpose(0, 2, 1) + 32 * np.eye(32)).astype(f32)
    big = rng.standard_normal((256, 1024)).astype(f32)
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


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=20)
    parser.add_argument("--only", default=None)
    ns = parser.parse_args(argv)
    torch.set_num_threads(1)
    rng = np.random.default_rng(0)
    ops = {o.op_type: o for o in opforge.list_ops("opforge.ops")}
    rows = []
    for name, (inputs, attrs) in _sizes(rng).items():
        if ns.only and ns.only not in name:
            continue
        op = ops[name]
        feed = {f"in{i}": x for i, x in enumerate(inputs)}
        options = ort.SessionOptions()
        options.intra_op_num_threads = 1
        session = opforge.InferenceSession(_model(op, inputs, attrs, False), options)
        kernel_t = median_seconds(lambda s=session, f=feed: s.run(None, f), ns.repeat)
        portable_t = None
        if op.function_body is not None:
            plain = ort.InferenceSession(_model(op, inputs, attrs, True).SerializeToString(), options,
                                         providers=["CPUExecutionProvider"])
            portable_t = median_seconds(lambda s=plain, f=feed: s.run(None, f), ns.repeat)
        tensors = [torch.from_numpy(x) for x in inputs]
        with torch.no_grad():
            eager_t = median_seconds(lambda o=op, t=tensors, a=attrs: o.reference(*t, **a), ns.repeat)
        # the CPU kernel called directly on numpy arrays: its own cost, without ONNX Runtime and the bridge
        values = {a.name: attrs.get(a.name, a.default) for a in op.attributes}
        direct_t = median_seconds(lambda k=op.kernels["cpu"], x=inputs, v=values: k(*x, **v), ns.repeat)
        shapes = " ".join("x".join(map(str, x.shape)) for x in inputs)
        rows.append((name, shapes, eager_t, direct_t, kernel_t, portable_t))
    header = (f"{'op':<20} {'inputs':<26} {'eager ms':>9} {'kernel/eager':>12} {'ORT kernel ms':>13} {'ratio':>6} "
              f"{'portable ms':>11} {'ratio':>6}")
    print(header)
    print("-" * len(header))
    for name, shapes, eager_t, direct_t, kernel_t, portable_t in rows:
        portable = (f"{portable_t * 1e3:>11.3f} {portable_t / eager_t:>6.2f}" if portable_t is not None
                    else f"{'-':>11} {'-':>6}")
        print(f"{name:<20} {shapes:<26} {eager_t * 1e3:>9.3f} {direct_t / eager_t:>12.2f} {kernel_t * 1e3:>13.3f} "
              f"{kernel_t / eager_t:>6.2f} {portable}")
    print("\nkernel/eager = the CPU kernel called directly on numpy / eager torch; ratio = ONNX Runtime time / eager "
          "torch CPU time (1 thread each; median of "
          f"{ns.repeat} runs after a warm-up)")
    print("The CPU kernels run the op's torch reference zero-copy (opforge/ops/_torch.py), so what remains above\n"
          "1x is the bridge's fixed cost per call and its output copy; on hosts where page faults are slow\n"
          "(sandboxed VMs) a fresh ~1 MB output costs ~0.5 ms. Setting MALLOC_MMAP_THRESHOLD_=100000000\n"
          "MALLOC_TRIM_THRESHOLD_=1000000000 in the environment keeps freed blocks in the heap.")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
