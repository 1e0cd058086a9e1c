"""opforge.contrib::SphericalBesselJ0: torch.special.spherical_bessel_j0 (sin(x) / x)."""

from __future__ import annotations

import numpy as np
import torch
from onnxscript import opset18 as op

from ..api import op as declare
from ..types import TensorSpec
from . import _aten, _special, _torch

_FLOATS = ["float32", "float64", "float16"]


@declare("opforge.contrib::SphericalBesselJ0", version=1, dtypes={"x": _FLOATS, "output": _FLOATS},
         serves=["torch.special.spherical_bessel_j0"])
def spherical_bessel_j0(x: torch.Tensor) -> torch.Tensor:
    """The spherical Bessel function of the first kind of order 0, sin(x) / x (1 at 0, 0 at +-inf)."""
    if x.dtype in (torch.float16, torch.bfloat16):  # torch has no half kernel on the CPU
        return torch.special.spherical_bessel_j0(x.float()).to(x.dtype)
    return torch.special.spherical_bessel_j0(x)


@spherical_bessel_j0.kernel("cpu")
def _(x: np.ndarray, *, out: np.ndarray | None = None) -> np.ndarray:
    return _torch.cpu(torch.special.spherical_bessel_j0, x, upcast=True, out=out, name=spherical_bessel_j0.name)


@spherical_bessel_j0.kernel("cuda")
def _(x):  # noqa: ANN001, ANN202
    return _torch.cuda(spherical_bessel_j0.reference, x)


@spherical_bessel_j0.infer
def _(x: TensorSpec) -> TensorSpec:
    return TensorSpec(x.shape, x.dtype)


@spherical_bessel_j0.onnx_function
def _(x):  # noqa: ANN001, ANN202
    v = op.Cast(x, to=11)  # sin(v) / v keeps full relative precision in float64 down to tiny v
    zero = op.CastLike(0.0, v)
    out = op.Sin(v) / op.Where(v == zero, op.CastLike(1.0, v), v)
    out = op.Where(v == zero, op.CastLike(1.0, v), out)
    return op.CastLike(op.Where(op.IsInf(v), zero, out), x)


@spherical_bessel_j0.samples
def _(rng: np.random.Generator):  # noqa: ANN202
    yield from _special.unary_samples(rng, -30.0, 30.0, [0.0, 1e-3, -0.4, 0.6, 3.141592653589793, 1e4,
                                                         float("inf"), float("-inf"), float("nan")])


@_aten.lowers(torch.ops.aten.special_spherical_bessel_j0.default, spherical_bessel_j0)
def _(a: dict) -> object:
    """special_spherical_bessel_j0(Tensor x) -> Tensor"""
    return _aten.emit(spherical_bessel_j0, a["x"])
