"""opforge.contrib::LGamma: torch.lgamma."""

from __future__ import annotations

import numpy as np
import torch

from ..api import op as declare
from ..types import TensorSpec
from . import _aten, _special


@declare("opforge.contrib::LGamma", version=1, serves=["torch.lgamma", "torch.special.gammaln", "Tensor.lgamma"])
def lgamma(x: torch.Tensor) -> torch.Tensor:
    """Natural log of the absolute value of the gamma function of ``x``; +inf at the poles (0, -1, -2, ...)."""
    return torch.lgamma(x)


@lgamma.kernel("cpu")
def _(x: np.ndarray) -> np.ndarray:
    return _special.lgamma(np, x)


@lgamma.kernel("cuda")
def _(x):  # noqa: ANN001, ANN202
    import cupy

    return _special.lgamma(cupy, x)


@lgamma.infer
def _(x: TensorSpec) -> TensorSpec:
    return TensorSpec(x.shape, x.dtype)


@lgamma.samples
def _(rng: np.random.Generator):  # noqa: ANN202
    yield from _special.unary_samples(rng, -6.0, 12.0, [0.0, -1.0, -2.5, 1.0, 2.0, 0.5, 1e-3, 30.0, float('inf'), -float('inf'), float('nan')])


@_aten.lowers(torch.ops.aten.lgamma.default, lgamma)
def _(a: dict) -> object:
    """lgamma(Tensor self) -> Tensor"""
    return _aten.emit(lgamma, a["self"])
