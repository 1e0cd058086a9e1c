"""The model behind ``opforge demo``: two layers that plain ``torch.onnx.export`` cannot handle.

* ``opforge.demo::ScaledSwish``: ``x * sigmoid(beta * x)`` with a numpy CPU kernel and a portable
  ONNX function body.
* ``opforge.demo::IterShrink``: repeated soft-shrinkage of each row until every value of the row is
  below the threshold. The early exit is a Python ``if`` on tensor data, which torch.export rejects;
  as an opforge op it stays one node, and its torch reference serves as the ONNX Runtime kernel.

:func:`run_demo` exports the model (dynamo, dynamic batch dim), runs it in
:class:`opforge.InferenceSession` on a few batch sizes and compares it with eager PyTorch.
"""

from __future__ import annotations

import dataclasses
import os
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
from onnxscript import opset18 as op

import opforge
from opforge._timing import median_seconds

DOMAIN = "opforge.demo"


@opforge.op(f"{DOMAIN}::ScaledSwish")
def scaled_swish(x: torch.Tensor, beta: float = 1.0) -> torch.Tensor:
    """Swish with a slope: ``x * sigmoid(beta * x)`` (``beta = 1.702`` approximates GELU)."""
    return x * torch.sigmoid(beta * x)


@scaled_swish.kernel("cpu")
def _(x: np.ndarray, *, beta: float) -> np.ndarray:
    # sigmoid(z) = (1 + tanh(z / 2)) / 2 never overflows, unlike 1 / (1 + exp(-z)); numpy computes
    # bfloat16 in float32, so cast back to the input's dtype
    return (x * (0.5 + 0.5 * np.tanh(0.5 * beta * x))).astype(x.dtype, copy=False)


@scaled_swish.infer
def _(x: opforge.TensorSpec, *, beta: float) -> opforge.TensorSpec:
    return opforge.TensorSpec(x.shape, x.dtype)


@scaled_swish.samples
def _(rng: np.random.Generator) -> Iterator[opforge.Sample]:
    yield opforge.Sample(rng.standard_normal((4, 16)).astype(np.float32)).named("default beta")
    yield opforge.Sample((rng.standard_normal((2, 3, 8)) * 30).astype(np.float32), beta=1.702).named("large values")


@scaled_swish.onnx_function
def _(x, beta: float = 1.0):  # onnxscript compiles this body to an ONNX function
    scale = op.CastLike(op.Constant(value_float=beta), x)
    return op.Mul(x, op.Sigmoid(op.Mul(scale, x)))


@opforge.op(f"{DOMAIN}::IterShrink")
def iter_shrink(x: torch.Tensor, threshold: float = 0.5, max_iter: int = 10) -> torch.Tensor:
    """Soft-shrink each row of ``x`` (last dim) until all its values are below ``threshold``.

    Stops early as soon as no row needs another step, at most ``max_iter`` steps. The number of
    steps depends on the data, so torch.export cannot trace this body.
    """
    for _ in range(max_iter):
        active = x.abs().amax(dim=-1, keepdim=True) >= threshold
        if not bool(active.any()):
            break
        x = torch.where(active, torch.nn.functional.softshrink(x, threshold), x)
    return x


@iter_shrink.infer
def _(x: opforge.TensorSpec, *, threshold: float, max_iter: int) -> opforge.TensorSpec:
    return opforge.TensorSpec(x.shape, x.dtype)


@iter_shrink.samples
def _(rng: np.random.Generator) -> Iterator[opforge.Sample]:
    yield opforge.Sample(rng.standard_normal((4, 8)).astype(np.float32), threshold=0.3).named("early exit")
    yield opforge.Sample((rng.standard_normal((3, 5)) * 10).astype(np.float32), max_iter=2).named("max_iter bound")


class DemoNet(torch.nn.Module):
    """Linear -> ScaledSwish -> Linear -> IterShrink."""

    def __init__(self, features: int = 32, hidden: int = 64) -> None:
        super().__init__()
        self.fc1 = torch.nn.Linear(features, hidden)
        self.fc2 = torch.nn.Linear(hidden, features)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = scaled_swish(self.fc1(x), beta=1.702)
        return iter_shrink(self.fc2(h), threshold=0.25, max_iter=8)


@dataclasses.dataclass
class DemoRow:
    """One batch size of the demo: eager vs ONNX Runtime."""

    batch: int
    max_abs_diff: float
    ok: bool
    eager_ms: float
    ort_ms: float


@dataclasses.dataclass
class DemoResult:
    path: Path
    export_s: float
    rows: list[DemoRow]
    custom_nodes: list[str]

    @property
    def ok(self) -> bool:
        return all(r.ok for r in self.rows)


def _within_tolerance(expected: np.ndarray, actual: np.ndarray) -> bool:
    try:
        opforge.assert_close(expected, actual, "demo")
    except opforge.VerificationError:
        return False
    return True


def export_demo(out_dir: str | os.PathLike, features: int = 32) -> tuple[DemoNet, Path, float]:
    """Export :class:`DemoNet` with a dynamic batch dim to ``out_dir/opforge_demo.onnx``."""
    torch.manual_seed(0)
    model = DemoNet(features).eval()
    path = Path(out_dir) / "opforge_demo.onnx"
    example = torch.randn(2, features)
    start = time.perf_counter()
    opforge.export(model, (example,), path, dynamic_shapes=({0: torch.export.Dim("batch")},))
    return model, path, time.perf_counter() - start


def run_demo(out_dir: str | os.PathLike | None = None, batch_sizes: Sequence[int] = (1, 16, 256),
             repeat: int = 50, on_exported: Callable[[Path, float], None] | None = None,
             threads: int | None = None) -> DemoResult:
    """Export the demo model, run it in ONNX Runtime at ``batch_sizes`` and compare with eager.

    ``threads`` caps both torch's and ONNX Runtime's intra-op threads (default: each library's own
    default); on a machine shared with other work a cap of 1 keeps the latencies comparable.
    """
    import onnxruntime

    options = onnxruntime.SessionOptions()
    if threads is not None:
        torch.set_num_threads(threads)
        options.intra_op_num_threads = threads
    with tempfile.TemporaryDirectory(prefix="opforge-demo-") as tmp:
        target = Path(out_dir) if out_dir is not None else Path(tmp)
        target.mkdir(parents=True, exist_ok=True)
        model, path, export_s = export_demo(target)
        if on_exported is not None:
            on_exported(path, export_s)
        session = opforge.InferenceSession(path, options)
        name = session.get_inputs()[0].name
        custom = sorted({f"{n.domain}::{n.op_type}" for n in opforge_nodes(path)})
        rng = np.random.default_rng(0)
        rows = []
        for batch in batch_sizes:
            x = (rng.standard_normal((batch, 32)) * 2).astype(np.float32)
            tx = torch.from_numpy(x)
            with torch.no_grad():
                expected = model(tx).numpy()
            actual = session.run(None, {name: x})[0]
            diff = float(np.max(np.abs(expected - actual))) if expected.shape == actual.shape else float("inf")

            def eager(tx: torch.Tensor = tx) -> None:
                with torch.no_grad():
                    model(tx)

            def ort(x: np.ndarray = x) -> None:
                session.run(None, {name: x})

            eager_ms = median_seconds(eager, repeat) * 1e3
            ort_ms = median_seconds(ort, repeat) * 1e3
            rows.append(DemoRow(batch, diff, _within_tolerance(expected, actual), eager_ms, ort_ms))
        return DemoResult(path if out_dir is not None else Path("(temporary)") / path.name, export_s, rows, custom)


def opforge_nodes(path: str | os.PathLike) -> list[Any]:
    import onnx

    return [n for n in onnx.load(os.fspath(path)).graph.node if n.domain == DOMAIN]


__all__ = ["DOMAIN", "DemoNet", "DemoResult", "DemoRow", "export_demo", "iter_shrink", "run_demo", "scaled_swish"]
