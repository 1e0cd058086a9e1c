"""opforge.contrib::Eigvalsh: torch.linalg.eigvalsh (eigenvalues of symmetric matrices, ascending)."""

from __future__ import annotations

import numpy as np
import torch
from onnxscript import opset18 as op

from ..api import op as declare
from ..types import Sample, TensorSpec
from . import _aten, _jacobi, _torch
from ._jacobi import jacobi_eigh


@declare("opforge.contrib::Eigvalsh", version=1, dtypes={"A": ["float32", "float64"]},
         serves=["torch.linalg.eigvalsh", "torch.linalg.matrix_rank(hermitian=True)"])
def eigvalsh(A: torch.Tensor, upper: bool = False) -> torch.Tensor:  # noqa: N803
    """Eigenvalues, in ascending order, of each symmetric matrix of ``A`` ``(*, n, n)``: ``(*, n)``. Only
    the lower triangle of ``A`` is read, or the upper one when ``upper`` (torch's ``UPLO="U"``)."""
    return torch.linalg.eigvalsh(A, UPLO="U" if upper else "L")


@eigvalsh.kernel("cpu")
def _(A: np.ndarray, *, upper: bool) -> np.ndarray:  # noqa: N803
    return _torch.cpu(eigvalsh.reference, A, upper=upper, name=eigvalsh.name)


@eigvalsh.kernel("cuda")
def _(A, *, upper):  # noqa: ANN001, ANN202, N803
    return _torch.cuda(eigvalsh.reference, A, upper=upper)


@eigvalsh.infer
def _(A: TensorSpec, *, upper: bool) -> TensorSpec:  # noqa: N803
    return TensorSpec(A.shape[:-1], A.dtype)


@eigvalsh.onnx_function
def _(A, upper: int = 0):  # noqa: ANN001, ANN202, N803
    # the matrix made symmetric from the triangle torch reads, cyclic Jacobi in float64 (_jacobi.jacobi_eigh),
    # the diagonal sorted ascending as LAPACK returns it
    a = op.Cast(A, to=11)
    n = op.Shape(a, start=-1)
    idx = op.Range(op.Constant(value_int=0), op.Squeeze(n), op.Constant(value_int=1))
    rows = op.Unsqueeze(idx, op.Constant(value_ints=[-1]))
    up = op.Cast(op.Constant(value_int=upper), to=9)  # (ORT has no Where on bools)
    keep = op.Or(op.And(up, op.LessOrEqual(rows, idx)), op.And(op.Not(up), op.GreaterOrEqual(rows, idx)))
    d, v = jacobi_eigh(op.Where(keep, a, op.Einsum(a, equation="...ij->...ji")))
    values, order = op.TopK(d, n, axis=-1, largest=0, sorted=1)
    return op.CastLike(values, A)


@eigvalsh.samples
def _(rng: np.random.Generator):  # noqa: ANN202
    def sym(shape: tuple, dtype: type) -> np.ndarray:
        a = rng.standard_normal(shape)
        return (a + np.swapaxes(a, -1, -2)).astype(dtype)

    yield Sample(sym((5, 5), np.float32)).named("symmetric")
    yield Sample(rng.standard_normal((4, 4)).astype(np.float32)).named("reads_lower_triangle_only")
    yield Sample(rng.standard_normal((4, 4)).astype(np.float32), upper=True).named("reads_upper_triangle_only")
    yield Sample(sym((3, 6, 6), np.float64)).named("batched_float64")
    yield Sample(np.diag([3.0, -1.0, 3.0, 0.0]).astype(np.float32)).named("diagonal_ties")
    yield Sample(np.array([[2.5]], np.float32)).named("1x1")
    yield Sample(np.zeros((0, 3, 3), np.float32)).named("empty_batch")
    yield Sample(np.zeros((0, 0), np.float32)).named("0x0")


@_aten.lowers(torch.ops.aten._linalg_eigh.default, eigvalsh,
              when=lambda a: _jacobi.lowerable(a["A"]) and (not a["compute_v"] or _jacobi.dropped(1)))
def _(a: dict) -> object:
    """_linalg_eigh(Tensor A, str UPLO="L", bool compute_v=True) -> (Tensor eigenvalues, Tensor eigenvectors):
    the eigenvalues, where no eigenvectors are read (their signs are LAPACK's choice: a call that reads them
    stays on the fallback)"""
    std = _aten.std_opset()
    vectors = _jacobi.unread(a["A"], std.Shape(a["A"]) if a["compute_v"] else None)
    return _aten.emit(eigvalsh, a["A"], upper=str(a["UPLO"]).upper() == "U"), vectors
