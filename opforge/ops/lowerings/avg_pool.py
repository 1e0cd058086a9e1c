"""avg_pool2d/3d with ``divisor_override`` in plain ONNX. Stock torch.onnx drops the override and divides
by the window size. Here: the window sum divided by the override."""

from __future__ import annotations

from typing import Any

import torch

from .. import _aten

aten = torch.ops.aten


def _per_dim(value: Any, rank: int) -> list[int]:
    values = [int(v) for v in value] if isinstance(value, (list, tuple)) else [int(value)]
    return values * rank if len(values) == 1 else values


def _avg_pool(a: dict, rank: int) -> Any:
    divisor = a["divisor_override"]
    if divisor is None:  # stock's translation is right without an override
        from onnxscript.function_libs.torch_lib.ops import nn

        stock = getattr(nn, f"aten_avg_pool{rank}d")
        return stock(a["self"], a["kernel_size"], a["stride"], a["padding"], a["ceil_mode"], a["count_include_pad"])
    op = _aten.std_opset()
    x = a["self"]
    unbatched = len(x.shape) == rank + 1
    if unbatched:
        x = op.Unsqueeze(x, op.Constant(value_ints=[0]))
    kernel = _per_dim(a["kernel_size"], rank)
    stride = _per_dim(a["stride"], rank) if a["stride"] else kernel
    pad = _per_dim(a["padding"], rank)
    # zero-pad explicitly so that every window torch takes lies inside (ceil_mode's last window included,
    # never one starting in the end padding), then a plain AveragePool is the window sum / window size; ONNX
    # shape inference disagrees with torch and ORT on ceil_mode sizes, so no ceil_mode here
    one = op.Constant(value_ints=[1])
    size = op.Slice(op.Shape(x), op.Constant(value_ints=[2]), op.Constant(value_ints=[rank + 2]))
    k, s, p = (op.Constant(value_ints=v) for v in (kernel, stride, pad))
    span = op.Sub(op.Add(size, op.Add(p, p)), k)
    if a["ceil_mode"]:
        count = op.Add(op.Div(op.Add(span, op.Sub(s, one)), s), one)
        starts_in_pad = op.GreaterOrEqual(op.Mul(op.Sub(count, one), s), op.Add(size, p))
        count = op.Sub(count, op.Cast(starts_in_pad, to=7))
    else:
        count = op.Add(op.Div(span, s), one)
    needed = op.Add(op.Mul(op.Sub(count, one), s), k)
    end = op.Sub(needed, op.Add(size, p))  # negative: the tail no window reaches is cropped
    zeros2 = op.Constant(value_ints=[0, 0])
    padded = op.Pad(x, op.Concat(zeros2, p, zeros2, end, axis=0))
    mean = op.AveragePool(padded, kernel_shape=kernel, strides=stride)
    area = 1
    for v in kernel:
        area *= v
    out = op.Mul(mean, op.CastLike(op.Constant(value_float=area / float(divisor)), x))
    return op.Squeeze(out, op.Constant(value_ints=[0])) if unbatched else out


_REASON = "stock torch.onnx ignores divisor_override"


@_aten.overrides(aten.avg_pool2d.default, _REASON)
def _(a: dict) -> Any:
    """avg_pool2d(Tensor self, int[2] kernel_size, int[2] stride=[], int[2] padding=0, bool ceil_mode=False,
    bool count_include_pad=True, int? divisor_override=None) -> Tensor"""
    return _avg_pool(a, 2)


@_aten.overrides(aten.avg_pool3d.default, _REASON)
def _(a: dict) -> Any:
    """avg_pool3d(Tensor self, int[3] kernel_size, int[3] stride=[], int[3] padding=0, bool ceil_mode=False,
    bool count_include_pad=True, int? divisor_override=None) -> Tensor"""
    return _avg_pool(a, 3)
