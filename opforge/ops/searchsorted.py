"""opforge.contrib::SearchSorted: torch.searchsorted / torch.bucketize."""

from __future__ import annotations

import numpy as np
import torch
from onnxscript import opset18 as op

from ..api import op as declare
from ..types import Sample, TensorSpec
from . import _aten, _torch

_NUMERIC = ["float32", "float64", "float16", "int32", "int64"]


@declare("opforge.contrib::SearchSorted", version=1,
         dtypes={"sorted_sequence": _NUMERIC, "values": _NUMERIC, "output": ["int64"]},
         serves=["torch.searchsorted", "torch.bucketize", "Tensor.bucketize"])
def search_sorted(sorted_sequence: torch.Tensor, values: torch.Tensor, right: bool = False) -> torch.Tensor:
    """Index of each value in ``sorted_sequence`` (sorted along its last dim) such that inserting it
    there keeps the order; ``right`` picks the last such index for ties. A 1-D sequence serves
    any ``values``; an N-D one needs ``values`` with the same leading dims. A NaN value goes
    after every element."""
    return torch.searchsorted(sorted_sequence, values, right=right)


def _search(xp, sorted_sequence, values, right):  # noqa: ANN001, ANN202 - numpy or cupy
    side = "right" if right else "left"
    if sorted_sequence.ndim == 1:
        return xp.searchsorted(sorted_sequence, values, side=side).astype(xp.int64)
    lead = sorted_sequence.shape[:-1]
    seq = sorted_sequence.reshape(-1, sorted_sequence.shape[-1])
    vals = values.reshape(seq.shape[0], -1) if seq.shape[0] else values.reshape(0, 0)
    out = xp.empty(vals.shape, dtype=xp.int64)
    for row in range(seq.shape[0]):
        out[row] = xp.searchsorted(seq[row], vals[row], side=side)
    return out.reshape(*lead, values.shape[-1])


@search_sorted.kernel("cpu")
def _(sorted_sequence: np.ndarray, values: np.ndarray, *, right: bool) -> np.ndarray:
    return _torch.cpu(search_sorted.reference, sorted_sequence, values, right=right, name=search_sorted.name)


@search_sorted.kernel("cuda")
def _(sorted_sequence, values, *, right):  # noqa: ANN001, ANN202
    import cupy

    return _search(cupy, sorted_sequence, values, right)


@search_sorted.infer
def _(sorted_sequence: TensorSpec, values: TensorSpec, *, right: bool) -> TensorSpec:
    return TensorSpec(values.shape, "int64")


@search_sorted.onnx_function
def _(sorted_sequence, values, right: int = 0):  # noqa: ANN001, ANN202
    # binary search, ceil(log2(m + 1)) + 1 steps over [lo, hi) per value: a value goes right of seq[mid]
    # when not seq[mid] >= v (left) or not seq[mid] > v (right), which also puts a NaN value after everything
    last = op.Constant(value_ints=[-1])
    m = op.Squeeze(op.Gather(op.Shape(sorted_sequence), last))
    if op.Equal(op.Size(op.Shape(sorted_sequence)), op.Constant(value_int=1)):
        vals = op.Reshape(values, last)  # a 1-D sequence serves values of any shape
    else:
        vals = op.Identity(values)
    lo = op.Expand(op.Constant(value_int=0), op.Shape(vals))
    hi = op.Expand(m, op.Shape(vals))
    if op.Equal(m, op.Constant(value_int=0)):
        found = op.Identity(lo)
    else:
        steps = op.Add(op.Cast(op.Ceil(op.Div(op.Log(op.Cast(op.Add(m, op.Constant(value_int=1)), to=1)),
                                               op.Constant(value_float=0.6931471805599453))), to=7),
                       op.Constant(value_int=1))
        top = op.Sub(m, op.Constant(value_int=1))
        flip = op.Cast(op.Constant(value_int=right), to=9)
        for _step in range(steps):
            mid = op.Div(op.Add(lo, hi), op.Constant(value_int=2))
            pivot = op.GatherElements(sorted_sequence, op.Min(mid, top), axis=-1)
            go_right = op.Not(op.Or(op.Greater(pivot, vals), op.And(op.Not(flip), op.Equal(pivot, vals))))
            active = op.Less(lo, hi)
            lo = op.Where(op.And(active, go_right), op.Add(mid, op.Constant(value_int=1)), lo)
            hi = op.Where(op.And(active, op.Not(go_right)), mid, hi)
        found = op.Identity(lo)
    return op.Reshape(found, op.Shape(values))


@search_sorted.samples
def _(rng: np.random.Generator):  # noqa: ANN202
    seq = np.sort(rng.standard_normal(16)).astype(np.float32)
    yield Sample(seq, rng.standard_normal((4, 5)).astype(np.float32)).named("1d_sequence")
    ties = np.array([0, 1, 1, 1, 2, 3, 3], np.float32)
    for right in (False, True):
        yield Sample(ties, np.array([1, 3, -1, 4, 2.5], np.float32), right=right).named(f"ties_right={right}")
    yield Sample(np.sort(rng.standard_normal((3, 8)), axis=-1), rng.standard_normal((3, 6)),
                 right=True).named("batched_float64")
    yield Sample(np.sort(rng.integers(-5, 5, (2, 3, 7)), axis=-1), rng.integers(-6, 6, (2, 3, 4))).named("int64_3d")
    yield Sample(seq, np.array([np.nan, 0.0, np.inf, -np.inf], np.float32)).named("nan_inf_values")
    yield Sample(seq, np.array(0.25, np.float32)).named("0d_value")
    yield Sample(seq, np.zeros((0, 3), np.float32)).named("empty_values")
    yield Sample(np.zeros(0, np.float32), rng.standard_normal(3).astype(np.float32)).named("empty_sequence")
    yield Sample(np.sort(rng.standard_normal(10)).astype(np.float16),
                 rng.standard_normal(6).astype(np.float16)).named("float16")


@_aten.lowers(torch.ops.aten.searchsorted.Tensor, search_sorted)
def _(a: dict) -> object:
    """searchsorted.Tensor(Tensor sorted_sequence, Tensor self, *, bool out_int32=False, bool right=False,
    str? side=None, Tensor? sorter=None) -> Tensor"""
    std = _aten.std_opset()
    seq = a["sorted_sequence"]
    if a["sorter"] is not None:
        seq = std.GatherElements(seq, a["sorter"], axis=-1)
    right = bool(a["right"]) or a["side"] == "right"
    out = _aten.emit(search_sorted, seq, a["self"], right=right)
    return std.Cast(out, to=6) if a["out_int32"] else out


@_aten.lowers(torch.ops.aten.bucketize.Tensor, search_sorted)
def _(a: dict) -> object:
    """bucketize.Tensor(Tensor self, Tensor boundaries, *, bool out_int32=False, bool right=False) -> Tensor"""
    out = _aten.emit(search_sorted, a["boundaries"], a["self"], right=bool(a["right"]))
    return _aten.std_opset().Cast(out, to=6) if a["out_int32"] else out
