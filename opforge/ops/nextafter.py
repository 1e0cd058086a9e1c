"""opforge.contrib::NextAfter: torch.nextafter (the next representable float after x towards y)."""

from __future__ import annotations

import numpy as np
import torch
from onnx import TensorProto
from onnx.helper import make_tensor
from onnxscript import opset18 as op

from ..api import op as declare
from ..types import Sample
from . import _aten, _torch
from ._common import broadcast_spec

_FLOAT = ["float32", "float64"]
# float64 constants of the body (a float literal in onnxscript is a float32 constant)
_TINY64 = make_tensor("tiny64", TensorProto.DOUBLE, [], [1e-300])
_MAX32 = make_tensor("max32", TensorProto.DOUBLE, [], [float(np.finfo(np.float32).max)])
_MAX64 = make_tensor("max64", TensorProto.DOUBLE, [], [float(np.finfo(np.float64).max)])


@declare("opforge.contrib::NextAfter", version=1, dtypes={"x": _FLOAT, "y": _FLOAT, "output": _FLOAT},
         serves=["torch.nextafter", "Tensor.nextafter"])
def nextafter(x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """Elementwise next representable value after ``x`` in the direction of ``y`` (broadcasting); ``y`` when
    they are equal, NaN when either is NaN."""
    return torch.nextafter(x, y)


@nextafter.kernel("cpu")
def _(x: np.ndarray, y: np.ndarray, *, out: np.ndarray | None = None) -> np.ndarray:
    return _torch.cpu(torch.nextafter, x, y, out=out, name=nextafter.name)


@nextafter.kernel("cuda")
def _(x, y):  # noqa: ANN001, ANN202
    import cupy

    return cupy.nextafter(x, y)


nextafter.infer(broadcast_spec)


@nextafter.onnx_function
def _(x, y):  # noqa: ANN001, ANN202
    # exact without bit casts (ONNX has none): in float64, the binade exponent e of |x| (log2, then corrected
    # with exact powers of two), the spacing 2^(e - mantissa bits) (e clamped at the smallest normal exponent,
    # so subnormals step by the smallest subnormal), half that when stepping down out of a binade's bottom; bit-exact
    # against torch (tests/test_contrib_bodies.py) except one sign: from -(smallest subnormal) towards 0 it
    # gives +0.0 where torch gives -0.0 (equal as numbers)
    wide = op.Cast(x, to=11)
    target = op.Cast(y, to=11)
    is64 = op.CastLike(op.Constant(value=_TINY64), x) != op.CastLike(0.0, x)
    digits = op.Where(is64, op.CastLike(52.0, wide), op.CastLike(23.0, wide))
    lowest = op.Where(is64, op.CastLike(-1022.0, wide), op.CastLike(-126.0, wide))
    largest = op.Where(is64, op.Constant(value=_MAX64), op.Constant(value=_MAX32))
    two = op.CastLike(2.0, wide)
    one = op.CastLike(1.0, wide)
    a = op.Abs(wide)
    e = op.Floor(op.Log(a) / op.Log(two))
    e = op.Where(op.Pow(two, e) > a, e - one, e)
    e = op.Where(op.Pow(two, e + one) <= a, e + one, e)
    e = op.Max(e, lowest)
    spacing = op.Pow(two, e - digits)
    bottom = op.And(a == op.Pow(two, e), e > lowest)
    up = target > wide
    away = op.Or(op.And(up, wide >= 0.0), op.And(op.Not(up), wide <= 0.0))
    step = op.Where(op.Or(away, op.Not(bottom)), spacing, spacing / two)
    out = op.Where(up, wide + step, wide - step)
    zero = op.CastLike(0.0, wide)
    out = op.Where(op.And(out == zero, wide < zero), wide * zero, out)  # towards 0 from below ends at -0.0
    out = op.Where(op.IsInf(wide), op.Where(wide > 0.0, largest, op.Neg(largest)), out)
    out = op.Where(wide == target, target, out)
    nan = op.CastLike(op.Constant(value_float=float("nan")), wide)
    out = op.Where(op.Or(op.IsNaN(wide), op.IsNaN(target)), nan, out)
    return op.CastLike(out, x)


@nextafter.samples
def _(rng: np.random.Generator):  # noqa: ANN202
    f32 = np.float32
    yield Sample(rng.standard_normal((4, 8)).astype(f32), rng.standard_normal((4, 8)).astype(f32)).named("same_shape")
    yield Sample(rng.standard_normal((3, 1, 5)), rng.standard_normal((4, 1))).named("broadcast_float64")
    tiny = np.finfo(f32).tiny
    yield Sample(np.array([0.0, -0.0, 0.0, 1, 1, np.inf, -np.inf, np.nan, 2, tiny, np.finfo(f32).max], f32),
                 np.array([1, -1, -0.0, 1, 2, 0, 0, 1, np.nan, 0, np.inf], f32)).named("zero_equal_inf_nan_subnormal")
    f64 = np.float64
    edges = [0.0, 1.0, 2.0, 0.5, 1 - 2.0 ** -53, 2.0 ** -1022, 5e-324, 1e300, -3.0, np.finfo(f64).max]
    yield Sample(np.array(edges + edges, f64), np.array([1.0] * len(edges) + [-1.0] * len(edges), f64)
                 ).named("float64_binade_edges")
    powers = np.array([1, 2, 0.5, 4, 2.0 ** -126, 2.0 ** -127, -1, -2, 3, 1e-45], f32)
    yield Sample(np.concatenate([powers, powers]), np.concatenate([powers * 0, powers * 10])
                 ).named("binade_bottoms_both_ways")
    yield Sample(np.array(1.0, f32), np.array(2.0, f32)).named("0d")
    yield Sample(np.zeros((0, 2), f32), np.zeros((1, 2), f32)).named("empty")


@_aten.lowers(torch.ops.aten.nextafter.default, nextafter)
def _(a: dict) -> object:
    """nextafter(Tensor self, Tensor other) -> Tensor"""
    return _aten.emit(nextafter, a["self"], a["other"])
