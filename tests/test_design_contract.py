"""The public API exactly as DESIGN.md writes it: code outside this repo calls these names."""

from __future__ import annotations

import numpy as np
import onnx
import torch
from onnx.reference import ReferenceEvaluator

import opforge


@opforge.op("mylab.contract::IterShrink", version=1)
def iter_shrink(x: torch.Tensor, threshold: float = 0.5, max_iter: int = 10) -> torch.Tensor:
    """Soft-shrink until every |x| < threshold, at most max_iter times (a data-dependent loop)."""
    for _ in range(max_iter):
        if bool((x.abs() < threshold).all()):
            break
        x = torch.nn.functional.softshrink(x, threshold)
    return x


@iter_shrink.kernel("cpu")
def _(x: np.ndarray, *, threshold: float, max_iter: int) -> np.ndarray:
    for _ in range(max_iter):
        if (np.abs(x) < threshold).all():
            break
        x = np.where(x > threshold, x - threshold, np.where(x < -threshold, x + threshold, 0)).astype(x.dtype)
    return x


@iter_shrink.infer
def _(x: opforge.TensorSpec, *, threshold: float, max_iter: int) -> opforge.TensorSpec:
    return opforge.TensorSpec(x.shape, x.dtype)


@iter_shrink.samples
def _(rng: np.random.Generator):
    yield opforge.Sample(rng.standard_normal((4, 8)).astype(np.float32), threshold=0.3)
    yield opforge.Sample(rng.standard_normal((2, 3)).astype(np.float32) * 5, threshold=1.0, max_iter=2)


class Net(torch.nn.Module):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return iter_shrink(x * 2, threshold=0.3) + 1


def test_design_example_end_to_end(tmp_path):
    path = tmp_path / "model.onnx"
    proto = opforge.export(Net(), (torch.randn(3, 8),), path, dynamic_shapes=({0: torch.export.Dim("batch")},))
    assert isinstance(proto, onnx.ModelProto)
    x = np.random.default_rng(1).standard_normal((5, 8)).astype(np.float32)
    expected = Net()(torch.from_numpy(x)).numpy()
    for model in (str(path), path.read_bytes(), proto):  # a path, bytes or a ModelProto
        session = opforge.InferenceSession(model)
        (got,) = session.run(None, {"x": x})
        opforge.assert_close(expected, got, f"InferenceSession({type(model).__name__})")
    assert iter_shrink in opforge.list_ops(__name__)
    assert opforge.load_ops("opforge.demo")  # a module of ops, imported by name
    evaluator = ReferenceEvaluator(proto, new_ops=opforge.reference_ops())
    opforge.assert_close(expected, evaluator.run(None, {"x": x})[0], "ReferenceEvaluator")
    report = opforge.conformance.check(iter_shrink)
    assert report.ok, str(report)
