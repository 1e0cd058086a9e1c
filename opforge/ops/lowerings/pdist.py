"""``pdist`` (``aten._pdist_forward``) in plain ONNX (stock torch.onnx has no translation): the row pairs
i < j of ``self`` (n, m) in eager's order (row-major upper triangle) are gathered with constant indices,
and the p-norm of each difference is taken the way eager does: p=0 counts nonzero differences, p=inf
takes the largest, p=1 and p=2 sum |d| and d*d, any other p sums |d|**p and takes the 1/p-th power.
A dynamic row count goes to the generic fallback."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import torch

from .. import _aten

_pdist = torch.ops.aten._pdist_forward.default


@_aten.overrides(_pdist, "stock torch.onnx has no translation")
def _(a: dict) -> Any:
    """_pdist_forward(Tensor self, float p=2.) -> Tensor"""
    x, p = a["self"], a["p"]
    if x.shape is None or len(x.shape) != 2 or not isinstance(x.shape[0], int) or not isinstance(p, (int, float)):
        return _aten.fall_back(_pdist, a)
    op = _aten.std_opset()
    first, second = np.triu_indices(x.shape[0], k=1)
    diff = op.Sub(op.Gather(x, op.Constant(value_ints=first.tolist()), axis=0),
                  op.Gather(x, op.Constant(value_ints=second.tolist()), axis=0))
    last = op.Constant(value_ints=[1])
    p = float(p)
    if p == 0:
        return op.ReduceSum(op.CastLike(op.Not(op.Equal(diff, op.CastLike(op.Constant(value_float=0.0), x))), x),
                            last, keepdims=0)
    size = op.Abs(diff)
    if math.isinf(p):
        return op.ReduceMax(size, last, keepdims=0)
    if p == 1:
        return op.ReduceSum(size, last, keepdims=0)
    if p == 2:
        return op.Sqrt(op.ReduceSum(op.Mul(diff, diff), last, keepdims=0))
    power = op.CastLike(op.Constant(value_float=p), x)
    return op.Pow(op.ReduceSum(op.Pow(size, power), last, keepdims=0), op.Reciprocal(power))
