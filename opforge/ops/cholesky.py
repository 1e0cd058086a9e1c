"""opforge.contrib::Cholesky: torch.linalg.cholesky / torch.cholesky."""

from __future__ import annotations

import numpy as np
import torch
from onnxscript import opset18 as op

from ..api import op as declare
from ..types import Sample, TensorSpec
from . import _aten, _linalg, _torch


@declare("opforge.contrib::Cholesky", version=1, dtypes={"A": ["float32", "float64"]},
         serves=["torch.linalg.cholesky", "torch.linalg.cholesky_ex", "torch.cholesky", "Tensor.cholesky"])
def cholesky(A: torch.Tensor, upper: bool = False) -> torch.Tensor:  # noqa: N803
    """Cholesky factor of each symmetric positive-definite matrix of ``A`` ``(*, n, n)``: lower
    triangular L with ``A = L @ L.T`` (or upper U with ``A = U.T @ U``). Only the lower triangle
    of ``A`` is read (the upper one with ``upper``, as torch does). A matrix that is not positive
    definite is an error."""
    return torch.linalg.cholesky(A, upper=upper)


def _factor(xp, A, upper):  # noqa: ANN001, ANN202, N803
    if A.size == 0:
        return A.copy()
    source = xp.swapaxes(A, -1, -2) if upper else A  # torch reads the upper triangle for upper=True
    sym = xp.tril(source) + xp.swapaxes(xp.tril(source, -1), -1, -2)
    L = xp.linalg.cholesky(sym)  # noqa: N806
    return xp.ascontiguousarray(xp.swapaxes(L, -1, -2)) if upper else L


# numpy's own LAPACK loop (the gufunc np.linalg.cholesky calls, minus its float64 upcast and checks): in
# float32 it is 1.5x faster than torch's, whose MKL route adds a transposing copy in (tril_out into a
# column-major buffer) and one out (into ONNX Runtime's row-major buffer), and as accurate (max error
# against a float64 factor 6.9e-7 vs torch's 7.3e-7 at 64x32x32). Private to numpy, so looked up with
# care: without it the kernel takes torch's own factor.
try:
    from numpy.linalg import _umath_linalg as _gufuncs
except ImportError:  # pragma: no cover - numpy moved its linalg loops
    _gufuncs = None
_LOWER, _UPPER = (getattr(_gufuncs, name, None) for name in ("cholesky_lo", "cholesky_up"))


@cholesky.kernel("cpu")
def _(A: np.ndarray, *, upper: bool, out: np.ndarray | None = None) -> np.ndarray:  # noqa: N803
    factor = _UPPER if upper else _LOWER
    if factor is not None:
        try:  # a matrix that is not positive definite comes out as NaN and raises numpy's invalid flag
            with np.errstate(invalid="raise"):
                return factor(A) if out is None else factor(A, out=out)
        except FloatingPointError:
            pass  # torch says which batch element and which leading minor
    if out is None:
        return _torch.cpu(torch.linalg.cholesky, A, upper=upper, name=cholesky.name)
    return _torch_factor(A, upper, out)


def _torch_factor(A: np.ndarray, upper: bool, out: np.ndarray) -> np.ndarray:  # noqa: N803
    # torch's factor has column-major strides: numpy's strided copy of it beats torch's out= (a temporary
    # plus torch's copy)
    try:
        factor, info = torch.linalg.cholesky_ex(_torch.from_numpy(A), upper=upper)
        failed = bool(info.numpy().any())
    except RuntimeError:
        failed = True
    if failed:  # torch's own error (batch element, leading minor), named after the op
        np.copyto(out, _torch.cpu(torch.linalg.cholesky, A, upper=upper, name=cholesky.name))
    else:
        np.copyto(out, factor.numpy())
    return out


@cholesky.kernel("cuda")
def _(A, *, upper):  # noqa: ANN001, ANN202, N803
    import cupy

    return _factor(cupy, A, upper)


@cholesky.infer
def _(A: TensorSpec, *, upper: bool) -> TensorSpec:  # noqa: N803
    return TensorSpec(A.shape, A.dtype)


@cholesky.onnx_function
def _(A, upper: int = 0):  # noqa: ANN001, ANN202, N803
    # column by column (left-looking): v = A[:, j] - L @ L[j, :] (columns >= j of L are still zero), then
    # L[j, j] = sqrt(v[j]) and L[i, j] = v[i] / L[j, j] below it; only the lower triangle of A is read
    # (for upper, torch reads the upper one: the lower one of A's transpose). A matrix that is not positive
    # definite gives NaN where torch raises
    if op.Cast(op.Constant(value_int=upper), to=9):
        A = op.Einsum(A, equation="...ij->...ji")  # noqa: N806
    else:
        A = op.Identity(A)  # noqa: N806
    n = op.Squeeze(op.Shape(A, start=-1))
    steps = op.Range(op.Constant(value_int=0), n, op.Constant(value_int=1))
    rows = op.Unsqueeze(steps, op.Constant(value_ints=[-1]))
    zero = op.CastLike(op.Constant(value_int=0), A)
    L = op.Expand(zero, op.Shape(A))  # noqa: N806
    for j in range(n):
        row = op.Unsqueeze(op.Gather(L, j, axis=-2), op.Constant(value_ints=[-1]))
        v = op.Sub(op.Unsqueeze(op.Gather(A, j, axis=-1), op.Constant(value_ints=[-1])), op.MatMul(L, row))
        d = op.Sqrt(op.Gather(v, op.Unsqueeze(j, op.Constant(value_ints=[0])), axis=-2))
        col = op.Where(op.Greater(rows, j), op.Div(v, d), op.Where(op.Equal(rows, j), d, zero))
        L = op.Where(op.Equal(steps, j), col, L)  # noqa: N806
    if op.Cast(op.Constant(value_int=upper), to=9):
        out = op.Einsum(L, equation="...ij->...ji")
    else:
        out = op.Identity(L)
    return out


@cholesky.samples
def _(rng: np.random.Generator):  # noqa: ANN202
    yield Sample(_linalg.spd(rng, (4, 4), np.float32)).named("matrix")
    yield Sample(_linalg.spd(rng, (3, 5, 5), np.float64), upper=True).named("batched_upper")
    garbage_upper = np.triu(rng.standard_normal((4, 4)), 1) * 100 + np.tril(_linalg.spd(rng, (4, 4), np.float64))
    yield Sample(garbage_upper.astype(np.float32)).named("reads_lower_triangle_only")
    yield Sample(np.swapaxes(garbage_upper, -1, -2).astype(np.float32), upper=True).named("upper_reads_upper_triangle_only")
    yield Sample(np.array([[4.0]], np.float32)).named("1x1")
    yield Sample(np.zeros((0, 2, 2), np.float32)).named("empty_batch")


@_aten.lowers(torch.ops.aten.linalg_cholesky_ex.default, cholesky)
def _(a: dict) -> object:
    """linalg_cholesky_ex(Tensor self, *, bool upper=False, bool check_errors=False) -> (Tensor L, Tensor info)"""
    return _aten.emit(cholesky, a["self"], upper=bool(a["upper"])), _linalg.zero_info(a["self"])


@_aten.lowers(torch.ops.aten.linalg_cholesky.default, cholesky)
def _(a: dict) -> object:
    """linalg_cholesky(Tensor self, *, bool upper=False) -> Tensor (kept whole: its decomposition adds an
    error-check node)"""
    return _aten.emit(cholesky, a["self"], upper=bool(a["upper"]))


@_aten.lowers(torch.ops.aten.cholesky.default, cholesky)
def _(a: dict) -> object:
    """cholesky(Tensor self, bool upper=False) -> Tensor: the deprecated torch.cholesky"""
    return _aten.emit(cholesky, a["self"], upper=bool(a["upper"]))
