"""opforge.contrib::LinalgSolve: torch.linalg.solve (batched, broadcasting, left or right)."""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
from onnx import TensorProto
from onnx.helper import make_tensor
from onnxscript import opset18 as op

from ..api import op as declare
from ..types import Sample, TensorSpec
from . import _aten, _linalg, _torch
from ._common import broadcast_dims, same_dim
from ._linalg import solve_square

_FLOATS = ["float32", "float64"]


@declare("opforge.contrib::LinalgSolve", version=1, dtypes={"A": _FLOATS, "B": _FLOATS},
         serves=["torch.linalg.solve"])
def linalg_solve(A: torch.Tensor, B: torch.Tensor, left: bool = True) -> torch.Tensor:  # noqa: N803
    """X with ``A @ X = B`` (``left``) or ``X @ A = B``. ``A`` is ``(*, n, n)``; ``B`` is ``(*, n, k)``, or
    a batch of vectors ``(*, n)`` when its shape is ``A.shape[:-1]`` (or it is 1-D). Batch dims
    broadcast. A singular ``A`` is an error."""
    return torch.linalg.solve(A, B, left=left)


def _vector_case(a_shape: tuple, b_shape: tuple) -> bool:
    """torch's rule: B is a (batch of) vector(s) when 1-D or shaped like A without its last dim."""
    if len(b_shape) == 1:
        return True
    return len(b_shape) == len(a_shape) - 1 and all(same_dim(x, y) for x, y in zip(b_shape, a_shape[:-1],
                                                                                       strict=True))


def _solve(xp: Any, A: Any, B: Any, left: bool) -> Any:  # noqa: N803
    vector = _vector_case(A.shape, B.shape)
    if vector:
        B = B[..., None]  # noqa: N806
    if not left:  # X A = B  <=>  A^T X^T = B^T
        A, B = xp.swapaxes(A, -1, -2), xp.swapaxes(B, -1, -2)  # noqa: N806
    batch = xp.broadcast_shapes(A.shape[:-2], B.shape[:-2]) if hasattr(xp, "broadcast_shapes") else \
        np.broadcast_shapes(A.shape[:-2], B.shape[:-2])
    A = xp.broadcast_to(A, batch + A.shape[-2:])  # noqa: N806
    B = xp.broadcast_to(B, batch + B.shape[-2:])  # noqa: N806
    if A.shape[-1] == 0 or B.shape[-1] == 0 or 0 in batch:
        X = xp.zeros(B.shape, dtype=xp.result_type(A, B))  # noqa: N806
    else:
        X = xp.linalg.solve(A, B)  # noqa: N806
    if not left:
        X = xp.swapaxes(X, -1, -2)  # noqa: N806
    return X[..., 0] if vector else X


@linalg_solve.kernel("cpu")
def _(A: np.ndarray, B: np.ndarray, *, left: bool, out: np.ndarray | None = None) -> np.ndarray:  # noqa: N803
    return _torch.cpu(torch.linalg.solve, A, B, left=left, out=out, name=linalg_solve.name)


@linalg_solve.kernel("cuda")
def _(A, B, *, left):  # noqa: ANN001, ANN202, N803
    import cupy

    return _solve(cupy, A, B, left)


@linalg_solve.infer
def _(A: TensorSpec, B: TensorSpec, *, left: bool) -> TensorSpec:  # noqa: N803
    if _vector_case(A.shape, B.shape):
        batch = broadcast_dims(A.shape[:-2], B.shape[:-1])
        return TensorSpec((*batch, A.shape[-1]), B.dtype)
    batch = broadcast_dims(A.shape[:-2], B.shape[:-2])
    return TensorSpec((*batch, *B.shape[-2:]), B.dtype)


def _well_conditioned(rng: np.random.Generator, shape: tuple, dtype: Any) -> np.ndarray:
    n = shape[-1]
    return (rng.standard_normal(shape) + n * np.eye(n)).astype(dtype)


@linalg_solve.onnx_function
def _(A, B, left: int = 1):  # noqa: ANN001, ANN202, N803
    # _linalg.solve_square on broadcast batches; X A = B runs as A^T X^T = B^T
    last = op.Constant(value_ints=[-1])
    rank_a = op.Size(op.Shape(A))
    rank_b = op.Size(op.Shape(B))
    if op.Equal(rank_b, op.Constant(value_int=1)):
        vector = op.Constant(value=make_tensor("true", TensorProto.BOOL, [], [True]))
    elif op.Equal(rank_b, op.Sub(rank_a, op.Constant(value_int=1))):
        # (a Slice to a computed end hides the lengths, which differ where this branch is dead, from shape inference)
        size_b = op.Unsqueeze(rank_b, op.Constant(value_ints=[0]))
        start = op.Constant(value_ints=[0])
        same = op.Equal(op.Slice(op.Shape(B), start, size_b), op.Slice(op.Shape(A), start, size_b))
        vector = op.Cast(op.ReduceMin(op.Cast(same, to=7), keepdims=0), to=9)
    else:
        vector = op.Constant(value=make_tensor("false", TensorProto.BOOL, [], [False]))
    if vector:
        b = op.Unsqueeze(B, last)
    else:
        b = op.Identity(B)
    if op.Cast(op.Constant(value_int=left), to=9):
        a = op.Identity(A)
    else:
        a = op.Einsum(A, equation="...ij->...ji")
        b = op.Einsum(b, equation="...ij->...ji")
    two = op.Constant(value_ints=[1, 1])
    a = op.Expand(a, op.Concat(op.Shape(b, end=-2), two, axis=0))
    b = op.Expand(b, op.Concat(op.Shape(a, end=-2), two, axis=0))
    x = solve_square(a, b)
    if op.Cast(op.Constant(value_int=left), to=9):
        out = op.Identity(x)
    else:
        out = op.Einsum(x, equation="...ij->...ji")
    if vector:
        result = op.Squeeze(out, last)
    else:
        result = op.Identity(out)
    return result


@linalg_solve.samples
def _(rng: np.random.Generator):  # noqa: ANN202
    f32 = np.float32
    yield Sample(_well_conditioned(rng, (4, 4), f32), rng.standard_normal((4, 3)).astype(f32)).named("matrix")
    yield Sample(_well_conditioned(rng, (3, 5, 5), np.float64), rng.standard_normal((3, 5, 2))).named("batched")
    yield Sample(_well_conditioned(rng, (2, 4, 4), f32), rng.standard_normal((2, 4)).astype(f32)).named("vectors")
    yield Sample(_well_conditioned(rng, (3, 3), f32), rng.standard_normal(3).astype(f32)).named("1d_vector")
    yield Sample(_well_conditioned(rng, (2, 1, 3, 3), f32), rng.standard_normal((4, 3, 2)).astype(f32)
                 ).named("broadcast_batch")
    yield Sample(_well_conditioned(rng, (2, 3, 3), np.float64), rng.standard_normal((2, 4, 3)), left=False
                 ).named("right_side")
    yield Sample(_well_conditioned(rng, (0, 3, 3), f32), np.zeros((0, 3, 1), f32)).named("empty_batch")


@_aten.lowers(torch.ops.aten.linalg_solve.default, linalg_solve)
def _(a: dict) -> object:
    """linalg_solve(Tensor A, Tensor B, *, bool left=True) -> Tensor"""
    return _aten.emit(linalg_solve, a["A"], a["B"], left=bool(a["left"]))


@_aten.lowers(torch.ops.aten.linalg_solve_ex.default, linalg_solve)
def _(a: dict) -> object:
    """linalg_solve_ex(Tensor A, Tensor B, *, bool left=True, bool check_errors=False) -> (Tensor result,
    Tensor info)"""
    return _aten.emit(linalg_solve, a["A"], a["B"], left=bool(a["left"])), _linalg.zero_info(a["A"])
