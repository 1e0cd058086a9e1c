"""``segment_reduce`` in plain ONNX (stock torch.onnx has no translation), along axis 0 with 1-D
``lengths`` or ``offsets``. Each element gets its segment id (how many segment ends lie at or before
it; elements outside every segment go to a scratch slot that is cut off), then ScatterElements
reduces into the segments, starting from ``initial`` (or the reduction's identity), as eager does:
sum and prod include ``initial``; max and min return NaN for a segment holding a NaN; mean is
(``initial`` + sum) / count, and an empty segment gives ``initial`` (NaN without one). Other axes,
batched lengths and ``indices`` go to the generic fallback."""

from __future__ import annotations

from typing import Any

import torch

from .. import _aten

_segment_reduce = torch.ops.aten.segment_reduce.default
_SCATTER = {"sum": "add", "mean": "add", "prod": "mul", "max": "max", "min": "min"}
_IDENTITY = {"sum": 0.0, "mean": 0.0, "prod": 1.0, "max": float("-inf"), "min": float("inf")}
_INT64, _BOOL = 7, 9


def _rank(x: Any) -> int | None:
    return None if x is None or x.shape is None else len(x.shape)


@_aten.overrides(_segment_reduce, "stock torch.onnx has no translation")
def _(a: dict) -> Any:
    """segment_reduce(Tensor data, str reduce, *, Tensor? lengths=None, Tensor? indices=None, Tensor? offsets=None,
    int axis=0, bool unsafe=False, Scalar? initial=None) -> Tensor"""
    data, reduce, lengths, offsets, initial = a["data"], a["reduce"], a["lengths"], a["offsets"], a["initial"]
    bounds = lengths if lengths is not None else offsets
    if reduce not in _SCATTER or a["indices"] is not None or int(a["axis"]) != 0 or _rank(data) in (None, 0) \
            or _rank(bounds) != 1 or (initial is not None and not isinstance(initial, (int, float))):
        return _aten.fall_back(_segment_reduce, a)
    op = _aten.std_opset()
    zero = op.Constant(value_ints=[0])
    if lengths is not None:  # segment s covers [offsets[s], offsets[s + 1])
        offsets = op.Concat(zero, op.CumSum(lengths, op.Constant(value_int=0)), axis=0)
    offsets = op.Cast(offsets, to=_INT64)
    ends = op.Slice(offsets, op.Constant(value_ints=[1]), op.Constant(value_ints=[2**62]))
    n = op.Slice(op.Shape(data), zero, op.Constant(value_ints=[1]))
    segments = op.Shape(ends)
    position = op.Range(op.Constant(value_int=0), op.Squeeze(n), op.Constant(value_int=1))
    segment = op.ReduceSum(op.Cast(op.GreaterOrEqual(op.Unsqueeze(position, op.Constant(value_ints=[1])), ends),
                                   to=_INT64), op.Constant(value_ints=[1]), keepdims=0)
    first, last = op.Slice(offsets, zero, op.Constant(value_ints=[1])), op.Slice(offsets, op.Constant(value_ints=[-1]),
                                                                               op.Constant(value_ints=[2**62]))
    inside = op.And(op.GreaterOrEqual(position, first), op.Less(position, last))
    segment = op.Where(inside, segment, op.Squeeze(segments))  # outside every segment: the scratch slot
    slots = op.Add(segments, op.Constant(value_ints=[1]))
    rest = op.Slice(op.Shape(data), op.Constant(value_ints=[1]), op.Constant(value_ints=[2**62]))
    spread = op.Reshape(segment, op.Concat(n, op.Expand(op.Constant(value_ints=[1]), op.Shape(rest)), axis=0))
    spread = op.Expand(spread, op.Shape(data))
    start = _IDENTITY[reduce] if initial is None or reduce == "mean" else float(initial)
    table = op.Expand(op.CastLike(op.Constant(value_float=start), data), op.Concat(slots, rest, axis=0))
    out = op.ScatterElements(table, spread, data, axis=0, reduction=_SCATTER[reduce])
    if reduce in ("max", "min"):  # a NaN anywhere in the segment is the answer, as in eager
        nans = op.ScatterElements(op.Expand(op.Constant(value_ints=[0]), op.Concat(slots, rest, axis=0)), spread,
                                  op.Cast(op.Not(op.Equal(data, data)), to=_INT64), axis=0, reduction="add")
        nan = op.CastLike(op.Constant(value_float=float("nan")), data)
        out = op.Where(op.Cast(nans, to=_BOOL), nan, out)
    if reduce == "mean":
        ones = op.Cast(op.Expand(op.Constant(value_ints=[1]), op.Shape(segment)), to=_INT64)
        count = op.ScatterElements(op.Expand(op.Constant(value_ints=[0]), slots), segment, ones, axis=0,
                                   reduction="add")
        count = op.Reshape(count, op.Concat(slots, op.Expand(op.Constant(value_ints=[1]), op.Shape(rest)), axis=0))
        empty = op.CastLike(op.Constant(value_float=float("nan") if initial is None else float(initial)), data)
        if initial is not None:
            out = op.Add(out, op.CastLike(op.Constant(value_float=float(initial)), data))
        out = op.Where(op.Greater(count, op.Constant(value_int=0)), op.Div(out, op.CastLike(count, data)), empty)
    return op.Slice(out, zero, segments)  # drop the scratch slot
