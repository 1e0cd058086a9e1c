"""opforge.contrib::LaguerrePolynomialL: torch.special.laguerre_polynomial_l."""

from __future__ import annotations

import numpy as np
import torch
from onnxscript import opset18 as op

from ..api import op as declare
from ..types import TensorSpec
from . import _aten, _polynomials, _torch
from ._special_lib import orthogonal_polynomial

_ROW = _polynomials.row("laguerre_l")


@declare("opforge.contrib::LaguerrePolynomialL", version=1,
         dtypes={"x": _polynomials.FLOATS, "n": _polynomials.N_DTYPES, "output": _polynomials.FLOATS},
         serves=["torch.special.laguerre_polynomial_l"])
def laguerre_polynomial_l(x: torch.Tensor, n: torch.Tensor) -> torch.Tensor:
    """The Laguerre polynomial L_n(x), elementwise over broadcast x and n (n truncated to an integer; 0 for n < 0)."""
    if x.dtype in (torch.float16, torch.bfloat16):  # torch has no half kernel on the CPU
        return torch.special.laguerre_polynomial_l(x.float(), n).to(x.dtype)
    return torch.special.laguerre_polynomial_l(x, n).to(x.dtype)


@laguerre_polynomial_l.kernel("cpu")
def _(x: np.ndarray, n: np.ndarray) -> np.ndarray:
    return _torch.cpu(laguerre_polynomial_l.reference, x, n, name=laguerre_polynomial_l.name)


@laguerre_polynomial_l.kernel("cuda")
def _(x, n):  # noqa: ANN001, ANN202
    return _torch.cuda(laguerre_polynomial_l.reference, x, n)


@laguerre_polynomial_l.infer
def _(x: TensorSpec, n: TensorSpec) -> TensorSpec:
    return _polynomials.infer(x, n)


@laguerre_polynomial_l.onnx_function
def _(x, n):  # noqa: ANN001, ANN202
    return op.CastLike(orthogonal_polynomial(op.Cast(x, to=11), op.Cast(n, to=11), op.Constant(value=_ROW)), x)


@laguerre_polynomial_l.samples
def _(rng: np.random.Generator):  # noqa: ANN202
    yield from _polynomials.samples(rng, -3.0, 6.0)


@_aten.lowers(torch.ops.aten.special_laguerre_polynomial_l.default, laguerre_polynomial_l)
def _(a: dict) -> object:
    """special_laguerre_polynomial_l(Tensor x, Tensor n) -> Tensor"""
    return _polynomials.lower(laguerre_polynomial_l, a)


@_aten.lowers(torch.ops.aten.special_laguerre_polynomial_l.n_scalar, laguerre_polynomial_l)
def _(a: dict) -> object:
    """special_laguerre_polynomial_l.n_scalar(Tensor x, Scalar n) -> Tensor"""
    return _polynomials.lower(laguerre_polynomial_l, a)
