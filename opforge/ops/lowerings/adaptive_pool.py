"""Adaptive pooling in plain ONNX where stock torch.onnx has no translation: ``adaptive_max_pool2d``
(values and indices; ``adaptive_max_pool1d`` traces to it) and ``_adaptive_avg_pool3d``, exact for any
input size. Output cell i of a spatial axis of size ``n`` pooled to ``m`` covers
``[floor(i*n/m), ceil((i+1)*n/m))``, as in eager; the windows (of unequal lengths) are gathered with
constant indices, padded to the longest, and the padding is masked out.

* average: per axis (the windows are a product of per-axis ranges): sum of the window / its length;
* max: over each 2-D window in row-major order, as eager scans it: the first largest value and its
  index, or, when the window holds a NaN, the last NaN and its index (eager keeps every NaN it meets).

Dynamic spatial sizes go to the generic fallback."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import onnx.helper
import torch

from .. import _aten

aten = torch.ops.aten
_INT64, _BOOL = 7, 9


def windows(n: int, m: int) -> list[tuple[int, int]]:
    """[start, end) of each of the ``m`` output cells over an axis of ``n``."""
    return [(i * n // m, math.ceil((i + 1) * n / m)) for i in range(m)]


def _const(array: np.ndarray) -> Any:
    kind = onnx.TensorProto.BOOL if array.dtype == np.bool_ else onnx.TensorProto.INT64
    values = array.astype(np.int64 if kind == onnx.TensorProto.INT64 else np.bool_).ravel().tolist()
    return _aten.std_opset().Constant(value=onnx.helper.make_tensor("c", kind, list(array.shape), values))


def _static(x: Any, k: int, sizes: Any) -> list[int] | None:
    """The last ``k`` dims of ``x`` when they and ``sizes`` are plain ints."""
    if x.shape is None or len(x.shape) < k + 1 or len(list(sizes)) != k:
        return None
    dims = list(x.shape)[-k:]
    if not all(isinstance(d, int) and d > 0 for d in dims) or not all(isinstance(s, int) and s > 0 for s in sizes):
        return None
    return dims


def _avg_axis(x: Any, axis: int, rank: int, n: int, m: int) -> Any:
    """Mean over the adaptive windows of one axis."""
    op = _aten.std_opset()
    spans = windows(n, m)
    longest = max(end - start for start, end in spans)
    slots = np.arange(longest)
    index = np.array([[start + min(k, end - start - 1) for k in slots] for start, end in spans])
    keep = np.array([[k < end - start for k in slots] for start, end in spans])
    gathered = op.Gather(x, _const(index), axis=axis)  # (..., m, longest, ...)
    keep = _const(keep.reshape([1] * axis + [m, longest] + [1] * (rank - axis - 1)))
    total = op.ReduceSum(op.Where(keep, gathered, op.CastLike(op.Constant(value_float=0.0), x)),
                         op.Constant(value_ints=[axis + 1]), keepdims=0)
    lengths = np.array([end - start for start, end in spans]).reshape([1] * axis + [m] + [1] * (rank - axis - 1))
    return op.Div(total, op.CastLike(_const(lengths), x))


@_aten.overrides(aten._adaptive_avg_pool3d.default, "stock torch.onnx has no translation")
def _(a: dict) -> Any:
    """_adaptive_avg_pool3d(Tensor self, SymInt[3] output_size) -> Tensor"""
    x, sizes = a["self"], list(a["output_size"])
    dims = _static(x, 3, sizes)
    if dims is None:
        return _aten.fall_back(aten._adaptive_avg_pool3d.default, a)
    rank = len(x.shape)
    for k in range(3):
        x = _avg_axis(x, rank - 3 + k, rank, dims[k], int(sizes[k]))
    return x


@_aten.overrides(aten.adaptive_max_pool2d.default, "stock torch.onnx has no translation")
def _(a: dict) -> Any:
    """adaptive_max_pool2d(Tensor self, int[2] output_size) -> (Tensor, Tensor)"""
    x, sizes = a["self"], list(a["output_size"])
    dims = _static(x, 2, sizes)
    if dims is None:
        return _aten.fall_back(aten.adaptive_max_pool2d.default, a)
    op = _aten.std_opset()
    (h, w), (oh, ow) = dims, sizes
    cells = [[r * w + c for r in range(r0, r1) for c in range(c0, c1)]  # row-major, as eager scans
             for r0, r1 in windows(h, oh) for c0, c1 in windows(w, ow)]
    longest = max(len(cell) for cell in cells)
    table = np.array([cell + [cell[0]] * (longest - len(cell)) for cell in cells])  # pad: first again
    keep = np.array([[k < len(cell) for k in range(longest)] for cell in cells])
    lead = op.Slice(op.Shape(x), op.Constant(value_ints=[0]), op.Constant(value_ints=[-2]))
    flat = op.Reshape(x, op.Concat(lead, op.Constant(value_ints=[h * w]), axis=0))
    gathered = op.Gather(flat, _const(table), axis=-1)  # (..., cells, longest)
    isnan = op.And(op.Not(op.Equal(gathered, gathered)), _const(keep))
    nans = op.Cast(isnan, to=_INT64)
    has_nan = op.Cast(op.ReduceMax(nans, op.Constant(value_ints=[-1]), keepdims=1), to=_BOOL)
    last_nan = op.ArgMax(nans, axis=-1, keepdims=1, select_last_index=1)
    first_max = op.ArgMax(gathered, axis=-1, keepdims=1, select_last_index=0)
    pick = op.Where(has_nan, last_nan, first_max)
    values = op.GatherElements(gathered, pick, axis=-1)
    indices = op.GatherElements(op.Expand(_const(table), op.Shape(gathered)), pick, axis=-1)
    out_shape = op.Concat(lead, op.Constant(value_ints=[oh, ow]), axis=0)
    return op.Reshape(values, out_shape), op.Reshape(indices, out_shape)
