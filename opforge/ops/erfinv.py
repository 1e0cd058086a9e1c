"""opforge.contrib::Erfinv: torch.erfinv."""

from __future__ import annotations

import numpy as np
import torch

from ..api import op as declare
from ..types import TensorSpec
from . import _aten, _special


@declare("opforge.contrib::Erfinv", version=1, serves=["torch.erfinv", "torch.special.erfinv", "Tensor.erfinv", "torch.special.ndtri"])
def erfinv(x: torch.Tensor) -> torch.Tensor:
    """Inverse error function; +-inf at +-1, NaN outside [-1, 1]."""
    return torch.erfinv(x)


@erfinv.kernel("cpu")
def _(x: np.ndarray) -> np.ndarray:
    return _special.erfinv(np, x)


@erfinv.kernel("cuda")
def _(x):  # noqa: ANN001, ANN202
    import cupy

    return _special.erfinv(cupy, x)


@erfinv.infer
def _(x: TensorSpec) -> TensorSpec:
    return TensorSpec(x.shape, x.dtype)


@erfinv.samples
def _(rng: np.random.Generator):  # noqa: ANN202
    yield from _special.unary_samples(rng, -0.999, 0.999, [0.0, 1.0, -1.0, 0.5, -0.9999, 0.99, 1.5, float('nan')])


@_aten.lowers(torch.ops.aten.erfinv.default, erfinv)
def _(a: dict) -> object:
    """erfinv(Tensor self) -> Tensor"""
    return _aten.emit(erfinv, a["self"])


@_aten.lowers(torch.ops.aten.special_ndtri.default, erfinv)
def _(a: dict) -> object:
    """special_ndtri(Tensor self) -> Tensor: the inverse normal CDF, sqrt(2) * erfinv(2p - 1)"""
    std = _aten.std_opset()
    p = a["self"]
    two = std.CastLike(std.Constant(value_float=2.0), p)
    one = std.CastLike(std.Constant(value_float=1.0), p)
    root2 = std.CastLike(std.Constant(value_float=2.0 ** 0.5), p)
    return std.Mul(root2, _aten.emit(erfinv, std.Sub(std.Mul(two, p), one)))
