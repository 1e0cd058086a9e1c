"""opforge.contrib::Digamma: torch.digamma."""

from __future__ import annotations

import numpy as np
import torch
from onnxscript import opset18 as op

from ..api import op as declare
from ..types import TensorSpec
from . import _aten, _special, _torch


@declare("opforge.contrib::Digamma", version=1, serves=["torch.digamma", "torch.special.digamma", "torch.special.psi", "Tensor.digamma"])
def digamma(x: torch.Tensor) -> torch.Tensor:
    """Logarithmic derivative of the gamma function; -inf at 0, NaN at negative integers."""
    return torch.digamma(x)


@digamma.kernel("cpu")
def _(x: np.ndarray) -> np.ndarray:
    return _torch.cpu(digamma.reference, x, name=digamma.name)


@digamma.kernel("cuda")
def _(x):  # noqa: ANN001, ANN202
    import cupy

    return _special.digamma(cupy, x)


@digamma.infer
def _(x: TensorSpec) -> TensorSpec:
    return TensorSpec(x.shape, x.dtype)


@digamma.onnx_function
def _(x):  # noqa: ANN001, ANN202
    # float64: psi(y) = psi(y + 6) - sum_{k<6} 1/(y + k), the asymptotic series at y + 6, reflection for
    # y < 0; as opforge/ops/_special.py
    v = op.Cast(x, to=11)
    reflect = v < 0.0
    y = op.Where(reflect, 1.0 - v, v)
    y = op.Where(op.Or(op.IsInf(y), op.IsNaN(y)), op.CastLike(1.0, v), y)
    acc = op.Neg(1.0 / y) - 1.0 / (y + 1.0) - 1.0 / (y + 2.0) - 1.0 / (y + 3.0) - 1.0 / (y + 4.0) - 1.0 / (y + 5.0)
    y6 = y + 6.0
    inv = 1.0 / y6
    inv2 = inv * inv
    series = inv2 * (0.083333333333333333 - inv2 * (0.0083333333333333333 - inv2 * (
        0.003968253968253968 - inv2 * (0.0041666666666666667 - inv2 * 0.0075757575757575758))))
    out = acc + op.Log(y6) - 0.5 * inv - series
    r = v - op.Round(v)
    angle = 3.141592653589793 * r
    out = op.Where(reflect, out - 3.141592653589793 * op.Cos(angle) / op.Sin(angle), out)
    nan = op.CastLike(op.Constant(value_float=float("nan")), v)
    inf = op.CastLike(op.Constant(value_float=float("inf")), v)
    out = op.Where(op.And(reflect, r == 0.0), nan, out)  # negative integers
    out = op.Where(v == 0.0, op.Neg(inf), out)
    out = op.Where(v == inf, inf, out)
    out = op.Where(op.Or(op.IsNaN(v), v == op.Neg(inf)), nan, out)
    return op.CastLike(out, x)


@digamma.samples
def _(rng: np.random.Generator):  # noqa: ANN202
    yield from _special.unary_samples(rng, -6.0, 12.0, [0.0, -1.0, -2.5, 1.0, 0.5, 1e-3, 40.0, -0.3, float('inf'), float('nan')])


@_aten.lowers(torch.ops.aten.digamma.default, digamma)
def _(a: dict) -> object:
    """digamma(Tensor self) -> Tensor"""
    return _aten.emit(digamma, a["self"])
