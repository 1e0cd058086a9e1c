"""opforge.contrib::LegendrePolynomialP: torch.special.legendre_polynomial_p."""

from __future__ import annotations

import numpy as np
import torch
from onnxscript import opset18 as op

from ..api import op as declare
from ..types import TensorSpec
from . import _aten, _polynomials, _torch
from ._special_lib import orthogonal_polynomial

_ROW = _polynomials.row("legendre_p")


@declare("opforge.contrib::LegendrePolynomialP", version=1,
         dtypes={"x": _polynomials.FLOATS, "n": _polynomials.N_DTYPES, "output": _polynomials.FLOATS},
         serves=["torch.special.legendre_polynomial_p"])
def legendre_polynomial_p(x: torch.Tensor, n: torch.Tensor) -> torch.Tensor:
    """The Legendre polynomial P_n(x), elementwise over broadcast x and n (n truncated to an integer; 0 for n < 0)."""
    if x.dtype in (torch.float16, torch.bfloat16):  # torch has no half kernel on the CPU
        return torch.special.legendre_polynomial_p(x.float(), n).to(x.dtype)
    return torch.special.legendre_polynomial_p(x, n).to(x.dtype)


@legendre_polynomial_p.kernel("cpu")
def _(x: np.ndarray, n: np.ndarray) -> np.ndarray:
    return _torch.cpu(legendre_polynomial_p.reference, x, n, name=legendre_polynomial_p.name)


@legendre_polynomial_p.kernel("cuda")
def _(x, n):  # noqa: ANN001, ANN202
    return _torch.cuda(legendre_polynomial_p.reference, x, n)


@legendre_polynomial_p.infer
def _(x: TensorSpec, n: TensorSpec) -> TensorSpec:
    return _polynomials.infer(x, n)


@legendre_polynomial_p.onnx_function
def _(x, n):  # noqa: ANN001, ANN202
    return op.CastLike(orthogonal_polynomial(op.Cast(x, to=11), op.Cast(n, to=11), op.Constant(value=_ROW)), x)


@legendre_polynomial_p.samples
def _(rng: np.random.Generator):  # noqa: ANN202
    yield from _polynomials.samples(rng)


@_aten.lowers(torch.ops.aten.special_legendre_polynomial_p.default, legendre_polynomial_p)
def _(a: dict) -> object:
    """special_legendre_polynomial_p(Tensor x, Tensor n) -> Tensor"""
    return _polynomials.lower(legendre_polynomial_p, a)


@_aten.lowers(torch.ops.aten.special_legendre_polynomial_p.n_scalar, legendre_polynomial_p)
def _(a: dict) -> object:
    """special_legendre_polynomial_p.n_scalar(Tensor x, Scalar n) -> Tensor"""
    return _polynomials.lower(legendre_polynomial_p, a)
