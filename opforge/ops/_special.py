"""Special functions with numpy or cupy (``xp``): no scipy needed. Float64 inside, cast back.

lgamma: Lanczos approximation (g=7, 9 terms) with the reflection formula; digamma: reflection,
upward recurrence to x >= 6, then the asymptotic series; erfinv: Giles' single-precision
polynomial approximation ("Approximating the erfinv function", GPU Computing Gems, 2011).
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from typing import Any

import numpy as np

from ..types import Sample

_LANCZOS = (0.99999999999980993, 676.5203681218851, -1259.1392167224028, 771.32342877765313,
            -176.61502916214059, 12.507343278686905, -0.13857109526572012, 9.9843695780195716e-6,
            1.5056327351493116e-7)
_GILES_CENTRAL = (2.81022636e-08, 3.43273939e-07, -3.5233877e-06, -4.39150654e-06, 0.00021858087,
                  -0.00125372503, -0.00417768164, 0.246640727, 1.50140941)
_GILES_TAIL = (-0.000200214257, 0.000100950558, 0.00134934322, -0.00367342844, 0.00573950773,
               -0.0076224613, 0.00943887047, 1.00167406, 2.83297682)


def _work_dtype(x: Any) -> Any:
    """float64 for float64 input, float32 otherwise: float32 math (SIMD log/exp in numpy) is well
    inside float32's tolerance for these formulas, and several times faster than float64."""
    return np.float64 if x.dtype == np.float64 else np.float32


def _sin_pi(xp: Any, v: Any) -> Any:
    """|sin(pi * v)| with the argument reduced exactly first (v - round(v)), so it stays accurate
    next to the poles of the reflection formulas."""
    return xp.abs(xp.sin(np.pi * (v - xp.round(v))))


def _lgamma_positive(xp: Any, x: Any) -> Any:
    """log Gamma(x) for x >= 0.5 (Lanczos), in three work buffers: fresh temporaries of a large
    array cost page faults that can outweigh the arithmetic."""
    z = x - 1.0
    a = xp.add(z, 1.0)
    xp.divide(_LANCZOS[1], a, out=a)
    a += _LANCZOS[0]
    tmp = xp.empty_like(z)
    for i in range(2, len(_LANCZOS)):
        xp.add(z, float(i), out=tmp)
        xp.divide(_LANCZOS[i], tmp, out=tmp)
        a += tmp
    xp.log(a, out=a)
    xp.add(z, 7.5, out=tmp)  # t
    a -= tmp
    a += 0.5 * np.log(2 * np.pi)
    xp.log(tmp, out=tmp)
    z += 0.5
    z *= tmp
    a += z
    return a


def lgamma(xp: Any, x: Any) -> Any:
    """torch.lgamma: log|Gamma(x)|; +inf at the poles (0, -1, -2, ...) and at +-inf."""
    v = x.astype(_work_dtype(x), copy=False).reshape(-1)
    with np.errstate(all="ignore"):
        reflect = v < 0.5
        special = ~xp.isfinite(v)
        any_reflect, any_special = bool(reflect.any()), bool(special.any())
        safe = v
        if any_reflect or any_special:
            safe = v.copy()
            safe[reflect] = 1.0 - safe[reflect]
            safe[special] = 1.0
        out = _lgamma_positive(xp, safe)
        if any_reflect:
            r = v[reflect]
            out[reflect] = np.log(np.pi) - xp.log(_sin_pi(xp, r)) - out[reflect]
            out[reflect & (v == xp.floor(v))] = np.inf  # the poles
        if any_special:
            out[special] = xp.abs(v[special])  # inf at +-inf, NaN stays NaN
    return out.reshape(x.shape).astype(x.dtype, copy=False)


def digamma(xp: Any, x: Any) -> Any:
    """torch.digamma: -inf at 0, NaN at negative integers and -inf, +inf at +inf.

    psi(y) = psi(y + 6) - sum_{k<6} 1/(y + k) for every y (no per-element branching), then the
    asymptotic series at y + 6 >= 6; reflection for y < 0.
    """
    v = x.astype(_work_dtype(x), copy=False)
    with np.errstate(all="ignore"):
        reflect = v < 0
        any_reflect = bool(reflect.any())
        y = xp.where(reflect, 1.0 - v, v) if any_reflect else v
        special = ~xp.isfinite(y)
        any_special = bool(special.any())
        if any_special:
            y = xp.where(special, 1.0, y)
        y = y.astype(v.dtype, copy=False)
        acc = -1.0 / y
        for k in range(1, 6):
            acc -= 1.0 / (y + float(k))
        y = y + 6.0
        inv = 1.0 / y
        inv2 = inv * inv
        series = inv2 * (1 / 12 - inv2 * (1 / 120 - inv2 * (1 / 252 - inv2 * (1 / 240 - inv2 * (1 / 132)))))
        out = acc + xp.log(y) - 0.5 * inv - series
        if any_reflect:
            r = v - xp.round(v)
            out = xp.where(reflect, out - np.pi / xp.tan(np.pi * r), out)
            out = xp.where(reflect & (r == 0), np.nan, out)
        out = xp.where(v == 0, -np.inf, out)
        if any_special:
            out = xp.where(v == np.inf, np.inf, out)
            out = xp.where(xp.isnan(v) | (v == -np.inf), np.nan, out)
    return out.astype(x.dtype, copy=False)


def _horner(coefficients: tuple[float, ...], w: Any) -> Any:
    p = coefficients[0] * w + coefficients[1]
    for c in coefficients[2:]:
        p *= w
        p += c
    return p


def erfinv(xp: Any, x: Any) -> Any:
    """torch.erfinv: +-inf at +-1, NaN outside [-1, 1]. The tail branch runs only on the few
    elements that need it."""
    v = x.astype(_work_dtype(x), copy=False)
    with np.errstate(all="ignore"):
        w = -xp.log((1.0 - v) * (1.0 + v))  # NaN outside [-1, 1], inf at +-1
        tail = w >= 5.0
        p = _horner(_GILES_CENTRAL, w - 2.5)
        if bool(tail.any()):
            p[tail] = _horner(_GILES_TAIL, xp.sqrt(w[tail]) - 3.0)
        out = p * v
        if v.dtype == np.float64 and xp is np:
            _refine_erfinv_tail(v, out)
        edge = xp.abs(v) == 1
        if bool(edge.any()):
            out = xp.where(edge, xp.sign(v) * np.inf, out)
    return out.astype(x.dtype, copy=False)


def _refine_erfinv_tail(v: np.ndarray, out: np.ndarray) -> None:
    """Giles' polynomial is single precision: near +-1 it is off by up to 0.04 in float64. Four Newton
    steps on log(erfc) (exact where 1 - |v| is tiny) restore double precision on those few elements."""
    near = np.isfinite(out) & (np.abs(v) > 0.999)
    if not near.any():
        return
    erfc = np.frompyfunc(math.erfc, 1, 1)
    target = 1.0 - np.abs(v[near])  # exact for |v| close to 1
    z = np.abs(out[near])
    for _ in range(4):  # Newton on log(erfc(z)) = log(target): nearly linear in z**2, so it converges fast
        e = erfc(z).astype(np.float64)
        z = z + (np.log(e) - np.log(target)) * e / (2.0 / math.sqrt(math.pi) * np.exp(-z * z))
    out[near] = np.sign(v[near]) * z


def unary_samples(rng: np.random.Generator, lo: float, hi: float, special: list[float]) -> Iterator[Sample]:
    """Samples for an elementwise op: a batch in [lo, hi), float64, special values, 0-d, empty."""
    yield Sample(rng.uniform(lo, hi, (4, 16)).astype(np.float32)).named("uniform")
    yield Sample(rng.uniform(lo, hi, (2, 3, 5))).named("float64_3d")
    yield Sample(np.array(special, np.float32)).named("special_values")
    yield Sample(np.array(special[0] if np.isfinite(special[0]) else 0.5, np.float32)).named("0d")
    yield Sample(np.zeros((0, 3), np.float32)).named("empty")
    yield Sample(rng.uniform(lo, hi, (3, 8)).astype(np.float16)).named("float16")
