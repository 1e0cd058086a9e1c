"""``unique_consecutive`` in plain ONNX (stock torch.onnx fails in its decomposition, which leaves an
unbacked size unused). A run starts where an element (or, with ``dim``, a slice along ``dim``) differs
from the one before it, NaN from everything as in torch: the starts mask gives the values (Compress),
the inverse (running count of starts, minus one) and the counts (gaps between start positions).
Outputs not asked for are empty int64 tensors, as eager's."""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
from onnx import numpy_helper

from .. import _aten


def _starts(op: Any, rows: Any, count: Any) -> Any:
    """Bool mask over the ``count`` rows of ``rows`` ([count, k]): True where a row differs from the previous one."""
    one = op.Constant(value_ints=[1])
    rest = op.Slice(rows, one, op.Constant(value_ints=[2**62]), op.Constant(value_ints=[0]))
    before = op.Slice(rows, op.Constant(value_ints=[0]), op.Constant(value_ints=[-1]), op.Constant(value_ints=[0]))
    unequal = op.Cast(op.Not(op.Equal(rest, before)), to=7)
    differs = op.Greater(op.ReduceSum(unequal, op.Constant(value_ints=[1]), keepdims=0), op.Constant(value_int=0))
    # the first row always starts a run; slicing to ``count`` keeps an empty input empty
    mask = op.Concat(op.Constant(value_ints=[1]), op.Cast(differs, to=7), axis=0)
    return op.Cast(op.Slice(mask, op.Constant(value_ints=[0]), count, op.Constant(value_ints=[0])), to=9)


@_aten.overrides(torch.ops.aten.unique_consecutive.default,
                 "stock torch.onnx fails in the decomposition (an unbacked size left unused)")
def _(a: dict) -> Any:
    """unique_consecutive(Tensor self, bool return_inverse=False, bool return_counts=False, int? dim=None)
    -> (Tensor, Tensor, Tensor)"""
    op = _aten.std_opset()
    x, dim = a["self"], a["dim"]
    rank = len(x.shape)
    if dim is None:
        flat = op.Reshape(x, op.Constant(value_ints=[-1]))
        rows = op.Unsqueeze(flat, op.Constant(value_ints=[1]))
        axis = 0
    else:
        axis = int(dim) % max(rank, 1)
        perm = [axis] + [d for d in range(rank) if d != axis]
        moved = op.Transpose(x, perm=perm)
        shape = op.Shape(moved)
        width = op.ReduceProd(op.Slice(shape, op.Constant(value_ints=[1]), op.Constant(value_ints=[rank]),
                                       op.Constant(value_ints=[0])), keepdims=1)
        rows = op.Reshape(moved, op.Concat(op.Slice(shape, op.Constant(value_ints=[0]), op.Constant(value_ints=[1]),
                                                    op.Constant(value_ints=[0])), width, axis=0))
    count = op.Slice(op.Shape(rows), op.Constant(value_ints=[0]), op.Constant(value_ints=[1]))
    starts = _starts(op, rows, count)
    values = op.Compress(flat if dim is None else x, starts, axis=axis)
    empty = op.Constant(value=numpy_helper.from_array(np.zeros(0, np.int64)))
    inverse = empty
    if a["return_inverse"]:
        inverse = op.Sub(op.CumSum(op.Cast(starts, to=7), op.Constant(value_int=0)), op.Constant(value_int=1))
        if dim is None:
            inverse = op.Reshape(inverse, op.Shape(x))
    counts = empty
    if a["return_counts"]:
        positions = op.Compress(op.Range(op.Constant(value_int=0), op.Squeeze(count), op.Constant(value_int=1)),
                                starts, axis=0)
        ends = op.Concat(op.Slice(positions, op.Constant(value_ints=[1]), op.Constant(value_ints=[2**62]),
                                  op.Constant(value_ints=[0])), count, axis=0)
        counts = op.Sub(ends, positions)
    return values, inverse, counts

