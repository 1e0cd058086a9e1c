"""opforge.contrib::LinalgInv: torch.linalg.inv / torch.inverse."""

from __future__ import annotations

import numpy as np
import torch
from onnxscript import opset18 as op

from ..api import op as declare
from ..types import Sample, TensorSpec
from . import _aten, _linalg, _torch
from ._linalg import solve_square


@declare("opforge.contrib::LinalgInv", version=1, dtypes={"A": ["float32", "float64"]},
         serves=["torch.linalg.inv", "torch.inverse", "Tensor.inverse", "torch.linalg.inv_ex"])
def linalg_inv(A: torch.Tensor) -> torch.Tensor:  # noqa: N803
    """Inverse of each square matrix of ``A`` ``(*, n, n)``. A singular matrix is an error."""
    return torch.linalg.inv(A)


@linalg_inv.kernel("cpu")
def _(A: np.ndarray, *, out: np.ndarray | None = None) -> np.ndarray:  # noqa: N803
    return _torch.cpu(torch.linalg.inv, A, out=out, name=linalg_inv.name)


@linalg_inv.kernel("cuda")
def _(A):  # noqa: ANN001, ANN202, N803
    import cupy

    return A.copy() if A.size == 0 else cupy.linalg.inv(A)


@linalg_inv.infer
def _(A: TensorSpec) -> TensorSpec:  # noqa: N803
    return TensorSpec(A.shape, A.dtype)


@linalg_inv.onnx_function
def _(A):  # noqa: ANN001, ANN202, N803
    # A X = I by _linalg.solve_square (pivoted elimination; a singular A gives inf/NaN where torch raises)
    last = op.Constant(value_ints=[-1])
    n = op.Squeeze(op.Shape(A, start=-1))
    steps = op.Range(op.Constant(value_int=0), n, op.Constant(value_int=1))
    rows = op.Unsqueeze(steps, last)
    eye = op.Expand(op.CastLike(op.Equal(rows, steps), A), op.Shape(A))
    return solve_square(A, eye)


@linalg_inv.samples
def _(rng: np.random.Generator):  # noqa: ANN202
    yield Sample(_linalg.well_conditioned(rng, (4, 4), np.float32)).named("matrix")
    yield Sample(_linalg.well_conditioned(rng, (2, 3, 5, 5), np.float64)).named("batched_float64")
    yield Sample(np.array([[2.0]], np.float32)).named("1x1")
    yield Sample(np.zeros((0, 3, 3), np.float32)).named("empty_batch")


@_aten.lowers(torch.ops.aten.linalg_inv_ex.default, linalg_inv)
def _(a: dict) -> object:
    """linalg_inv_ex(Tensor A, *, bool check_errors=False) -> (Tensor inverse, Tensor info)"""
    return _aten.emit(linalg_inv, a["A"]), _linalg.zero_info(a["A"])


@_aten.lowers(torch.ops.aten.linalg_inv.default, linalg_inv)
def _(a: dict) -> object:
    """linalg_inv(Tensor A) -> Tensor (kept whole: its decomposition adds an error-check node)"""
    return _aten.emit(linalg_inv, a["A"])


@_aten.lowers(torch.ops.aten.linalg_tensorinv.default, linalg_inv)
def _(a: dict) -> object:
    """linalg_tensorinv(Tensor self, int ind=2) -> Tensor: the inverse of ``self`` seen as a matrix of
    prod(shape[:ind]) rows (kept whole: its decomposition leaves an ``_linalg_check_errors`` side effect that
    torch.onnx cannot translate)"""
    std = _aten.std_opset()
    x, ind = a["self"], int(a["ind"])
    rows, cols = std.Shape(x, end=ind), std.Shape(x, start=ind)
    square = std.Concat(std.ReduceProd(rows, keepdims=1), std.ReduceProd(cols, keepdims=1), axis=0)
    inverse = _aten.emit(linalg_inv, std.Reshape(x, square))
    return std.Reshape(inverse, std.Concat(cols, rows, axis=0))
