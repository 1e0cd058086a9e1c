"""opforge.contrib::ModifiedBesselK0: torch.special.modified_bessel_k0."""

from __future__ import annotations

import numpy as np
import torch
from onnxscript import opset18 as op

from ..api import op as declare
from ..types import TensorSpec
from . import _aten, _special, _torch
from ._bessel_lib import bessel_k_f64

_FLOATS = ["float32", "float64", "float16"]


@declare("opforge.contrib::ModifiedBesselK0", version=1, dtypes={"x": _FLOATS, "output": _FLOATS},
         serves=["torch.special.modified_bessel_k0"])
def modified_bessel_k0(x: torch.Tensor) -> torch.Tensor:
    """The modified Bessel function of the second kind of order 0 (NaN below 0, +inf at 0), elementwise."""
    if x.dtype in (torch.float16, torch.bfloat16):  # torch has no half kernel on the CPU
        return torch.special.modified_bessel_k0(x.float()).to(x.dtype)
    return torch.special.modified_bessel_k0(x)


@modified_bessel_k0.kernel("cpu")
def _(x: np.ndarray) -> np.ndarray:
    return _torch.cpu(modified_bessel_k0.reference, x, name=modified_bessel_k0.name)


@modified_bessel_k0.kernel("cuda")
def _(x):  # noqa: ANN001, ANN202
    return _torch.cuda(modified_bessel_k0.reference, x)


@modified_bessel_k0.infer
def _(x: TensorSpec) -> TensorSpec:
    return TensorSpec(x.shape, x.dtype)


@modified_bessel_k0.onnx_function
def _(x):  # noqa: ANN001, ANN202
    v = op.Cast(x, to=11)
    return op.CastLike(bessel_k_f64(v, order=0, scaled=0), x)


@modified_bessel_k0.samples
def _(rng: np.random.Generator):  # noqa: ANN202
    yield from _special.unary_samples(rng, 0.01, 40.0, [1.0, 0.0, 2.0, -1.0, 700.0, float("inf"), float("nan")])


@_aten.lowers(torch.ops.aten.special_modified_bessel_k0.default, modified_bessel_k0)
def _(a: dict) -> object:
    """special_modified_bessel_k0(Tensor self) -> Tensor"""
    return _aten.emit(modified_bessel_k0, a["self"])
