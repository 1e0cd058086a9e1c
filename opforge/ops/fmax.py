"""opforge.contrib::FMax: torch.fmax (elementwise max that ignores NaN)."""

from __future__ import annotations

import numpy as np
import torch
from onnxscript import opset18 as op

from ..api import op as declare
from . import _aten
from ._common import broadcast_spec, nan_ignoring_extreme, nan_pair_samples


@declare("opforge.contrib::FMax", version=1, serves=["torch.fmax", "Tensor.fmax"])
def fmax(x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """Elementwise max with broadcasting; where one side is NaN the other is taken (NaN only if both are)."""
    return torch.fmax(x, y)


@fmax.kernel("cpu")
def _(x: np.ndarray, y: np.ndarray, *, out: np.ndarray | None = None) -> np.ndarray:
    return nan_ignoring_extreme(np.fmax, torch.fmax, x, y, out, fmax.name)


@fmax.kernel("cuda")
def _(x, y):  # noqa: ANN001, ANN202
    import cupy

    return cupy.fmax(x, y)


fmax.infer(broadcast_spec)


@fmax.onnx_function
def _(x, y):  # noqa: ANN001, ANN202
    both = op.Max(x, y)
    return op.Where(op.IsNaN(x), y, op.Where(op.IsNaN(y), x, both))


fmax.samples(nan_pair_samples)


@_aten.lowers(torch.ops.aten.fmax.default, fmax)
def _(a: dict) -> object:
    """fmax(Tensor self, Tensor other) -> Tensor"""
    return _aten.emit(fmax, a["self"], a["other"])
