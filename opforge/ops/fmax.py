"""opforge.contrib::FMax: torch.fmax (elementwise max that ignores NaN)."""

from __future__ import annotations

import numpy as np
import torch
from onnxscript import opset18 as op

from ..api import op as declare
from ..types import Sample, TensorSpec
from . import _aten
from ._common import broadcast_dims


@declare("opforge.contrib::FMax", version=1, serves=["torch.fmax", "Tensor.fmax"])
def fmax(x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """Elementwise max with broadcasting; where one side is NaN the other is taken (NaN only if both are)."""
    return torch.fmax(x, y)


@fmax.kernel("cpu")
def _(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    return np.fmax(x, y)


@fmax.kernel("cuda")
def _(x, y):  # noqa: ANN001, ANN202
    import cupy

    return cupy.fmax(x, y)


@fmax.infer
def _(x: TensorSpec, y: TensorSpec) -> TensorSpec:
    return TensorSpec(broadcast_dims(x.shape, y.shape), x.dtype)


@fmax.onnx_function
def _(x, y):  # noqa: ANN001, ANN202
    both = op.Max(x, y)
    return op.Where(op.IsNaN(x), y, op.Where(op.IsNaN(y), x, both))


@fmax.samples
def _(rng: np.random.Generator):  # noqa: ANN202
    f32 = np.float32
    yield Sample(rng.standard_normal((4, 8)).astype(f32), rng.standard_normal((4, 8)).astype(f32)).named("same_shape")
    yield Sample(rng.standard_normal((3, 1, 5)), rng.standard_normal((4, 1))).named("broadcast_float64")
    yield Sample(np.array([np.nan, 1, np.nan, -np.inf, 2], f32), np.array([3, np.nan, np.nan, 1, 2], f32)
                 ).named("nan_inf_ties")
    yield Sample(np.array(1.0, f32), np.array(np.nan, f32)).named("0d")
    yield Sample(np.zeros((0, 2), f32), np.zeros((1, 2), f32)).named("empty")
    yield Sample(rng.standard_normal(9).astype(np.float16), rng.standard_normal(9).astype(np.float16)).named("float16")


@_aten.lowers(torch.ops.aten.fmax.default, fmax)
def _(a: dict) -> object:
    """fmax(Tensor self, Tensor other) -> Tensor"""
    return _aten.emit(fmax, a["self"], a["other"])
