"""opforge.contrib::CumProd: torch.cumprod."""

from __future__ import annotations

import numpy as np
import torch
from onnxscript import opset18 as op

from ..api import op as declare
from ..types import Sample, TensorSpec, onnx_dtype
from . import _aten, _torch
from ._common import normalize_dim

_PROMOTED_TO_INT64 = {2, 3, 4, 5, 6, 9, 12, 13}  # ONNX uint8 int8 uint16 int16 int32 bool uint32 uint64
_NUMERIC = ["float32", "float64", "float16", "int32", "int64"]


@declare("opforge.contrib::CumProd", version=1, dtypes={"x": _NUMERIC, "output": _NUMERIC},
         serves=["torch.cumprod", "Tensor.cumprod"])
def cumprod(x: torch.Tensor, dim: int) -> torch.Tensor:
    """Running product of ``x`` along ``dim`` (same dtype as ``x``; zeros and NaN propagate)."""
    return torch.cumprod(x, dim).to(x.dtype)


@cumprod.kernel("cpu")
def _(x: np.ndarray, *, dim: int, out: np.ndarray | None = None) -> np.ndarray:
    if out is None:
        return _torch.cpu(cumprod.reference, x, dim=dim, name=cumprod.name)
    # in x's dtype: an int32 product wraps the same as torch's int64 one cast back (arithmetic mod 2**32)
    return _torch.cpu(torch.cumprod, x, dim=dim, dtype=_torch.torch_dtype(x.dtype), out=out, name=cumprod.name)


@cumprod.kernel("cuda")
def _(x, *, dim):  # noqa: ANN001, ANN202
    import cupy

    if x.ndim == 0:
        return x.copy()
    return cupy.cumprod(x, axis=normalize_dim(dim, x.ndim, cumprod.name), dtype=x.dtype)


@cumprod.infer
def _(x: TensorSpec, *, dim: int) -> TensorSpec:
    return TensorSpec(x.shape, x.dtype)


@cumprod.onnx_function
def _(x, dim: int):  # noqa: ANN001, ANN202
    # a Loop over dim multiplying in one slice at a time (numpy's order, so the rounding matches);
    # a 0-d x runs as shape (1) (the If hides its rank from shape inference of the dead branch)
    if op.Equal(op.Size(op.Shape(x)), op.Constant(value_int=0)):
        xs = op.Reshape(x, op.Constant(value_ints=[1]))
    else:
        xs = op.Identity(x)
    axis = op.Unsqueeze(op.Constant(value_int=dim), op.Constant(value_ints=[0]))
    n = op.Squeeze(op.Gather(op.Shape(xs), axis))
    if op.Equal(n, op.Constant(value_int=0)):
        out = op.Identity(xs)
    else:
        running = op.Gather(xs, op.Constant(value_int=0), axis=dim)
        steps = op.SequenceConstruct(op.Unsqueeze(running, axis))
        for i in range(op.Sub(n, op.Constant(value_int=1))):
            running = op.Mul(running, op.Gather(xs, op.Add(i, op.Constant(value_int=1)), axis=dim))
            steps = op.SequenceInsert(steps, op.Unsqueeze(running, axis))
        out = op.ConcatFromSequence(steps, axis=dim)
    return op.Reshape(out, op.Shape(x))


@cumprod.samples
def _(rng: np.random.Generator):  # noqa: ANN202
    yield Sample(rng.uniform(0.5, 1.5, (4, 10)).astype(np.float32), dim=1).named("rows")
    yield Sample(rng.uniform(-1.5, 1.5, (6, 3)), dim=0).named("dim0_float64")
    yield Sample(np.array([[2, 0, 3, -1], [1, np.nan, 2, 0]], np.float32), dim=-1).named("zero_nan")
    yield Sample(rng.integers(-3, 4, (3, 5)), dim=1).named("int64")
    yield Sample(np.array(1.5, np.float32), dim=0).named("0d")
    yield Sample(np.zeros((2, 0), np.float32), dim=1).named("empty")
    yield Sample(rng.uniform(0.5, 1.5, (3, 6)).astype(np.float16), dim=1).named("float16")


@_aten.lowers(torch.ops.aten.cumprod.default, cumprod)
def _(a: dict) -> object:
    """cumprod(Tensor self, int dim, *, ScalarType? dtype=None) -> Tensor"""
    x = a["self"]
    if a["dtype"] is not None:
        x = _aten.std_opset().Cast(x, to=onnx_dtype(a["dtype"]))
    elif x.dtype is not None and int(x.dtype) in _PROMOTED_TO_INT64:  # torch accumulates integers in int64
        x = _aten.std_opset().Cast(x, to=7)
    return _aten.emit(cumprod, x, dim=int(a["dim"]))
