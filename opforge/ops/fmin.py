"""opforge.contrib::FMin: torch.fmin (elementwise min that ignores NaN)."""

from __future__ import annotations

import numpy as np
import torch
from onnxscript import opset18 as op

from ..api import op as declare
from . import _aten
from ._common import broadcast_spec, nan_ignoring_extreme, nan_pair_samples


@declare("opforge.contrib::FMin", version=1, serves=["torch.fmin", "Tensor.fmin"])
def fmin(x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """Elementwise min with broadcasting; where one side is NaN the other is taken (NaN only if both are)."""
    return torch.fmin(x, y)


@fmin.kernel("cpu")
def _(x: np.ndarray, y: np.ndarray, *, out: np.ndarray | None = None) -> np.ndarray:
    return nan_ignoring_extreme(np.fmin, torch.fmin, x, y, out, fmin.name)


@fmin.kernel("cuda")
def _(x, y):  # noqa: ANN001, ANN202
    import cupy

    return cupy.fmin(x, y)


fmin.infer(broadcast_spec)


@fmin.onnx_function
def _(x, y):  # noqa: ANN001, ANN202
    both = op.Min(x, y)
    return op.Where(op.IsNaN(x), y, op.Where(op.IsNaN(y), x, both))


fmin.samples(nan_pair_samples)


@_aten.lowers(torch.ops.aten.fmin.default, fmin)
def _(a: dict) -> object:
    """fmin(Tensor self, Tensor other) -> Tensor"""
    return _aten.emit(fmin, a["self"], a["other"])
