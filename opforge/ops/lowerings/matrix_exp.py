"""``linalg_matrix_exp`` of float64 matrices in plain ONNX (stock torch.onnx has no translation): scaling and
squaring. A is scaled by 2^-s so that its 1-norm is at most 1/2 (s from the largest 1-norm of the batch),
exp(A / 2^s) is its degree-14 Taylor polynomial (truncation error below 1e-16 relative), and the result is
squared s times in a Loop.

Other dtypes stay on the generic fallback (eager itself runs): eager's float32 answer carries float32
cancellation error that no other float32 or float64 computation reproduces (OpInfo's (5, 5, 5) sample has
an entry 0.1483 beside entries of 4.8e4; eager float32 gives 0.1486, float64 0.1483), so a body would
differ from eager beyond rtol 1e-4 / atol 1e-5 there.
"""

from __future__ import annotations

import math
from typing import Any

import torch
from onnxscript import opset18 as op
from onnxscript import script
from onnxscript.onnx_types import DOUBLE, INT64

from .. import _aten
from .._common import BODY_LIB
from .triangular import eye_like

_DOUBLE, _INT64 = 11, 7
_DEGREE = 14
_MAX_SQUARINGS = 1000  # 2^1000 scales any finite float64 norm below 1/2


@script(BODY_LIB, default_opset=op)
def square_repeatedly(x: DOUBLE[...], times: INT64[...]) -> DOUBLE[...]:
    """x^(2^times) for a batch of square matrices x (times a scalar)."""
    for _ in range(times):
        x = op.MatMul(x, x)
    return x


def _scalar(value: float) -> Any:
    """A float64 scalar constant."""
    from onnx import helper

    return op.Constant(value=helper.make_tensor("value", _DOUBLE, [], [value]))


@_aten.overrides(torch.ops.aten.linalg_matrix_exp.default,
                 "stock torch.onnx has no translation (float64 only: float32 stays on the fallback)")
def _(a: dict) -> Any:
    """linalg_matrix_exp(Tensor self) -> Tensor"""
    dtype = getattr(a["self"], "dtype", None)
    if dtype is None or int(dtype) != _DOUBLE:
        return _aten.fall_back(torch.ops.aten.linalg_matrix_exp.default, a)
    x = op.Identity(a["self"])
    # the largest 1-norm (max column sum of |x|) in the batch; a 0 joins so that an empty batch gives 0
    column_sums = op.Reshape(op.ReduceSum(op.Abs(x), op.Constant(value_ints=[-2]), keepdims=0),
                             op.Constant(value_ints=[-1]))
    norm = op.ReduceMax(op.Concat(column_sums, op.Reshape(_scalar(0.0), op.Constant(value_ints=[1])), axis=0),
                        keepdims=0)
    s = op.Ceil(op.Div(op.Log(op.Div(norm, _scalar(0.5))), _scalar(math.log(2.0))))
    # s <= 0 needs no scaling; inf/NaN entries (s NaN or huge) skip it too and propagate as in eager
    fine = op.And(op.Greater(s, _scalar(0.0)), op.Less(s, _scalar(float(_MAX_SQUARINGS))))
    s = op.Where(fine, s, _scalar(0.0))
    scaled = op.Div(x, op.Pow(_scalar(2.0), s))
    eye = eye_like(x)
    taylor = op.Add(eye, op.Div(scaled, _scalar(float(_DEGREE))))
    for j in range(_DEGREE - 1, 0, -1):  # Horner: I + A/j (I + A/(j+1) (...))
        taylor = op.Add(eye, op.Div(op.MatMul(scaled, taylor), _scalar(float(j))))
    result = square_repeatedly(taylor, op.Cast(s, to=_INT64))
    return result
