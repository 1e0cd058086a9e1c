"""opforge.contrib::Svdvals: torch.linalg.svdvals (singular values, descending)."""

from __future__ import annotations

import numpy as np
import torch
from onnxscript import opset18 as op

from ..api import op as declare
from ..types import Sample, TensorSpec
from . import _aten, _jacobi, _torch
from ._jacobi import jacobi_svd


@declare("opforge.contrib::Svdvals", version=1, dtypes={"A": ["float32", "float64"]},
         serves=["torch.linalg.svdvals", "torch.linalg.matrix_rank", "torch.linalg.cond(p=None/2/-2)",
                 "torch.linalg.matrix_norm(ord='nuc'/2/-2)"])
def svdvals(A: torch.Tensor) -> torch.Tensor:  # noqa: N803
    """Singular values, in descending order, of each matrix of ``A`` ``(*, m, n)``: ``(*, min(m, n))``."""
    return torch.linalg.svdvals(A)


@svdvals.kernel("cpu")
def _(A: np.ndarray) -> np.ndarray:  # noqa: N803
    return _torch.cpu(svdvals.reference, A, name=svdvals.name)


@svdvals.kernel("cuda")
def _(A):  # noqa: ANN001, ANN202, N803
    return _torch.cuda(svdvals.reference, A)


@svdvals.infer
def _(A: TensorSpec) -> TensorSpec:  # noqa: N803
    *batch, m, n = A.shape
    k = min(m, n) if isinstance(m, int) and isinstance(n, int) else m if m == n else None
    return TensorSpec((*batch, k), A.dtype)


@svdvals.onnx_function
def _(A):  # noqa: ANN001, ANN202, N803
    # one-sided Jacobi in float64 (_jacobi.jacobi_svd) on A, or on A^T when A is wide so that it works on
    # min(m, n) columns; the singular values are the column norms, sorted descending as LAPACK returns them
    a = op.Cast(A, to=11)
    if op.Less(op.Shape(a, start=-2, end=-1), op.Shape(a, start=-1)):
        b = op.Einsum(a, equation="...ij->...ji")
    else:
        b = op.Identity(a)
    w, v = jacobi_svd(b)
    norms = op.Sqrt(op.ReduceSum(op.Mul(w, w), op.Constant(value_ints=[-2]), keepdims=0))
    values, order = op.TopK(norms, op.Shape(norms, start=-1), axis=-1, largest=1, sorted=1)
    return op.CastLike(values, A)


@svdvals.samples
def _(rng: np.random.Generator):  # noqa: ANN202
    f32 = np.float32
    yield Sample(rng.standard_normal((5, 5)).astype(f32)).named("square")
    yield Sample(rng.standard_normal((6, 3)).astype(f32)).named("tall")
    yield Sample(rng.standard_normal((2, 3, 7))).named("wide_batched_float64")
    graded = rng.standard_normal((5, 5)) @ np.diag([1.0, 1e-2, 1e-4, 1e-6, 1e-8]) @ rng.standard_normal((5, 5))
    yield Sample(graded).named("graded_float64")
    yield Sample((rng.standard_normal((4, 1)) @ rng.standard_normal((1, 4))).astype(f32)).named("rank_1")
    yield Sample(np.zeros((3, 3), f32)).named("zero")
    yield Sample(np.zeros((0, 2, 4), f32)).named("empty_batch")
    yield Sample(np.zeros((3, 0), f32)).named("3x0")


def _full_shapes(A: object, full_matrices: bool) -> tuple[object, object]:  # noqa: N803
    """The ONNX shapes of U and Vh for A (*, m, n)."""
    std = _aten.std_opset()
    batch = std.Shape(A, end=-2)
    m = std.Shape(A, start=-2, end=-1)
    n = std.Shape(A, start=-1)
    k = std.Min(m, n)
    return (std.Concat(batch, m, m if full_matrices else k, axis=0),
            std.Concat(batch, n if full_matrices else k, n, axis=0))


def _static_empty(A: object) -> bool:  # noqa: N803
    """A has a static shape with a 0 in it: then U, S and Vh are fixed (empty, or the identity that torch
    returns for the complete U / Vh of an m x 0 / 0 x n matrix) and carry no sign LAPACK chooses."""
    shape = getattr(A, "shape", None)
    return shape is not None and all(isinstance(d, int) for d in shape) and 0 in tuple(shape)


def _empty_svd(A: object, full_matrices: bool) -> tuple[object, object, object]:  # noqa: N803
    from onnx import numpy_helper
    from onnxscript import ir

    std = _aten.std_opset()
    *batch, m, n = (int(d) for d in A.shape)
    k = min(m, n)
    dtype = np.float32 if A.dtype == ir.DataType.FLOAT else np.float64

    def constant(value: np.ndarray) -> object:
        return std.Constant(value=numpy_helper.from_array(np.ascontiguousarray(value.astype(dtype)), "value"))

    u = np.broadcast_to(np.eye(m, m if full_matrices else k), (*batch, m, m if full_matrices else k))
    vh = np.broadcast_to(np.eye(n if full_matrices else k, n), (*batch, n if full_matrices else k, n))
    return constant(u), constant(np.zeros((*batch, k))), constant(vh)


@_aten.lowers(torch.ops.aten._linalg_svd.default, svdvals,
              when=lambda a: _jacobi.lowerable(a["A"]) and (not a["compute_uv"] or _static_empty(a["A"])
                                                            or _jacobi.dropped(0, 2)))
def _(a: dict) -> object:
    """_linalg_svd(Tensor A, bool full_matrices=False, bool compute_uv=True, *, str? driver=None) -> (Tensor U,
    Tensor S, Tensor Vh): the singular values, where no singular vectors are read (their signs are LAPACK's
    choice: a call that reads them stays on the fallback), or all three for a statically empty A"""
    if a["compute_uv"] and _static_empty(a["A"]):
        return _empty_svd(a["A"], bool(a["full_matrices"]))
    if a["compute_uv"]:
        u_shape, vh_shape = _full_shapes(a["A"], bool(a["full_matrices"]))
    else:
        u_shape = vh_shape = None
    return (_jacobi.unread(a["A"], u_shape), _aten.emit(svdvals, a["A"]), _jacobi.unread(a["A"], vh_shape))
