"""opforge.contrib::Erfinv: torch.erfinv."""

from __future__ import annotations

import numpy as np
import torch
from onnxscript import opset18 as op

from ..api import op as declare
from ..types import TensorSpec
from . import _aten, _special, _torch


@declare("opforge.contrib::Erfinv", version=1, serves=["torch.erfinv", "torch.special.erfinv", "Tensor.erfinv", "torch.special.ndtri"])
def erfinv(x: torch.Tensor) -> torch.Tensor:
    """Inverse error function; +-inf at +-1, NaN outside [-1, 1].

    Precision: float32 throughout; float64 to ~4e-8 relative, and exact near +-1 in the numpy
    kernel (Newton on erfc). The portable body and the cuda kernel use the single-precision
    polynomial only: in float64 they drift near +-1 (0.04 at 1 - 1e-12)."""
    return torch.erfinv(x)


@erfinv.kernel("cpu")
def _(x: np.ndarray, *, out: np.ndarray | None = None) -> np.ndarray:
    return _torch.cpu(torch.erfinv, x, out=out, name=erfinv.name)


@erfinv.kernel("cuda")
def _(x):  # noqa: ANN001, ANN202
    import cupy

    return _special.erfinv(cupy, x)


@erfinv.infer
def _(x: TensorSpec) -> TensorSpec:
    return TensorSpec(x.shape, x.dtype)


@erfinv.onnx_function
def _(x):  # noqa: ANN001, ANN202
    # Giles' single-precision polynomials (as opforge/ops/_special.py), evaluated in float64
    v = op.Cast(x, to=11)
    w = op.Neg(op.Log((1.0 - v) * (1.0 + v)))  # NaN outside [-1, 1], inf at +-1
    c = w - 2.5
    central = ((((((((2.81022636e-08 * c + 3.43273939e-07) * c - 3.5233877e-06) * c - 4.39150654e-06) * c
                   + 0.00021858087) * c - 0.00125372503) * c - 0.00417768164) * c + 0.246640727) * c + 1.50140941)
    t = op.Sqrt(w) - 3.0
    tail = ((((((((-0.000200214257 * t + 0.000100950558) * t + 0.00134934322) * t - 0.00367342844) * t
                + 0.00573950773) * t - 0.0076224613) * t + 0.00943887047) * t + 1.00167406) * t + 2.83297682)
    out = op.Where(w >= 5.0, tail, central) * v
    inf = op.CastLike(op.Constant(value_float=float("inf")), v)
    out = op.Where(op.Abs(v) == 1.0, v * inf, out)  # +-inf at +-1
    return op.CastLike(out, x)


@erfinv.samples
def _(rng: np.random.Generator):  # noqa: ANN202
    yield from _special.unary_samples(rng, -0.999, 0.999, [0.0, 1.0, -1.0, 0.5, -0.9999, 0.99, 1.5, float('nan')])


@_aten.lowers(torch.ops.aten.erfinv.default, erfinv)
def _(a: dict) -> object:
    """erfinv(Tensor self) -> Tensor"""
    return _aten.emit(erfinv, a["self"])


@_aten.lowers(torch.ops.aten.special_ndtri.default, erfinv)
def _(a: dict) -> object:
    """special_ndtri(Tensor self) -> Tensor: the inverse normal CDF, sqrt(2) * erfinv(2p - 1)"""
    std = _aten.std_opset()
    p = a["self"]
    two = std.CastLike(std.Constant(value_float=2.0), p)
    one = std.CastLike(std.Constant(value_float=1.0), p)
    root2 = std.CastLike(std.Constant(value_float=2.0 ** 0.5), p)
    return std.Mul(root2, _aten.emit(erfinv, std.Sub(std.Mul(two, p), one)))
