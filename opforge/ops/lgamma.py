"""opforge.contrib::LGamma: torch.lgamma."""

from __future__ import annotations

import numpy as np
import torch
from onnxscript import opset18 as op

from ..api import op as declare
from ..types import TensorSpec
from . import _aten, _special, _torch


@declare("opforge.contrib::LGamma", version=1, serves=["torch.lgamma", "torch.special.gammaln", "Tensor.lgamma"])
def lgamma(x: torch.Tensor) -> torch.Tensor:
    """Natural log of the absolute value of the gamma function of ``x``; +inf at the poles (0, -1, -2, ...)."""
    return torch.lgamma(x)


@lgamma.kernel("cpu")
def _(x: np.ndarray, *, out: np.ndarray | None = None) -> np.ndarray:
    return _torch.cpu(torch.lgamma, x, out=out, name=lgamma.name)


@lgamma.kernel("cuda")
def _(x):  # noqa: ANN001, ANN202
    import cupy

    return _special.lgamma(cupy, x)


@lgamma.infer
def _(x: TensorSpec) -> TensorSpec:
    return TensorSpec(x.shape, x.dtype)


@lgamma.onnx_function
def _(x):  # noqa: ANN001, ANN202
    # Lanczos (g=7, 9 terms) in float64 for x >= 0.5, the reflection formula below; as opforge/ops/_special.py
    v = op.Cast(x, to=11)
    reflect = v < 0.5
    special = op.Or(op.IsInf(v), op.IsNaN(v))
    safe = op.Where(special, op.CastLike(1.0, v), op.Where(reflect, 1.0 - v, v))
    z = safe - 1.0
    a = (0.99999999999980993 + 676.5203681218851 / (z + 1.0) - 1259.1392167224028 / (z + 2.0)
         + 771.32342877765313 / (z + 3.0) - 176.61502916214059 / (z + 4.0) + 12.507343278686905 / (z + 5.0)
         - 0.13857109526572012 / (z + 6.0) + 9.9843695780195716e-6 / (z + 7.0)
         + 1.5056327351493116e-7 / (z + 8.0))
    t = z + 7.5
    positive = 0.91893853320467274 + (z + 0.5) * op.Log(t) - t + op.Log(a)  # 0.5 log(2 pi) + ...
    sin_pi = op.Abs(op.Sin(3.141592653589793 * (v - op.Round(v))))  # argument reduced exactly first
    out = op.Where(reflect, 1.1447298858494002 - op.Log(sin_pi) - positive, positive)  # log(pi) - ...
    inf = op.CastLike(op.Constant(value_float=float("inf")), v)
    out = op.Where(op.And(reflect, v == op.Floor(v)), inf, out)  # the poles 0, -1, -2, ...
    out = op.Where(special, op.Abs(v), out)  # inf at +-inf, NaN stays NaN
    return op.CastLike(out, x)


@lgamma.samples
def _(rng: np.random.Generator):  # noqa: ANN202
    yield from _special.unary_samples(rng, -6.0, 12.0, [0.0, -1.0, -2.5, 1.0, 2.0, 0.5, 1e-3, 30.0, float('inf'), -float('inf'), float('nan')])


@_aten.lowers(torch.ops.aten.lgamma.default, lgamma)
def _(a: dict) -> object:
    """lgamma(Tensor self) -> Tensor"""
    return _aten.emit(lgamma, a["self"])
