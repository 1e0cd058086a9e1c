"""``frexp`` in plain ONNX (stock torch.onnx has no translation): x = mantissa * 2^exponent with |mantissa|
in [0.5, 1), exactly, without bit casts: the exponent from log2 in float64 corrected with exact powers of
two (float64 holds every float32, subnormals included); 0, inf and NaN keep x as mantissa, exponent 0."""

from __future__ import annotations

from typing import Any

import torch

from .. import _aten


@_aten.overrides(torch.ops.aten.frexp.Tensor, "stock torch.onnx has no translation")
def _(a: dict) -> Any:
    """frexp.Tensor(Tensor self) -> (Tensor mantissa, Tensor exponent)"""
    op = _aten.std_opset()
    x = a["self"]
    wide = op.Cast(x, to=11)
    one = op.CastLike(op.Constant(value_float=1.0), wide)
    two = op.CastLike(op.Constant(value_float=2.0), wide)
    zero = op.CastLike(op.Constant(value_float=0.0), wide)
    magnitude = op.Abs(wide)
    regular = op.And(op.Not(op.Equal(magnitude, zero)), op.Not(op.IsInf(magnitude)))
    regular = op.And(regular, op.Not(op.IsNaN(magnitude)))
    safe = op.Where(regular, magnitude, one)
    e = op.Add(op.Floor(op.Div(op.Log(safe), op.Log(two))), one)  # 2^(e-1) <= |x| < 2^e, up to rounding
    e = op.Where(op.Greater(op.Pow(two, op.Sub(e, one)), safe), op.Sub(e, one), e)
    e = op.Where(op.LessOrEqual(op.Pow(two, e), safe), op.Add(e, one), e)
    e = op.Where(regular, e, zero)
    # 2^-e may underflow for the smallest subnormals' e (-1073): divide in two exact halves
    half = op.Floor(op.Div(e, two))
    mantissa = op.Div(op.Div(wide, op.Pow(two, half)), op.Pow(two, op.Sub(e, half)))
    mantissa = op.Where(regular, mantissa, wide)
    return op.CastLike(mantissa, x), op.Cast(e, to=6)
