"""opforge.contrib::ShiftedChebyshevPolynomialT: torch.special.shifted_chebyshev_polynomial_t."""

from __future__ import annotations

import numpy as np
import torch
from onnxscript import opset18 as op

from ..api import op as declare
from ..types import TensorSpec
from . import _aten, _polynomials, _torch
from ._special_lib import orthogonal_polynomial

_ROW = _polynomials.row("chebyshev_t", shifted=True)


@declare("opforge.contrib::ShiftedChebyshevPolynomialT", version=1,
         dtypes={"x": _polynomials.FLOATS, "n": _polynomials.N_DTYPES, "output": _polynomials.FLOATS},
         serves=["torch.special.shifted_chebyshev_polynomial_t"])
def shifted_chebyshev_polynomial_t(x: torch.Tensor, n: torch.Tensor) -> torch.Tensor:
    """The shifted Chebyshev polynomial of the first kind T*_n(x) = T_n(2x - 1), elementwise over broadcast x and n (n truncated to an integer; 0 for n < 0)."""
    if x.dtype in (torch.float16, torch.bfloat16):  # torch has no half kernel on the CPU
        return torch.special.shifted_chebyshev_polynomial_t(x.float(), n).to(x.dtype)
    return torch.special.shifted_chebyshev_polynomial_t(x, n).to(x.dtype)


@shifted_chebyshev_polynomial_t.kernel("cpu")
def _(x: np.ndarray, n: np.ndarray) -> np.ndarray:
    return _torch.cpu(shifted_chebyshev_polynomial_t.reference, x, n, name=shifted_chebyshev_polynomial_t.name)


@shifted_chebyshev_polynomial_t.kernel("cuda")
def _(x, n):  # noqa: ANN001, ANN202
    return _torch.cuda(shifted_chebyshev_polynomial_t.reference, x, n)


@shifted_chebyshev_polynomial_t.infer
def _(x: TensorSpec, n: TensorSpec) -> TensorSpec:
    return _polynomials.infer(x, n)


@shifted_chebyshev_polynomial_t.onnx_function
def _(x, n):  # noqa: ANN001, ANN202
    return op.CastLike(orthogonal_polynomial(op.Cast(x, to=11), op.Cast(n, to=11), op.Constant(value=_ROW)), x)


@shifted_chebyshev_polynomial_t.samples
def _(rng: np.random.Generator):  # noqa: ANN202
    yield from _polynomials.samples(rng, -0.25, 1.25)


@_aten.lowers(torch.ops.aten.special_shifted_chebyshev_polynomial_t.default, shifted_chebyshev_polynomial_t)
def _(a: dict) -> object:
    """special_shifted_chebyshev_polynomial_t(Tensor x, Tensor n) -> Tensor"""
    return _polynomials.lower(shifted_chebyshev_polynomial_t, a)


@_aten.lowers(torch.ops.aten.special_shifted_chebyshev_polynomial_t.n_scalar, shifted_chebyshev_polynomial_t)
def _(a: dict) -> object:
    """special_shifted_chebyshev_polynomial_t.n_scalar(Tensor x, Scalar n) -> Tensor"""
    return _polynomials.lower(shifted_chebyshev_polynomial_t, a)
