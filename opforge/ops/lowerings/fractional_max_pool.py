"""``fractional_max_pool2d`` in plain ONNX (stock torch.onnx has no translation), exact to eager.

Per (batch, channel) plane, eager places output window i of an axis (input ``n``, output ``m``,
kernel ``k``) at ``int((i + u) * alpha) - int(u * alpha)`` with ``alpha = (n - k) / (m - 1)`` in the
input's float type and ``u`` that plane's random sample (``random_samples[..., 0]`` for the width,
``[..., 1]`` for the height); the last window starts at ``n - k``. The windows are computed the same
way at run time (they depend on the samples, an input), gathered, and reduced as eager scans them
(row-major: the first largest value, or the last NaN, and its flat index ``h * W + w``). Dynamic
spatial sizes go to the generic fallback."""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

from .. import _aten
from .adaptive_pool import _const

_pool = torch.ops.aten.fractional_max_pool2d.default
_INT64, _BOOL = 7, 9


def _starts(samples: Any, which: int, n: int, m: int, k: int) -> Any:
    """Window starts along one axis, shape (..., m), from samples (..., 2)."""
    op = _aten.std_opset()
    u = op.Gather(samples, op.Constant(value_int=which), axis=-1)  # (...)
    u = op.Unsqueeze(u, op.Constant(value_ints=[-1]))  # (..., 1)
    last = op.Expand(op.Constant(value_ints=[n - k]), op.Shape(u))
    if m == 1:
        return last
    alpha = op.Div(op.CastLike(op.Constant(value_float=float(n - k)), samples),
                   op.CastLike(op.Constant(value_float=float(m - 1)), samples))
    i = op.CastLike(_const(np.arange(m - 1)), samples)
    starts = op.Sub(op.Cast(op.Mul(op.Add(i, u), alpha), to=_INT64), op.Cast(op.Mul(u, alpha), to=_INT64))
    return op.Concat(starts, last, axis=-1)


@_aten.overrides(_pool, "stock torch.onnx has no translation")
def _(a: dict) -> Any:
    """fractional_max_pool2d(Tensor self, int[2] kernel_size, int[2] output_size, Tensor random_samples)
    -> (Tensor, Tensor)"""
    x, samples = a["self"], a["random_samples"]
    kernel, size = list(a["kernel_size"]), list(a["output_size"])
    if x.shape is None or len(x.shape) not in (3, 4) or not all(isinstance(d, int) for d in list(x.shape)[-2:]) \
            or len(kernel) != 2 or len(size) != 2 or not all(isinstance(v, int) and v > 0 for v in kernel + size):
        return _aten.fall_back(_pool, a)
    (h, w), (kh, kw), (oh, ow) = list(x.shape)[-2:], kernel, size
    if kh > h or kw > w:
        return _aten.fall_back(_pool, a)  # eager raises its own error
    op = _aten.std_opset()
    batched = len(x.shape) == 4
    if not batched:  # an unbatched input takes the samples of batch 0
        x = op.Unsqueeze(x, op.Constant(value_ints=[0]))
        samples = op.Slice(samples, op.Constant(value_ints=[0]), op.Constant(value_ints=[1]))
    rows = _starts(samples, 1, h, oh, kh)  # (N, C, oh)
    cols = _starts(samples, 0, w, ow, kw)  # (N, C, ow)
    # flat input index of every window cell, row-major: (N, C, oh, ow, kh*kw)
    row_cells = op.Add(op.Unsqueeze(rows, op.Constant(value_ints=[-1])), _const(np.arange(kh)))  # (N, C, oh, kh)
    col_cells = op.Add(op.Unsqueeze(cols, op.Constant(value_ints=[-1])), _const(np.arange(kw)))  # (N, C, ow, kw)
    flat_index = op.Add(op.Mul(op.Reshape(row_cells, op.Constant(value_ints=[0, 0, oh, 1, kh, 1])),
                               op.Constant(value_int=w)),
                        op.Reshape(col_cells, op.Constant(value_ints=[0, 0, 1, ow, 1, kw])))
    flat_index = op.Reshape(flat_index, op.Constant(value_ints=[0, 0, oh * ow, kh * kw]))
    lead = op.Slice(op.Shape(x), op.Constant(value_ints=[0]), op.Constant(value_ints=[2]))
    flat = op.Reshape(x, op.Concat(lead, op.Constant(value_ints=[h * w]), axis=0))
    cells = op.Reshape(flat_index, op.Concat(lead, op.Constant(value_ints=[oh * ow * kh * kw]), axis=0))
    gathered = op.Reshape(op.GatherElements(flat, cells, axis=2),
                          op.Concat(lead, op.Constant(value_ints=[oh * ow, kh * kw]), axis=0))
    nans = op.Cast(op.Not(op.Equal(gathered, gathered)), to=_INT64)
    has_nan = op.Cast(op.ReduceMax(nans, op.Constant(value_ints=[-1]), keepdims=1), to=_BOOL)
    pick = op.Where(has_nan, op.ArgMax(nans, axis=-1, keepdims=1, select_last_index=1),
                    op.ArgMax(gathered, axis=-1, keepdims=1, select_last_index=0))
    out_shape = op.Concat(lead, op.Constant(value_ints=[oh, ow]), axis=0)
    values = op.Reshape(op.GatherElements(gathered, pick, axis=-1), out_shape)
    indices = op.Reshape(op.GatherElements(op.Reshape(flat_index, op.Shape(gathered)), pick, axis=-1), out_shape)
    if not batched:
        axis0 = op.Constant(value_ints=[0])
        values, indices = op.Squeeze(values, axis0), op.Squeeze(indices, axis0)
    return values, indices
