"""opforge.contrib::Median: torch.median (lower median along a dim, with its index)."""

from __future__ import annotations

import numpy as np
import torch
from onnxscript import opset18 as op

from ..api import op as declare
from ..types import Sample, TensorSpec
from . import _aten, _order_stats

_NUMERIC = ["float32", "float64", "float16", "int32", "int64"]


@declare("opforge.contrib::Median", version=1, outputs=["values", "indices"],
         dtypes={"x": _NUMERIC, "values": _NUMERIC, "indices": ["int64"]},
         serves=["torch.median", "Tensor.median"])
def median(x: torch.Tensor, dim: int, keepdim: bool = False) -> tuple[torch.Tensor, torch.Tensor]:
    """Lower median of ``x`` along ``dim`` (for an even count, the smaller of the two middle values) and
    its index: the median's position in a stable sort, so ties resolve by position as in torch. A NaN in a
    slice makes the median NaN, at the first NaN's index."""
    values, indices = torch.median(x, dim, keepdim)
    return values, indices


@median.kernel("cpu")
def _(x: np.ndarray, *, dim: int, keepdim: bool) -> tuple[np.ndarray, np.ndarray]:
    return _order_stats.median(x, dim, keepdim, False, median.name)


@median.kernel("cuda")
def _(x, *, dim, keepdim):  # noqa: ANN001, ANN202
    return _order_stats.on_host(_order_stats.median, x, dim=dim, keepdim=keepdim, ignore_nan=False, name=median.name)


@median.infer
def _(x: TensorSpec, *, dim: int, keepdim: bool) -> tuple[TensorSpec, TensorSpec]:
    return _order_stats.reduced_specs(x, dim, keepdim, median.name)


@median.onnx_function
def _(x, dim: int, keepdim: int = 0):  # noqa: ANN001, ANN202
    # a stable sort (TopK, sorted, lower index first among ties) keyed on the value with NaN as +inf, then
    # a second stable TopK on "is NaN" that moves NaNs last: the (value, index) order of _order_stats.median;
    # a NaN in a slice is the median, at the first NaN (ArgMax); a 0-d x runs as shape (1)
    if op.Equal(op.Size(op.Shape(x)), op.Constant(value_int=0)):
        xs = op.Reshape(x, op.Constant(value_ints=[1]))
    else:
        xs = op.Identity(x)
    axis = op.Unsqueeze(op.Constant(value_int=dim), op.Constant(value_ints=[0]))
    n = op.Gather(op.Shape(xs), axis)
    isnan = op.Not(op.Equal(xs, xs))
    key = op.Where(isnan, op.CastLike(op.Constant(value_float=float("inf")), xs), xs)
    _v, order = op.TopK(key, n, axis=dim, largest=0, sorted=1)
    nan_flag = op.Cast(isnan, to=1)
    _f, nan_last = op.TopK(op.GatherElements(nan_flag, order, axis=dim), n, axis=dim, largest=0, sorted=1)
    order = op.GatherElements(order, nan_last, axis=dim)
    nans = op.ReduceSum(op.Cast(isnan, to=7), axis, keepdims=1)
    k = op.Expand(op.Div(op.Sub(n, op.Constant(value_ints=[1])), op.Constant(value_ints=[2])), op.Shape(nans))
    first_nan = op.ArgMax(nan_flag, axis=dim, keepdims=1)
    index = op.Where(op.Greater(nans, op.Constant(value_int=0)), first_nan, op.GatherElements(order, k, axis=dim))
    values = op.GatherElements(xs, index, axis=dim)
    if op.Equal(op.Size(op.Shape(x)), op.Constant(value_int=0)):
        out_values = op.Reshape(values, op.Shape(x))
        out_index = op.Reshape(index, op.Shape(x))
    elif op.Cast(op.Constant(value_int=keepdim), to=9):
        out_values = op.Identity(values)
        out_index = op.Identity(index)
    else:
        out_values = op.Squeeze(values, axis)
        out_index = op.Squeeze(index, axis)
    return out_values, out_index


@median.samples
def _(rng: np.random.Generator):  # noqa: ANN202
    for sample in _order_stats.tie_samples(rng):
        yield Sample(*sample.args, dim=-1).named(sample.name)
    yield Sample(rng.standard_normal((6, 4)).astype(np.float32), dim=0, keepdim=True).named("dim0_keepdim")
    yield Sample(np.array([3.0, 1.0, 2.0, 1.0], np.float32), dim=0).named("even_count_lower")
    yield Sample(np.array(2.5, np.float32), dim=0).named("0d")
    yield Sample(np.zeros((0, 3), np.float32), dim=1).named("empty_rows")


@_aten.lowers(torch.ops.aten.median.dim, median)
def _(a: dict) -> object:
    """median.dim(Tensor self, int dim, bool keepdim=False) -> (Tensor values, Tensor indices)"""
    return _aten.emit(median, a["self"], dim=int(a["dim"]), keepdim=bool(a["keepdim"]))


@_aten.lowers(torch.ops.aten.median.default, median)
def _(a: dict) -> object:
    """median(Tensor self) -> Tensor"""
    std = _aten.std_opset()
    flat = std.Reshape(a["self"], std.Constant(value_ints=[-1]))
    values, _ = _aten.emit(median, flat, dim=0, keepdim=False)
    return values
