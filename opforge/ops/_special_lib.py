"""onnxscript functions that several special-function bodies call (domain ``opforge.contrib.lib``).

A float literal in an onnxscript expression becomes a float32 constant; the float64 constants here are
TensorProtos instead, so the bodies keep double precision."""

from __future__ import annotations

import math

from onnx import TensorProto
from onnx.helper import make_tensor
from onnxscript import opset18 as op
from onnxscript import script

from ._common import BODY_LIB

# erfcx(a) (1 + 2a) as a polynomial in y = (a - 3.75) / (a + 3.75), lowest power first: a Chebyshev fit on
# all of [0, inf), relative error below 1e-13 against torch.special.erfcx in float64 (tools/fit_erfcx.py)
_ERFCX_POWERS = [1.2375126308377933, -0.14024059858488785, 0.0035854154924910703, 0.08227673845004205,
                 -0.10880393037590447, 0.09230432187892106, -0.05869339555516738, 0.028362271536881124,
                 -0.009746599601851584, 0.001755652133778883, 0.00029379013522072626, -0.0002902238867832079,
                 5.146990229184305e-05, 2.2498616290421874e-05, -1.1180185797422987e-05, -1.0893477238967768e-06,
                 1.5094268154813295e-06, 1.2751207434449552e-08, -1.2652816638210474e-07]
ERFCX_COEFFICIENTS = make_tensor("erfcx_coefficients", TensorProto.DOUBLE, [len(_ERFCX_POWERS)], _ERFCX_POWERS)
ERFCX_EXPONENTS = make_tensor("erfcx_exponents", TensorProto.DOUBLE, [len(_ERFCX_POWERS)],
                              [float(k) for k in range(len(_ERFCX_POWERS))])
# B_2j / (2j)! for j = 1..10: the Euler-Maclaurin tail of the Hurwitz zeta function
_BERNOULLI = [(1, 6), (-1, 30), (1, 42), (-1, 30), (5, 66), (-691, 2730), (7, 6), (-3617, 510), (43867, 798),
              (-174611, 330)]
ZETA_TAIL = make_tensor("zeta_tail", TensorProto.DOUBLE, [len(_BERNOULLI)],
                        [num / den / math.factorial(2 * j + 2) for j, (num, den) in enumerate(_BERNOULLI)])
HUGE = make_tensor("huge", TensorProto.DOUBLE, [], [1e300])
CENTRE = make_tensor("centre", TensorProto.DOUBLE, [], [3.75])


@script(BODY_LIB, default_opset=op)
def erfcx_nonneg(a):  # noqa: ANN001, ANN201
    """exp(a^2) erfc(a) for float64 a >= 0 (+inf gives 0)."""
    finite = op.Min(a, op.Constant(value=HUGE))  # y stays defined at +inf, where the division gives 0
    centre = op.Constant(value=CENTRE)
    y = (finite - centre) / (finite + centre)
    powers = op.Pow(op.Unsqueeze(y, op.Constant(value_ints=[-1])), op.Constant(value=ERFCX_EXPONENTS))
    p = op.MatMul(powers, op.Constant(value=ERFCX_COEFFICIENTS))
    return p / (a + a + op.CastLike(1.0, a))


@script(BODY_LIB, default_opset=op)
def digamma_f64(v):  # noqa: ANN001, ANN201
    """psi(v) for float64 v: -inf at 0, NaN at negative integers and -inf, +inf at +inf."""
    # float64: psi(y) = psi(y + 6) - sum_{k<6} 1/(y + k), the asymptotic series at y + 6, reflection for
    # y < 0; as opforge/ops/_special.py
    reflect = v < 0.0
    y = op.Where(reflect, 1.0 - v, v)
    y = op.Where(op.Or(op.IsInf(y), op.IsNaN(y)), op.CastLike(1.0, v), y)
    acc = op.Neg(1.0 / y) - 1.0 / (y + 1.0) - 1.0 / (y + 2.0) - 1.0 / (y + 3.0) - 1.0 / (y + 4.0) - 1.0 / (y + 5.0)
    y6 = y + 6.0
    inv = 1.0 / y6
    inv2 = inv * inv
    series = inv2 * (0.083333333333333333 - inv2 * (0.0083333333333333333 - inv2 * (
        0.003968253968253968 - inv2 * (0.0041666666666666667 - inv2 * 0.0075757575757575758))))
    out = acc + op.Log(y6) - 0.5 * inv - series
    r = v - op.Round(v)
    angle = 3.141592653589793 * r
    out = op.Where(reflect, out - 3.141592653589793 * op.Cos(angle) / op.Sin(angle), out)
    nan = op.CastLike(op.Constant(value_float=float("nan")), v)
    inf = op.CastLike(op.Constant(value_float=float("inf")), v)
    out = op.Where(op.And(reflect, r == 0.0), nan, out)  # negative integers
    out = op.Where(v == 0.0, op.Neg(inf), out)
    out = op.Where(v == inf, inf, out)
    out = op.Where(op.Or(op.IsNaN(v), v == op.Neg(inf)), nan, out)
    return out


@script(BODY_LIB, default_opset=op)
def hurwitz_zeta(s, q):  # noqa: ANN001, ANN201
    """zeta(s, q) = sum_k (q + k)^-s for float64 q and a float64 scalar s > 1 (as Cephes, whose zeta torch
    uses): the first terms summed directly until q + k >= 9 for every element, then the Euler-Maclaurin tail
    with 10 Bernoulli terms. +inf at q = 0, -1, -2, ... and at -inf."""
    big = op.CastLike(9.0, q)
    finite = op.Where(op.Or(op.IsNaN(q), op.IsInf(q)), big, q)
    low = op.ReduceMin(op.Concat(op.Reshape(finite, op.Constant(value_ints=[-1])), op.Reshape(big, op.Constant(value_ints=[-1])), axis=0), keepdims=0)
    steps = op.Cast(op.Ceil(big - low), to=7)
    acc = op.Mul(q, op.CastLike(0.0, q))
    for i in range(steps):
        acc = acc + op.Pow(q + op.CastLike(i, q), op.Neg(s))
    a = q + op.Cast(steps, to=11)
    one = op.CastLike(1.0, q)
    total = acc + op.Pow(a, one - s) / (s - one) + 0.5 * op.Pow(a, op.Neg(s))
    rising = s
    power = op.Pow(a, op.Neg(s) - one)
    inv_a2 = one / (a * a)
    coefficients = op.Constant(value=ZETA_TAIL)
    for j in range(10):
        total = total + op.Gather(coefficients, j) * rising * power
        two_j = op.Cast(j + j, to=11)
        rising = rising * (s + two_j + one) * (s + two_j + op.CastLike(2.0, q))
        power = power * inv_a2
    inf = op.CastLike(op.Constant(value_float=float("inf")), q)
    pole = op.And(q <= 0.0, q == op.Floor(q))
    return op.Where(pole, inf, total)


@script(BODY_LIB, default_opset=op)
def trigamma_f64(v):  # noqa: ANN001, ANN201
    """psi'(v) for float64 v, by torch's own recipe (reflection below 0.5, six upward steps, then the
    asymptotic series), so that it agrees with torch.polygamma(1, .) at +inf (0) and near the poles."""
    pi = op.CastLike(3.141592653589793, v)
    one = op.CastLike(1.0, v)
    reflect = v < 0.5
    sin_pi_x = op.Sin(pi * v)
    result = op.Where(reflect, op.Neg(pi * pi / (sin_pi_x * sin_pi_x)), op.CastLike(0.0, v))
    y = op.Where(reflect, one - v, v)
    for _i in range(6):
        result = result + one / (y * y)
        y = y + one
    ixx = one / (y * y)
    result = result + (one + one / (y + y) + ixx * (0.16666666666666666 - ixx * (0.03333333333333333 - ixx * 0.023809523809523808))) / y
    return op.Where(reflect, op.Neg(result), result)


@script(BODY_LIB, default_opset=op)
def orthogonal_polynomial(x, n, row):  # noqa: ANN001, ANN201
    """P_n(x) of a classical orthogonal polynomial family by its three-term recurrence, run as a Loop up to
    the largest n, for float64 x and n (n truncated to an integer as torch does; n < 0 gives 0). ``row``
    (float64, 12 values) defines the family, see opforge/ops/_polynomials.py: the argument x' = sx x + s0,
    P_1 = px x' + p0, and P_{k+1} = ((ax + akx k) x' + ak k + a0) P_k - (bk k + b0) P_{k-1}) / (gk k + g0)."""
    sx, s0, px, p0 = op.Gather(row, 0), op.Gather(row, 1), op.Gather(row, 2), op.Gather(row, 3)
    ax, akx, ak, a0 = op.Gather(row, 4), op.Gather(row, 5), op.Gather(row, 6), op.Gather(row, 7)
    bk, b0, gk, g0 = op.Gather(row, 8), op.Gather(row, 9), op.Gather(row, 10), op.Gather(row, 11)
    t = sx * x + s0
    shape = op.Shape(op.Add(t, n))
    order = op.Cast(n, to=7)
    zero = op.Expand(op.CastLike(0.0, t), shape)
    previous = zero + op.CastLike(1.0, t)
    current = zero + px * t + p0
    out = op.Where(order == op.Constant(value_int=1), current, op.Where(order == op.Constant(value_int=0), previous, zero))
    flat = op.Concat(op.Reshape(order, op.Constant(value_ints=[-1])), op.Constant(value_ints=[1]), axis=0)
    steps = op.Max(op.ReduceMax(flat, keepdims=0) - op.Constant(value_int=1), op.Constant(value_int=0))
    for j in range(steps):
        k = op.Cast(j + op.Constant(value_int=1), to=11)
        following = (((ax + akx * k) * t + ak * k + a0) * current - (bk * k + b0) * previous) / (gk * k + g0)
        out = op.Where(order == j + op.Constant(value_int=2), following, out)
        previous = current
        current = following
    return out
