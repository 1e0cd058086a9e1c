"""float64 onnxscript functions for the Bessel-function bodies (domain ``opforge.contrib.lib``): Chebyshev
series fitted to torch (opforge/ops/_bessel_tables.py, tools/fit_bessel.py), split as Cephes splits them.
Each takes and returns float64; a float literal in onnxscript is a float32 constant, so the constants
that need double precision are TensorProtos."""

from __future__ import annotations

import math

from onnx import TensorProto
from onnx.helper import make_tensor
from onnxscript import opset18 as op
from onnxscript import script

from . import _bessel_tables as t
from ._common import BODY_LIB


def _double(name: str, values: list[float]) -> TensorProto:
    return make_tensor(name, TensorProto.DOUBLE, [len(values)], values)


def _scalar(name: str, value: float) -> TensorProto:
    return make_tensor(name, TensorProto.DOUBLE, [], [value])


J0_SMALL, J1_SMALL, Y0_SMALL, Y1_SMALL = (_double(n, getattr(t, n)) for n in ("J0_SMALL", "J1_SMALL", "Y0_SMALL",
                                                                              "Y1_SMALL"))
J0_P, J0_Q, J1_P, J1_Q = (_double(n, getattr(t, n)) for n in ("J0_P", "J0_Q", "J1_P", "J1_Q"))
I0_SMALL, I1_SMALL, K0_SMALL, K1_SMALL = (_double(n, getattr(t, n)) for n in ("I0_SMALL", "I1_SMALL", "K0_SMALL",
                                                                              "K1_SMALL"))
K0E_LARGE, K1E_LARGE, I1E_SMALL, I1E_LARGE = (_double(n, getattr(t, n)) for n in ("K0E_LARGE", "K1E_LARGE",
                                                                                  "I1E_SMALL", "I1E_LARGE"))
QUARTER_PI = _scalar("quarter_pi", math.pi / 4)
THREE_QUARTER_PI = _scalar("three_quarter_pi", 3 * math.pi / 4)
TWO_OVER_PI = _scalar("two_over_pi", 2 / math.pi)


@script(BODY_LIB, default_opset=op)
def chebyshev_series(y, coefficients):  # noqa: ANN001, ANN201
    """sum_k c_k T_k(y) for float64 y (clipped to [-1, 1]) by Clenshaw's recurrence (ORT has no float64 Acos
    for cos(k acos y))."""
    one = op.CastLike(1.0, y)
    t = op.Clip(y, op.Neg(one), one)
    two_t = t + t
    count = op.Squeeze(op.Shape(coefficients))
    b1 = t * op.CastLike(0.0, y)
    b2 = b1
    for i in range(count - op.Constant(value_int=1)):
        b0 = op.Gather(coefficients, count - op.Constant(value_int=1) - i) + two_t * b1 - b2
        b2 = b1
        b1 = b0
    return op.Gather(coefficients, op.Constant(value_int=0)) + t * b1 - b2


@script(BODY_LIB, default_opset=op)
def hankel_tail(a, p_table, q_table, shift, sine_first: int):  # noqa: ANN001, ANN201
    """sqrt(2 / (pi z)) (P cos(z - shift) - Q sin(z - shift)) with z = max(a, 5), or with sine_first
    (P sin + Q cos): J and Y beyond 5 from the fitted amplitude factors P(y), x Q(y), y = 50 / z^2 - 1."""
    z = op.Max(a, op.CastLike(5.0, a))
    y = op.CastLike(50.0, a) / (z * z) - op.CastLike(1.0, a)
    p = chebyshev_series(y, p_table)
    q = chebyshev_series(y, q_table) / z
    xi = z - shift
    scale = op.Sqrt(op.Constant(value=TWO_OVER_PI) / z)
    # (Where, not If: onnxscript leaves the lib domain out of a function's imports when a branch calls it)
    sine = op.Constant(value_int=sine_first) == op.Constant(value_int=1)
    return op.Where(sine, scale * (p * op.Sin(xi) + q * op.Cos(xi)), scale * (p * op.Cos(xi) - q * op.Sin(xi)))


@script(BODY_LIB, default_opset=op)
def bessel_j0_f64(v):  # noqa: ANN001, ANN201
    a = op.Abs(v)
    small = chebyshev_series(a * a / 12.5 - 1.0, op.Constant(value=J0_SMALL))
    large = hankel_tail(a, op.Constant(value=J0_P), op.Constant(value=J0_Q), op.Constant(value=QUARTER_PI),
                        sine_first=0)
    return op.Where(a <= 5.0, small, large)  # NaN at +-inf, as torch


@script(BODY_LIB, default_opset=op)
def bessel_j1_f64(v):  # noqa: ANN001, ANN201
    a = op.Abs(v)
    small = v * chebyshev_series(a * a / 12.5 - 1.0, op.Constant(value=J1_SMALL))
    large = op.Sign(v) * hankel_tail(a, op.Constant(value=J1_P), op.Constant(value=J1_Q),
                                     op.Constant(value=THREE_QUARTER_PI), sine_first=0)
    return op.Where(a <= 5.0, small, large)  # NaN at +-inf, as torch


@script(BODY_LIB, default_opset=op)
def bessel_y0_f64(v):  # noqa: ANN001, ANN201
    """NaN below 0, -inf at 0."""
    small = chebyshev_series(v * v / 12.5 - 1.0, op.Constant(value=Y0_SMALL)) + \
        op.Constant(value=TWO_OVER_PI) * op.Log(v) * bessel_j0_f64(v)
    large = hankel_tail(v, op.Constant(value=J0_P), op.Constant(value=J0_Q), op.Constant(value=QUARTER_PI),
                        sine_first=1)
    out = op.Where(v <= 5.0, small, large)
    return op.Where(v < 0.0, op.Sqrt(op.CastLike(-1.0, v)), out)


@script(BODY_LIB, default_opset=op)
def bessel_y1_f64(v):  # noqa: ANN001, ANN201
    """NaN below 0, -inf at 0."""
    small = v * chebyshev_series(v * v / 12.5 - 1.0, op.Constant(value=Y1_SMALL)) + \
        op.Constant(value=TWO_OVER_PI) * (op.Log(v) * bessel_j1_f64(v) - 1.0 / v)
    large = hankel_tail(v, op.Constant(value=J1_P), op.Constant(value=J1_Q), op.Constant(value=THREE_QUARTER_PI),
                        sine_first=1)
    out = op.Where(v <= 5.0, small, large)
    out = op.Where(v == 0.0, op.Neg(op.CastLike(op.Constant(value_float=float("inf")), v)), out)
    return op.Where(v < 0.0, op.Sqrt(op.CastLike(-1.0, v)), out)


@script(BODY_LIB, default_opset=op)
def bessel_k_f64(v, order: int, scaled: int):  # noqa: ANN001, ANN201
    """K0 or K1 (order), times exp(v) when scaled: NaN below 0, +inf at 0."""
    y = v * v / 2.0 - 1.0
    log_half = op.Log(v / 2.0)
    first = op.Constant(value_int=order) == op.Constant(value_int=1)
    small0 = chebyshev_series(y, op.Constant(value=K0_SMALL)) - log_half * chebyshev_series(y, op.Constant(value=I0_SMALL))
    small1 = log_half * v * chebyshev_series(y, op.Constant(value=I1_SMALL)) + \
        chebyshev_series(y, op.Constant(value=K1_SMALL)) / v
    w = 4.0 / op.Max(v, op.CastLike(2.0, v)) - 1.0
    tail = op.Where(first, chebyshev_series(w, op.Constant(value=K1E_LARGE)),
                    chebyshev_series(w, op.Constant(value=K0E_LARGE)))
    small = op.Where(first, small1, small0)
    scale = op.Constant(value_int=scaled) == op.Constant(value_int=1)
    small = op.Where(scale, small * op.Exp(v), small)
    large = op.Where(scale, tail / op.Sqrt(v), tail / op.Sqrt(v) * op.Exp(op.Neg(v)))
    out = op.Where(v <= 2.0, small, large)
    out = op.Where(v == 0.0, op.CastLike(op.Constant(value_float=float("inf")), v), out)
    return op.Where(v < 0.0, op.Sqrt(op.CastLike(-1.0, v)), out)


@script(BODY_LIB, default_opset=op)
def bessel_i1e_f64(v):  # noqa: ANN001, ANN201
    """exp(-|v|) I1(v), odd."""
    a = op.Abs(v)
    small = a * chebyshev_series(a / 4.0 - 1.0, op.Constant(value=I1E_SMALL))
    large = chebyshev_series(16.0 / op.Max(a, op.CastLike(8.0, a)) - 1.0, op.Constant(value=I1E_LARGE)) / op.Sqrt(a)
    return op.Sign(v) * op.Where(a <= 8.0, small, large)
