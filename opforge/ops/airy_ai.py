"""opforge.contrib::AiryAi: torch.special.airy_ai.

The portable body computes in float64 from closed forms, no fitted tables: the Maclaurin series of Ai on
[-8, 5] (two power series in x^3 whose coefficients are products of integers), and beyond it the
asymptotic expansions (DLMF 9.7.5 and 9.7.9) whose coefficients u_k follow from u_0 = 1 by a recurrence.
Against mpmath it is within 4e-11 on [-8, 5] and 2e-8 (relative) beyond; torch's own float64 values are
up to 3e-6 off just below -2.09, where its rational approximation takes over. For x <= -8 the phase is
computed as torch computes it, in the input's precision (float32 for float32 and float16), so that large
negative float32 inputs land on torch's rounding of it rather than on the exact value."""

from __future__ import annotations

import math

import numpy as np
import torch
from onnx import TensorProto
from onnx.helper import make_tensor
from onnxscript import opset18 as op

from ..api import op as declare
from ..types import TensorSpec
from . import _aten, _special, _torch

_FLOATS = ["float32", "float64", "float16"]
_SERIES_TERMS, _TAIL_TERMS, _OSCILLATING_TERMS = 45, 14, 12


def _double(name: str, values: list[float]) -> TensorProto:
    return make_tensor(name, TensorProto.DOUBLE, [len(values)], values)


def _scalar(name: str, value: float) -> TensorProto:
    return make_tensor(name, TensorProto.DOUBLE, [], [value])


def _maclaurin() -> tuple[list[float], list[float]]:
    """Ai(x) = Ai(0) f(x^3) + Ai'(0) x g(x^3): f, g's coefficients 1 / prod (3j-1)(3j), 1 / prod (3j)(3j+1)."""
    f, g = [1.0], [1.0]
    for j in range(1, _SERIES_TERMS):
        f.append(f[-1] / ((3 * j - 1) * (3 * j)))
        g.append(g[-1] / ((3 * j) * (3 * j + 1)))
    return f, g


def _asymptotic(count: int) -> list[float]:
    """u_k of the asymptotic expansions: u_0 = 1, u_k = u_{k-1} (6k-5)(6k-3)(6k-1) / (216 k (2k-1))."""
    u = [1.0]
    for k in range(1, count):
        u.append(u[-1] * (6 * k - 5) * (6 * k - 3) * (6 * k - 1) / (216 * k * (2 * k - 1)))
    return u


_F, _G = _maclaurin()
_U = _asymptotic(2 * _OSCILLATING_TERMS)
SERIES_F, SERIES_G = _double("airy_f", _F), _double("airy_g", _G)
SERIES_POWERS = _double("airy_powers", [float(k) for k in range(_SERIES_TERMS)])
TAIL = _double("airy_tail", [(-1) ** k * _U[k] for k in range(_TAIL_TERMS)])  # Ai(x), x >= 5
TAIL_POWERS = _double("airy_tail_powers", [float(k) for k in range(_TAIL_TERMS)])
AMPLITUDE = _double("airy_p", [(-1) ** k * _U[2 * k] for k in range(_OSCILLATING_TERMS)])  # Ai(-t), t >= 8
QUADRATURE = _double("airy_q", [(-1) ** k * _U[2 * k + 1] for k in range(_OSCILLATING_TERMS)])
OSCILLATING_POWERS = _double("airy_osc_powers", [float(k) for k in range(_OSCILLATING_TERMS)])
AI_0 = _scalar("ai_0", 1 / (3 ** (2 / 3) * math.gamma(2 / 3)))  # Ai(0)
MINUS_AI_PRIME_0 = _scalar("minus_ai_prime_0", 1 / (3 ** (1 / 3) * math.gamma(1 / 3)))  # -Ai'(0)
TWO_THIRDS = _scalar("two_thirds", 2 / 3)
QUARTER_PI = _scalar("quarter_pi", math.pi / 4)
SQRT_PI = _scalar("sqrt_pi", math.sqrt(math.pi))
PROBE = _scalar("probe", 0.1)  # not a float32 value: tells float64 inputs from float32/float16 ones
LAST = _scalar("last", 103.892)  # torch returns 0 beyond


@declare("opforge.contrib::AiryAi", version=1, dtypes={"x": _FLOATS, "output": _FLOATS},
         serves=["torch.special.airy_ai"])
def airy_ai(x: torch.Tensor) -> torch.Tensor:
    """The Airy function Ai, elementwise (NaN at +-inf, 0 above 103.892 as torch)."""
    if x.dtype in (torch.float16, torch.bfloat16):  # torch has no half kernel on the CPU
        return torch.special.airy_ai(x.float()).to(x.dtype)
    return torch.special.airy_ai(x)


@airy_ai.kernel("cpu")
def _(x: np.ndarray) -> np.ndarray:
    return _torch.cpu(torch.special.airy_ai, x, upcast=True, name=airy_ai.name)


@airy_ai.kernel("cuda")
def _(x):  # noqa: ANN001, ANN202
    return _torch.cuda(torch.special.airy_ai, x, upcast=True)


@airy_ai.infer
def _(x: TensorSpec) -> TensorSpec:
    return TensorSpec(x.shape, x.dtype)


@airy_ai.onnx_function
def _(x):  # noqa: ANN001, ANN202
    v = op.Cast(x, to=11)
    last_axis = op.Constant(value_ints=[-1])
    # [-8, 5]: Ai(0) f(x^3) - (-Ai'(0)) x g(x^3), both power series in x^3
    s = op.Clip(v, op.CastLike(-8.0, v), op.CastLike(5.0, v))
    powers = op.Pow(op.Unsqueeze(s * s * s, last_axis), op.Constant(value=SERIES_POWERS))
    near = op.Constant(value=AI_0) * op.MatMul(powers, op.Constant(value=SERIES_F)) - \
        op.Constant(value=MINUS_AI_PRIME_0) * s * op.MatMul(powers, op.Constant(value=SERIES_G))
    # x >= 5: exp(-zeta) / (2 sqrt(pi) x^(1/4)) sum_k (-1)^k u_k zeta^-k, zeta = 2/3 x^(3/2)
    p = op.Max(v, op.CastLike(5.0, v))
    zeta = op.Constant(value=TWO_THIRDS) * p * op.Sqrt(p)
    w = op.Unsqueeze(op.Reciprocal(zeta), last_axis)
    tail = op.MatMul(op.Pow(w, op.Constant(value=TAIL_POWERS)), op.Constant(value=TAIL))
    right = op.Exp(op.Neg(zeta)) * tail / (op.CastLike(2.0, v) * op.Constant(value=SQRT_PI) * op.Sqrt(op.Sqrt(p)))
    # x <= -8: (sin(theta) P - cos(theta) Q) / (sqrt(pi) t^(1/4)), t = -x, theta = zeta + pi/4 as torch
    # rounds it (in the input's precision), P and Q series in 1/zeta^2
    low = op.Min(v, op.CastLike(-8.0, v))
    t = op.Neg(low)
    zeta_t = op.Constant(value=TWO_THIRDS) * t * op.Sqrt(t)
    inverse = op.Reciprocal(zeta_t)
    w2 = op.Pow(op.Unsqueeze(inverse * inverse, last_axis), op.Constant(value=OSCILLATING_POWERS))
    amplitude = op.MatMul(w2, op.Constant(value=AMPLITUDE))
    quadrature = inverse * op.MatMul(w2, op.Constant(value=QUADRATURE))
    theta_wide = op.CastLike(-2.0, v) * low * op.Sqrt(t) / op.CastLike(3.0, v) + op.Constant(value=QUARTER_PI)
    narrow = op.Cast(low, to=1)
    theta_narrow = op.Cast(op.CastLike(-2.0, narrow) * narrow * op.Sqrt(op.Neg(narrow)) / op.CastLike(3.0, narrow) +
                           op.Cast(op.Constant(value=QUARTER_PI), to=1), to=11)
    probe = op.CastLike(op.Constant(value=PROBE), x)
    wide = op.Cast(op.Cast(probe, to=1), to=11) != op.Cast(probe, to=11)
    theta = op.Where(wide, theta_wide, theta_narrow)
    left = (op.Sin(theta) * amplitude - op.Cos(theta) * quadrature) / (op.Constant(value=SQRT_PI) * op.Sqrt(op.Sqrt(t)))
    out = op.Where(v <= op.CastLike(-8.0, v), left, op.Where(v >= op.CastLike(5.0, v), right, near))
    out = op.Where(v > op.Constant(value=LAST), op.CastLike(0.0, v), out)
    out = op.Where(op.Or(op.IsInf(v), op.IsNaN(v)), op.CastLike(op.Constant(value_float=float("nan")), v), out)
    return op.CastLike(out, x)


@airy_ai.samples
def _(rng: np.random.Generator):  # noqa: ANN202
    yield from _special.unary_samples(rng, -12.0, 12.0, [0.0, -2.1, 2.09, -8.0, 5.0, -2.338107, 25.0, 104.0, -1e4,
                                                         -123.456, float("inf"), float("-inf"), float("nan")])


@_aten.lowers(torch.ops.aten.special_airy_ai.default, airy_ai)
def _(a: dict) -> object:
    """special_airy_ai(Tensor x) -> Tensor"""
    return _aten.emit(airy_ai, a["x"])
