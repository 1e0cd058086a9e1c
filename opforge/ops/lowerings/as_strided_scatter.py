"""``prims.as_strided_scatter`` in plain ONNX (stock torch.onnx has no translation): with the view's size,
stride and offset fixed at export, the positions it covers in the flattened ``self`` are constants, and
``src`` lands there by ScatterElements. Views that overlap themselves or reach outside ``self`` (torch
raises on both) and symbolic sizes stay on the fallback, which runs torch's own checks."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import onnx
import torch

from .. import _aten

_AS_STRIDED_SCATTER = torch.ops.prims.as_strided_scatter.default


def _positions(size: list[int], stride: list[int], offset: int) -> np.ndarray:
    """The flat storage position of every element of the view, in the view's own (row-major) order."""
    grid = np.indices(size, dtype=np.int64).reshape(len(size), -1) if size else np.zeros((0, 1), np.int64)
    return offset + (np.asarray(stride, np.int64)[:, None] * grid).sum(axis=0)


@_aten.overrides(_AS_STRIDED_SCATTER, "stock torch.onnx has no translation")
def _(a: dict) -> Any:
    """as_strided_scatter(Tensor self, Tensor src, SymInt[] size, SymInt[] stride, SymInt storage_offset)
    -> Tensor"""
    x, dims = a["self"], getattr(a["self"], "shape", None)
    try:
        size, stride, offset = [int(s) for s in a["size"]], [int(s) for s in a["stride"]], int(a["storage_offset"])
    except (TypeError, ValueError):  # symbolic sizes: positions unknown at export
        return _aten.fall_back(_AS_STRIDED_SCATTER, a)
    if dims is None or not all(isinstance(d, int) for d in dims) or len(size) != len(stride):
        return _aten.fall_back(_AS_STRIDED_SCATTER, a)
    positions = _positions(size, stride, offset)
    numel = math.prod(dims)
    if positions.size and (positions.min() < 0 or positions.max() >= numel or np.unique(positions).size != positions.size):
        return _aten.fall_back(_AS_STRIDED_SCATTER, a)
    op = _aten.std_opset()
    if not positions.size:
        return op.Identity(x)
    flat = op.Constant(value_ints=[-1])
    index = op.Constant(value=onnx.numpy_helper.from_array(positions, "positions"))
    scattered = op.ScatterElements(op.Reshape(x, flat), index, op.Reshape(a["src"], flat), axis=0)
    return op.Reshape(scattered, op.Shape(x))
