"""opforge.contrib::LogNdtr: torch.special.log_ndtr (log of the standard normal CDF)."""

from __future__ import annotations

import numpy as np
import torch
from onnxscript import opset18 as op

from ..api import op as declare
from ..types import TensorSpec
from . import _aten, _special, _torch
from ._special_lib import erfcx_nonneg

_FLOATS = ["float32", "float64", "float16"]


@declare("opforge.contrib::LogNdtr", version=1, dtypes={"x": _FLOATS, "output": _FLOATS},
         serves=["torch.special.log_ndtr"])
def log_ndtr(x: torch.Tensor) -> torch.Tensor:
    """log(Phi(x)), elementwise; accurate far into the lower tail, where stock torch.onnx gives -inf."""
    if x.dtype in (torch.float16, torch.bfloat16):  # torch has no half kernel on the CPU
        return torch.special.log_ndtr(x.float()).to(x.dtype)
    return torch.special.log_ndtr(x)


@log_ndtr.kernel("cpu")
def _(x: np.ndarray, *, out: np.ndarray | None = None) -> np.ndarray:
    return _torch.cpu(torch.special.log_ndtr, x, upcast=True, out=out, name=log_ndtr.name)


@log_ndtr.kernel("cuda")
def _(x):  # noqa: ANN001, ANN202
    return _torch.cuda(torch.special.log_ndtr, x, upcast=True)


@log_ndtr.infer
def _(x: TensorSpec) -> TensorSpec:
    return TensorSpec(x.shape, x.dtype)


@log_ndtr.onnx_function
def _(x):  # noqa: ANN001, ANN202
    # Phi(x) = erfc(-t) / 2 with t = x / sqrt(2), and erfc(s) = exp(-s^2) erfcx(s): below 0 the log splits
    # into log(erfcx(-t) / 2) - t^2 (no underflow); above, log(1 - erfc(t) / 2)
    # (a float literal is a float32 constant: sqrt(2) is computed in float64 instead)
    v = op.Cast(x, to=11)
    t = v / op.Sqrt(op.CastLike(2.0, v))
    r = erfcx_nonneg(op.Abs(t))
    lower = op.Log(0.5 * r) - t * t
    tail = 0.5 * op.Exp(op.Neg(t * t)) * r  # 1 - Phi(x)
    upper = op.Where(tail < 1e-4, op.Neg(tail) - 0.5 * tail * tail, op.Log(1.0 - tail))  # log1p(-tail)
    return op.CastLike(op.Where(v < 0.0, lower, upper), x)


@log_ndtr.samples
def _(rng: np.random.Generator):  # noqa: ANN202
    yield from _special.unary_samples(rng, -40.0, 8.0, [0.0, -1.0, -7.5, -20.0, -1e3, 5.0, 12.0, float("inf"),
                                                        float("-inf"), float("nan")])


@_aten.lowers(torch.ops.aten.special_log_ndtr.default, log_ndtr)
def _(a: dict) -> object:
    """special_log_ndtr(Tensor self) -> Tensor (stock torch.onnx gives -inf below about -7)"""
    return _aten.emit(log_ndtr, a["self"])
