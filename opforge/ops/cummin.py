"""opforge.contrib::CumMin: torch.cummin (running min and the index where it was last attained)."""

from __future__ import annotations

import numpy as np
import torch
from onnxscript import opset18 as op

from ..api import op as declare
from ..types import TensorSpec
from . import _aten, _cumulative, _torch

_NUMERIC = ["float32", "float64", "float16", "int32", "int64"]


@declare("opforge.contrib::CumMin", version=1, outputs=["values", "indices"],
         dtypes={"x": _NUMERIC, "values": _NUMERIC, "indices": ["int64"]},
         serves=["torch.cummin", "Tensor.cummin"])
def cummin(x: torch.Tensor, dim: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Running min of ``x`` along ``dim`` and the index of its last occurrence. A NaN propagates to
    the end of the scan; the index then follows the latest NaN."""
    values, indices = torch.cummin(x, dim)
    return values, indices


@cummin.kernel("cpu")
def _(x: np.ndarray, *, dim: int, out: tuple[np.ndarray, np.ndarray] | None = None) -> tuple[np.ndarray, np.ndarray]:
    return _torch.cpu(torch.cummin, x, dim=dim, out=out, name=cummin.name)


@cummin.kernel("cuda")
def _(x, *, dim):  # noqa: ANN001, ANN202
    return _cumulative.cum_extreme_cupy(x, dim, False, cummin.name)


@cummin.infer
def _(x: TensorSpec, *, dim: int) -> tuple[TensorSpec, TensorSpec]:
    return TensorSpec(x.shape, x.dtype), TensorSpec(x.shape, "int64")


@cummin.onnx_function
def _(x, dim: int):  # noqa: ANN001, ANN202
    # a Loop over dim: a later element takes over on ties (torch's last index) and when it is NaN, and
    # nothing but a NaN replaces a NaN; a 0-d x runs as shape (1)
    if op.Equal(op.Size(op.Shape(x)), op.Constant(value_int=0)):
        xs = op.Reshape(x, op.Constant(value_ints=[1]))
    else:
        xs = op.Identity(x)
    axis = op.Unsqueeze(op.Constant(value_int=dim), op.Constant(value_ints=[0]))
    n = op.Squeeze(op.Gather(op.Shape(xs), axis))
    if op.Equal(n, op.Constant(value_int=0)):
        values = op.Identity(xs)
        indices = op.Expand(op.Constant(value_int=0), op.Shape(xs))
    else:
        low = op.Gather(xs, op.Constant(value_int=0), axis=dim)
        where = op.Expand(op.Constant(value_int=0), op.Shape(low))
        seen = op.SequenceConstruct(op.Unsqueeze(low, axis))
        at = op.SequenceConstruct(op.Unsqueeze(where, axis))
        for i in range(op.Sub(n, op.Constant(value_int=1))):
            step = op.Add(i, op.Constant(value_int=1))
            v = op.Gather(xs, step, axis=dim)
            take = op.Or(op.LessOrEqual(v, low), op.Not(op.Equal(v, v)))
            low = op.Where(take, v, low)
            where = op.Where(take, step, where)
            seen = op.SequenceInsert(seen, op.Unsqueeze(low, axis))
            at = op.SequenceInsert(at, op.Unsqueeze(where, axis))
        values = op.ConcatFromSequence(seen, axis=dim)
        indices = op.ConcatFromSequence(at, axis=dim)
    return op.Reshape(values, op.Shape(x)), op.Reshape(indices, op.Shape(x))


cummin.samples(_cumulative.samples)


@_aten.lowers(torch.ops.aten.cummin.default, cummin)
def _(a: dict) -> object:
    """cummin(Tensor self, int dim) -> (Tensor values, Tensor indices)"""
    return _aten.emit(cummin, a["self"], dim=int(a["dim"]))
