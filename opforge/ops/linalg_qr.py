"""opforge.contrib::LinalgQR: torch.linalg.qr (reduced and complete)."""

from __future__ import annotations

import numpy as np
import torch
from onnxscript import opset18 as op

from ..api import op as declare
from ..types import Sample, TensorSpec
from . import _aten, _torch

_MODES = ("reduced", "complete")


@declare("opforge.contrib::LinalgQR", version=1, outputs=["Q", "R"], dtypes={"A": ["float32", "float64"]},
         serves=["torch.linalg.qr", "torch.qr", "Tensor.qr"])
def linalg_qr(A: torch.Tensor, mode: str = "reduced") -> tuple[torch.Tensor, torch.Tensor]:  # noqa: N803
    """QR decomposition of each matrix of ``A`` ``(*, m, n)`` (Householder, LAPACK sign convention):
    ``mode="reduced"`` gives Q ``(*, m, k)``, R ``(*, k, n)`` with k = min(m, n); ``"complete"``
    gives Q ``(*, m, m)``, R ``(*, m, n)``."""
    Q, R = torch.linalg.qr(A, mode=mode)  # noqa: N806
    return Q, R


def _qr(xp, A, mode):  # noqa: ANN001, ANN202, N803
    if mode not in _MODES:
        raise ValueError(f"{linalg_qr.name}: mode={mode!r} is not one of {_MODES}")
    m, n = A.shape[-2:]
    k = min(m, n) if mode == "reduced" else m
    if A.size == 0:
        batch = A.shape[:-2]
        eye = xp.broadcast_to(xp.eye(m, k, dtype=A.dtype), (*batch, m, k)).copy()
        return eye, xp.zeros((*batch, k, n), A.dtype)
    return xp.linalg.qr(A, mode=mode)


@linalg_qr.kernel("cpu")
def _(A: np.ndarray, *, mode: str, out: tuple[np.ndarray, np.ndarray] | None = None) -> tuple[np.ndarray, np.ndarray]:  # noqa: N803, E501
    return _torch.cpu(torch.linalg.qr, A, mode=mode, out=out, name=linalg_qr.name)


@linalg_qr.kernel("cuda")
def _(A, *, mode):  # noqa: ANN001, ANN202, N803
    import cupy

    return _qr(cupy, A, mode)


@linalg_qr.infer
def _(A: TensorSpec, *, mode: str) -> tuple[TensorSpec, TensorSpec]:  # noqa: N803
    *batch, m, n = A.shape
    if mode == "complete":
        k = m
    elif isinstance(m, int) and isinstance(n, int):
        k = min(m, n)
    else:
        k = None
    return TensorSpec((*batch, m, k), A.dtype), TensorSpec((*batch, k, n), A.dtype)


@linalg_qr.onnx_function
def _(A, mode: str = "reduced"):  # noqa: ANN001, ANN202, N803
    # Householder in float64 as LAPACK's geqr2/dlarfg (beta = -sign(alpha) |x|, tau = (beta - alpha) / beta,
    # no reflection where the column below the diagonal is already 0), so Q and R take torch's signs; Q is
    # accumulated complete (m x m) and both are cut to k = min(m, n) columns / rows unless mode is "complete"
    # (a TfIdfVectorizer counts the word "complete": opset 18 cannot compare strings)
    a = op.Cast(A, to=11)
    m = op.Shape(a, start=-2, end=-1)
    n = op.Shape(a, start=-1)
    batch = op.Shape(a, end=-2)
    rows = op.Range(op.Constant(value_int=0), op.Squeeze(m), op.Constant(value_int=1))
    eye = op.Cast(op.Equal(op.Unsqueeze(rows, op.Constant(value_ints=[1])), op.Unsqueeze(rows, op.Constant(value_ints=[0]))), to=11)
    q = op.Expand(eye, op.Concat(batch, m, m, axis=0))
    one = op.CastLike(1.0, a)
    zero = op.CastLike(0.0, a)
    steps = op.Squeeze(op.Min(m, n))
    for k in range(steps):
        column = op.Gather(a, k, axis=-1)
        alpha = op.Gather(column, k, axis=-1)
        below = op.Cast(rows > k, to=11)
        tail = column * below
        xnorm = op.Sqrt(op.ReduceSum(tail * tail, op.Constant(value_ints=[-1]), keepdims=0))
        sign = op.Where(alpha < zero, op.Neg(one), one)
        beta = op.Neg(sign) * op.Sqrt(alpha * alpha + xnorm * xnorm)
        reflect = xnorm > zero
        tau = op.Where(reflect, (beta - alpha) / op.Where(reflect, beta, one), zero)
        scale = op.Where(reflect, alpha - beta, one)
        v = tail / op.Unsqueeze(scale, op.Constant(value_ints=[-1])) + op.Cast(rows == k, to=11)
        v_col = op.Unsqueeze(v, op.Constant(value_ints=[-1]))
        v_row = op.Unsqueeze(v, op.Constant(value_ints=[-2]))
        t = op.Unsqueeze(tau, op.Constant(value_ints=[-1, -2]))
        a = a - t * op.MatMul(v_col, op.MatMul(v_row, a))
        q = q - t * op.MatMul(op.MatMul(q, v_col), v_row)
    r = op.Trilu(a, upper=1)
    word = op.TfIdfVectorizer(op.Reshape(op.Constant(value_string=mode), op.Constant(value_ints=[1])),
                              max_gram_length=1, max_skip_count=0,
                              min_gram_length=1, mode="TF", ngram_counts=[0], ngram_indexes=[0],
                              pool_strings=["complete"])
    complete = op.ReduceMax(word, keepdims=0) > op.CastLike(0.0, word)
    keep = op.Where(complete, m, op.Min(m, n))
    start = op.Constant(value_ints=[0])
    q = op.Slice(q, start, keep, op.Constant(value_ints=[-1]))
    r = op.Slice(r, start, keep, op.Constant(value_ints=[-2]))
    return op.CastLike(q, A), op.CastLike(r, A)


@linalg_qr.samples
def _(rng: np.random.Generator):  # noqa: ANN202
    yield Sample(rng.standard_normal((5, 3)).astype(np.float32)).named("tall")
    yield Sample(rng.standard_normal((2, 3, 4))).named("wide_batched_float64")
    yield Sample(rng.standard_normal((4, 4)).astype(np.float32), mode="complete").named("square_complete")
    yield Sample(rng.standard_normal((5, 2)), mode="complete").named("tall_complete")
    yield Sample(np.zeros((0, 3, 2), np.float32)).named("empty_batch")


@_aten.lowers(torch.ops.aten.linalg_qr.default, linalg_qr)
def _(a: dict) -> object:
    """linalg_qr(Tensor A, str mode="reduced") -> (Tensor Q, Tensor R)"""
    return _aten.emit(linalg_qr, a["A"], mode=str(a["mode"]))
