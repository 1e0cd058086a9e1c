"""Householder QR pieces in plain ONNX (stock torch.onnx has no translation): ``geqrf`` (LAPACK's packed QR),
``linalg_householder_product`` (orgqr: Q from the reflectors) and ``ormqr`` (Q or Q^T times a matrix).

The reflectors are LAPACK's (dlarfg): ``H = I - tau v v^T`` with ``v[i] = 1`` and ``beta = -sign(alpha) |x|``,
no reflection (``tau = 0``) where the column below the diagonal is already zero; so ``geqrf``'s packed
factors and ``tau`` are eager's. Each runs as a Loop over the reflectors, in float64.
"""

from __future__ import annotations

from typing import Any

import torch
from onnxscript import opset18 as op
from onnxscript import script
from onnxscript.onnx_types import DOUBLE

from .. import _aten
from .._common import BODY_LIB
from .triangular import transpose

aten = torch.ops.aten
_DOUBLE = 11


@script(BODY_LIB, default_opset=op)
def householder_qr(a: DOUBLE[...]) -> tuple[DOUBLE[...], DOUBLE[...]]:
    """geqrf of a (*, m, n): (R above and on the diagonal with the reflectors' tails below it, tau (*, k))."""
    m = op.Shape(a, start=-2, end=-1)
    n = op.Shape(a, start=-1)
    k = op.Min(m, n)
    rows = op.Range(op.Constant(value_int=0), op.Squeeze(m), op.Constant(value_int=1))
    cols = op.Range(op.Constant(value_int=0), op.Squeeze(n), op.Constant(value_int=1))
    steps = op.Range(op.Constant(value_int=0), op.Squeeze(k), op.Constant(value_int=1))
    rows_col = op.Unsqueeze(rows, op.Constant(value_ints=[-1]))
    one = op.CastLike(op.Constant(value_float=1.0), a)
    zero = op.CastLike(op.Constant(value_float=0.0), a)
    taus = op.Expand(zero, op.Concat(op.Shape(a, end=-2), k, axis=0))
    for j in range(op.Squeeze(k)):
        column = op.Gather(a, j, axis=-1)  # (*, m)
        alpha = op.Gather(column, j, axis=-1)  # (*)
        tail = op.Mul(column, op.CastLike(op.Greater(rows, j), a))
        xnorm = op.Sqrt(op.ReduceSum(op.Mul(tail, tail), op.Constant(value_ints=[-1]), keepdims=0))
        sign = op.Where(op.Less(alpha, zero), op.Neg(one), one)
        beta = op.Mul(op.Neg(sign), op.Sqrt(op.Add(op.Mul(alpha, alpha), op.Mul(xnorm, xnorm))))
        reflect = op.Greater(xnorm, zero)
        tau = op.Where(reflect, op.Div(op.Sub(beta, alpha), op.Where(reflect, beta, one)), zero)
        scale = op.Where(reflect, op.Sub(alpha, beta), one)
        v = op.Add(op.Div(tail, op.Unsqueeze(scale, op.Constant(value_ints=[-1]))),
                   op.CastLike(op.Equal(rows, j), a))  # (*, m)
        v_col = op.Unsqueeze(v, op.Constant(value_ints=[-1]))
        t = op.Unsqueeze(tau, op.Constant(value_ints=[-1, -2]))
        reflected = op.Sub(a, op.Mul(t, op.MatMul(v_col, op.MatMul(op.Unsqueeze(v, op.Constant(value_ints=[-2])), a))))
        # columns right of j take the reflection; column j keeps its top, gets beta (alpha when no
        # reflection) on the diagonal and v's tail below it
        diagonal = op.Unsqueeze(op.Where(reflect, beta, alpha), op.Constant(value_ints=[-1, -2]))
        packed = op.Where(op.Greater(rows_col, j), v_col, op.Where(op.Equal(rows_col, j), diagonal, a))
        a = op.Where(op.Greater(cols, j), reflected, op.Where(op.Equal(cols, j), packed, a))
        taus = op.Where(op.Equal(steps, j), op.Unsqueeze(tau, op.Constant(value_ints=[-1])), taus)
    return a, taus


@script(BODY_LIB, default_opset=op)
def apply_reflectors(a: DOUBLE[...], tau: DOUBLE[...], c: DOUBLE[...], backward: DOUBLE[...]) -> DOUBLE[...]:
    """H_i c for the reflectors of a (*, m, r) and tau (*, k), applied in turn to c (*, m, p) from the left:
    i = 0, 1, ... (``backward`` = 0.0) or i = k-1, ..., 0 (``backward`` = 1.0)."""
    m = op.Shape(a, start=-2, end=-1)
    k = op.Squeeze(op.Shape(tau, start=-1))
    rows = op.Range(op.Constant(value_int=0), op.Squeeze(m), op.Constant(value_int=1))
    reverse = op.Greater(backward, op.CastLike(op.Constant(value_float=0.0), backward))
    for step in range(k):
        i = op.Where(reverse, op.Sub(op.Sub(k, step), op.Constant(value_int=1)), step)
        column = op.Gather(a, i, axis=-1)  # (*, m)
        v = op.Add(op.Mul(column, op.CastLike(op.Greater(rows, i), a)), op.CastLike(op.Equal(rows, i), a))
        v_col = op.Unsqueeze(v, op.Constant(value_ints=[-1]))
        t = op.Unsqueeze(op.Gather(tau, op.Unsqueeze(i, op.Constant(value_ints=[0])), axis=-1),
                         op.Constant(value_ints=[-1]))  # (*, 1, 1)
        c = op.Sub(c, op.Mul(t, op.MatMul(v_col, op.MatMul(op.Unsqueeze(v, op.Constant(value_ints=[-2])), c))))
    return c


def _double(x: Any) -> Any:
    return op.Cast(x, to=_DOUBLE)


def _apply(a: Any, tau: Any, c: Any, backward: bool) -> Any:
    return apply_reflectors(a, tau, c, op.Constant(value_float=1.0 if backward else 0.0))


@_aten.overrides(aten.geqrf.default, "stock torch.onnx has no translation")
def _(a: dict) -> Any:
    """geqrf(Tensor self) -> (Tensor a, Tensor tau)"""
    packed, tau = householder_qr(_double(a["self"]))
    return op.CastLike(packed, a["self"]), op.CastLike(tau, a["self"])


@_aten.overrides(aten.linalg_householder_product.default, "stock torch.onnx has no translation")
def _(a: dict) -> Any:
    """linalg_householder_product(Tensor input, Tensor tau) -> Tensor"""
    reflectors, tau = _double(a["input"]), _double(a["tau"])
    m, n = op.Shape(reflectors, start=-2, end=-1), op.Shape(reflectors, start=-1)
    rows = op.Unsqueeze(op.Range(op.Constant(value_int=0), op.Squeeze(m), op.Constant(value_int=1)),
                        op.Constant(value_ints=[-1]))
    eye = op.CastLike(op.Equal(rows, op.Range(op.Constant(value_int=0), op.Squeeze(n), op.Constant(value_int=1))),
                      reflectors)
    # Q's first n columns: H_0 H_1 ... H_{k-1} I, the last reflector first
    q = _apply(reflectors, tau, op.Expand(eye, op.Shape(reflectors)), backward=True)
    return op.CastLike(q, a["input"])


@_aten.overrides(aten.ormqr.default, "stock torch.onnx has no translation")
def _(a: dict) -> Any:
    """ormqr(Tensor self, Tensor input2, Tensor input3, bool left=True, bool transpose=False) -> Tensor"""
    reflectors, tau, c = _double(a["self"]), _double(a["input2"]), _double(a["input3"])
    left, trans = bool(a["left"]), bool(a["transpose"])
    if left:  # Q c = H_0 (... (H_{k-1} c)); Q^T c = H_{k-1} (... (H_0 c))
        out = _apply(reflectors, tau, c, backward=not trans)
    else:  # c Q = (Q^T c^T)^T; c Q^T = (Q c^T)^T
        out = transpose(_apply(reflectors, tau, transpose(c), backward=trans))
    return op.CastLike(out, a["input3"])
