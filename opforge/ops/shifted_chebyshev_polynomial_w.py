"""opforge.contrib::ShiftedChebyshevPolynomialW: torch.special.shifted_chebyshev_polynomial_w."""

from __future__ import annotations

import numpy as np
import torch
from onnxscript import opset18 as op

from ..api import op as declare
from ..types import TensorSpec
from . import _aten, _polynomials, _torch
from ._special_lib import orthogonal_polynomial

_ROW = _polynomials.row("chebyshev_w", shifted=True)


@declare("opforge.contrib::ShiftedChebyshevPolynomialW", version=1,
         dtypes={"x": _polynomials.FLOATS, "n": _polynomials.N_DTYPES, "output": _polynomials.FLOATS},
         serves=["torch.special.shifted_chebyshev_polynomial_w"])
def shifted_chebyshev_polynomial_w(x: torch.Tensor, n: torch.Tensor) -> torch.Tensor:
    """The shifted Chebyshev polynomial of the fourth kind W*_n(x) = W_n(2x - 1), elementwise over broadcast x and n (n truncated to an integer; 0 for n < 0)."""
    if x.dtype in (torch.float16, torch.bfloat16):  # torch has no half kernel on the CPU
        return torch.special.shifted_chebyshev_polynomial_w(x.float(), n).to(x.dtype)
    return torch.special.shifted_chebyshev_polynomial_w(x, n).to(x.dtype)


@shifted_chebyshev_polynomial_w.kernel("cpu")
def _(x: np.ndarray, n: np.ndarray) -> np.ndarray:
    return _torch.cpu(shifted_chebyshev_polynomial_w.reference, x, n, name=shifted_chebyshev_polynomial_w.name)


@shifted_chebyshev_polynomial_w.kernel("cuda")
def _(x, n):  # noqa: ANN001, ANN202
    return _torch.cuda(shifted_chebyshev_polynomial_w.reference, x, n)


@shifted_chebyshev_polynomial_w.infer
def _(x: TensorSpec, n: TensorSpec) -> TensorSpec:
    return _polynomials.infer(x, n)


@shifted_chebyshev_polynomial_w.onnx_function
def _(x, n):  # noqa: ANN001, ANN202
    return op.CastLike(orthogonal_polynomial(op.Cast(x, to=11), op.Cast(n, to=11), op.Constant(value=_ROW)), x)


@shifted_chebyshev_polynomial_w.samples
def _(rng: np.random.Generator):  # noqa: ANN202
    yield from _polynomials.samples(rng, -0.25, 1.25)


@_aten.lowers(torch.ops.aten.special_shifted_chebyshev_polynomial_w.default, shifted_chebyshev_polynomial_w)
def _(a: dict) -> object:
    """special_shifted_chebyshev_polynomial_w(Tensor x, Tensor n) -> Tensor"""
    return _polynomials.lower(shifted_chebyshev_polynomial_w, a)


@_aten.lowers(torch.ops.aten.special_shifted_chebyshev_polynomial_w.n_scalar, shifted_chebyshev_polynomial_w)
def _(a: dict) -> object:
    """special_shifted_chebyshev_polynomial_w.n_scalar(Tensor x, Scalar n) -> Tensor"""
    return _polynomials.lower(shifted_chebyshev_polynomial_w, a)
