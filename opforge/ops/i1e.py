"""opforge.contrib::I1e: torch.special.i1e."""

from __future__ import annotations

import numpy as np
import torch
from onnxscript import opset18 as op

from ..api import op as declare
from ..types import TensorSpec
from . import _aten, _special, _torch
from ._bessel_lib import bessel_i1e_f64

_FLOATS = ["float32", "float64", "float16"]


@declare("opforge.contrib::I1e", version=1, dtypes={"x": _FLOATS, "output": _FLOATS},
         serves=["torch.special.i1e"])
def i1e(x: torch.Tensor) -> torch.Tensor:
    """The exp(-|x|) I1(x), the exponentially scaled modified Bessel function of the first kind of order 1, elementwise."""
    if x.dtype in (torch.float16, torch.bfloat16):  # torch has no half kernel on the CPU
        return torch.special.i1e(x.float()).to(x.dtype)
    return torch.special.i1e(x)


@i1e.kernel("cpu")
def _(x: np.ndarray, *, out: np.ndarray | None = None) -> np.ndarray:
    return _torch.cpu(torch.special.i1e, x, upcast=True, out=out, name=i1e.name)


@i1e.kernel("cuda")
def _(x):  # noqa: ANN001, ANN202
    return _torch.cuda(i1e.reference, x)


@i1e.infer
def _(x: TensorSpec) -> TensorSpec:
    return TensorSpec(x.shape, x.dtype)


@i1e.onnx_function
def _(x):  # noqa: ANN001, ANN202
    v = op.Cast(x, to=11)
    return op.CastLike(bessel_i1e_f64(v), x)


@i1e.samples
def _(rng: np.random.Generator):  # noqa: ANN202
    yield from _special.unary_samples(rng, -30.0, 30.0, [0.0, 8.0, -8.0, 1e4, float("inf"), float("-inf"), float("nan")])


@_aten.lowers(torch.ops.aten.special_i1e.default, i1e)
def _(a: dict) -> object:
    """special_i1e(Tensor self) -> Tensor"""
    return _aten.emit(i1e, a["self"])
