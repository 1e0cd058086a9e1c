"""Special functions with numpy or cupy (``xp``): no scipy needed. Float64 inside, cast back.

lgamma: Lanczos approximation (g=7, 9 terms) with the reflection formula; digamma: reflection,
upward recurrence to x >= 6, then the asymptotic series; erfinv: Giles' single-precision
polynomial approximation ("Approximating the erfinv function", GPU Computing Gems, 2011).
"""

from __future__ import annotations

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


def _lgamma_positive(xp: Any, x: Any) -> Any:
    """log Gamma(x) for x >= 0.5 (Lanczos)."""
    z = x - 1.0
    a = xp.full(x.shape, _LANCZOS[0])
    for i in range(1, len(_LANCZOS)):
        a = a + _LANCZOS[i] / (z + i)
    t = z + 7.5
    return 0.5 * np.log(2 * np.pi) + (z + 0.5) * xp.log(t) - t + xp.log(a)


def lgamma(xp: Any, x: Any) -> Any:
    """torch.lgamma: log|Gamma(x)|; +inf at the poles (0, -1, -2, ...) and at +-inf."""
    v = x.astype(np.float64)
    with np.errstate(all="ignore"):
        reflect = v < 0.5
        safe = xp.where(reflect, 1.0 - v, v)
        safe = xp.where(xp.isfinite(safe), safe, 1.0)
        out = _lgamma_positive(xp, safe)
        sin = xp.abs(xp.sin(np.pi * xp.where(reflect, v, 0.5)))
        out = xp.where(reflect, np.log(np.pi) - xp.log(sin) - out, out)
        pole = (v <= 0) & (v == xp.floor(v))
        out = xp.where(pole | xp.isinf(v), np.inf, out)
        out = xp.where(xp.isnan(v), np.nan, out)
    return out.astype(x.dtype)


def digamma(xp: Any, x: Any) -> Any:
    """torch.digamma: -inf at 0, NaN at negative integers and -inf, +inf at +inf."""
    v = x.astype(np.float64)
    with np.errstate(all="ignore"):
        reflect = v < 0
        y = xp.where(reflect, 1.0 - v, v)
        y = xp.where(xp.isfinite(y), y, 1.0)
        acc = xp.zeros(v.shape)
        for _ in range(6):
            small = y < 6
            acc = acc - xp.where(small, 1.0 / y, 0.0)
            y = xp.where(small, y + 1.0, y)
        inv2 = 1.0 / (y * y)
        series = inv2 * (1 / 12 - inv2 * (1 / 120 - inv2 * (1 / 252 - inv2 * (1 / 240 - inv2 * (1 / 132)))))
        out = acc + xp.log(y) - 0.5 / y - series
        out = xp.where(reflect, out - np.pi / xp.tan(np.pi * v), out)
        out = xp.where(reflect & (v == xp.floor(v)), np.nan, out)
        out = xp.where(v == 0, -np.inf, out)
        out = xp.where(v == np.inf, np.inf, out)
        out = xp.where(xp.isnan(v) | (v == -np.inf), np.nan, out)
    return out.astype(x.dtype)


def _horner(coefficients: tuple[float, ...], w: Any) -> Any:
    p = coefficients[0]
    for c in coefficients[1:]:
        p = c + p * w
    return p


def erfinv(xp: Any, x: Any) -> Any:
    """torch.erfinv: +-inf at +-1, NaN outside [-1, 1]."""
    v = x.astype(np.float64)
    with np.errstate(all="ignore"):
        inside = xp.abs(v) < 1
        safe = xp.where(inside, v, 0.0)
        w = -xp.log((1.0 - safe) * (1.0 + safe))
        central = _horner(_GILES_CENTRAL, w - 2.5)
        tail = _horner(_GILES_TAIL, xp.sqrt(w) - 3.0)
        out = xp.where(w < 5.0, central, tail) * safe
        out = xp.where(xp.abs(v) == 1, xp.sign(v) * np.inf, out)
        out = xp.where(inside | (xp.abs(v) == 1), out, np.nan)
    return out.astype(x.dtype)


def unary_samples(rng: np.random.Generator, lo: float, hi: float, special: list[float]) -> Iterator[Sample]:
    """Samples for an elementwise op: a batch in [lo, hi), float64, special values, 0-d, empty."""
    yield Sample(rng.uniform(lo, hi, (4, 16)).astype(np.float32)).named("uniform")
    yield Sample(rng.uniform(lo, hi, (2, 3, 5))).named("float64_3d")
    yield Sample(np.array(special, np.float32)).named("special_values")
    yield Sample(np.array(special[0] if np.isfinite(special[0]) else 0.5, np.float32)).named("0d")
    yield Sample(np.zeros((0, 3), np.float32)).named("empty")
    yield Sample(rng.uniform(lo, hi, (3, 8)).astype(np.float16)).named("float16")
