"""``linalg_ldl_factor(_ex)`` and ``linalg_ldl_solve`` in plain ONNX (stock torch.onnx has no translation): LAPACK sytf2's
Bunch-Kaufman diagonal pivoting (lower storage, alpha = (1 + sqrt(17)) / 8) in a Loop, in float64, so the
1x1 / 2x2 blocks and the pivots (1-based int32, negative for a 2x2 block) are eager's.

The Loop visits each column j once. A matrix whose previous step took a 2x2 block (columns j-1 and j) skips
column j; as the step sizes differ between the matrices of a batch, every step is computed for all of
them and kept only where it applies. The trailing block is kept whole (symmetric), so the symmetric row and
column swap is one permutation of it; the finished columns (L) are never swapped, as in sytf2.
"""

from __future__ import annotations

import math
from typing import Any

import torch
from onnxscript import opset18 as op
from onnxscript import script
from onnxscript.onnx_types import DOUBLE, INT64

from ...exporters import summary
from .. import _aten
from .._common import BODY_LIB
from .triangular import broadcast_batches

aten = torch.ops.aten
_DOUBLE, _INT32, _INT64 = 11, 6, 7
_ALPHA = (1.0 + math.sqrt(17.0)) / 8.0


@script(BODY_LIB, default_opset=op)
def bunch_kaufman(a: DOUBLE[...], alpha: DOUBLE[...]) -> tuple[DOUBLE[...], INT64[...], INT64[...]]:
    """(LD with garbage above the diagonal, pivots 1-based (*, n), info (*)) of a symmetric a (*, n, n)."""
    last = op.Constant(value_ints=[-1])
    n = op.Squeeze(op.Shape(a, start=-1))
    ids = op.Range(op.Constant(value_int=0), n, op.Constant(value_int=1))  # (n,)
    rows = op.Unsqueeze(ids, last)  # (n, 1)
    batch = op.Shape(a, end=-2)
    zero = op.CastLike(op.Constant(value_float=0.0), a)
    one = op.CastLike(op.Constant(value_float=1.0), a)
    w = op.Add(op.Trilu(a, upper=0), op.Einsum(op.Trilu(a, op.Constant(value_int=-1), upper=0),
                                                equation="...ij->...ji"))
    pivots = op.Expand(op.Constant(value_int=0), op.Concat(batch, op.Shape(a, start=-1), axis=0))
    info = op.Expand(op.Constant(value_int=0), batch)
    skip = op.Expand(op.Constant(value_int=0), batch)  # (*) int64: 1 = column j is taken
    for j in range(n):
        at = op.Unsqueeze(j, op.Constant(value_ints=[0]))
        column = op.Gather(w, at, axis=-1)  # (*, n, 1)
        diag_j = op.Squeeze(op.Gather(column, at, axis=-2), op.Constant(value_ints=[-2, -1]))  # (*)
        absakk = op.Abs(diag_j)
        below = op.Greater(rows, j)  # (n, 1)
        masked = op.Where(below, op.Abs(column), op.Neg(one))  # (*, n, 1)
        imax = op.ArgMax(op.Squeeze(masked, last), axis=-1, keepdims=0)  # (*)
        colmax = op.Max(op.ReduceMax(op.Squeeze(masked, last), last, keepdims=0), zero)
        # row imax of the trailing block, without its diagonal entry
        imax_row = op.GatherElements(w, op.Expand(op.Unsqueeze(imax, op.Constant(value_ints=[-1, -2])),
                                                  op.Concat(batch, op.Constant(value_ints=[1]), op.Shape(w, start=-1),
                                                            axis=0)), axis=-2)  # (*, 1, n)
        imax_col = op.Unsqueeze(imax, op.Constant(value_ints=[-1]))  # (*, 1)
        in_row = op.And(op.GreaterOrEqual(ids, j), op.Not(op.Equal(ids, imax_col)))  # (*, n)
        rowmax = op.ReduceMax(op.Where(in_row, op.Abs(op.Squeeze(imax_row, op.Constant(value_ints=[-2]))),
                                       op.Neg(one)), last, keepdims=0)
        diag_imax = op.Squeeze(op.GatherElements(op.Squeeze(imax_row, op.Constant(value_ints=[-2])), imax_col,
                                                 axis=-1), last)
        singular = op.Equal(op.Max(absakk, colmax), zero)
        safe_rowmax = op.Where(op.Greater(rowmax, zero), rowmax, one)
        keep_k = op.Or(op.GreaterOrEqual(absakk, op.Mul(alpha, colmax)),
                       op.GreaterOrEqual(absakk, op.Mul(op.Mul(alpha, colmax), op.Div(colmax, safe_rowmax))))
        keep_k = op.Or(keep_k, singular)
        one_by_one = op.Or(keep_k, op.GreaterOrEqual(op.Abs(diag_imax), op.Mul(alpha, rowmax)))  # (*)
        kp = op.Where(keep_k, op.Expand(j, batch), imax)  # (*)
        kk = op.Where(one_by_one, op.Expand(j, batch), op.Expand(op.Add(j, op.Constant(value_int=1)), batch))
        # the symmetric swap of kk and kp within the trailing block (rows and columns >= j)
        kk1 = op.Unsqueeze(kk, op.Constant(value_ints=[-1]))
        kp1 = op.Unsqueeze(kp, op.Constant(value_ints=[-1]))
        perm = op.Where(op.Equal(ids, kk1), kp1, op.Where(op.Equal(ids, kp1), kk1, ids))  # (*, n)
        perm_rows = op.Expand(op.Unsqueeze(perm, last), op.Shape(w))
        perm_cols = op.Expand(op.Unsqueeze(perm, op.Constant(value_ints=[-2])), op.Shape(w))
        swapped = op.GatherElements(op.GatherElements(w, perm_rows, axis=-2), perm_cols, axis=-1)
        trailing = op.And(op.GreaterOrEqual(rows, j), op.GreaterOrEqual(ids, j))  # (n, n)
        s = op.Where(trailing, swapped, w)
        # 1x1 block: s[i, c] -= s[i, j] s[c, j] / d for i, c > j; column j below the diagonal scaled by 1 / d
        col_j = op.Where(below, op.Gather(s, at, axis=-1), zero)  # (*, n, 1)
        d = op.Gather(op.Gather(s, at, axis=-2), at, axis=-1)  # (*, 1, 1)
        d11 = op.Div(one, op.Where(op.Equal(d, zero), one, d))
        row_j = op.Einsum(col_j, equation="...ij->...ji")
        rest = op.And(below, op.Greater(ids, j))  # (n, n): rows and columns > j
        one_step = op.Where(rest, op.Sub(s, op.Mul(op.MatMul(col_j, row_j), d11)), s)
        one_step = op.Where(op.And(below, op.Equal(ids, j)), op.Mul(col_j, d11), one_step)
        # 2x2 block (columns j and j+1): sytf2's wk / wkp1 for the rows below j+1
        next_at = op.Unsqueeze(op.Add(j, op.Constant(value_int=1)), op.Constant(value_ints=[0]))
        far = op.Greater(rows, op.Add(j, op.Constant(value_int=1)))  # (n, 1)
        next_safe = op.Min(next_at, op.Unsqueeze(op.Sub(n, op.Constant(value_int=1)), op.Constant(value_ints=[0])))
        a_k = op.Where(far, op.Gather(s, at, axis=-1), zero)  # (*, n, 1)
        a_k1 = op.Where(far, op.Gather(s, next_safe, axis=-1), zero)
        d21 = op.Gather(op.Gather(s, next_safe, axis=-2), at, axis=-1)  # (*, 1, 1)
        d21_safe = op.Where(op.Equal(d21, zero), one, d21)
        b11 = op.Div(op.Gather(op.Gather(s, next_safe, axis=-2), next_safe, axis=-1), d21_safe)
        b22 = op.Div(d, d21_safe)
        t = op.Div(one, op.Sub(op.Mul(b11, b22), one))
        scale = op.Div(t, d21_safe)
        wk = op.Mul(scale, op.Sub(op.Mul(b11, a_k), a_k1))  # (*, n, 1)
        wkp1 = op.Mul(scale, op.Sub(op.Mul(b22, a_k1), a_k))
        update = op.Add(op.MatMul(a_k, op.Einsum(wk, equation="...ij->...ji")),
                        op.MatMul(a_k1, op.Einsum(wkp1, equation="...ij->...ji")))
        far_cols = op.Greater(ids, op.Add(j, op.Constant(value_int=1)))
        two_step = op.Where(op.And(far, far_cols), op.Sub(s, update), s)
        two_step = op.Where(op.And(far, op.Equal(ids, j)), wk, two_step)
        two_step = op.Where(op.And(far, op.Equal(ids, op.Add(j, op.Constant(value_int=1)))), wkp1, two_step)
        stepped = op.Where(op.Unsqueeze(singular, op.Constant(value_ints=[-1, -2])), w,
                           op.Where(op.Unsqueeze(one_by_one, op.Constant(value_ints=[-1, -2])), one_step, two_step))
        active = op.Equal(skip, op.Constant(value_int=0))  # (*)
        w = op.Where(op.Unsqueeze(active, op.Constant(value_ints=[-1, -2])), stepped, w)
        # pivots: kp + 1 for a 1x1 block, -(kp + 1) at j and j + 1 for a 2x2 block
        code = op.Where(one_by_one, op.Add(kp, op.Constant(value_int=1)), op.Neg(op.Add(kp, op.Constant(value_int=1))))
        code1 = op.Unsqueeze(code, last)
        is_j = op.Equal(ids, j)
        is_next = op.And(op.Equal(ids, op.Add(j, op.Constant(value_int=1))),
                         op.Unsqueeze(op.Not(one_by_one), last))
        marked = op.Where(op.Or(is_j, is_next), code1, pivots)
        pivots = op.Where(op.Unsqueeze(active, last), marked, pivots)
        first_zero = op.And(op.And(active, singular), op.Equal(info, op.Constant(value_int=0)))
        info = op.Where(first_zero, op.Expand(op.Add(j, op.Constant(value_int=1)), batch), info)
        skip = op.Where(op.And(active, op.Not(one_by_one)), op.Constant(value_int=1), op.Constant(value_int=0))
    return w, pivots, info


@script(BODY_LIB, default_opset=op)
def bunch_kaufman_solve(ld: DOUBLE[...], pivots: INT64[...], b: DOUBLE[...]) -> DOUBLE[...]:
    """X with A X = b for A = L D L^T packed in ld (*, n, n) with sytrf's pivots (*, n), b (*, n, k), all of
    one batch shape: LAPACK sytrs (lower): L D y = P^T b forward, then L^T x = y backward."""
    last = op.Constant(value_ints=[-1])
    n = op.Squeeze(op.Shape(ld, start=-1))
    ids = op.Range(op.Constant(value_int=0), n, op.Constant(value_int=1))
    rows = op.Unsqueeze(ids, last)  # (n, 1)
    batch = op.Shape(ld, end=-2)
    zero = op.CastLike(op.Constant(value_float=0.0), ld)
    one = op.CastLike(op.Constant(value_float=1.0), ld)
    top = op.Sub(n, op.Constant(value_int=1))
    skip = op.Expand(op.Constant(value_int=0), batch)
    for j in range(n):
        at = op.Unsqueeze(j, op.Constant(value_ints=[0]))
        nxt = op.Unsqueeze(op.Min(op.Add(j, op.Constant(value_int=1)), top), op.Constant(value_ints=[0]))
        p = op.Gather(pivots, at, axis=-1)  # (*, 1)
        two = op.Less(p, op.Constant(value_int=0))
        kp = op.Sub(op.Abs(p), op.Constant(value_int=1))
        # (clamped: a matrix that skips row j, the second of a 2x2 block, may read past the end)
        kk = op.Min(op.Where(two, op.Add(j, op.Constant(value_int=1)), op.Expand(j, op.Shape(p))), top)
        # exchange rows kk and kp (a function call cannot nest here: torch.onnx registers only the outer one)
        perm = op.Where(op.Equal(ids, kk), kp, op.Where(op.Equal(ids, kp), kk, ids))  # (*, n)
        c = op.GatherElements(b, op.Expand(op.Unsqueeze(perm, last), op.Shape(b)), axis=-2)
        l_j = op.Gather(ld, at, axis=-1)  # (*, n, 1)
        l_n = op.Gather(ld, nxt, axis=-1)
        b_j = op.Gather(c, at, axis=-2)  # (*, 1, k)
        b_n = op.Gather(c, nxt, axis=-2)
        d_j = op.Gather(l_j, at, axis=-2)  # (*, 1, 1)
        # 1x1 block: eliminate below j, then divide row j by D[j, j]
        one_step = op.Where(op.Greater(rows, j), op.Sub(c, op.Mul(l_j, b_j)), c)
        one_step = op.Where(op.Equal(rows, j), op.Mul(b_j, op.Div(one, d_j)), one_step)
        # 2x2 block (rows j, j+1): eliminate below j+1, then solve with the 2x2 D block
        far = op.Greater(rows, op.Add(j, op.Constant(value_int=1)))
        two_step = op.Where(far, op.Sub(op.Sub(c, op.Mul(l_j, b_j)), op.Mul(l_n, b_n)), c)
        akm1k = op.Gather(l_j, nxt, axis=-2)
        akm1k = op.Where(op.Equal(akm1k, zero), one, akm1k)
        akm1 = op.Div(d_j, akm1k)
        ak = op.Div(op.Gather(l_n, nxt, axis=-2), akm1k)
        denom = op.Sub(op.Mul(akm1, ak), one)
        bkm1 = op.Div(b_j, akm1k)
        bk = op.Div(b_n, akm1k)
        two_step = op.Where(op.Equal(rows, j), op.Div(op.Sub(op.Mul(ak, bkm1), bk), denom), two_step)
        two_step = op.Where(op.Equal(rows, op.Add(j, op.Constant(value_int=1))),
                            op.Div(op.Sub(op.Mul(akm1, bk), bkm1), denom), two_step)
        two3 = op.Unsqueeze(two, last)  # (*, 1, 1)
        active = op.Unsqueeze(op.Equal(skip, op.Constant(value_int=0)), op.Constant(value_ints=[-1, -2]))
        b = op.Where(active, op.Where(two3, two_step, one_step), b)
        skip = op.Where(op.And(op.Squeeze(active, op.Constant(value_ints=[-1, -2])), op.Squeeze(two, last)),
                        op.Constant(value_int=1), op.Constant(value_int=0))
    skip = op.Expand(op.Constant(value_int=0), batch)
    for s in range(n):
        j = op.Sub(top, s)
        at = op.Unsqueeze(j, op.Constant(value_ints=[0]))
        prev = op.Unsqueeze(op.Max(op.Sub(j, op.Constant(value_int=1)), op.Constant(value_int=0)),
                            op.Constant(value_ints=[0]))
        p = op.Gather(pivots, at, axis=-1)  # (*, 1)
        two = op.Less(p, op.Constant(value_int=0))
        kp = op.Sub(op.Abs(p), op.Constant(value_int=1))
        below = op.Greater(rows, j)
        l_j = op.Where(below, op.Gather(ld, at, axis=-1), zero)  # (*, n, 1)
        l_p = op.Where(below, op.Gather(ld, prev, axis=-1), zero)
        b_t = op.Einsum(b, equation="...ij->...ji")
        dot_j = op.Einsum(op.MatMul(b_t, l_j), equation="...ij->...ji")  # (*, 1, k)
        dot_p = op.Einsum(op.MatMul(b_t, l_p), equation="...ij->...ji")
        c = op.Where(op.Equal(rows, j), op.Sub(b, dot_j), b)
        prev_row = op.And(op.Equal(rows, op.Sub(j, op.Constant(value_int=1))), op.Unsqueeze(two, last))
        c = op.Where(prev_row, op.Sub(c, dot_p), c)
        perm = op.Where(op.Equal(ids, j), kp, op.Where(op.Equal(ids, kp), j, ids))  # rows j and kp exchanged
        c = op.GatherElements(c, op.Expand(op.Unsqueeze(perm, last), op.Shape(c)), axis=-2)
        active = op.Unsqueeze(op.Equal(skip, op.Constant(value_int=0)), op.Constant(value_ints=[-1, -2]))
        b = op.Where(active, c, b)
        skip = op.Where(op.And(op.Squeeze(active, op.Constant(value_ints=[-1, -2])), op.Squeeze(two, last)),
                        op.Constant(value_int=1), op.Constant(value_int=0))
    return b


def _factor(a: Any) -> tuple[Any, Any, Any]:
    w, pivots, info = bunch_kaufman(op.Cast(a, to=_DOUBLE),
                                    op.Constant(value=_double_scalar(_ALPHA)))
    ld = op.CastLike(op.Trilu(w, upper=0), a)
    return ld, op.Cast(pivots, to=_INT32), op.Cast(info, to=_INT32)


def _double_scalar(value: float) -> Any:
    from onnx import helper

    return helper.make_tensor("value", _DOUBLE, [], [value])


@_aten.overrides(aten.linalg_ldl_factor_ex.default, "stock torch.onnx has no translation")
def _(a: dict) -> Any:
    """linalg_ldl_factor_ex(Tensor self, *, bool hermitian=False, bool check_errors=False) -> (Tensor LD,
    Tensor pivots, Tensor info)"""
    return _factor(a["self"])  # real inputs: hermitian and symmetric are the same factorization


@_aten.overrides(aten.linalg_ldl_factor.default, "stock torch.onnx has no translation")
def _(a: dict) -> Any:
    """linalg_ldl_factor(Tensor self, *, bool hermitian=False) -> (Tensor LD, Tensor pivots)"""
    ld, pivots, _ = _factor(a["self"])
    return ld, pivots


@_aten.overrides(aten.linalg_ldl_solve.default, "stock torch.onnx has no translation")
def _(a: dict) -> Any:
    """linalg_ldl_solve(Tensor LD, Tensor pivots, Tensor B, *, bool hermitian=False) -> Tensor"""
    summary.add(summary.SummaryEntry(
        "verify", "aten.linalg_ldl_solve.default", "torch's ldl_solve trusts its pivots (LAPACK reads out of "
        "bounds on a sequence ldl_factor cannot produce), so verify keeps the example's integer inputs as given",
        portable=True))
    ld, b = broadcast_batches(op.Cast(a["LD"], to=_DOUBLE), op.Cast(a["B"], to=_DOUBLE))
    pivots = op.Expand(op.Cast(a["pivots"], to=_INT64), op.Shape(ld, end=-1))
    return op.CastLike(bunch_kaufman_solve(ld, pivots, b), a["B"])
