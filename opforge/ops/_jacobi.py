"""Jacobi eigen- and singular-value solvers in ONNX (Jacobi sweeps in a Loop), shared by the portable bodies of
Eigvalsh, Svdvals and LinalgPinv.

Both work in float64 on a batch ``(*, ., .)``. A sweep visits every index pair (p, q) once, in the round-robin
(tournament) order: each of its N - 1 rounds (N = n rounded up to even) rotates N / 2 disjoint pairs at once,
as one orthogonal matrix J applied by MatMul, so a sweep is N - 1 Loop iterations of a few batched MatMuls
rather than n (n - 1) / 2 iterations of elementwise updates. The sweep loop stops as soon as every matrix of
the batch has converged, and after ``MAX_SWEEPS`` sweeps at the latest: Jacobi with this ordering converges
quadratically (Luk & Park 1989), so in float64 matrices of a few hundred rows need well under 15 sweeps;
the cap only bounds inputs that cannot converge (NaN / inf). Rotations follow Golub & Van Loan, Matrix
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
def round_pairs(n, r):  # noqa: ANN001, ANN201
    """Round r of the round-robin schedule of n indices: N / 2 disjoint pairs (p, q), p < q, N = n rounded up
    to even (player 0 stays, the others turn one place a round). A pair with q = n (odd n: the bye) is idle."""
    one = op.Constant(value_int=1)
    two = op.Constant(value_int=2)
    players = op.Mul(op.Div(op.Add(n, one), two), two)
    ring = op.Max(op.Sub(players, one), one)  # (a Mod by 0 fails even on empty tensors)
    left = op.Range(op.Constant(value_int=0), op.Div(players, two), one)
    right = op.Sub(op.Sub(players, one), left)
    at_left = op.Where(op.Equal(left, op.Constant(value_int=0)), left,
                       op.Add(op.Mod(op.Add(op.Sub(left, one), r), ring), one))
    at_right = op.Add(op.Mod(op.Add(op.Sub(right, one), r), ring), one)
    return op.Min(at_left, at_right), op.Max(at_left, at_right)


@script(BODY_LIB, default_opset=op)
def round_count(n):  # noqa: ANN001, ANN201
    """N - 1 rounds make a sweep (0 for n = 0)."""
    one = op.Constant(value_int=1)
    players = op.Mul(op.Div(op.Add(n, one), op.Constant(value_int=2)), op.Constant(value_int=2))
    return op.Max(op.Sub(players, one), op.Constant(value_int=0))


@script(BODY_LIB, default_opset=op)
def round_rotation(e_p, e_q, c, s, eye):  # noqa: ANN001, ANN201
    """J (*, n, n): the identity with J[p, p] = J[q, q] = c, J[p, q] = s, J[q, p] = -s for each pair of the
    round; e_p, e_q (h, n) one-hot rows of the pairs (a zero row for the bye), c, s (*, h)."""
    e_pt = op.Transpose(e_p, perm=[1, 0])
    e_qt = op.Transpose(e_q, perm=[1, 0])
    before = op.Constant(value_ints=[-2])
    shrink = op.Unsqueeze(op.Sub(c, op.CastLike(op.Constant(value_float=1.0), c)), before)
    turn = op.Unsqueeze(s, before)
    diagonal = op.Add(op.MatMul(op.Mul(e_pt, shrink), e_p), op.MatMul(op.Mul(e_qt, shrink), e_q))
    off = op.Sub(op.MatMul(op.Mul(e_pt, turn), e_q), op.MatMul(op.Mul(e_qt, turn), e_p))
    return op.Add(eye, op.Add(diagonal, off))


@script(BODY_LIB, default_opset=op)
def jacobi_eigh(a):  # noqa: ANN001, ANN201
    """Eigen-decomposition of symmetric float64 matrices a (*, n, n): d (*, n) (unsorted) and orthogonal
    v (*, n, n) with a = v diag(d) v^T. Stops when the off-diagonal part of every matrix is below
    1e-14 of its Frobenius norm (that changes no eigenvalue by more than 1e-14 ||a||)."""
    n = op.Squeeze(op.Shape(a, start=-1))
    idx = op.Range(op.Constant(value_int=0), n, op.Constant(value_int=1))
    eye = op.CastLike(op.Equal(op.Unsqueeze(idx, op.Constant(value_ints=[-1])), idx), a)
    v = op.Expand(eye, op.Shape(a))
    rounds = round_count(n)
    zero = op.CastLike(op.Constant(value_float=0.0), a)
    last = op.Constant(value_ints=[-1])
    last_two = op.Constant(value_ints=[-2, -1])
    # rotations keep the Frobenius norm: the threshold is fixed up front
    limit = op.Mul(op.CastLike(op.Constant(value_float=1e-28), a), op.ReduceSum(op.Mul(a, a), last_two, keepdims=0))
    for _sweep in range(MAX_SWEEPS):
        for r in range(rounds):
            p, q = round_pairs(n, r)
            e_p = op.CastLike(op.Equal(op.Unsqueeze(p, last), idx), a)
            e_q = op.CastLike(op.Equal(op.Unsqueeze(q, last), idx), a)
            rows_p = op.MatMul(e_p, a)  # (*, h, n): row p of each pair
            rows_q = op.MatMul(e_q, a)
            app = op.ReduceSum(op.Mul(rows_p, e_p), last, keepdims=0)
            aqq = op.ReduceSum(op.Mul(rows_q, e_q), last, keepdims=0)
            apq = op.ReduceSum(op.Mul(rows_p, e_q), last, keepdims=0)  # 0 for the bye: no rotation
            c, s = rotation(app, aqq, apq)
            j = round_rotation(e_p, e_q, c, s, eye)
            a = op.MatMul(op.MatMul(op.Einsum(j, equation="...ij->...ji"), a), j)
            # a[p, q] = a[q, p] = 0 exactly, as the rotation makes them
            pq = op.Add(op.MatMul(op.Transpose(e_p, perm=[1, 0]), e_q), op.MatMul(op.Transpose(e_q, perm=[1, 0]), e_p))
            a = op.Where(op.Greater(pq, zero), zero, a)
            v = op.MatMul(v, j)
        off = op.ReduceSum(op.Mul(op.Mul(a, a), op.Sub(op.CastLike(op.Constant(value_float=1.0), a), eye)),
                           last_two, keepdims=0)
        excess = op.Sub(off, limit)
        converged = op.Not(op.Greater(op.ReduceMax(op.Concat(op.Reshape(excess, last),
                                                            op.Reshape(zero, op.Constant(value_ints=[1])), axis=0),
                                                  keepdims=0), zero))
        if converged:
            break
    d = op.ReduceSum(op.Mul(a, eye), last, keepdims=0)
    return d, v


@script(BODY_LIB, default_opset=op)
def jacobi_svd(b):  # noqa: ANN001, ANN201
    """One-sided Jacobi on float64 matrices b (*, m, k), m >= k: w = b v with mutually orthogonal columns
    and orthogonal v (*, k, k), so the singular values of b are the column norms of w, accurate to
    ~eps ||b|| (relative to each one for graded columns; no b^T b is formed). Stops when every pair of
    columns of every matrix has |w_p . w_q| <= (1e-14 + m eps) |w_p| |w_q|."""
    k = op.Squeeze(op.Shape(b, start=-1))
    m = op.Squeeze(op.Shape(b, start=-2, end=-1))
    idx = op.Range(op.Constant(value_int=0), k, op.Constant(value_int=1))
    eye = op.CastLike(op.Equal(op.Unsqueeze(idx, op.Constant(value_ints=[-1])), idx), b)
    v = op.Expand(eye, op.Concat(op.Shape(b, end=-2), op.Shape(b, start=-1), op.Shape(b, start=-1), axis=0))
    rounds = round_count(k)
    zero = op.CastLike(op.Constant(value_float=0.0), b)
    last = op.Constant(value_ints=[-1])
    down = op.Constant(value_ints=[-2])
    tol = op.Add(op.CastLike(op.Constant(value_float=1e-14), b),
                 op.Mul(op.CastLike(m, b), op.CastLike(op.Constant(value_float=2.220446049250313e-16), b)))
    w = op.Identity(b)
    for _sweep in range(MAX_SWEEPS):
        for r in range(rounds):
            p, q = round_pairs(k, r)
            e_p = op.CastLike(op.Equal(op.Unsqueeze(p, last), idx), b)
            e_q = op.CastLike(op.Equal(op.Unsqueeze(q, last), idx), b)
            w_p = op.MatMul(w, op.Transpose(e_p, perm=[1, 0]))  # (*, m, h): column p of each pair
            w_q = op.MatMul(w, op.Transpose(e_q, perm=[1, 0]))  # a zero column for the bye: no rotation
            c, s = rotation(op.ReduceSum(op.Mul(w_p, w_p), down, keepdims=0),
                            op.ReduceSum(op.Mul(w_q, w_q), down, keepdims=0),
                            op.ReduceSum(op.Mul(w_p, w_q), down, keepdims=0))
            j = round_rotation(e_p, e_q, c, s, eye)
            w = op.MatMul(w, j)
            v = op.MatMul(v, j)
        gram = op.Einsum(w, w, equation="...ij,...ik->...jk")
        norms = op.Sqrt(op.ReduceSum(op.Mul(gram, eye), last, keepdims=0))
        scale = op.Mul(op.Unsqueeze(norms, last), op.Unsqueeze(norms, down))
        excess = op.Mul(op.Sub(op.Abs(gram), op.Mul(tol, scale)),
                        op.Sub(op.CastLike(op.Constant(value_float=1.0), b), eye))
        converged = op.Not(op.Greater(op.ReduceMax(op.Concat(op.Reshape(excess, last),
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
