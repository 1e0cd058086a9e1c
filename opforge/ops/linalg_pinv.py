"""opforge.contrib::LinalgPinv: torch.linalg.pinv (Moore-Penrose pseudo-inverse, with atol / rtol / hermitian)."""

from __future__ import annotations

import numpy as np
import torch
from onnxscript import opset18 as op

from ..api import op as declare
from ..types import Sample, TensorSpec
from . import _aten, _jacobi, _torch
from ._common import broadcast_dims
from ._jacobi import jacobi_svd

_FLOATS = ["float32", "float64"]


@declare("opforge.contrib::LinalgPinv", version=1, dtypes={"A": _FLOATS, "atol": _FLOATS, "rtol": _FLOATS},
         serves=["torch.linalg.pinv", "torch.pinverse", "Tensor.pinverse"])
def linalg_pinv(A: torch.Tensor, atol: torch.Tensor, rtol: torch.Tensor,  # noqa: N803
                hermitian: bool = False) -> torch.Tensor:
    """Pseudo-inverse ``(*, n, m)`` of each matrix of ``A`` ``(*, m, n)``: singular values (or, with
    ``hermitian``, absolute eigenvalues of the lower triangle made symmetric) at or below
    ``max(atol, rtol * largest)`` count as zero. ``atol`` and ``rtol`` are tensors that broadcast against
    the batch dims (``torch.linalg.pinv``'s defaults: atol 0, rtol ``eps(dtype) * max(m, n)``, or 0 where
    atol > 0; the aten lowering fills them in)."""
    return torch.linalg.pinv(A, atol=atol, rtol=rtol, hermitian=hermitian)


@linalg_pinv.kernel("cpu")
def _(A: np.ndarray, atol: np.ndarray, rtol: np.ndarray, *, hermitian: bool) -> np.ndarray:  # noqa: N803
    return _torch.cpu(linalg_pinv.reference, A, atol, rtol, hermitian=hermitian, name=linalg_pinv.name)


@linalg_pinv.kernel("cuda")
def _(A, atol, rtol, *, hermitian):  # noqa: ANN001, ANN202, N803
    return _torch.cuda(linalg_pinv.reference, A, atol, rtol, hermitian=hermitian)


@linalg_pinv.infer
def _(A: TensorSpec, atol: TensorSpec, rtol: TensorSpec, *, hermitian: bool) -> TensorSpec:  # noqa: N803
    *batch, m, n = A.shape
    batch = broadcast_dims(broadcast_dims(tuple(batch), atol.shape), rtol.shape)
    return TensorSpec((*batch, n, m), A.dtype)


@linalg_pinv.onnx_function
def _(A, atol, rtol, hermitian: int = 0):  # noqa: ANN001, ANN202, N803
    # in float64, with hermitian the lower triangle made symmetric first (its singular values are the absolute
    # eigenvalues torch thresholds): B = A (A^T when wide) = W V^T with orthogonal columns w_i = s_i u_i by
    # one-sided Jacobi (_jacobi.jacobi_svd), pinv(B) = V diag(1/s_i^2) W^T over the kept s_i. The signs of the
    # singular vectors cancel: the result is unique, as LAPACK's. (Only Where / Einsum sit in the If branches:
    # onnxscript records the opset of a function called there in no FunctionProto)
    a = op.Cast(A, to=11)
    last = op.Constant(value_ints=[-1])
    zero = op.CastLike(op.Constant(value_float=0.0), a)
    one = op.CastLike(op.Constant(value_float=1.0), a)
    if op.Cast(op.Constant(value_int=hermitian), to=9):
        # (hermitian A is square; the cut to k x k keeps this branch's shapes valid where it is dead)
        k = op.Min(op.Shape(a, start=-2, end=-1), op.Shape(a, start=-1))
        square = op.Slice(a, op.Constant(value_ints=[0, 0]), op.Concat(k, k, axis=0), op.Constant(value_ints=[-2, -1]))
        idx = op.Range(op.Constant(value_int=0), op.Squeeze(k), op.Constant(value_int=1))
        matrix = op.Where(op.GreaterOrEqual(op.Unsqueeze(idx, last), idx), square,
                          op.Einsum(square, equation="...ij->...ji"))
    else:
        matrix = op.Identity(a)
    wide = op.Less(op.Shape(a, start=-2, end=-1), op.Shape(a, start=-1))
    if wide:
        b = op.Einsum(matrix, equation="...ij->...ji")
    else:
        b = op.Identity(matrix)
    w, v = jacobi_svd(b)
    squares = op.ReduceSum(op.Mul(w, w), op.Constant(value_ints=[-2]), keepdims=0)
    size = op.Sqrt(squares)
    # the largest singular value, 0 for none (a ReduceMax over an empty axis has no value)
    padding = op.Expand(zero, op.Concat(op.Shape(size, end=-1), op.Constant(value_ints=[1]), axis=0))
    top = op.ReduceMax(op.Concat(size, padding, axis=-1), last, keepdims=1)
    tol = op.Max(op.Unsqueeze(op.Cast(atol, to=11), last), op.Mul(op.Unsqueeze(op.Cast(rtol, to=11), last), top))
    keep = op.Greater(size, tol)
    inverse = op.Where(keep, op.Div(one, op.Where(keep, squares, one)), zero)
    pinv_b = op.MatMul(op.Mul(v, op.Unsqueeze(inverse, op.Constant(value_ints=[-2]))),
                       op.Einsum(w, equation="...ij->...ji"))
    if wide:
        out = op.Einsum(pinv_b, equation="...ij->...ji")
    else:
        out = op.Identity(pinv_b)
    return op.CastLike(out, A)


@linalg_pinv.samples
def _(rng: np.random.Generator):  # noqa: ANN202
    f32 = np.float32

    def default(a: np.ndarray) -> tuple[np.ndarray, np.ndarray]:  # torch's default atol / rtol
        return np.array(0.0), np.array(np.finfo(a.dtype).eps * max(a.shape[-2:]))

    a = rng.standard_normal((5, 5)).astype(f32)
    yield Sample(a, *default(a)).named("square")
    a = rng.standard_normal((6, 3)).astype(f32)
    yield Sample(a, *default(a)).named("tall")
    a = rng.standard_normal((2, 3, 7))
    yield Sample(a, *default(a)).named("wide_batched_float64")
    a = (rng.standard_normal((5, 2)) @ rng.standard_normal((2, 4))).astype(f32)
    yield Sample(a, *default(a)).named("rank_2")
    a = rng.standard_normal((4, 4)).astype(f32)
    yield Sample(a, np.array(0.5, f32), np.array(0.0, f32)).named("atol")
    a = rng.standard_normal((3, 4, 4)).astype(f32)
    yield Sample(a, np.array([0.0, 0.0, 0.0]), np.array([0.0, 0.3, 1.0])).named("batched_rtol")
    s = rng.standard_normal((4, 4))
    a = (s + s.T).astype(f32)
    yield Sample(a, *default(a), hermitian=True).named("hermitian")
    # rank-deficient by an exact zero row and column: a singular value that only roundoff makes nonzero sits
    # at the cutoff, where float32 LAPACK noise (eager) and the float64 body may fall on either side of it
    s = rng.standard_normal((2, 4, 4))
    a = np.zeros((2, 5, 5))
    a[:, 1:, 1:] = s + np.swapaxes(s, -1, -2)
    yield Sample(a, *default(a), hermitian=True).named("hermitian_singular_float64")
    a = np.zeros((3, 3), f32)
    yield Sample(a, *default(a)).named("zero")
    a = np.zeros((0, 2, 4), f32)
    yield Sample(a, *default(a)).named("empty_batch")
    a = np.zeros((3, 0), f32)
    yield Sample(a, *default(a)).named("3x0")


def _tolerances(a: dict) -> tuple[object, object]:
    """torch's get_atol_rtol: atol defaults to 0; rtol to eps(dtype) * max(m, n), or 0 where atol > 0."""
    std = _aten.std_opset()
    matrix, atol, rtol = a["self"], a["atol"], a["rtol"]
    atol_value = std.Constant(value=_double(0.0)) if atol is None else std.Cast(atol, to=11)
    if rtol is not None:
        return atol_value, std.Cast(rtol, to=11)
    from onnxscript import ir

    eps = float(np.finfo(np.float32 if matrix.dtype == ir.DataType.FLOAT else np.float64).eps)
    largest = std.Cast(std.ReduceMax(std.Shape(matrix, start=-2), keepdims=0), to=11)
    default = std.Mul(std.Constant(value=_double(eps)), largest)
    if atol is None:
        return atol_value, default
    return atol_value, std.Where(std.Greater(atol_value, std.Constant(value=_double(0.0))),
                                 std.Constant(value=_double(0.0)), default)


def _double(value: float) -> object:
    from onnx import helper

    return helper.make_tensor("value", 11, [], [value])


@_aten.lowers(torch.ops.aten.linalg_pinv.atol_rtol_tensor, linalg_pinv,
              when=lambda a: _jacobi.lowerable(a["self"]) and all(
                  a[t] is None or _jacobi.lowerable(a[t]) for t in ("atol", "rtol")))
def _(a: dict) -> object:
    """linalg_pinv.atol_rtol_tensor(Tensor self, *, Tensor? atol=None, Tensor? rtol=None, bool hermitian=False)
    -> Tensor"""
    atol, rtol = _tolerances(a)
    return _aten.emit(linalg_pinv, a["self"], atol, rtol, hermitian=bool(a["hermitian"]))
