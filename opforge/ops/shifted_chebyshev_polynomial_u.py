"""opforge.contrib::ShiftedChebyshevPolynomialU: torch.special.shifted_chebyshev_polynomial_u."""

from __future__ import annotations

import numpy as np
import torch
from onnxscript import opset18 as op

from ..api import op as declare
from ..types import TensorSpec
from . import _aten, _polynomials, _torch
from ._special_lib import orthogonal_polynomial

_ROW = _polynomials.row("chebyshev_u", shifted=True)


@declare("opforge.contrib::ShiftedChebyshevPolynomialU", version=1,
         dtypes={"x": _polynomials.FLOATS, "n": _polynomials.N_DTYPES, "output": _polynomials.FLOATS},
         serves=["torch.special.shifted_chebyshev_polynomial_u"])
def shifted_chebyshev_polynomial_u(x: torch.Tensor, n: torch.Tensor) -> torch.Tensor:
    """The shifted Chebyshev polynomial of the second kind U*_n(x) = U_n(2x - 1), elementwise over broadcast x and n (n truncated to an integer; 0 for n < 0)."""
    if x.dtype in (torch.float16, torch.bfloat16):  # torch has no half kernel on the CPU
        return torch.special.shifted_chebyshev_polynomial_u(x.float(), n).to(x.dtype)
    return torch.special.shifted_chebyshev_polynomial_u(x, n).to(x.dtype)


@shifted_chebyshev_polynomial_u.kernel("cpu")
def _(x: np.ndarray, n: np.ndarray) -> np.ndarray:
    return _torch.cpu(shifted_chebyshev_polynomial_u.reference, x, n, name=shifted_chebyshev_polynomial_u.name)


@shifted_chebyshev_polynomial_u.kernel("cuda")
def _(x, n):  # noqa: ANN001, ANN202
    return _torch.cuda(shifted_chebyshev_polynomial_u.reference, x, n)


@shifted_chebyshev_polynomial_u.infer
def _(x: TensorSpec, n: TensorSpec) -> TensorSpec:
    return _polynomials.infer(x, n)


@shifted_chebyshev_polynomial_u.onnx_function
def _(x, n):  # noqa: ANN001, ANN202
    return op.CastLike(orthogonal_polynomial(op.Cast(x, to=11), op.Cast(n, to=11), op.Constant(value=_ROW)), x)


@shifted_chebyshev_polynomial_u.samples
def _(rng: np.random.Generator):  # noqa: ANN202
    yield from _polynomials.samples(rng, -0.25, 1.25)


@_aten.lowers(torch.ops.aten.special_shifted_chebyshev_polynomial_u.default, shifted_chebyshev_polynomial_u)
def _(a: dict) -> object:
    """special_shifted_chebyshev_polynomial_u(Tensor x, Tensor n) -> Tensor"""
    return _polynomials.lower(shifted_chebyshev_polynomial_u, a)


@_aten.lowers(torch.ops.aten.special_shifted_chebyshev_polynomial_u.n_scalar, shifted_chebyshev_polynomial_u)
def _(a: dict) -> object:
    """special_shifted_chebyshev_polynomial_u.n_scalar(Tensor x, Scalar n) -> Tensor"""
    return _polynomials.lower(shifted_chebyshev_polynomial_u, a)
