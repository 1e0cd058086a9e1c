"""LU with partial pivoting in plain ONNX (stock torch.onnx has no translation): ``linalg_lu_factor(_ex)``,
``linalg_lu``, ``lu_unpack``, ``linalg_lu_solve`` and ``_linalg_slogdet``.

:func:`lu_factor` is LAPACK getrf's algorithm in a Loop, in float64: at step j the pivot is the first row at
or below j of largest magnitude in column j (idamax), the rows swap, the column below is divided by the
pivot and the trailing block takes the rank-1 update; a zero pivot (its whole column below is zero) swaps
nothing and divides nothing, as in LAPACK. So the factors and the 1-based int32 pivots are eager's, and a
singular matrix gives eager's answer too (``info`` > 0, slogdet sign 0 and logabsdet -inf).
``pivot=False`` (which eager refuses on the CPU) is left to the generic fallback. An ONNX graph cannot raise:
where eager raises on an exactly singular matrix (``linalg.lu_factor``, ``check_errors=True``), the
translation returns the same factors with a zero on U's diagonal (``info`` says where).
"""

from __future__ import annotations

from typing import Any

import torch
from onnxscript import opset18 as op
from onnxscript import script
from onnxscript.onnx_types import DOUBLE, INT64

from .. import _aten
from .._common import BODY_LIB
from .triangular import broadcast_batches, solve, transpose

aten = torch.ops.aten
_DOUBLE, _INT32, _INT64 = 11, 6, 7


@script(BODY_LIB, default_opset=op)
def lu_factor_pivoted(a: DOUBLE[...]) -> tuple[DOUBLE[...], INT64[...]]:
    """(LU, pivots) of a (*, m, n): getrf's partial pivoting, pivots 1-based of shape (*, min(m, n))."""
    m = op.Shape(a, start=-2, end=-1)
    n = op.Shape(a, start=-1)
    k = op.Min(m, n)
    row_ids = op.Range(op.Constant(value_int=0), op.Squeeze(m), op.Constant(value_int=1))
    rows = op.Unsqueeze(row_ids, op.Constant(value_ints=[-1]))
    cols = op.Range(op.Constant(value_int=0), op.Squeeze(n), op.Constant(value_int=1))
    steps = op.Range(op.Constant(value_int=0), op.Squeeze(k), op.Constant(value_int=1))
    pivots = op.Expand(op.Constant(value_int=0), op.Concat(op.Shape(a, end=-2), k, axis=0))
    zero = op.CastLike(op.Constant(value_int=0), a)
    lu = op.Identity(a)
    for j in range(op.Squeeze(k)):
        at = op.Unsqueeze(j, op.Constant(value_ints=[0]))
        column = op.Gather(lu, j, axis=-1)  # (*, m)
        magnitude = op.Where(op.Less(row_ids, j), op.CastLike(op.Constant(value_int=-1), a), op.Abs(column))
        p = op.ArgMax(magnitude, axis=-1, keepdims=1)  # (*, 1): the first of the largest, as idamax
        p3 = op.Unsqueeze(p, op.Constant(value_ints=[-1]))
        here = op.Gather(lu, at, axis=-2)  # (*, 1, n)
        pivot_row = op.GatherElements(lu, op.Expand(p3, op.Shape(here)), axis=-2)
        lu = op.Where(op.Equal(rows, j), pivot_row, op.Where(op.Equal(rows, p3), here, lu))
        pivots = op.Where(op.Equal(steps, j), op.Add(p, op.Constant(value_int=1)), pivots)
        pivot = op.Gather(pivot_row, at, axis=-1)  # (*, 1, 1)
        below = op.Greater(rows, j)
        # a zero pivot has only zeros below it: LAPACK leaves the column as it is
        factor = op.Where(below, op.Div(op.Gather(lu, at, axis=-1), op.Where(op.Equal(pivot, zero),
                                                                          op.CastLike(op.Constant(value_int=1), a),
                                                                          pivot)), zero)
        update = op.And(below, op.Greater(cols, j))
        lu = op.Where(update, op.Sub(lu, op.Mul(factor, pivot_row)),
                      op.Where(op.And(below, op.Equal(cols, j)), factor, lu))
    return lu, pivots


@script(BODY_LIB, default_opset=op)
def lu_permutation(lu: DOUBLE[...], pivots: INT64[...]) -> INT64[...]:
    """perm (*, m) of LU (*, m, n) with pivots (*, k): row i of P^T A is row perm[i] of A (the swaps applied
    in order)."""
    m = op.Shape(lu, start=-2, end=-1)
    ids = op.Range(op.Constant(value_int=0), op.Squeeze(m), op.Constant(value_int=1))
    perm = op.Expand(ids, op.Concat(op.Shape(pivots, end=-1), m, axis=0))
    for j in range(op.Squeeze(op.Shape(pivots, start=-1))):
        at = op.Unsqueeze(j, op.Constant(value_ints=[0]))
        p = op.Sub(op.Gather(pivots, at, axis=-1), op.Constant(value_int=1))  # (*, 1)
        perm_j = op.Gather(perm, at, axis=-1)
        perm_p = op.GatherElements(perm, p, axis=-1)
        perm = op.Where(op.Equal(ids, j), perm_p, op.Where(op.Equal(ids, p), perm_j, perm))
    return perm


def _double(x: Any) -> Any:
    return op.Cast(x, to=_DOUBLE)


def _range(size: Any) -> Any:
    return op.Range(op.Constant(value_int=0), op.Squeeze(size), op.Constant(value_int=1))


def permutation_matrix(lu: Any, pivots: Any, like: Any) -> Any:
    """P (*, m, m) in ``like``'s dtype with A = P L U: P[perm[c], c] = 1."""
    perm = lu_permutation(_double(lu), op.Cast(pivots, to=_INT64))
    rows = op.Unsqueeze(_range(op.Shape(lu, start=-2, end=-1)), op.Constant(value_ints=[-1]))
    return op.CastLike(op.Equal(rows, op.Unsqueeze(perm, op.Constant(value_ints=[-2]))), like)


def unpack(lu: Any) -> tuple[Any, Any]:
    """(L (*, m, k) unit lower triangular, U (*, k, n) upper triangular) of a packed LU (*, m, n)."""
    m, n = op.Shape(lu, start=-2, end=-1), op.Shape(lu, start=-1)
    k = op.Min(m, n)
    start = op.Constant(value_ints=[0])
    rows = op.Unsqueeze(_range(m), op.Constant(value_ints=[-1]))
    unit = op.CastLike(op.Equal(rows, _range(k)), lu)
    lower = op.Add(op.Trilu(op.Slice(lu, start, k, op.Constant(value_ints=[-1])), op.Constant(value_int=-1),
                            upper=0), unit)
    upper = op.Trilu(op.Slice(lu, start, k, op.Constant(value_ints=[-2])), upper=1)
    return lower, upper


def diagonal(lu: Any) -> Any:
    """The min(m, n) diagonal entries of each matrix of ``lu`` (*, m, n)."""
    m, n = op.Shape(lu, start=-2, end=-1), op.Shape(lu, start=-1)
    rows = op.Unsqueeze(_range(m), op.Constant(value_ints=[-1]))
    on = op.Equal(rows, _range(n))
    sums = op.ReduceSum(op.Where(on, lu, op.CastLike(op.Constant(value_int=0), lu)), op.Constant(value_ints=[-2]),
                        keepdims=0)
    return op.Slice(sums, op.Constant(value_ints=[0]), op.Min(m, n), op.Constant(value_ints=[-1]))


def info(lu: Any) -> Any:
    """getrf's ``info``: the 1-based index of the first zero on U's diagonal, 0 when there is none (int32)."""
    d = diagonal(lu)
    k = op.Shape(d, start=-1)
    none = op.Add(k, op.Constant(value_ints=[1]))
    index = op.Where(op.Equal(d, op.CastLike(op.Constant(value_int=0), d)), op.Add(_range(k), op.Constant(value_int=1)),
                     none)
    sentinel = op.Expand(none, op.Concat(op.Shape(d, end=-1), op.Constant(value_ints=[1]), axis=0))
    first = op.ReduceMin(op.Concat(index, sentinel, axis=-1), op.Constant(value_ints=[-1]), keepdims=0)
    return op.Cast(op.Where(op.Equal(first, op.Squeeze(none)), op.Constant(value_int=0), first), to=_INT32)


def _factor(a: Any) -> tuple[Any, Any]:
    lu, pivots = lu_factor_pivoted(_double(a))
    return lu, pivots


@_aten.overrides(aten.linalg_lu_factor_ex.default, "stock torch.onnx has no translation")
def _(a: dict) -> Any:
    """linalg_lu_factor_ex(Tensor A, *, bool pivot=True, bool check_errors=False) -> (Tensor LU, Tensor pivots,
    Tensor info)"""
    if not a["pivot"]:
        return _aten.fall_back(aten.linalg_lu_factor_ex.default, a)
    lu, pivots = _factor(a["A"])
    return op.CastLike(lu, a["A"]), op.Cast(pivots, to=_INT32), info(lu)


@_aten.overrides(aten.linalg_lu_factor.default, "stock torch.onnx has no translation")
def _(a: dict) -> Any:
    """linalg_lu_factor(Tensor A, *, bool pivot=True) -> (Tensor LU, Tensor pivots)"""
    if not a["pivot"]:
        return _aten.fall_back(aten.linalg_lu_factor.default, a)
    lu, pivots = _factor(a["A"])
    return op.CastLike(lu, a["A"]), op.Cast(pivots, to=_INT32)


@_aten.overrides(aten.linalg_lu.default, "stock torch.onnx has no translation")
def _(a: dict) -> Any:
    """linalg_lu(Tensor A, *, bool pivot=True) -> (Tensor P, Tensor L, Tensor U)"""
    if not a["pivot"]:
        return _aten.fall_back(aten.linalg_lu.default, a)
    lu, pivots = _factor(a["A"])
    lower, upper = unpack(op.CastLike(lu, a["A"]))
    return permutation_matrix(lu, pivots, a["A"]), lower, upper


@_aten.overrides(aten.lu_unpack.default, "stock torch.onnx has no translation")
def _(a: dict) -> Any:
    """lu_unpack(Tensor LU_data, Tensor LU_pivots, bool unpack_data=True, bool unpack_pivots=True) -> (Tensor P,
    Tensor L, Tensor U)"""
    lu = a["LU_data"]
    empty = op.CastLike(op.Constant(value_floats=[]), lu)  # what eager returns for a part it does not unpack
    lower, upper = unpack(lu) if a["unpack_data"] else (empty, empty)
    p = permutation_matrix(lu, a["LU_pivots"], lu) if a["unpack_pivots"] else empty
    return p, lower, upper


@_aten.overrides(aten.linalg_lu_solve.default, "stock torch.onnx has no translation")
def _(a: dict) -> Any:
    """linalg_lu_solve(Tensor LU, Tensor pivots, Tensor B, *, bool left=True, bool adjoint=False) -> Tensor"""
    lu, b = _double(a["LU"]), _double(a["B"])
    left, adjoint = bool(a["left"]), bool(a["adjoint"])
    if not left:  # X A = B <=> A^T X^T = B^T, and X A^T = B <=> A X^T = B^T
        b, adjoint = transpose(b), not adjoint
    p = permutation_matrix(a["LU"], a["pivots"], lu)
    lu, b = broadcast_batches(lu, b)
    if adjoint:  # A^T X = B with A = P L U: X = P L^-T U^-T B
        y = solve(transpose(lu), b, upper=False)
        x = op.MatMul(p, solve(transpose(lu), y, upper=True, unit=True))
    else:  # X = U^-1 L^-1 P^T B
        y = solve(lu, op.MatMul(transpose(p), b), upper=False, unit=True)
        x = solve(lu, y, upper=True)
    return op.CastLike(x if left else transpose(x), a["B"])


@_aten.overrides(aten._linalg_slogdet.default, "stock torch.onnx has no translation")
def _(a: dict) -> Any:
    """_linalg_slogdet(Tensor A) -> (Tensor sign, Tensor logabsdet, Tensor LU, Tensor pivots)"""
    # eager hands A's row-major memory to LAPACK, which reads it column-major: it factors A^T (same
    # determinant; its LU and pivots outputs are A^T's, and so is the rounding of a numerically singular A)
    lu, pivots = _factor(transpose(a["A"]))
    d = diagonal(lu)
    last = op.Constant(value_ints=[-1])
    # each row swap flips the sign; a zero on the diagonal makes it 0 and logabsdet -inf, as in eager
    swaps = op.ReduceSum(op.Cast(op.Not(op.Equal(pivots, op.Add(_range(op.Shape(pivots, start=-1)),
                                                                   op.Constant(value_int=1)))), to=_INT64),
                         last, keepdims=0)
    parity = op.Sub(op.Constant(value_int=1), op.Mul(op.Constant(value_int=2), op.Mod(swaps, op.Constant(value_int=2))))
    sign = op.Mul(op.ReduceProd(op.Sign(d), last, keepdims=0), op.CastLike(parity, d))
    logabsdet = op.ReduceSum(op.Log(op.Abs(d)), last, keepdims=0)
    return (op.CastLike(sign, a["A"]), op.CastLike(logabsdet, a["A"]), op.CastLike(lu, a["A"]),
            op.Cast(pivots, to=_INT32))
