"""opforge.contrib::CopySign: torch.copysign (magnitude of x with the sign of y)."""

from __future__ import annotations

import numpy as np
import torch
from onnxscript import opset18 as op

from ..api import op as declare
from ..types import Sample
from . import _aten, _torch
from ._common import broadcast_spec

_FLOAT = ["float32", "float64", "float16"]


@declare("opforge.contrib::CopySign", version=1, dtypes={"x": _FLOAT, "y": _FLOAT, "output": _FLOAT},
         serves=["torch.copysign", "Tensor.copysign"])
def copysign(x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """Elementwise ``|x|`` with the sign bit of ``y`` (broadcasting); ``y = -0.0`` counts as negative."""
    return torch.copysign(x, y)


@copysign.kernel("cpu")
def _(x: np.ndarray, y: np.ndarray, *, out: np.ndarray | None = None) -> np.ndarray:
    return _torch.cpu(torch.copysign, x, y, out=out, name=copysign.name)


@copysign.kernel("cuda")
def _(x, y):  # noqa: ANN001, ANN202
    import cupy

    return cupy.copysign(x, y)


copysign.infer(broadcast_spec)


@copysign.onnx_function
def _(x, y):  # noqa: ANN001, ANN202
    # the sign bit of y: y < 0, or y == -0.0 (1 / -0.0 = -inf); a NaN y counts as positive
    zero = op.CastLike(op.Constant(value_float=0.0), y)
    negative = op.Or(op.Less(y, zero), op.Less(op.Div(op.CastLike(op.Constant(value_float=1.0), y), y), zero))
    magnitude = op.Abs(x)
    return op.Where(negative, op.Neg(magnitude), magnitude)


@copysign.samples
def _(rng: np.random.Generator):  # noqa: ANN202
    f32 = np.float32
    yield Sample(rng.standard_normal((4, 8)).astype(f32), rng.standard_normal((4, 8)).astype(f32)).named("same_shape")
    yield Sample(rng.standard_normal((3, 1, 5)), rng.standard_normal((4, 1))).named("broadcast_float64")
    yield Sample(np.array([1, -2, 3, -4, np.inf, -np.inf, np.nan, 0.0, -0.0, 5], f32),
                 np.array([-0.0, 0.0, -1, 1, -3, 2, -1, -0.0, 7, np.inf], f32)).named("signed_zero_inf_nan")
    yield Sample(np.array(1.5, f32), np.array(-0.0, f32)).named("0d")
    yield Sample(np.zeros((0, 2), f32), np.zeros((1, 2), f32)).named("empty")
    yield Sample(rng.standard_normal(9).astype(np.float16), rng.standard_normal(9).astype(np.float16)).named("float16")


@_aten.lowers(torch.ops.aten.copysign.Tensor, copysign)
def _(a: dict) -> object:
    """copysign.Tensor(Tensor self, Tensor other) -> Tensor"""
    return _aten.emit(copysign, a["self"], a["other"])


@_aten.lowers(torch.ops.aten.copysign.Scalar, copysign)
def _(a: dict) -> object:
    """copysign.Scalar(Tensor self, Scalar other) -> Tensor"""
    std = _aten.std_opset()
    other = std.CastLike(std.Constant(value_float=float(a["other"])), a["self"])
    return _aten.emit(copysign, a["self"], other)
