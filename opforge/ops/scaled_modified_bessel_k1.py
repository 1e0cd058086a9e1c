"""opforge.contrib::ScaledModifiedBesselK1: torch.special.scaled_modified_bessel_k1."""

from __future__ import annotations

import numpy as np
import torch
from onnxscript import opset18 as op

from ..api import op as declare
from ..types import TensorSpec
from . import _aten, _special, _torch
from ._bessel_lib import bessel_k_f64

_FLOATS = ["float32", "float64", "float16"]


@declare("opforge.contrib::ScaledModifiedBesselK1", version=1, dtypes={"x": _FLOATS, "output": _FLOATS},
         serves=["torch.special.scaled_modified_bessel_k1"])
def scaled_modified_bessel_k1(x: torch.Tensor) -> torch.Tensor:
    """The exp(x) K1(x) (NaN below 0, +inf at 0), elementwise."""
    if x.dtype in (torch.float16, torch.bfloat16):  # torch has no half kernel on the CPU
        return torch.special.scaled_modified_bessel_k1(x.float()).to(x.dtype)
    return torch.special.scaled_modified_bessel_k1(x)


@scaled_modified_bessel_k1.kernel("cpu")
def _(x: np.ndarray) -> np.ndarray:
    return _torch.cpu(scaled_modified_bessel_k1.reference, x, name=scaled_modified_bessel_k1.name)


@scaled_modified_bessel_k1.kernel("cuda")
def _(x):  # noqa: ANN001, ANN202
    return _torch.cuda(scaled_modified_bessel_k1.reference, x)


@scaled_modified_bessel_k1.infer
def _(x: TensorSpec) -> TensorSpec:
    return TensorSpec(x.shape, x.dtype)


@scaled_modified_bessel_k1.onnx_function
def _(x):  # noqa: ANN001, ANN202
    v = op.Cast(x, to=11)
    return op.CastLike(bessel_k_f64(v, order=1, scaled=1), x)


@scaled_modified_bessel_k1.samples
def _(rng: np.random.Generator):  # noqa: ANN202
    yield from _special.unary_samples(rng, 0.05, 100.0, [1.0, 0.0, 2.0, -1.0, 1e4, float("inf"), float("nan")])


@_aten.lowers(torch.ops.aten.special_scaled_modified_bessel_k1.default, scaled_modified_bessel_k1)
def _(a: dict) -> object:
    """special_scaled_modified_bessel_k1(Tensor x) -> Tensor"""
    return _aten.emit(scaled_modified_bessel_k1, a["x"])
