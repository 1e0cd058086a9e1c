"""opforge.contrib::IsIn: torch.isin (elementwise membership test)."""

from __future__ import annotations

import numpy as np
import torch
from onnxscript import opset18 as op

from ..api import op as declare
from ..types import Sample, TensorSpec
from . import _aten, _torch

_NUMERIC = ["float32", "float64", "float16", "int32", "int64"]


@declare("opforge.contrib::IsIn", version=1, dtypes={"elements": _NUMERIC, "test_elements": _NUMERIC, "output": ["bool"]},
         serves=["torch.isin"])
def isin(elements: torch.Tensor, test_elements: torch.Tensor, invert: bool = False) -> torch.Tensor:
    """Whether each of ``elements`` equals any of ``test_elements`` (any shapes; NaN is in nothing);
    ``invert`` negates the result."""
    return torch.isin(elements, test_elements, invert=invert)


@isin.kernel("cpu")
def _(elements: np.ndarray, test_elements: np.ndarray, *, invert: bool) -> np.ndarray:
    return _torch.cpu(isin.reference, elements, test_elements, invert=invert, name=isin.name)


@isin.kernel("cuda")
def _(elements, test_elements, *, invert):  # noqa: ANN001, ANN202
    import cupy

    return cupy.isin(elements, test_elements, invert=invert)


@isin.infer
def _(elements: TensorSpec, test_elements: TensorSpec, *, invert: bool) -> TensorSpec:
    return TensorSpec(elements.shape, "bool")


@isin.onnx_function
def _(elements, test_elements, invert: int = 0):  # noqa: ANN001, ANN202
    flat = op.Unsqueeze(op.Reshape(elements, op.Constant(value_ints=[-1])), op.Constant(value_ints=[-1]))
    hits = op.Cast(op.Equal(flat, op.Reshape(test_elements, op.Constant(value_ints=[-1]))), to=7)
    found = op.Greater(op.ReduceSum(hits, op.Constant(value_ints=[-1]), keepdims=0), op.Constant(value_int=0))
    flip = op.Cast(op.Constant(value_int=invert), to=9)
    return op.Reshape(op.Xor(found, flip), op.Shape(elements))


@isin.samples
def _(rng: np.random.Generator):  # noqa: ANN202
    yield Sample(rng.integers(0, 10, (4, 6)), rng.integers(0, 10, 5)).named("int64")
    yield Sample(rng.integers(0, 10, (4, 6)), rng.integers(0, 10, (2, 3)), invert=True).named("invert_2d_test")
    f32 = np.float32
    yield Sample(np.array([1, 2, np.nan, np.inf, -0.0, 3], f32), np.array([np.nan, 0.0, np.inf, 2], f32)
                 ).named("nan_inf_zero")
    yield Sample(rng.integers(0, 4, (3, 5)).astype(np.float64), rng.integers(0, 4, 3).astype(np.float64)
                 ).named("float64")
    yield Sample(np.array(3, np.int64), np.array([1, 3], np.int64)).named("0d")
    yield Sample(rng.integers(0, 3, (2, 3)), np.zeros(0, np.int64)).named("empty_test")
    yield Sample(np.zeros((0, 4), np.int64), rng.integers(0, 3, 4)).named("empty_elements")
    yield Sample(rng.integers(0, 4, 8).astype(np.float16), np.array([1, 2], np.float16)).named("float16")


@_aten.lowers(torch.ops.aten.isin.Tensor_Tensor, isin)
def _(a: dict) -> object:
    """isin.Tensor_Tensor(Tensor elements, Tensor test_elements, *, bool assume_unique=False, bool invert=False) -> Tensor"""
    return _aten.emit(isin, a["elements"], a["test_elements"], invert=bool(a["invert"]))


@_aten.lowers(torch.ops.aten.isin.Tensor_Scalar, isin)
def _(a: dict) -> object:
    """isin.Tensor_Scalar(Tensor elements, Scalar test_element, *, bool assume_unique=False, bool invert=False) -> Tensor"""
    std = _aten.std_opset()
    test = std.CastLike(std.Constant(value_float=float(a["test_element"])), a["elements"])
    return _aten.emit(isin, a["elements"], test, invert=bool(a["invert"]))
