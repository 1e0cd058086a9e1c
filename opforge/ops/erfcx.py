"""opforge.contrib::Erfcx: torch.special.erfcx (the scaled complementary error function)."""

from __future__ import annotations

import numpy as np
import torch
from onnxscript import opset18 as op

from ..api import op as declare
from ..types import TensorSpec
from . import _aten, _special, _torch
from ._special_lib import erfcx_nonneg

_FLOATS = ["float32", "float64", "float16"]


@declare("opforge.contrib::Erfcx", version=1, dtypes={"x": _FLOATS, "output": _FLOATS},
         serves=["torch.special.erfcx"])
def erfcx(x: torch.Tensor) -> torch.Tensor:
    """exp(x^2) erfc(x), elementwise; finite for large x, where stock torch.onnx's exp * (1 - erf) gives 0."""
    if x.dtype in (torch.float16, torch.bfloat16):  # torch has no half kernel on the CPU
        return torch.special.erfcx(x.float()).to(x.dtype)
    return torch.special.erfcx(x)


@erfcx.kernel("cpu")
def _(x: np.ndarray) -> np.ndarray:
    return _torch.cpu(torch.special.erfcx, x, upcast=True)


@erfcx.kernel("cuda")
def _(x):  # noqa: ANN001, ANN202
    return _torch.cuda(torch.special.erfcx, x, upcast=True)


@erfcx.infer
def _(x: TensorSpec) -> TensorSpec:
    return TensorSpec(x.shape, x.dtype)


@erfcx.onnx_function
def _(x):  # noqa: ANN001, ANN202
    v = op.Cast(x, to=11)
    r = erfcx_nonneg(op.Abs(v))
    out = op.Where(v < 0.0, 2.0 * op.Exp(v * v) - r, r)  # erfcx(-a) = 2 exp(a^2) - erfcx(a)
    return op.CastLike(out, x)


@erfcx.samples
def _(rng: np.random.Generator):  # noqa: ANN202
    yield from _special.unary_samples(rng, -3.0, 30.0, [0.0, -1.0, 4.5, 8.0, 26.0, 1e5, -9.0, float("inf"),
                                                        float("-inf"), float("nan")])


@_aten.lowers(torch.ops.aten.special_erfcx.default, erfcx)
def _(a: dict) -> object:
    """special_erfcx(Tensor self) -> Tensor (stock torch.onnx returns 0 above about 4.4)"""
    return _aten.emit(erfcx, a["self"])
