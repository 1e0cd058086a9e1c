"""opforge.contrib::Hypot: torch.hypot."""

from __future__ import annotations

import numpy as np
import torch
from onnxscript import opset18 as op

from ..api import op as declare
from ..types import Sample
from . import _aten, _torch
from ._common import broadcast_spec


@declare("opforge.contrib::Hypot", version=1, serves=["torch.hypot", "Tensor.hypot"])
def hypot(x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """sqrt(x**2 + y**2), elementwise with broadcasting."""
    return torch.hypot(x, y)


@hypot.kernel("cpu")
def _(x: np.ndarray, y: np.ndarray, *, out: np.ndarray | None = None) -> np.ndarray:
    return _torch.cpu(torch.hypot, x, y, out=out, name=hypot.name)


@hypot.kernel("cuda")
def _(x, y):  # noqa: ANN001, ANN202
    import cupy

    return cupy.hypot(x, y)


hypot.infer(broadcast_spec)


@hypot.onnx_function
def _(x, y):  # noqa: ANN001, ANN202
    # scaled by max(|x|, |y|) so large inputs do not overflow; 0/0 is mapped to 0
    ax, ay = op.Abs(x), op.Abs(y)
    big = op.Max(ax, ay)
    small = op.Min(ax, ay)
    zero = op.CastLike(op.Constant(value_float=0.0), x)
    one = op.CastLike(op.Constant(value_float=1.0), x)
    ratio = op.Where(op.Equal(big, zero), zero, op.Div(small, big))
    out = op.Mul(big, op.Sqrt(op.Add(one, op.Mul(ratio, ratio))))
    inf = op.CastLike(op.Constant(value_float=float("inf")), x)
    either_inf = op.Or(op.Equal(ax, inf), op.Equal(ay, inf))
    return op.Where(either_inf, inf, out)  # hypot(inf, nan) is inf, as in torch


@hypot.samples
def _(rng: np.random.Generator):  # noqa: ANN202
    f32 = np.float32
    yield Sample(rng.standard_normal((4, 8)).astype(f32), rng.standard_normal((4, 8)).astype(f32)).named("same_shape")
    yield Sample(rng.standard_normal((3, 1, 5)), rng.standard_normal((4, 1))).named("broadcast_float64")
    yield Sample(np.array([0, 3, -3, 1e30, np.inf, np.nan, 0], f32),
                 np.array([0, 4, 4, 1e30, np.nan, 1, -0.0], f32)).named("special_values")
    yield Sample(np.array(3.0, f32), np.array(4.0, f32)).named("0d")
    yield Sample(np.zeros((0, 2), f32), np.zeros((0, 2), f32)).named("empty")
    yield Sample(rng.standard_normal(9).astype(np.float16), rng.standard_normal(9).astype(np.float16)).named("float16")


@_aten.lowers(torch.ops.aten.hypot.default, hypot)
def _(a: dict) -> object:
    """hypot(Tensor self, Tensor other) -> Tensor"""
    return _aten.emit(hypot, a["self"], a["other"])
