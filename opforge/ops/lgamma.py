"""opforge.contrib::LGamma: torch.lgamma."""

from __future__ import annotations

import numpy as np
import torch
from onnxscript import opset18 as op

from ..api import op as declare
from ..types import TensorSpec
from . import _aten, _special, _torch
from ._special_lib import PI, lgamma_positive


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
    # Lanczos in float64 for x >= 0.5 (lgamma_positive), the reflection formula below; as
    # opforge/ops/_special.py. pi and log(pi) as float64 tensors (a float literal is float32)
    v = op.Cast(x, to=11)
    reflect = v < 0.5
    special = op.Or(op.IsInf(v), op.IsNaN(v))
    safe = op.Where(special, op.CastLike(1.0, v), op.Where(reflect, 1.0 - v, v))
    positive = lgamma_positive(safe)
    pi = op.Constant(value=PI)
    sin_pi = op.Abs(op.Sin(pi * (v - op.Round(v))))  # argument reduced exactly first
    out = op.Where(reflect, op.Log(pi) - op.Log(sin_pi) - positive, positive)
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
