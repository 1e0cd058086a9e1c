"""``mode`` in plain ONNX (stock torch.onnx has no translation), exact to eager on the CPU.

Eager (``mode_kernel``) pairs each value of a slice with its index, sorts the pairs by value with
``std::sort``, scans the runs of equal neighbours and keeps the first run (in sorted order) with the
strictly largest count: its value, and the index of the run's *last* pair. So ties in count go to the
smallest value, and the index is whatever position ``std::sort`` left last in that run. For a slice of
at most 16 elements libstdc++'s ``std::sort`` is an insertion sort, which this lowering replays step by
step (unrolled; NaN, which compares false with everything, stays where that insertion sort leaves it,
and -0.0 equals 0.0, as in eager). Longer slices are partitioned by introsort first, whose order among
equal values is not worth replaying: they, a dynamic slice length and bool inputs go to the generic
fallback."""

from __future__ import annotations

from typing import Any

import numpy as np
import onnx.helper
import torch
from onnxscript import ir

from .. import _aten

_mode = torch.ops.aten.mode.default
_INSERTION_SORT_MAX = 16  # libstdc++'s _S_threshold: std::sort of <= 16 elements is one insertion sort
_INT64 = 7


def _along(values: Any, dim: int, rank: int) -> Any:
    """An int64 constant laid out along axis ``dim`` of a rank-``rank`` tensor."""
    shape = [1] * rank
    shape[dim] = len(values)
    tensor = onnx.helper.make_tensor("c", onnx.TensorProto.INT64, shape, np.asarray(values, np.int64).ravel())
    return _aten.std_opset().Constant(value=tensor)


def _slice(x: Any, start: int, end: int, dim: int) -> Any:
    op = _aten.std_opset()
    return op.Slice(x, op.Constant(value_ints=[start]), op.Constant(value_ints=[end]), op.Constant(value_ints=[dim]))


def _insertion_sort(a: Any, idx: Any, n: int, dim: int, rank: int) -> tuple[Any, Any]:
    """libstdc++'s __insertion_sort with ``<`` on the values, carrying the indices along."""
    op = _aten.std_opset()
    for i in range(1, n):
        val = _slice(a, i, i + 1, dim)
        less = op.Less(val, _slice(a, 0, i, dim))  # val < a[t] for t < i
        # val < a[0]: val moves to the front; otherwise it moves left while val < a[j-1]
        to_front = _slice(less, 0, 1, dim)
        stays_after = op.ReduceMax(op.Where(less, _along([-1] * i, dim, rank), _along(range(i), dim, rank)),
                                   op.Constant(value_ints=[dim]), keepdims=1)
        p = op.Where(to_front, op.Constant(value_int=0), op.Add(stays_after, op.Constant(value_int=1)))
        q = _along(range(i + 1), dim, rank)
        source = op.Where(op.Less(q, p), q, op.Where(op.Equal(q, p), op.Constant(value_int=i),
                                                       op.Sub(q, op.Constant(value_int=1))))
        head_a = op.GatherElements(_slice(a, 0, i + 1, dim), source, axis=dim)
        head_i = op.GatherElements(_slice(idx, 0, i + 1, dim), source, axis=dim)
        if i + 1 < n:
            a = op.Concat(head_a, _slice(a, i + 1, n, dim), axis=dim)
            idx = op.Concat(head_i, _slice(idx, i + 1, n, dim), axis=dim)
        else:
            a, idx = head_a, head_i
    return a, idx


@_aten.overrides(_mode, "stock torch.onnx has no translation")
def _(a: dict) -> Any:
    """mode(Tensor self, int dim=-1, bool keepdim=False) -> (Tensor values, Tensor indices)"""
    x, keepdim = a["self"], bool(a["keepdim"])
    op = _aten.std_opset()
    if x.shape is None or x.dtype == ir.DataType.BOOL:
        return _aten.fall_back(_mode, a)
    rank = len(x.shape)
    if rank == 0:  # the value itself, at index 0
        return op.Identity(x), op.Constant(value=onnx.helper.make_tensor("i", onnx.TensorProto.INT64, [], [0]))
    dim = int(a["dim"]) % rank
    n = x.shape[dim]
    if not isinstance(n, int) or not 1 <= n <= _INSERTION_SORT_MAX:
        return _aten.fall_back(_mode, a)
    positions = op.Expand(_along(range(n), dim, rank), op.Shape(x))
    ordered, order = _insertion_sort(x, positions, n, dim, rank)
    # runs of equal neighbours (NaN != NaN: each NaN is a run of its own)
    if n > 1:
        differs = op.Not(op.Equal(_slice(ordered, 0, n - 1, dim), _slice(ordered, 1, n, dim)))
        ones = op.Expand(op.Constant(value=onnx.helper.make_tensor("t", onnx.TensorProto.BOOL, [], [True])),
                         op.Shape(_slice(x, 0, 1, dim)))  # an all-True column
        is_end = op.Concat(differs, ones, axis=dim)
        run = op.CumSum(op.Cast(op.Concat(ones, differs, axis=dim), to=_INT64), op.Constant(value_int=dim))
        same_run = op.Equal(op.Unsqueeze(run, op.Constant(value_ints=[dim + 1])),
                            op.Unsqueeze(run, op.Constant(value_ints=[dim])))
        count = op.ReduceSum(op.Cast(same_run, to=_INT64), op.Constant(value_ints=[dim + 1]), keepdims=0)
        score = op.Where(is_end, count, op.Constant(value_int=0))
        pick = op.ArgMax(score, axis=dim, keepdims=1, select_last_index=0)  # the first run with the top count
        values, indices = op.GatherElements(ordered, pick, axis=dim), op.GatherElements(order, pick, axis=dim)
    else:
        values, indices = ordered, order
    if not keepdim:
        axis = op.Constant(value_ints=[dim])
        values, indices = op.Squeeze(values, axis), op.Squeeze(indices, axis)
    return values, indices
