"""Triangular solves in plain ONNX (stock torch.onnx has no translation): ``linalg_solve_triangular``,
``triangular_solve``, and on top of them ``cholesky_solve`` and ``cholesky_inverse``.

Every case reduces to one forward substitution in a Loop (:func:`solve_lower_triangular`): an upper
triangular system is a lower one with rows and columns reversed, ``X A = B`` is ``A^T X^T = B^T``. Only the
triangle the flags name is read (as LAPACK's trtrs/potrs do), the diagonal counts as ones when
``unitriangular``, batch dims broadcast, and the arithmetic runs in float64 (then back to the input's
dtype), so float32 results agree with LAPACK's to its own rounding. A zero on the diagonal gives inf/NaN,
as in eager.
"""

from __future__ import annotations

from typing import Any

import torch
from onnxscript import opset18 as op
from onnxscript import script
from onnxscript.onnx_types import DOUBLE

from .. import _aten
from .._common import BODY_LIB

aten = torch.ops.aten
_DOUBLE = 11
_INT64_MIN = -(2**63)


@script(BODY_LIB, default_opset=op)
def solve_lower_triangular(a: DOUBLE[...], b: DOUBLE[...]) -> DOUBLE[...]:
    """X with a X = b, for a lower triangular a (*, n, n) (zeros above the diagonal) and b (*, n, k) of
    equal batch dims: forward substitution, one row of X per iteration."""
    n = op.Squeeze(op.Shape(a, start=-1))
    rows = op.Unsqueeze(op.Range(op.Constant(value_int=0), n, op.Constant(value_int=1)), op.Constant(value_ints=[-1]))
    x = op.Expand(op.CastLike(op.Constant(value_int=0), b), op.Shape(b))
    for j in range(n):
        at = op.Unsqueeze(j, op.Constant(value_ints=[0]))
        a_row = op.Gather(a, at, axis=-2)  # (*, 1, n): entries right of j are 0, rows >= j of x are still 0
        diagonal = op.Gather(a_row, at, axis=-1)
        x_j = op.Div(op.Sub(op.Gather(b, at, axis=-2), op.MatMul(a_row, x)), diagonal)
        x = op.Where(op.Equal(rows, j), x_j, x)
    return x


def transpose(x: Any) -> Any:
    """Swap the last two axes."""
    return op.Einsum(x, equation="...ij->...ji")


def reverse(x: Any, axes: list[int]) -> Any:
    """``x`` with each axis of ``axes`` reversed."""
    count = len(axes)
    return op.Slice(x, op.Constant(value_ints=[-1] * count), op.Constant(value_ints=[_INT64_MIN] * count),
                    op.Constant(value_ints=axes), op.Constant(value_ints=[-1] * count))


def eye_like(a: Any) -> Any:
    """The identity of ``a``'s last dim, in ``a``'s dtype ((n, n); broadcasts against a batch)."""
    rows = op.Range(op.Constant(value_int=0), op.Squeeze(op.Shape(a, start=-1)), op.Constant(value_int=1))
    return op.CastLike(op.Equal(op.Unsqueeze(rows, op.Constant(value_ints=[-1])), rows), a)


def broadcast_batches(a: Any, b: Any) -> tuple[Any, Any]:
    """``a`` and ``b`` (matrices, or batches of them) expanded to their common batch dims."""
    two = op.Constant(value_ints=[1, 1])
    a = op.Expand(a, op.Concat(op.Shape(b, end=-2), two, axis=0))
    b = op.Expand(b, op.Concat(op.Shape(a, end=-2), two, axis=0))
    return a, b


def solve(a: Any, b: Any, *, upper: bool, left: bool = True, unit: bool = False) -> Any:
    """X with ``a X = b`` (``left``) or ``X a = b``, reading only the upper or lower triangle of ``a`` (and
    ones on its diagonal when ``unit``). ``a`` and ``b`` are float64 values whose batch dims broadcast."""
    if not left:  # X a = b  <=>  a^T X^T = b^T, and the triangle flips
        a, b, upper = transpose(a), transpose(b), not upper
    a, b = broadcast_batches(a, b)
    a = op.Trilu(a, upper=int(upper))
    if unit:
        eye = eye_like(a)
        a = op.Add(op.Mul(a, op.Sub(op.CastLike(op.Constant(value_float=1.0), a), eye)), eye)
    if upper:  # reversing rows and columns makes an upper triangular system lower triangular
        x = reverse(solve_lower_triangular(reverse(a, [-2, -1]), reverse(b, [-2])), [-2])
    else:
        x = solve_lower_triangular(a, b)
    return x if left else transpose(x)


def cholesky_solve(b: Any, factor: Any, upper: bool) -> Any:
    """X with ``A X = b`` for ``A = L L^T`` (``factor`` L lower) or ``A = U^T U`` (``factor`` U upper)."""
    first = transpose(factor) if upper else factor  # the lower triangular one of the pair
    y = solve(first, b, upper=False)
    return solve(transpose(first), y, upper=True)


def _double(x: Any) -> Any:
    return op.Cast(x, to=_DOUBLE)


@_aten.overrides(aten.linalg_solve_triangular.default, "stock torch.onnx has no translation")
def _(a: dict) -> Any:
    """linalg_solve_triangular(Tensor self, Tensor B, *, bool upper, bool left=True, bool unitriangular=False)
    -> Tensor"""
    x = solve(_double(a["self"]), _double(a["B"]), upper=bool(a["upper"]), left=bool(a["left"]),
              unit=bool(a["unitriangular"]))
    return op.CastLike(x, a["B"])


@_aten.overrides(aten.triangular_solve.default, "stock torch.onnx has no translation")
def _(a: dict) -> Any:
    """triangular_solve(Tensor self, Tensor A, bool upper=True, bool transpose=False, bool unitriangular=False)
    -> (Tensor solution, Tensor cloned_coefficient)"""
    b, coefficient, upper = a["self"], a["A"], bool(a["upper"])
    matrix = _double(coefficient)
    if a["transpose"]:  # A^T X = B: A^T is triangular the other way
        matrix, upper = transpose(matrix), not upper
    x = solve(matrix, _double(b), upper=upper, unit=bool(a["unitriangular"]))
    # the coefficient comes back broadcast to the solution's batch dims
    cloned, _ = broadcast_batches(coefficient, b)
    return op.CastLike(x, b), cloned


@_aten.overrides(aten.cholesky_solve.default, "stock torch.onnx has no translation")
def _(a: dict) -> Any:
    """cholesky_solve(Tensor self, Tensor input2, bool upper=False) -> Tensor"""
    x = cholesky_solve(_double(a["self"]), _double(a["input2"]), bool(a["upper"]))
    return op.CastLike(x, a["self"])


@_aten.overrides(aten.cholesky_inverse.default, "stock torch.onnx has no translation")
def _(a: dict) -> Any:
    """cholesky_inverse(Tensor self, bool upper=False) -> Tensor"""
    factor = _double(a["self"])
    eye = op.Expand(eye_like(factor), op.Shape(factor))
    return op.CastLike(cholesky_solve(eye, factor, bool(a["upper"])), a["self"])
