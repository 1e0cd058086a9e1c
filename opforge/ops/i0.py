"""opforge.contrib::I0: torch.i0 (modified Bessel function of the first kind, order 0)."""

from __future__ import annotations

import numpy as np
import torch

from ..api import op as declare
from ..types import TensorSpec
from . import _aten, _special


@declare("opforge.contrib::I0", version=1, serves=["torch.i0", "torch.special.i0", "Tensor.i0"])
def i0(x: torch.Tensor) -> torch.Tensor:
    """Modified Bessel function of the first kind of order 0, elementwise."""
    return torch.i0(x)


@i0.kernel("cpu")
def _(x: np.ndarray) -> np.ndarray:
    with np.errstate(all="ignore"):
        return np.i0(x.astype(np.float64)).astype(x.dtype)


@i0.kernel("cuda")
def _(x):  # noqa: ANN001, ANN202
    import cupy

    return cupy.i0(x.astype(cupy.float64)).astype(x.dtype)


@i0.infer
def _(x: TensorSpec) -> TensorSpec:
    return TensorSpec(x.shape, x.dtype)


@i0.samples
def _(rng: np.random.Generator):  # noqa: ANN202
    yield from _special.unary_samples(rng, -12.0, 12.0, [0.0, -1.0, 3.5, 40.0, -80.0, float("inf"), float("nan")])


@_aten.lowers(torch.ops.aten.i0.default, i0)
def _(a: dict) -> object:
    """i0(Tensor self) -> Tensor"""
    return _aten.emit(i0, a["self"])


@_aten.lowers(torch.ops.aten.special_i0e.default, i0)
def _(a: dict) -> object:
    """special_i0e(Tensor self) -> Tensor: i0(x) * exp(-|x|)"""
    std = _aten.std_opset()
    x = a["self"]
    return std.Mul(_aten.emit(i0, x), std.Exp(std.Neg(std.Abs(x))))
