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


def _f64(name: str, value: float) -> TensorProto:
    """A float64 scalar for op.Constant (a float literal in a script is a float32 constant)."""
    return make_tensor(name, TensorProto.DOUBLE, [], [value])


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
HUGE = _f64("huge", 1e300)
CENTRE = _f64("centre", 3.75)
PI = _f64("pi", math.pi)
# B_2k / (2k) for k = 1..5: the asymptotic series of digamma, psi(y) ~ log y - 1/(2y) - sum_k B_2k / (2k y^2k);
# scalars, evaluated by Horner's rule (a (N, 5) tensor of powers is four times slower)
D1, D2, D3, D4, D5 = (_f64(f"digamma_{k}", c) for k, c in enumerate([1 / 12, -1 / 120, 1 / 252, -1 / 240, 1 / 132]))
# B_2k for k = 1..3: the asymptotic series of trigamma, psi'(y) ~ 1/y + 1/(2y^2) + sum_k B_2k / y^(2k+1)
T1, T2, T3 = (_f64(f"trigamma_{k}", c) for k, c in enumerate([1 / 6, -1 / 30, 1 / 42]))


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
    # y < 0; as opforge/ops/_special.py. Coefficients and pi as float64 tensors (a literal is float32)
    reflect = v < 0.0
    y = op.Where(reflect, 1.0 - v, v)
    y = op.Where(op.Or(op.IsInf(y), op.IsNaN(y)), op.CastLike(1.0, v), y)
    acc = op.Neg(1.0 / y) - 1.0 / (y + 1.0) - 1.0 / (y + 2.0) - 1.0 / (y + 3.0) - 1.0 / (y + 4.0) - 1.0 / (y + 5.0)
    y6 = y + 6.0
    inv = 1.0 / y6
    inv2 = inv * inv
    series = inv2 * (op.Constant(value=D1) + inv2 * (op.Constant(value=D2) + inv2 * (op.Constant(value=D3) + inv2 * (
        op.Constant(value=D4) + inv2 * op.Constant(value=D5)))))
    out = acc + op.Log(y6) - 0.5 * inv - series
    r = v - op.Round(v)
    pi = op.Constant(value=PI)
    angle = pi * r
    out = op.Where(reflect, out - pi * op.Cos(angle) / op.Sin(angle), out)
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
    pi = op.Constant(value=PI)
    one = op.CastLike(1.0, v)
    reflect = v < 0.5
    sin_pi_x = op.Sin(pi * v)
    result = op.Where(reflect, op.Neg(pi * pi / (sin_pi_x * sin_pi_x)), op.CastLike(0.0, v))
    y = op.Where(reflect, one - v, v)
    for _i in range(6):
        result = result + one / (y * y)
        y = y + one
    ixx = one / (y * y)
    series = ixx * (op.Constant(value=T1) + ixx * (op.Constant(value=T2) + ixx * op.Constant(value=T3)))
    result = result + (one + one / (y + y) + series) / y
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


# Lanczos (g = 7, 9 terms) as float64 tensors: a float literal would be rounded to float32, which costs
# lgamma(1e5) ~ 1e6 two whole digits once x^a e^-x / Gamma(a) is formed from it
_LANCZOS = [676.5203681218851, -1259.1392167224028, 771.32342877765313, -176.61502916214059, 12.507343278686905,
            -0.13857109526572012, 9.9843695780195716e-6, 1.5056327351493116e-7]
L1, L2, L3, L4, L5, L6, L7, L8 = (_f64(f"lanczos_{k}", c) for k, c in enumerate(_LANCZOS, 1))
LANCZOS_FIRST = _f64("lanczos_first", 0.99999999999980993)
HALF_LOG_TWO_PI = _f64("half_log_two_pi", 0.5 * math.log(2 * math.pi))
# the incomplete gamma function: the series stops at float64 rounding, the continued fraction once its
# steps change it by less than 1e-14 relative (they jitter by a few ulps at the end), both after this many
# terms at most (what a ~ 1e6 with x ~ a needs; torch switches to Temme's asymptotic expansion there)
GAMMA_EPS = _f64("gamma_eps", 2.0 ** -53)
GAMMA_FRACTION_EPS = _f64("gamma_fraction_eps", 1e-14)
GAMMA_BIG = _f64("gamma_big", 2.0 ** 52)
GAMMA_MAX_TERMS = 10000
NO_TERMS = make_tensor("no_terms", TensorProto.DOUBLE, [1], [0.0])  # what a reduction over an empty tensor gives


@script(BODY_LIB, default_opset=op)
def none_of(flags):  # noqa: ANN001, ANN201
    """Whether no element of the bool tensor ``flags`` is true (true for an empty one): a Loop's stop."""
    found = op.ReduceMax(op.Concat(op.Reshape(op.Cast(flags, to=11), op.Constant(value_ints=[-1])),
                                   op.Constant(value=NO_TERMS), axis=0), keepdims=0)
    return found == op.CastLike(0.0, found)


@script(BODY_LIB, default_opset=op)
def lgamma_positive(v):  # noqa: ANN001, ANN201
    """log Gamma(v) for float64 v > 0, to ~1e-15 relative (Lanczos at v >= 0.5, log Gamma(v + 1) - log v
    below)."""
    small = v < 0.5
    z = op.Where(small, v, v - op.CastLike(1.0, v))  # the Lanczos argument minus one
    total = (op.Constant(value=LANCZOS_FIRST) + op.Constant(value=L1) / (z + 1.0) + op.Constant(value=L2) / (z + 2.0)
             + op.Constant(value=L3) / (z + 3.0) + op.Constant(value=L4) / (z + 4.0) + op.Constant(value=L5) / (z + 5.0)
             + op.Constant(value=L6) / (z + 6.0) + op.Constant(value=L7) / (z + 7.0) + op.Constant(value=L8) / (z + 8.0))
    t = z + 7.5
    out = op.Constant(value=HALF_LOG_TWO_PI) + (z + 0.5) * op.Log(t) - t + op.Log(total)
    return op.Where(small, out - op.Log(v), out)


@script(BODY_LIB, default_opset=op)
def regularized_gamma(a, x):  # noqa: ANN001, ANN201
    """(P(a, x), Q(a, x)) = the lower and upper regularized incomplete gamma functions for float64 a, x of
    one shape, with torch's (Cephes') conventions: NaN for a < 0, x < 0, a = x = 0 and a = x = inf; P = 1
    at a = 0 < x and at x = inf; P = 0 at x = 0 < a and at a = inf. The power series of P where x <= 1 or
    x <= a, Legendre's continued fraction for Q elsewhere (Cephes' recurrence), each times
    x^a e^-x / Gamma(a) formed in float64; the other one is 1 minus it."""
    one = op.CastLike(1.0, a)
    zero = op.CastLike(0.0, a)
    inf = op.CastLike(op.Constant(value_float=float("inf")), a)
    nan = op.CastLike(op.Constant(value_float=float("nan")), a)
    eps = op.Constant(value=GAMMA_EPS)
    fraction_eps = op.Constant(value=GAMMA_FRACTION_EPS)
    big = op.Constant(value=GAMMA_BIG)
    undefined = op.Or(op.Or(op.Or(op.IsNaN(a), op.IsNaN(x)), op.Or(a < zero, x < zero)),
                      op.Or(op.And(a == zero, x == zero), op.And(a == inf, x == inf)))
    all_of_it = op.Or(op.And(a == zero, x > zero), x == inf)  # P = 1
    none_of_it = op.Or(op.And(x == zero, a > zero), a == inf)  # P = 0
    plain = op.Not(op.Or(undefined, op.Or(all_of_it, none_of_it)))
    av = op.Where(plain, a, one)
    xv = op.Where(plain, x, one)
    front = op.Exp(av * op.Log(xv) - xv - lgamma_positive(av))  # x^a e^-x / Gamma(a)
    fraction = op.And(xv > one, xv > av)
    # P = front / a * sum_k x^k / ((a + 1) ... (a + k)); x = 0 where the fraction serves (one term)
    xs = op.Where(fraction, zero, xv)
    term = op.Expand(one, op.Shape(av))
    total = op.Identity(term)
    r = op.Identity(av)
    for _k in range(GAMMA_MAX_TERMS):
        r = r + one
        term = term * xs / r
        total = total + term
        settled = none_of(term > eps * total)
        if settled:
            break
    series = front * total / av
    # Q = front * (the continued fraction), with a = 1, x = 2 where the series serves (it converges at once)
    ac = op.Where(fraction, av, one)
    xc = op.Where(fraction, xv, one + one)
    y = one - ac
    z = xc + y + one
    c = op.Identity(zero)
    pkm2 = op.Expand(one, op.Shape(av))
    qkm2 = op.Identity(xc)
    pkm1 = xc + one
    qkm1 = z * xc
    ans = pkm1 / qkm1
    for _k in range(GAMMA_MAX_TERMS):
        c = c + one
        y = y + one
        z = z + one + one
        yc = y * c
        pk = pkm1 * z - pkm2 * yc
        qk = qkm1 * z - qkm2 * yc
        defined = qk != zero
        ratio = pk / op.Where(defined, qk, one)
        change = op.Where(defined, op.Abs((ans - ratio) / ratio), one)
        ans = op.Where(defined, ratio, ans)
        scale = op.Where(op.Abs(pk) > big, one / big, one)  # keep the recurrence in range
        pkm2 = pkm1 * scale
        pkm1 = pk * scale
        qkm2 = qkm1 * scale
        qkm1 = qk * scale
        settled = none_of(op.Not(change <= fraction_eps))
        if settled:
            break
    upper = front * ans
    p = op.Where(fraction, one - upper, series)
    q = op.Where(fraction, upper, one - series)
    p = op.Where(all_of_it, one, op.Where(none_of_it, zero, p))
    q = op.Where(all_of_it, zero, op.Where(none_of_it, one, q))
    return op.Where(undefined, nan, p), op.Where(undefined, nan, q)
