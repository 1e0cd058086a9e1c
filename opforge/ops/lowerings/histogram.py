"""``histogram`` and ``histogramdd`` (``aten.histogram.bin_ct`` / ``.bins_tensor``, ``aten._histogramdd_bin_edges``,
``_histogramdd_from_bin_cts``, ``_histogramdd_from_bin_tensors``) in plain ONNX, float32, bit for bit as eager's
CPU kernels compute them (stock torch.onnx has no translation):

* outer edges: ``range`` if given, else each dim's min and max; equal ones widened by 0.5 each way;
* bin edges: ``linspace(left, right, bins + 1)`` as eager's kernel evaluates it, ``start + step * i`` below the
  halfway index and ``end - step * (steps - 1 - i)`` from it, each with one rounding (a fused multiply-add,
  evaluated here in float64 and rounded once to float32; bit-identical to eager in
  tests/test_histogram_portable.py: 1050 data-dependent ranges, 2 to 119 edges, on an AVX-512 CPU);
* bin of an element: eager's linear interpolation ``(x - left) * bins / (right - left)`` then its local search
  among the 3 edges around it (given edge tensors: a search among all edges); the last edge closes the last
  bin; elements outside [first edge, last edge] (and NaN) are skipped;
* counts (or summed weights) by ScatterElements(add); ``density`` divides by the total, then by each dim's
  bin widths, as eager does. Counts are exact; summed weights may differ from eager's in the last bits (eager
  sums per thread and vector lane in its own order).

Other dtypes (float64 edges would need a wider FMA), unknown bin counts, dynamic or empty inputs go to the
generic fallback. Where eager raises on the data (a NaN or infinite min / max with no ``range``), the ONNX
graph cannot raise: its edges come out NaN / infinite and no element is counted."""

from __future__ import annotations

from typing import Any

import onnx
import torch

from .. import _aten

_BIN_CT = torch.ops.aten.histogram.bin_ct
_BINS_TENSOR = torch.ops.aten.histogram.bins_tensor
_DD_EDGES = torch.ops.aten._histogramdd_bin_edges.default
_DD_FROM_CTS = torch.ops.aten._histogramdd_from_bin_cts.default
_DD_FROM_TENSORS = torch.ops.aten._histogramdd_from_bin_tensors.default
_WHY = "stock torch.onnx has no translation"


def _float32(*values: Any) -> bool:
    return all(v is None or (v.dtype is not None and int(v.dtype) == onnx.TensorProto.FLOAT) for v in values)


def _static_numel(x: Any) -> int | None:
    if x.shape is None or not all(isinstance(d, int) for d in x.shape):
        return None
    count = 1
    for d in x.shape:
        count *= d
    return count


def _const(op: Any, value: float, like: Any) -> Any:
    return op.CastLike(op.Constant(value_float=float(value)), like)


def _points(op: Any, x: Any, dims: int) -> Any:
    """``self`` as (N, dims) points (histogram: every element is a point of one dim)."""
    return op.Reshape(x, op.Constant(value_ints=[-1, dims]))


def _outer_edges(op: Any, column: Any, bounds: tuple[float, float] | None) -> tuple[Any, Any]:
    """(left, right) of one dim as float32 scalars: the range, or min and max; equal ones widened by 0.5."""
    if bounds is not None:
        left, right = float(bounds[0]), float(bounds[1])
        if left == right:  # in double, as eager
            left, right = left - 0.5, right + 0.5
        return (op.Cast(op.Constant(value_float=left), to=onnx.TensorProto.FLOAT),
                op.Cast(op.Constant(value_float=right), to=onnx.TensorProto.FLOAT))
    # value_float rounds the double once to float32; eager's linspace rounds range values to float32 too
    left, right = op.ReduceMin(column, keepdims=0), op.ReduceMax(column, keepdims=0)
    equal = op.Equal(left, right)
    half = _const(op, 0.5, column)
    left, right = op.Where(equal, op.Sub(left, half), left), op.Where(equal, op.Add(right, half), right)
    # eager raises on a NaN min / max; ONNX Runtime's ReduceMin/Max skip NaN: poison the edges instead
    has_nan = op.Greater(op.ReduceSum(op.Cast(op.IsNaN(column), to=onnx.TensorProto.FLOAT), keepdims=0),
                         _const(op, 0.0, column))
    nan = _const(op, float("nan"), column)
    return op.Where(has_nan, nan, left), op.Where(has_nan, nan, right)


def _linspace(op: Any, start: Any, end: Any, steps: int) -> Any:
    """Eager's CPU linspace of float32 ``start``..``end``: one rounding per edge (see the module docstring)."""
    f32, f64 = onnx.TensorProto.FLOAT, onnx.TensorProto.DOUBLE
    step = op.Div(op.Sub(end, start), _const(op, steps - 1, start))  # float32, as eager's step_t
    index = list(range(steps))
    half = steps // 2
    from_start = op.Constant(value_floats=[float(i) for i in index])
    from_end = op.Constant(value_floats=[float(steps - 1 - i) for i in index])
    step64 = op.Cast(step, to=f64)
    low = op.Add(op.Cast(start, to=f64), op.Mul(step64, op.Cast(from_start, to=f64)))
    high = op.Sub(op.Cast(end, to=f64), op.Mul(step64, op.Cast(from_end, to=f64)))
    lower = op.Constant(value_ints=[1 if i < half else 0 for i in index])
    return op.Cast(op.Where(op.Cast(lower, to=onnx.TensorProto.BOOL), low, high), to=f32)


def _bin_linear(op: Any, column: Any, edges: Any, bins: int) -> tuple[Any, Any]:
    """(bin index, in range) of each element of ``column`` among uniform ``edges``: eager's interpolation and
    local search."""
    i64 = onnx.TensorProto.INT64
    first = op.Gather(edges, op.Constant(value_int=0), axis=0)
    last = op.Gather(edges, op.Constant(value_int=bins), axis=0)
    inside = op.And(op.GreaterOrEqual(column, first), op.LessOrEqual(column, last))
    guess = op.Div(op.Mul(op.Sub(column, first), _const(op, bins, column)), op.Sub(last, first))
    guess = op.Where(inside, guess, _const(op, 0.0, column))  # outside: any in-bounds value, masked below
    guess = op.Cast(guess, to=i64)  # truncation, as eager's static_cast
    one = op.Constant(value_int=1)
    low = op.Max(op.Sub(guess, one), op.Constant(value_int=0))
    high = op.Min(op.Add(guess, op.Constant(value_int=2)), op.Constant(value_int=bins + 1))
    below = op.Constant(value_int=0)
    for k in range(3):  # upper_bound over edges[low:high], which holds 3 edges at most
        at = op.Add(low, op.Constant(value_int=k))
        edge = op.Gather(edges, op.Min(at, op.Constant(value_int=bins)), axis=0)
        counted = op.And(op.Less(at, high), op.LessOrEqual(edge, column))
        below = op.Add(below, op.Cast(counted, to=i64))
    position = op.Sub(op.Add(low, below), one)
    return op.Min(op.Max(position, op.Constant(value_int=0)), op.Constant(value_int=bins - 1)), inside


def _bin_search(op: Any, column: Any, edges: Any, bins: int) -> tuple[Any, Any]:
    """(bin index, in range) of each element among arbitrary increasing ``edges``: upper_bound over all edges."""
    first = op.Gather(edges, op.Constant(value_int=0), axis=0)
    last = op.Gather(edges, op.Constant(value_int=bins), axis=0)
    inside = op.And(op.GreaterOrEqual(column, first), op.LessOrEqual(column, last))
    below = op.ReduceSum(op.Cast(op.LessOrEqual(op.Unsqueeze(edges, op.Constant(value_ints=[0])),
                                                op.Unsqueeze(column, op.Constant(value_ints=[1]))),
                                 to=onnx.TensorProto.INT64), op.Constant(value_ints=[1]), keepdims=0)
    position = op.Sub(below, op.Constant(value_int=1))
    return op.Min(op.Max(position, op.Constant(value_int=0)), op.Constant(value_int=bins - 1)), inside


def _counts(op: Any, points: Any, edges: list[Any], bins: list[int], weight: Any, density: bool,
            uniform: bool) -> Any:
    """The histogram of (N, D) ``points`` over per-dim ``edges``, shape ``bins``."""
    index = None
    inside = None
    for dim, (dim_edges, count) in enumerate(zip(edges, bins)):
        column = op.Gather(points, op.Constant(value_int=dim), axis=1)
        position, dim_inside = (_bin_linear if uniform else _bin_search)(op, column, dim_edges, count)
        stride = 1
        for later in bins[dim + 1:]:
            stride *= later
        term = op.Mul(position, op.Constant(value_int=stride))
        index = term if index is None else op.Add(index, term)
        inside = dim_inside if inside is None else op.And(inside, dim_inside)
    values = op.Reshape(weight, op.Constant(value_ints=[-1])) if weight is not None else \
        op.Expand(_const(op, 1.0, points), op.Shape(index))
    values = op.Where(inside, values, _const(op, 0.0, points))
    index = op.Where(inside, index, op.Constant(value_int=0))
    total = 1
    for count in bins:
        total *= count
    zeros = op.Expand(_const(op, 0.0, points), op.Constant(value_ints=[total]))
    hist = op.Reshape(op.ScatterElements(zeros, index, values, axis=0, reduction="add"),
                      op.Constant(value_ints=list(bins)))
    if density:
        hist = op.Div(hist, op.ReduceSum(hist, keepdims=0))
        for dim, dim_edges in enumerate(edges):
            widths = op.Sub(op.Slice(dim_edges, op.Constant(value_ints=[1]), op.Constant(value_ints=[bins[dim] + 1])),
                            op.Slice(dim_edges, op.Constant(value_ints=[0]), op.Constant(value_ints=[bins[dim]])))
            shape = [1] * len(bins)
            shape[dim] = bins[dim]
            hist = op.Div(hist, op.Reshape(widths, op.Constant(value_ints=shape)))
    return hist


def _uniform_edges(op: Any, points: Any, bins: list[int], bounds: Any) -> list[Any]:
    edges = []
    for dim, count in enumerate(bins):
        column = op.Gather(points, op.Constant(value_int=dim), axis=1)
        pair = None if bounds is None else (bounds[2 * dim], bounds[2 * dim + 1])
        left, right = _outer_edges(op, column, pair)
        edges.append(_linspace(op, left, right, count + 1))
    return edges


def _expressible(a: dict, bins: Any, dims: int | None) -> bool:
    """Cases the lowering reproduces exactly: float32, constant positive bin counts, a known non-empty input."""
    x = a["self"]
    counts = bins if isinstance(bins, list) else [bins]
    if not _float32(x, a.get("weight")) or not all(isinstance(c, int) and not isinstance(c, bool) and c > 0
                                                    for c in counts):
        return False
    numel = _static_numel(x)
    if numel is None or numel == 0 or dims is None:
        return False
    bounds = a.get("range")
    return bounds is None or (isinstance(bounds, (list, tuple)) and len(bounds) == 2 * dims
                              and all(isinstance(v, (int, float)) for v in bounds))


def _dims(x: Any) -> int | None:
    return x.shape[-1] if x.shape is not None and len(x.shape) >= 1 and isinstance(x.shape[-1], int) else None


@_aten.overrides(_BIN_CT, _WHY)
def _(a: dict) -> Any:
    """histogram.bin_ct(Tensor self, int bins=100, *, float[]? range=None, Tensor? weight=None,
    bool density=False) -> (Tensor hist, Tensor bin_edges)"""
    if not _expressible(a, a["bins"], 1):
        return _aten.fall_back(_BIN_CT, a)
    op = _aten.std_opset()
    points = _points(op, a["self"], 1)
    edges = _uniform_edges(op, points, [a["bins"]], a["range"])
    return _counts(op, points, edges, [a["bins"]], a["weight"], bool(a["density"]), uniform=True), edges[0]


@_aten.overrides(_BINS_TENSOR, _WHY)
def _(a: dict) -> Any:
    """histogram.bins_tensor(Tensor self, Tensor bins, *, Tensor? weight=None, bool density=False)
    -> (Tensor hist, Tensor bin_edges)"""
    edges = a["bins"]
    count = edges.shape[0] - 1 if edges.shape is not None and len(edges.shape) == 1 and \
        isinstance(edges.shape[0], int) else 0
    if count < 1 or not _float32(edges) or not _expressible(a, count, 1):
        return _aten.fall_back(_BINS_TENSOR, a)
    op = _aten.std_opset()
    points = _points(op, a["self"], 1)
    return _counts(op, points, [edges], [count], a["weight"], bool(a["density"]), uniform=False), \
        op.Identity(edges)


@_aten.overrides(_DD_EDGES, _WHY)
def _(a: dict) -> Any:
    """_histogramdd_bin_edges(Tensor self, int[] bins, *, float[]? range=None, Tensor? weight=None,
    bool density=False) -> Tensor[]"""
    dims = _dims(a["self"])
    bins = list(a["bins"]) if isinstance(a["bins"], (list, tuple)) else None
    if bins is None or dims != len(bins) or not _expressible(a, bins, dims):
        return _aten.fall_back(_DD_EDGES, a)
    op = _aten.std_opset()
    return tuple(_uniform_edges(op, _points(op, a["self"], dims), bins, a["range"]))


@_aten.overrides(_DD_FROM_CTS, _WHY)
def _(a: dict) -> Any:
    """_histogramdd_from_bin_cts(Tensor self, int[] bins, *, float[]? range=None, Tensor? weight=None,
    bool density=False) -> Tensor"""
    dims = _dims(a["self"])
    bins = list(a["bins"]) if isinstance(a["bins"], (list, tuple)) else None
    if bins is None or dims != len(bins) or not _expressible(a, bins, dims):
        return _aten.fall_back(_DD_FROM_CTS, a)
    op = _aten.std_opset()
    points = _points(op, a["self"], dims)
    edges = _uniform_edges(op, points, bins, a["range"])
    return _counts(op, points, edges, bins, a["weight"], bool(a["density"]), uniform=True)


@_aten.overrides(_DD_FROM_TENSORS, _WHY)
def _(a: dict) -> Any:
    """_histogramdd_from_bin_tensors(Tensor self, Tensor[] bins, *, Tensor? weight=None, bool density=False)
    -> Tensor"""
    dims = _dims(a["self"])
    edges = list(a["bins"])
    counts = [e.shape[0] - 1 if e.shape is not None and len(e.shape) == 1 and isinstance(e.shape[0], int) else 0
              for e in edges]
    if dims != len(edges) or not all(c >= 1 for c in counts) or not _float32(*edges) or \
            not _expressible(a, counts, dims):
        return _aten.fall_back(_DD_FROM_TENSORS, a)
    op = _aten.std_opset()
    return _counts(op, _points(op, a["self"], dims), edges, counts, a["weight"], bool(a["density"]), uniform=False)
