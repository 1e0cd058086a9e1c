"""Order statistics shared by Median, NanMedian and KthValue (numpy; the cuda kernels reuse them on host).

torch picks the index among tied values in two different ways, and both are reproduced here:

* ``median`` / ``nanmedian`` (CPU) rank the elements by (value, index), so the result is the k-th
  element of a *stable* sort; NaNs rank last.
* ``kthvalue`` runs a median-of-three quickselect that swaps values and indices together; the index
  it returns among ties is whatever that partitioning leaves at position k. :func:`quickselect`
  replays the same sequence of swaps.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
from onnxscript import opset18 as op
from onnxscript import script

from ._common import BODY_LIB, normalize_dim


def _gt_or_nan(a: float, b: float) -> bool:
    return (math.isnan(a) and not math.isnan(b)) or a > b


def quickselect(values: list, k: int) -> int:
    """The original position of the element torch.kthvalue's quickselect leaves at rank ``k``."""
    v = list(values)
    idx = list(range(len(v)))

    def swap(a: int, b: int) -> None:
        v[a], v[b] = v[b], v[a]
        idx[a], idx[b] = idx[b], idx[a]

    lo, hi = 0, len(v) - 1
    while hi > lo:
        if hi == lo + 1:
            if _gt_or_nan(v[lo], v[hi]):
                swap(lo, hi)
            break
        swap(lo + (hi - lo) // 2, lo + 1)  # median of three -> v[lo]
        if _gt_or_nan(v[lo + 1], v[hi]):
            swap(lo + 1, hi)
        if _gt_or_nan(v[lo], v[hi]):
            swap(lo, hi)
        if _gt_or_nan(v[lo + 1], v[lo]):
            swap(lo + 1, lo)
        i, j, pivot = lo + 1, hi, v[lo]
        while True:
            i += 1
            while _gt_or_nan(pivot, v[i]):
                i += 1
            j -= 1
            while _gt_or_nan(v[j], pivot):
                j -= 1
            if j < i:
                break
            swap(i, j)
        swap(lo, j)
        if j <= k:
            lo = i
        if j >= k:
            hi = j - 1
    return idx[k]


def _rows(x: np.ndarray, dim: int, name: str) -> tuple[np.ndarray, int]:
    """``x`` with ``dim`` moved last and the rest flattened: (rows, n)."""
    dim = normalize_dim(dim, x.ndim, name)
    moved = np.moveaxis(x.reshape(x.shape or (1,)), dim, -1)
    return moved.reshape(-1, moved.shape[-1]), dim


def _finish(values: np.ndarray, indices: np.ndarray, x: np.ndarray, dim: int, keepdim: bool) -> tuple[Any, Any]:
    shape = list(x.shape)
    if shape:
        shape[dim] = 1
    values, indices = values.reshape(shape), indices.reshape(shape)
    if not keepdim and x.ndim:
        values, indices = np.squeeze(values, dim), np.squeeze(indices, dim)
    return values.copy(order="C"), indices.copy(order="C")


def check_reducible(x: Any, dim: int, name: str) -> None:
    """An order statistic of an empty slice is an error that names the op, the dim and the shape."""
    if x.ndim and x.shape[normalize_dim(dim, x.ndim, name)] == 0:
        raise IndexError(f"{name}: dim {dim} of the input (shape {tuple(x.shape)}) is empty; there is no "
                         "order statistic of an empty slice; pass a non-empty dim")


def kthvalue(x: np.ndarray, k: int, dim: int, keepdim: bool, name: str) -> tuple[np.ndarray, np.ndarray]:
    """torch.kthvalue along ``dim`` (``k`` counts from 1); the index follows torch's quickselect on ties."""
    rows, dim = _rows(x, dim, name)
    n = rows.shape[-1]
    if not 1 <= k <= n:
        raise IndexError(f"{name}: k={k} is out of range for a slice of {n} element(s) (input shape "
                         f"{tuple(x.shape)}); pass k in [1, {n}]")
    if rows.shape[0] == 0:
        return _finish(np.empty(0, x.dtype), np.empty(0, np.int64), x, dim, keepdim)
    values = np.partition(rows, k - 1, axis=-1)[:, k - 1]  # NaNs sort last, as in torch
    same = (rows == values[:, None])
    if np.issubdtype(x.dtype, np.floating):
        same |= np.isnan(rows) & np.isnan(values)[:, None]
    indices = np.argmax(same, axis=-1).astype(np.int64)
    for row in np.flatnonzero(same.sum(axis=-1) > 1):  # ties: replay torch's partitioning
        indices[row] = quickselect(rows[row].tolist(), k - 1)
    return _finish(values, indices, x, dim, keepdim)


def on_host(fn: Any, *arrays: Any, **kwargs: Any) -> tuple[Any, ...]:
    """Run a numpy order statistic on cupy arrays (copy to host and back)."""
    import cupy

    outs = fn(*(cupy.asnumpy(a) for a in arrays), **kwargs)
    return tuple(cupy.asarray(o) for o in outs)


def reduced_specs(x: Any, dim: int, keepdim: bool, name: str) -> tuple[Any, Any]:
    """Output specs of a (values, indices) reduction of ``x`` along ``dim``."""
    from ..types import TensorSpec

    shape = list(x.shape)
    if shape:
        d = normalize_dim(dim, len(shape), name)
        if keepdim:
            shape[d] = 1
        else:
            del shape[d]
    return TensorSpec(tuple(shape), x.dtype), TensorSpec(tuple(shape), "int64")


def tie_samples(rng: np.random.Generator) -> Any:
    """Samples shared by Median, NanMedian and KthValue (attributes added by the caller)."""
    from ..types import Sample

    yield Sample(rng.standard_normal((4, 9)).astype(np.float32)).named("rows")
    yield Sample(rng.standard_normal((5, 3, 2)), ).named("float64_3d")
    yield Sample(rng.integers(0, 3, (6, 20)).astype(np.float32)).named("ties")
    yield Sample(rng.integers(-2, 2, (3, 40))).named("int64_ties")
    nan = rng.integers(0, 4, (5, 11)).astype(np.float32)
    nan[rng.random(nan.shape) < 0.3] = np.nan
    yield Sample(nan).named("nan")
    yield Sample(np.array([[np.inf, -np.inf, 0, np.inf, -np.inf, 1]], np.float32)).named("inf")
    yield Sample(rng.standard_normal((3, 7)).astype(np.float16)).named("float16")


@script(BODY_LIB, default_opset=op)
def reduced_pair(x, values, index, dim: int, keepdim: int):  # noqa: ANN001, ANN201
    """(values, index) of a reduction along ``dim`` kept as size-1 dims, shaped as torch returns them: a 0-d
    ``x`` gives 0-d results, ``keepdim`` keeps the dim, else it is squeezed."""
    if op.Equal(op.Size(op.Shape(x)), op.Constant(value_int=0)):
        out_values = op.Reshape(values, op.Shape(x))
        out_index = op.Reshape(index, op.Shape(x))
    elif op.Cast(op.Constant(value_int=keepdim), to=9):
        out_values = op.Identity(values)
        out_index = op.Identity(index)
    else:
        axis = op.Unsqueeze(op.Constant(value_int=dim), op.Constant(value_ints=[0]))
        out_values = op.Squeeze(values, axis)
        out_index = op.Squeeze(index, axis)
    return out_values, out_index


@script(BODY_LIB, default_opset=op)
def median_select(x, dim: int, keepdim: int, ignore_nan: int):  # noqa: ANN001, ANN201
    """Portable body of Median (ignore_nan=0) and NanMedian (ignore_nan=1): a stable sort (TopK, sorted,
    lower index first among ties) keyed on the value with NaN as +inf, then a second stable TopK on
    "is NaN" that moves NaNs last: the (value, index) order of :func:`median`. Median: a NaN in a slice
    is the median, at the first NaN (ArgMax); NanMedian: rank (n - nans - 1) // 2, 0 for an all-NaN
    slice. A 0-d x runs as shape (1)."""
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
    zero = op.Constant(value_int=0)
    if op.Cast(op.Constant(value_int=ignore_nan), to=9):
        kept = op.Sub(n, nans)
        k = op.Where(op.Greater(kept, zero), op.Div(op.Sub(kept, op.Constant(value_int=1)), op.Constant(value_int=2)),
                     op.Expand(zero, op.Shape(kept)))
        index = op.GatherElements(order, k, axis=dim)
    else:
        k = op.Expand(op.Div(op.Sub(n, op.Constant(value_ints=[1])), op.Constant(value_ints=[2])), op.Shape(nans))
        first_nan = op.ArgMax(nan_flag, axis=dim, keepdims=1)
        index = op.Where(op.Greater(nans, zero), first_nan, op.GatherElements(order, k, axis=dim))
    values = op.GatherElements(xs, index, axis=dim)
    out_values, out_index = reduced_pair(x, values, index, dim=dim, keepdim=keepdim)
    return out_values, out_index
