"""Jacobi eigen- and singular-value solvers in ONNX (cyclic sweeps in a Loop), shared by the portable bodies of
Eigvalsh, Svdvals and LinalgPinv.

Both work in float64 on a batch ``(*, ., .)`` and sweep the pairs (p, q), p < q, in row-cyclic order; one
rotation touches rows / columns p and q only (Where on index masks, O(n^2) per rotation). A sweep loop stops
as soon as every matrix of the batch has converged, and after ``MAX_SWEEPS`` sweeps at the latest: cyclic
Jacobi converges quadratically, so in float64 matrices of a few hundred rows need well under 15 sweeps; the
cap only bounds inputs that cannot converge (NaN / inf). Rotations follow Golub & Van Loan, Matrix
Computations, alg. 8.4.1 (sym.schur2) and 8.6.3 (one-sided Jacobi, Hestenes).
"""

from __future__ import annotations

from typing import Any

from onnxscript import opset18 as op
from onnxscript import script

from ._common import BODY_LIB

MAX_SWEEPS = 40


@script(BODY_LIB, default_opset=op)
def rotation(app, aqq, apq):  # noqa: ANN001, ANN201
    """(c, s) of the Jacobi rotation that zeroes apq of the symmetric 2x2 [[app, apq], [apq, aqq]]
    (c = 1, s = 0 where apq is 0); every argument has the batch shape."""
    zero = op.CastLike(op.Constant(value_float=0.0), apq)
    one = op.CastLike(op.Constant(value_float=1.0), apq)
    two = op.CastLike(op.Constant(value_float=2.0), apq)
    done = op.Equal(apq, zero)
    tau = op.Div(op.Sub(aqq, app), op.Mul(two, op.Where(done, one, apq)))
    sign = op.Where(op.Less(tau, zero), op.Neg(one), one)
    # |tau| huge: sqrt(1 + tau^2) overflows to inf and t to 0, the rotation a no-op, as it should be
    t = op.Div(sign, op.Add(op.Abs(tau), op.Sqrt(op.Add(one, op.Mul(tau, tau)))))
    t = op.Where(done, zero, t)
    c = op.Div(one, op.Sqrt(op.Add(one, op.Mul(t, t))))
    s = op.Mul(t, c)
    return c, s


@script(BODY_LIB, default_opset=op)
def pairs(n):  # noqa: ANN001, ANN201
    """The index pairs (p, q), p < q < n, in row-cyclic order: two int64 vectors of length n (n - 1) / 2."""
    flat = op.Range(op.Constant(value_int=0), op.Mul(n, n), op.Constant(value_int=1))
    safe = op.Max(n, op.Constant(value_int=1))  # n = 0: flat is empty, but Mod still refuses a 0 divisor
    p = op.Div(flat, safe)
    q = op.Mod(flat, safe)
    keep = op.Less(p, q)
    return op.Compress(p, keep, axis=0), op.Compress(q, keep, axis=0)


@script(BODY_LIB, default_opset=op)
def jacobi_eigh(a):  # noqa: ANN001, ANN201
    """Eigen-decomposition of symmetric float64 matrices a (*, n, n): d (*, n) (unsorted) and orthogonal
    v (*, n, n) with a = v diag(d) v^T. Stops when the off-diagonal part of every matrix is below
    1e-14 of its Frobenius norm (that changes no eigenvalue by more than 1e-14 ||a||)."""
    n = op.Squeeze(op.Shape(a, start=-1))
    idx = op.Range(op.Constant(value_int=0), n, op.Constant(value_int=1))
    rows = op.Unsqueeze(idx, op.Constant(value_ints=[-1]))
    eye = op.CastLike(op.Equal(rows, idx), a)
    v = op.Expand(eye, op.Shape(a))
    ps, qs = pairs(n)
    count = op.Size(ps)
    zero = op.CastLike(op.Constant(value_float=0.0), a)
    both = op.Constant(value_ints=[-1, -2])
    last_two = op.Constant(value_ints=[-2, -1])
    # rotations keep the Frobenius norm: the threshold is fixed up front
    limit = op.Mul(op.CastLike(op.Constant(value_float=1e-28), a), op.ReduceSum(op.Mul(a, a), last_two, keepdims=0))
    for _sweep in range(MAX_SWEEPS):
        for k in range(count):
            p = op.Gather(ps, k)
            q = op.Gather(qs, k)
            col_p = op.Gather(a, p, axis=-1)
            col_q = op.Gather(a, q, axis=-1)
            c, s = rotation(op.Gather(col_p, p, axis=-1), op.Gather(col_q, q, axis=-1), op.Gather(col_q, p, axis=-1))
            c3 = op.Unsqueeze(c, both)
            s3 = op.Unsqueeze(s, both)
            # a <- J^T a J: rows p, q, then columns p, q; a[p, q] = a[q, p] = 0 exactly
            row_p = op.Unsqueeze(op.Gather(a, p, axis=-2), op.Constant(value_ints=[-2]))
            row_q = op.Unsqueeze(op.Gather(a, q, axis=-2), op.Constant(value_ints=[-2]))
            a = op.Where(op.Equal(rows, p), op.Sub(op.Mul(c3, row_p), op.Mul(s3, row_q)),
                         op.Where(op.Equal(rows, q), op.Add(op.Mul(s3, row_p), op.Mul(c3, row_q)), a))
            new_p = op.Unsqueeze(op.Gather(a, p, axis=-1), op.Constant(value_ints=[-1]))
            new_q = op.Unsqueeze(op.Gather(a, q, axis=-1), op.Constant(value_ints=[-1]))
            a = op.Where(op.Equal(idx, p), op.Sub(op.Mul(c3, new_p), op.Mul(s3, new_q)),
                         op.Where(op.Equal(idx, q), op.Add(op.Mul(s3, new_p), op.Mul(c3, new_q)), a))
            pq = op.Or(op.And(op.Equal(rows, p), op.Equal(idx, q)), op.And(op.Equal(rows, q), op.Equal(idx, p)))
            a = op.Where(pq, zero, a)
            v_p = op.Unsqueeze(op.Gather(v, p, axis=-1), op.Constant(value_ints=[-1]))
            v_q = op.Unsqueeze(op.Gather(v, q, axis=-1), op.Constant(value_ints=[-1]))
            v = op.Where(op.Equal(idx, p), op.Sub(op.Mul(c3, v_p), op.Mul(s3, v_q)),
                         op.Where(op.Equal(idx, q), op.Add(op.Mul(s3, v_p), op.Mul(c3, v_q)), v))
        off = op.ReduceSum(op.Mul(op.Mul(a, a), op.Sub(op.CastLike(op.Constant(value_float=1.0), a), eye)),
                           last_two, keepdims=0)
        excess = op.Sub(off, limit)
        converged = op.Not(op.Greater(op.ReduceMax(op.Concat(op.Reshape(excess, op.Constant(value_ints=[-1])),
                                                            op.Reshape(zero, op.Constant(value_ints=[1])), axis=0),
                                                  keepdims=0), zero))
        if converged:
            break
    d = op.ReduceSum(op.Mul(a, eye), op.Constant(value_ints=[-1]), keepdims=0)
    return d, v


@script(BODY_LIB, default_opset=op)
def jacobi_svd(b):  # noqa: ANN001, ANN201
    """One-sided Jacobi on float64 matrices b (*, m, k), m >= k: w = b v with mutually orthogonal columns
    and orthogonal v (*, k, k), so the singular values of b are the column norms of w, accurate relative to
    each singular value (no b^T b is formed). Stops when every pair of columns of every matrix has
    |w_p . w_q| <= (1e-14 + m eps) |w_p| |w_q|."""
    k = op.Squeeze(op.Shape(b, start=-1))
    m = op.Squeeze(op.Shape(b, start=-2, end=-1))
    idx = op.Range(op.Constant(value_int=0), k, op.Constant(value_int=1))
    rows = op.Unsqueeze(idx, op.Constant(value_ints=[-1]))
    eye = op.CastLike(op.Equal(rows, idx), b)
    v = op.Expand(eye, op.Concat(op.Shape(b, end=-2), op.Shape(b, start=-1), op.Shape(b, start=-1), axis=0))
    ps, qs = pairs(k)
    count = op.Size(ps)
    zero = op.CastLike(op.Constant(value_float=0.0), b)
    both = op.Constant(value_ints=[-1, -2])
    last = op.Constant(value_ints=[-1])
    tol = op.Add(op.CastLike(op.Constant(value_float=1e-14), b),
                 op.Mul(op.CastLike(m, b), op.CastLike(op.Constant(value_float=2.220446049250313e-16), b)))
    w = op.Identity(b)
    for _sweep in range(MAX_SWEEPS):
        for j in range(count):
            p = op.Gather(ps, j)
            q = op.Gather(qs, j)
            w_p = op.Gather(w, p, axis=-1)
            w_q = op.Gather(w, q, axis=-1)
            c, s = rotation(op.ReduceSum(op.Mul(w_p, w_p), last, keepdims=0),
                            op.ReduceSum(op.Mul(w_q, w_q), last, keepdims=0),
                            op.ReduceSum(op.Mul(w_p, w_q), last, keepdims=0))
            c3 = op.Unsqueeze(c, both)
            s3 = op.Unsqueeze(s, both)
            col_p = op.Unsqueeze(w_p, last)
            col_q = op.Unsqueeze(w_q, last)
            w = op.Where(op.Equal(idx, p), op.Sub(op.Mul(c3, col_p), op.Mul(s3, col_q)),
                         op.Where(op.Equal(idx, q), op.Add(op.Mul(s3, col_p), op.Mul(c3, col_q)), w))
            v_p = op.Unsqueeze(op.Gather(v, p, axis=-1), last)
            v_q = op.Unsqueeze(op.Gather(v, q, axis=-1), last)
            v = op.Where(op.Equal(idx, p), op.Sub(op.Mul(c3, v_p), op.Mul(s3, v_q)),
                         op.Where(op.Equal(idx, q), op.Add(op.Mul(s3, v_p), op.Mul(c3, v_q)), v))
        gram = op.Einsum(w, w, equation="...ij,...ik->...jk")
        norms = op.Sqrt(op.ReduceSum(op.Mul(gram, eye), last, keepdims=0))
        scale = op.Mul(op.Unsqueeze(norms, last), op.Unsqueeze(norms, op.Constant(value_ints=[-2])))
        excess = op.Mul(op.Sub(op.Abs(gram), op.Mul(tol, scale)),
                        op.Sub(op.CastLike(op.Constant(value_float=1.0), b), eye))
        converged = op.Not(op.Greater(op.ReduceMax(op.Concat(op.Reshape(excess, op.Constant(value_ints=[-1])),
                                                            op.Reshape(zero, op.Constant(value_ints=[1])), axis=0),
                                                  keepdims=0), zero))
        if converged:
            break
    return w, v


def lowerable(matrix: Any) -> bool:
    """Whether an aten call's matrix argument suits the Jacobi bodies: float32 or float64 (a dtype the
    contrib ops declare). Other calls stay on the fallback."""
    from onnxscript import ir

    return getattr(matrix, "dtype", None) in (ir.DataType.FLOAT, ir.DataType.DOUBLE)


def dropped(*indices: int) -> bool:
    """Whether the aten call being translated feeds none of its outputs ``indices`` anywhere (torch asks for
    eigen- / singular vectors wherever autograd might need them, and the graph often drops them)."""
    from ..exporters import fx_context

    return fx_context.outputs_unused(indices)


def unread(matrix: Any, shape: Any) -> Any:
    """Zeros of ``matrix``'s dtype and the ONNX ``shape``: the value of an aten output that nothing reads
    (eager's shape, so shape inference agrees; ``None``: the (0,) tensor aten returns for outputs it was
    told not to compute)."""
    from . import _aten

    std = _aten.std_opset()
    if shape is None:
        shape = std.Constant(value_ints=[0])
    return std.Expand(std.CastLike(std.Constant(value_float=0.0), matrix), shape)
