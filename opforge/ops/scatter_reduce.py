"""opforge.contrib::ScatterReduce: Tensor.scatter_reduce / torch.scatter_reduce, every reduction."""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
from onnxscript import opset18 as op

from ..api import op as declare
from ..types import Sample, TensorSpec
from . import _aten, _torch
from ._common import normalize_dim, same_dim

_NUMERIC = ["float32", "float64", "float16", "int32", "int64"]
REDUCTIONS = ("sum", "prod", "mean", "amax", "amin")


@declare("opforge.contrib::ScatterReduce", version=1,
         dtypes={"data": _NUMERIC, "index": ["int64"], "src": _NUMERIC, "output": _NUMERIC},
         serves=["Tensor.scatter_reduce", "torch.scatter_reduce", "Tensor.scatter_reduce_",
                 "Tensor.index_reduce"])
def scatter_reduce(data: torch.Tensor, index: torch.Tensor, src: torch.Tensor, dim: int, reduce: str = "sum",
                   include_self: bool = True) -> torch.Tensor:
    """Reduce ``src`` into a copy of ``data`` at ``index`` along ``dim`` (``reduce`` is one of sum,
    prod, mean, amax, amin). Only the leading ``index.shape`` block of ``src`` is read. With
    ``include_self=False`` the original values at scattered positions take no part; ``mean`` divides
    by the count of contributions (integer dtypes round down)."""
    return data.scatter_reduce(dim, index, src, reduce, include_self=include_self)


def _identity(dtype: Any, reduce: str) -> Any:
    if reduce in ("sum", "mean"):
        return 0
    if reduce == "prod":
        return 1
    if np.issubdtype(dtype, np.floating):
        return -np.inf if reduce == "amax" else np.inf
    info = np.iinfo(dtype)
    return info.min if reduce == "amax" else info.max


def _check(data: Any, index: Any, dim: int, reduce: str) -> int:
    name = scatter_reduce.name
    if reduce not in REDUCTIONS:
        raise ValueError(f"{name}: reduce={reduce!r} is not one of {REDUCTIONS}")
    if index.ndim != max(data.ndim, 1) and index.size:
        raise ValueError(f"{name}: input 'index' has rank {index.ndim} but 'data' has rank {data.ndim}; "
                         "they must have the same rank")
    return normalize_dim(dim, data.ndim, name)


@scatter_reduce.kernel("cpu")
def _(data: np.ndarray, index: np.ndarray, src: np.ndarray, *, dim: int, reduce: str,
      include_self: bool, out: np.ndarray | None = None) -> np.ndarray:
    if out is None:
        return _torch.cpu(scatter_reduce.reference, data, index, src, dim=dim, reduce=reduce,
                          include_self=include_self, name=scatter_reduce.name)
    return _torch.cpu(_scatter_reduce_into, data, index, src, dim=dim, reduce=reduce, include_self=include_self,
                      out=out, name=scatter_reduce.name)


def _scatter_reduce_into(data: torch.Tensor, index: torch.Tensor, src: torch.Tensor, *, dim: int, reduce: str,
                         include_self: bool, out: torch.Tensor) -> torch.Tensor:
    """The reference's torch kernel, writing into ``out`` (the structured kernel copies ``data`` there first)."""
    return torch.scatter_reduce(data, dim, index, src, reduce, include_self=include_self, out=out)


@scatter_reduce.kernel("cuda")
def _(data, index, src, *, dim, reduce, include_self):  # noqa: ANN001, ANN202
    import cupy
    import cupyx

    dim = _check(data, index, dim, reduce)
    out = data.copy()
    if index.size == 0:
        return out
    grid = list(cupy.indices(index.shape, sparse=True))
    grid[dim] = index
    target = tuple(cupy.broadcast_arrays(*grid))
    values = src[tuple(slice(0, n) for n in index.shape)].astype(out.dtype, copy=False)
    if not include_self:
        out[target] = _identity(cupy.dtype(out.dtype), reduce)
    if reduce in ("sum", "mean"):
        cupyx.scatter_add(out, target, values)
    elif reduce == "amax":
        cupyx.scatter_max(out, target, values)
    elif reduce == "amin":
        cupyx.scatter_min(out, target, values)
    else:  # prod: no scatter-multiply in cupy; multiply contributions in one at a time, by duplicate rank
        flat = cupy.ravel_multi_index(target, out.shape).ravel()
        order = cupy.argsort(flat, kind="stable")
        sorted_flat = flat[order]
        first = cupy.searchsorted(sorted_flat, sorted_flat, side="left")
        rank = cupy.arange(flat.size) - first
        vals = values.ravel()[order]
        flat_out = out.reshape(-1)
        for r in range(int(rank.max()) + 1 if rank.size else 0):
            pick = rank == r
            flat_out[sorted_flat[pick]] *= vals[pick]
    if reduce == "mean":
        count = cupy.full(out.shape, 1 if include_self else 0, cupy.int64)
        cupyx.scatter_add(count, target, cupy.ones(index.shape, cupy.int64))
        count = cupy.maximum(count, 1)
        out = out // count if cupy.issubdtype(out.dtype, cupy.integer) else (out / count).astype(out.dtype)
    return out


@scatter_reduce.infer
def _(data: TensorSpec, index: TensorSpec, src: TensorSpec, *, dim: int, reduce: str,
      include_self: bool) -> TensorSpec:
    return TensorSpec(data.shape, data.dtype)


@scatter_reduce.onnx_function
def _(data, index, src, dim: int, reduce: str = "sum", include_self: int = 1):  # noqa: ANN001, ANN202
    shape = op.Shape(index)
    src = op.Slice(src, op.Sub(shape, shape), shape)  # only the leading index.shape block of src is read
    names = op.Concat(op.Constant(value_strings=["sum", "prod", "mean", "amax", "amin"]),
                      op.Unsqueeze(op.Constant(value_string=reduce), op.Constant(value_ints=[0])), axis=0)
    _u, _i, position, _c = op.Unique(names, sorted=0)  # no string Equal before opset 19: Unique finds it
    code = op.Gather(position, op.Constant(value_int=5))
    extreme = op.GreaterOrEqual(code, op.Constant(value_int=3))
    one = op.CastLike(op.Constant(value_int=1), data)
    neutral = op.Expand(op.Where(op.Equal(code, op.Constant(value_int=1)), one, op.Sub(one, one)), shape)
    # include_self=False: scattered positions first take a neutral value (for max/min: one of the contributions)
    cleared = op.ScatterElements(data, index, op.Where(extreme, src, neutral), axis=dim)
    base = op.Where(op.Cast(op.Constant(value_int=include_self), to=9), data, cleared)
    # ONNX Runtime's ScatterElements reduces no float16: widen it to float32 (70000 overflows float16 only)
    if op.IsInf(op.Cast(op.CastLike(op.Constant(value_float=70000.0), data), to=1)):
        wide_base, wide_src = op.Cast(base, to=1), op.Cast(src, to=1)
        if op.Equal(code, op.Constant(value_int=1)):
            wide = op.ScatterElements(wide_base, index, wide_src, axis=dim, reduction="mul")
        elif op.Equal(code, op.Constant(value_int=3)):
            wide = op.ScatterElements(wide_base, index, wide_src, axis=dim, reduction="max")
        elif op.Equal(code, op.Constant(value_int=4)):
            wide = op.ScatterElements(wide_base, index, wide_src, axis=dim, reduction="min")
        else:
            wide = op.ScatterElements(wide_base, index, wide_src, axis=dim, reduction="add")
        out = op.CastLike(wide, data)
    elif op.Equal(code, op.Constant(value_int=1)):
        out = op.ScatterElements(base, index, src, axis=dim, reduction="mul")
    elif op.Equal(code, op.Constant(value_int=3)):
        out = op.ScatterElements(base, index, src, axis=dim, reduction="max")
    elif op.Equal(code, op.Constant(value_int=4)):
        out = op.ScatterElements(base, index, src, axis=dim, reduction="min")
    else:
        out = op.ScatterElements(base, index, src, axis=dim, reduction="add")
    # a NaN among the contributions of max/min propagates (ONNX Runtime's max/min may drop it)
    nan_in = op.ScatterElements(op.Cast(op.Not(op.Equal(base, base)), to=7), index,
                                op.Cast(op.Not(op.Equal(src, src)), to=7), axis=dim, reduction="add")
    nan = op.CastLike(op.Constant(value_float=float("nan")), data)
    out = op.Where(op.And(extreme, op.Greater(nan_in, op.Constant(value_int=0))), nan, out)
    # mean: sum / count of contributions (the original value counts once with include_self)
    start = op.Expand(op.Cast(op.Constant(value_int=include_self), to=7), op.Shape(data))
    count = op.ScatterElements(start, index, op.Expand(op.Constant(value_int=1), shape), axis=dim,
                               reduction="add")
    count = op.CastLike(op.Max(count, op.Constant(value_int=1)), data)
    quotient = op.Div(out, count)
    # integer dtypes round down (Div truncates toward zero): one less where the remainder is negative
    is_int = op.Equal(op.CastLike(op.Constant(value_float=0.5), data), op.Sub(one, one))
    down = op.And(is_int, op.Less(op.Sub(out, op.Mul(quotient, count)), op.Sub(one, one)))
    mean = op.Sub(quotient, op.CastLike(down, data))
    return op.Where(op.Equal(code, op.Constant(value_int=2)), mean, out)


@scatter_reduce.samples
def _(rng: np.random.Generator):  # noqa: ANN202
    f32 = np.float32
    for reduce in REDUCTIONS:
        for include_self in (True, False):
            yield Sample(rng.standard_normal((3, 5)).astype(f32), rng.integers(0, 5, (3, 7)),
                         rng.standard_normal((3, 7)).astype(f32), dim=1, reduce=reduce,
                         include_self=include_self).named(f"{reduce}_self={include_self}")
    yield Sample(rng.standard_normal((6, 2, 3)), rng.integers(0, 6, (4, 2, 2)), rng.standard_normal((5, 2, 3)),
                 dim=0, reduce="mean").named("dim0_src_larger_than_index")
    yield Sample(rng.integers(-9, 9, (4, 6)), rng.integers(0, 6, (4, 5)), rng.integers(-9, 9, (4, 5)), dim=-1,
                 reduce="mean", include_self=False).named("int64_mean_floor")
    yield Sample(rng.integers(-9, 9, (4, 6)), rng.integers(0, 6, (4, 5)), rng.integers(-9, 9, (4, 5)), dim=1,
                 reduce="amax", include_self=False).named("int64_amax")
    yield Sample(np.zeros((3, 4), f32), np.zeros((3, 0), np.int64), np.zeros((3, 0), f32), dim=1,
                 reduce="mean").named("empty_index")
    yield Sample(np.array([1.0, 2.0, 3.0], f32), np.array([0, 0, 2]), np.array([np.nan, 5.0, 1.0], f32), dim=0,
                 reduce="amax").named("nan_src")
    yield Sample(rng.standard_normal((4, 3)).astype(np.float16), rng.integers(0, 4, (4, 3)),
                 rng.standard_normal((4, 3)).astype(np.float16), dim=0, reduce="sum").named("float16")


@_aten.lowers(torch.ops.aten.scatter_reduce.two, scatter_reduce)
def _(a: dict) -> object:
    """scatter_reduce.two(Tensor self, int dim, Tensor index, Tensor src, str reduce, *, bool include_self=True)
    -> Tensor

    Stock torch.onnx (torchlib's ``aten_scatter_reduce``: one ScatterElements with a reduction)
    is right for sum, prod, amax and amin, with or without include_self, when ``src`` has the
    shape of ``index``; those stay native. ``mean`` (exported as an overwrite) and a ``src``
    larger than ``index`` (ScatterElements needs equal shapes) take the contrib op."""
    if str(a["reduce"]) != "mean" and _same_known_shape(a["index"], a["src"]):
        from onnxscript.function_libs.torch_lib.ops.core import aten_scatter_reduce

        return aten_scatter_reduce(a["self"], int(a["dim"]), a["index"], a["src"], str(a["reduce"]),
                                   include_self=bool(a["include_self"]))
    return _aten.emit(scatter_reduce, a["self"], a["index"], a["src"], dim=int(a["dim"]), reduce=str(a["reduce"]),
                      include_self=bool(a["include_self"]))


def _same_known_shape(index: Any, src: Any) -> bool:
    """Both shapes known and equal, dim by dim (a symbolic dim only matches the same symbol)."""
    a, b = getattr(index, "shape", None), getattr(src, "shape", None)
    if a is None or b is None or len(a) != len(b):
        return False
    return all(same_dim(x, y) for x, y in zip(a, b, strict=True))


@_aten.lowers(torch.ops.aten.index_reduce.default, scatter_reduce)
def _(a: dict) -> object:
    """index_reduce(Tensor self, int dim, Tensor index, Tensor source, str reduce, *, bool include_self=True)
    -> Tensor: a scatter_reduce whose index is ``index`` broadcast along ``dim`` over ``source``'s shape"""
    std = _aten.std_opset()
    source = a["source"]
    rank = len(source.shape)
    if rank == 0:  # a 0-d self (and source): reduce as shape (1,) and give the 0-d result back
        one = std.Constant(value_ints=[1])
        out = _aten.emit(scatter_reduce, std.Reshape(a["self"], one), std.Reshape(a["index"], one),
                         std.Reshape(source, one), dim=0, reduce=str(a["reduce"]),
                         include_self=bool(a["include_self"]))
        return std.Reshape(out, std.Constant(value_ints=[]))
    dim = int(a["dim"]) % max(rank, 1)
    shape = [1] * rank
    shape[dim] = -1
    index = std.Reshape(a["index"], std.Constant(value_ints=shape))
    index = std.Expand(index, std.Shape(source))
    return _aten.emit(scatter_reduce, a["self"], index, source, dim=dim, reduce=str(a["reduce"]),
                      include_self=bool(a["include_self"]))
