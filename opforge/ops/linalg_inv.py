"""opforge.contrib::LinalgInv: torch.linalg.inv / torch.inverse."""

from __future__ import annotations

import numpy as np
import torch
from onnxscript import opset18 as op

from ..api import op as declare
from ..types import Sample, TensorSpec
from . import _aten, _linalg


@declare("opforge.contrib::LinalgInv", version=1, dtypes={"A": ["float32", "float64"]},
         serves=["torch.linalg.inv", "torch.inverse", "Tensor.inverse", "torch.linalg.inv_ex"])
def linalg_inv(A: torch.Tensor) -> torch.Tensor:  # noqa: N803
    """Inverse of each square matrix of ``A`` ``(*, n, n)``. A singular matrix is an error."""
    return torch.linalg.inv(A)


@linalg_inv.kernel("cpu")
def _(A: np.ndarray) -> np.ndarray:  # noqa: N803
    if A.size == 0:
        return A.copy()
    try:
        return np.linalg.inv(A)
    except np.linalg.LinAlgError as exc:
        raise np.linalg.LinAlgError(f"{linalg_inv.name}: input 'A' is singular ({exc}); torch.linalg.inv fails "
                                    "the same way. Use torch.linalg.pinv for singular matrices.") from exc


@linalg_inv.kernel("cuda")
def _(A):  # noqa: ANN001, ANN202, N803
    import cupy

    return A.copy() if A.size == 0 else cupy.linalg.inv(A)


@linalg_inv.infer
def _(A: TensorSpec) -> TensorSpec:  # noqa: N803
    return TensorSpec(A.shape, A.dtype)


@linalg_inv.onnx_function
def _(A):  # noqa: ANN001, ANN202, N803
    # LinalgSolve's body with B = I: Gaussian elimination with partial pivoting (LAPACK getrf's rule: the
    # first row of largest magnitude at or below the diagonal) on [A | I], then back substitution.
    # A singular A gives inf/NaN where torch raises
    last = op.Constant(value_ints=[-1])
    n = op.Squeeze(op.Shape(A, start=-1))
    steps = op.Range(op.Constant(value_int=0), n, op.Constant(value_int=1))
    rows = op.Unsqueeze(steps, last)
    eye = op.Expand(op.CastLike(op.Equal(rows, steps), A), op.Shape(A))
    m = op.Concat(A, eye, axis=-1)
    for j in range(n):
        column = op.Gather(m, j, axis=-1)
        magnitude = op.Where(op.Less(steps, j), op.CastLike(op.Constant(value_int=-1), m), op.Abs(column))
        p = op.Unsqueeze(op.ArgMax(magnitude, axis=-1, keepdims=1), last)  # (*, 1, 1)
        here = op.Unsqueeze(op.Gather(m, j, axis=-2), op.Constant(value_ints=[-2]))
        pivot_row = op.GatherElements(m, op.Expand(p, op.Shape(here)), axis=-2)
        m = op.Where(op.Equal(rows, j), pivot_row, op.Where(op.Equal(rows, p), here, m))
        pivot = op.Gather(pivot_row, op.Unsqueeze(j, op.Constant(value_ints=[0])), axis=-1)
        factor = op.Div(op.Gather(m, op.Unsqueeze(j, op.Constant(value_ints=[0])), axis=-1), pivot)
        factor = op.Where(op.Greater(rows, j), factor, op.CastLike(op.Constant(value_int=0), m))
        m = op.Sub(m, op.Mul(factor, pivot_row))
    end = op.Unsqueeze(n, op.Constant(value_ints=[0]))
    u = op.Slice(m, op.Constant(value_ints=[0]), end, last)
    c = op.Slice(m, end, op.Constant(value_ints=[9223372036854775807]), last)
    x = op.Expand(op.CastLike(op.Constant(value_int=0), m), op.Shape(c))
    for s in range(n):
        j = op.Sub(op.Sub(n, s), op.Constant(value_int=1))
        at = op.Unsqueeze(j, op.Constant(value_ints=[0]))
        u_row = op.Gather(u, at, axis=-2)  # (*, 1, n): entries left of j multiply rows of x still zero
        diagonal = op.Gather(u_row, at, axis=-1)
        x_j = op.Div(op.Sub(op.Gather(c, at, axis=-2), op.MatMul(u_row, x)), diagonal)
        x = op.Where(op.Equal(rows, j), x_j, x)
    return x


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
