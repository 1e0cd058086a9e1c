"""opforge.contrib::HermitePolynomialHe: torch.special.hermite_polynomial_he."""

from __future__ import annotations

import numpy as np
import torch
from onnxscript import opset18 as op

from ..api import op as declare
from ..types import TensorSpec
from . import _aten, _polynomials, _torch
from ._special_lib import orthogonal_polynomial

_ROW = _polynomials.row("hermite_he")


@declare("opforge.contrib::HermitePolynomialHe", version=1,
         dtypes={"x": _polynomials.FLOATS, "n": _polynomials.N_DTYPES, "output": _polynomials.FLOATS},
         serves=["torch.special.hermite_polynomial_he"])
def hermite_polynomial_he(x: torch.Tensor, n: torch.Tensor) -> torch.Tensor:
    """The probabilists' Hermite polynomial He_n(x), elementwise over broadcast x and n (n truncated to an integer; 0 for n < 0)."""
    if x.dtype in (torch.float16, torch.bfloat16):  # torch has no half kernel on the CPU
        return torch.special.hermite_polynomial_he(x.float(), n).to(x.dtype)
    return torch.special.hermite_polynomial_he(x, n).to(x.dtype)


@hermite_polynomial_he.kernel("cpu")
def _(x: np.ndarray, n: np.ndarray) -> np.ndarray:
    return _torch.cpu(hermite_polynomial_he.reference, x, n, name=hermite_polynomial_he.name)


@hermite_polynomial_he.kernel("cuda")
def _(x, n):  # noqa: ANN001, ANN202
    return _torch.cuda(hermite_polynomial_he.reference, x, n)


@hermite_polynomial_he.infer
def _(x: TensorSpec, n: TensorSpec) -> TensorSpec:
    return _polynomials.infer(x, n)


@hermite_polynomial_he.onnx_function
def _(x, n):  # noqa: ANN001, ANN202
    return op.CastLike(orthogonal_polynomial(op.Cast(x, to=11), op.Cast(n, to=11), op.Constant(value=_ROW)), x)


@hermite_polynomial_he.samples
def _(rng: np.random.Generator):  # noqa: ANN202
    yield from _polynomials.samples(rng, -2.0, 2.0)


@_aten.lowers(torch.ops.aten.special_hermite_polynomial_he.default, hermite_polynomial_he)
def _(a: dict) -> object:
    """special_hermite_polynomial_he(Tensor x, Tensor n) -> Tensor"""
    return _polynomials.lower(hermite_polynomial_he, a)


@_aten.lowers(torch.ops.aten.special_hermite_polynomial_he.n_scalar, hermite_polynomial_he)
def _(a: dict) -> object:
    """special_hermite_polynomial_he.n_scalar(Tensor x, Scalar n) -> Tensor"""
    return _polynomials.lower(hermite_polynomial_he, a)
