"""opforge.contrib::BesselJ0: torch.special.bessel_j0."""

from __future__ import annotations

import numpy as np
import torch
from onnxscript import opset18 as op

from ..api import op as declare
from ..types import TensorSpec
from . import _aten, _special, _torch
from ._bessel_lib import bessel_j0_f64

_FLOATS = ["float32", "float64", "float16"]


@declare("opforge.contrib::BesselJ0", version=1, dtypes={"x": _FLOATS, "output": _FLOATS},
         serves=["torch.special.bessel_j0"])
def bessel_j0(x: torch.Tensor) -> torch.Tensor:
    """The Bessel function of the first kind of order 0, elementwise."""
    if x.dtype in (torch.float16, torch.bfloat16):  # torch has no half kernel on the CPU
        return torch.special.bessel_j0(x.float()).to(x.dtype)
    return torch.special.bessel_j0(x)


@bessel_j0.kernel("cpu")
def _(x: np.ndarray) -> np.ndarray:
    return _torch.cpu(bessel_j0.reference, x, name=bessel_j0.name)


@bessel_j0.kernel("cuda")
def _(x):  # noqa: ANN001, ANN202
    return _torch.cuda(bessel_j0.reference, x)


@bessel_j0.infer
def _(x: TensorSpec) -> TensorSpec:
    return TensorSpec(x.shape, x.dtype)


@bessel_j0.onnx_function
def _(x):  # noqa: ANN001, ANN202
    v = op.Cast(x, to=11)
    return op.CastLike(bessel_j0_f64(v), x)


@bessel_j0.samples
def _(rng: np.random.Generator):  # noqa: ANN202
    yield from _special.unary_samples(rng, -30.0, 30.0, [0.0, 2.404825557695773, 5.0, -5.0, 100.0, -1e4, float("inf"), float("nan")])


@_aten.lowers(torch.ops.aten.special_bessel_j0.default, bessel_j0)
def _(a: dict) -> object:
    """special_bessel_j0(Tensor self) -> Tensor"""
    return _aten.emit(bessel_j0, a["self"])
