"""opforge.contrib::I1: torch.special.i1."""

from __future__ import annotations

import numpy as np
import torch
from onnxscript import opset18 as op

from ..api import op as declare
from ..types import TensorSpec
from . import _aten, _special, _torch
from ._bessel_lib import bessel_i1e_f64

_FLOATS = ["float32", "float64", "float16"]


@declare("opforge.contrib::I1", version=1, dtypes={"x": _FLOATS, "output": _FLOATS},
         serves=["torch.special.i1", "torch.special.modified_bessel_i1"])
def i1(x: torch.Tensor) -> torch.Tensor:
    """The modified Bessel function of the first kind of order 1, elementwise."""
    if x.dtype in (torch.float16, torch.bfloat16):  # torch has no half kernel on the CPU
        return torch.special.i1(x.float()).to(x.dtype)
    return torch.special.i1(x)


@i1.kernel("cpu")
def _(x: np.ndarray, *, out: np.ndarray | None = None) -> np.ndarray:
    return _torch.cpu(torch.special.i1, x, upcast=True, out=out, name=i1.name)


@i1.kernel("cuda")
def _(x):  # noqa: ANN001, ANN202
    return _torch.cuda(i1.reference, x)


@i1.infer
def _(x: TensorSpec) -> TensorSpec:
    return TensorSpec(x.shape, x.dtype)


@i1.onnx_function
def _(x):  # noqa: ANN001, ANN202
    v = op.Cast(x, to=11)
    return op.CastLike(bessel_i1e_f64(v) * op.Exp(op.Abs(v)), x)  # NaN at +-inf, as torch


@i1.samples
def _(rng: np.random.Generator):  # noqa: ANN202
    yield from _special.unary_samples(rng, -30.0, 30.0, [0.0, 8.0, -8.0, 80.0, float("inf"), float("-inf"), float("nan")])


@_aten.lowers(torch.ops.aten.special_i1.default, i1)
def _(a: dict) -> object:
    """special_i1(Tensor self) -> Tensor"""
    return _aten.emit(i1, a["self"])


@_aten.lowers(torch.ops.aten.special_modified_bessel_i1.default, i1)
def _(a: dict) -> object:
    """special_modified_bessel_i1(Tensor self) -> Tensor"""
    return _aten.emit(i1, a["self"])
