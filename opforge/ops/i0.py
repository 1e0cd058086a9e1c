"""opforge.contrib::I0: torch.i0 (modified Bessel function of the first kind, order 0)."""

from __future__ import annotations

import numpy as np
import torch
from onnxscript import opset18 as op

from ..api import op as declare
from ..types import TensorSpec
from . import _aten, _special, _torch


@declare("opforge.contrib::I0", version=1, serves=["torch.i0", "torch.special.i0", "Tensor.i0"])
def i0(x: torch.Tensor) -> torch.Tensor:
    """Modified Bessel function of the first kind of order 0, elementwise."""
    return torch.i0(x)


@i0.kernel("cpu")
def _(x: np.ndarray) -> np.ndarray:
    return _torch.cpu(i0.reference, x, name=i0.name)


@i0.kernel("cuda")
def _(x):  # noqa: ANN001, ANN202
    import cupy

    return cupy.i0(x.astype(cupy.float64)).astype(x.dtype)


@i0.infer
def _(x: TensorSpec) -> TensorSpec:
    return TensorSpec(x.shape, x.dtype)


@i0.onnx_function
def _(x):  # noqa: ANN001, ANN202
    # float64 inside. |x| <= 20: the power series sum_k (x^2/4)^k / (k!)^2 in nested form
    # 1 + y/1^2 (1 + y/2^2 (1 + ...)), 45 terms, all positive (no cancellation, no underflow);
    # |x| > 20: the asymptotic series e^|x| / sqrt(2 pi |x|) * sum_k a_k, a_k = a_(k-1) (2k-1)^2 / (8k|x|)
    a = op.Abs(op.Cast(x, to=11))
    small = op.Min(a, 20.0)
    y = small * small * 0.25
    series = op.CastLike(1.0, y)
    for k in range(45):
        kk = op.Cast(45 - k, to=11)
        series = 1.0 + series * y / (kk * kk)
    big = op.Max(a, 20.0)
    term = op.CastLike(1.0, big)
    total = op.CastLike(1.0, big)
    for k in range(12):
        kk = op.Cast(k + 1, to=11)
        odd = 2.0 * kk - 1.0
        term = term * odd * odd / (8.0 * kk * big)
        total = total + term
    asymptotic = op.Exp(big) / op.Sqrt(6.283185307179586 * big) * total
    out = op.Where(a <= 20.0, series, asymptotic)
    out = op.Where(op.IsNaN(a), a, out)  # torch: NaN at +-inf too (e^inf / sqrt(inf))
    return op.CastLike(out, x)


@i0.samples
def _(rng: np.random.Generator):  # noqa: ANN202
    yield from _special.unary_samples(rng, -12.0, 12.0, [0.0, -1.0, 3.5, 40.0, -80.0, float("inf"), float("nan")])


@_aten.lowers(torch.ops.aten.i0.default, i0)
def _(a: dict) -> object:
    """i0(Tensor self) -> Tensor"""
    return _aten.emit(i0, a["self"])


@_aten.lowers(torch.ops.aten.special_i0e.default, i0)
def _(a: dict) -> object:
    """special_i0e(Tensor self) -> Tensor: i0(x) * exp(-|x|)"""
    std = _aten.std_opset()
    x = a["self"]
    return std.Mul(_aten.emit(i0, x), std.Exp(std.Neg(std.Abs(x))))


@_aten.lowers(torch.ops.aten.special_modified_bessel_i0.default, i0)
def _(a: dict) -> object:
    """special_modified_bessel_i0(Tensor self) -> Tensor: an alias of i0"""
    return _aten.emit(i0, a["self"])
