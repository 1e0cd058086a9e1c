"""opforge.contrib::Digamma: torch.digamma."""

from __future__ import annotations

import numpy as np
import torch
from onnxscript import opset18 as op

from ..api import op as declare
from ..types import TensorSpec
from . import _aten, _special, _torch
from ._special_lib import digamma_f64


@declare("opforge.contrib::Digamma", version=1, serves=["torch.digamma", "torch.special.digamma", "torch.special.psi", "Tensor.digamma"])
def digamma(x: torch.Tensor) -> torch.Tensor:
    """Logarithmic derivative of the gamma function; -inf at 0, NaN at negative integers."""
    return torch.digamma(x)


@digamma.kernel("cpu")
def _(x: np.ndarray) -> np.ndarray:
    return _torch.cpu(digamma.reference, x, name=digamma.name)


@digamma.kernel("cuda")
def _(x):  # noqa: ANN001, ANN202
    import cupy

    return _special.digamma(cupy, x)


@digamma.infer
def _(x: TensorSpec) -> TensorSpec:
    return TensorSpec(x.shape, x.dtype)


@digamma.onnx_function
def _(x):  # noqa: ANN001, ANN202
    return op.CastLike(digamma_f64(op.Cast(x, to=11)), x)


@digamma.samples
def _(rng: np.random.Generator):  # noqa: ANN202
    yield from _special.unary_samples(rng, -6.0, 12.0, [0.0, -1.0, -2.5, 1.0, 0.5, 1e-3, 40.0, -0.3, float('inf'), float('nan')])


@_aten.lowers(torch.ops.aten.digamma.default, digamma)
def _(a: dict) -> object:
    """digamma(Tensor self) -> Tensor"""
    return _aten.emit(digamma, a["self"])
