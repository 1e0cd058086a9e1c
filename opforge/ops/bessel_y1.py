"""opforge.contrib::BesselY1: torch.special.bessel_y1."""

from __future__ import annotations

import numpy as np
import torch
from onnxscript import opset18 as op

from ..api import op as declare
from ..types import TensorSpec
from . import _aten, _special, _torch
from ._bessel_lib import bessel_y1_f64

_FLOATS = ["float32", "float64", "float16"]


@declare("opforge.contrib::BesselY1", version=1, dtypes={"x": _FLOATS, "output": _FLOATS},
         serves=["torch.special.bessel_y1"])
def bessel_y1(x: torch.Tensor) -> torch.Tensor:
    """The Bessel function of the second kind of order 1 (NaN below 0, -inf at 0), elementwise."""
    if x.dtype in (torch.float16, torch.bfloat16):  # torch has no half kernel on the CPU
        return torch.special.bessel_y1(x.float()).to(x.dtype)
    return torch.special.bessel_y1(x)


@bessel_y1.kernel("cpu")
def _(x: np.ndarray) -> np.ndarray:
    return _torch.cpu(bessel_y1.reference, x, name=bessel_y1.name)


@bessel_y1.kernel("cuda")
def _(x):  # noqa: ANN001, ANN202
    return _torch.cuda(bessel_y1.reference, x)


@bessel_y1.infer
def _(x: TensorSpec) -> TensorSpec:
    return TensorSpec(x.shape, x.dtype)


@bessel_y1.onnx_function
def _(x):  # noqa: ANN001, ANN202
    v = op.Cast(x, to=11)
    return op.CastLike(bessel_y1_f64(v), x)


@bessel_y1.samples
def _(rng: np.random.Generator):  # noqa: ANN202
    yield from _special.unary_samples(rng, 0.05, 30.0, [0.5, 0.0, 5.0, -1.0, 100.0, 1e4, float("inf"), float("nan")])


@_aten.lowers(torch.ops.aten.special_bessel_y1.default, bessel_y1)
def _(a: dict) -> object:
    """special_bessel_y1(Tensor self) -> Tensor"""
    return _aten.emit(bessel_y1, a["self"])
