"""opforge.contrib::ChebyshevPolynomialT: torch.special.chebyshev_polynomial_t."""

from __future__ import annotations

import numpy as np
import torch
from onnxscript import opset18 as op

from ..api import op as declare
from ..types import TensorSpec
from . import _aten, _polynomials, _torch
from ._special_lib import orthogonal_polynomial

_ROW = _polynomials.row("chebyshev_t")


@declare("opforge.contrib::ChebyshevPolynomialT", version=1,
         dtypes={"x": _polynomials.FLOATS, "n": _polynomials.N_DTYPES, "output": _polynomials.FLOATS},
         serves=["torch.special.chebyshev_polynomial_t"])
def chebyshev_polynomial_t(x: torch.Tensor, n: torch.Tensor) -> torch.Tensor:
    """The Chebyshev polynomial of the first kind T_n(x), elementwise over broadcast x and n (n truncated to an integer; 0 for n < 0)."""
    if x.dtype in (torch.float16, torch.bfloat16):  # torch has no half kernel on the CPU
        return torch.special.chebyshev_polynomial_t(x.float(), n).to(x.dtype)
    return torch.special.chebyshev_polynomial_t(x, n).to(x.dtype)


@chebyshev_polynomial_t.kernel("cpu")
def _(x: np.ndarray, n: np.ndarray, *, out: np.ndarray | None = None) -> np.ndarray:
    if out is None:
        return _torch.cpu(chebyshev_polynomial_t.reference, x, n, name=chebyshev_polynomial_t.name)
    # torch casts its result into out's dtype (x's), as the reference's .to(x.dtype) does
    return _torch.cpu(torch.special.chebyshev_polynomial_t, x, n, upcast=True, out=out,
                      name=chebyshev_polynomial_t.name)


@chebyshev_polynomial_t.kernel("cuda")
def _(x, n):  # noqa: ANN001, ANN202
    return _torch.cuda(chebyshev_polynomial_t.reference, x, n)


@chebyshev_polynomial_t.infer
def _(x: TensorSpec, n: TensorSpec) -> TensorSpec:
    return _polynomials.infer(x, n)


@chebyshev_polynomial_t.onnx_function
def _(x, n):  # noqa: ANN001, ANN202
    return op.CastLike(orthogonal_polynomial(op.Cast(x, to=11), op.Cast(n, to=11), op.Constant(value=_ROW)), x)


@chebyshev_polynomial_t.samples
def _(rng: np.random.Generator):  # noqa: ANN202
    yield from _polynomials.samples(rng)


@_aten.lowers(torch.ops.aten.special_chebyshev_polynomial_t.default, chebyshev_polynomial_t)
def _(a: dict) -> object:
    """special_chebyshev_polynomial_t(Tensor x, Tensor n) -> Tensor"""
    return _polynomials.lower(chebyshev_polynomial_t, a)


@_aten.lowers(torch.ops.aten.special_chebyshev_polynomial_t.n_scalar, chebyshev_polynomial_t)
def _(a: dict) -> object:
    """special_chebyshev_polynomial_t.n_scalar(Tensor x, Scalar n) -> Tensor"""
    return _polynomials.lower(chebyshev_polynomial_t, a)
