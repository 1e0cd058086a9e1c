"""Shared pieces of the orthogonal-polynomial contrib ops (torch.special.*_polynomial_*): the recurrence
rows for the lib function ``orthogonal_polynomial``, samples, shape inference and the aten lowering."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import numpy as np
from onnx import TensorProto
from onnx.helper import make_tensor

from ..opdef import OpDef
from ..types import Sample, TensorSpec
from . import _aten
from ._common import broadcast_dims

FLOATS = ["float32", "float64", "float16"]
N_DTYPES = ["float32", "float64", "float16", "int64", "int32"]

# family -> (ax, akx, ak, a0, bk, b0, gk, g0, px, p0): P_1 = px x + p0 and
# P_{k+1} = (((ax + akx k) x + ak k + a0) P_k - (bk k + b0) P_{k-1}) / (gk k + g0)
_RECURRENCES = {
    "chebyshev_t": (2, 0, 0, 0, 0, 1, 0, 1, 1, 0),
    "chebyshev_u": (2, 0, 0, 0, 0, 1, 0, 1, 2, 0),
    "chebyshev_v": (2, 0, 0, 0, 0, 1, 0, 1, 2, -1),
    "chebyshev_w": (2, 0, 0, 0, 0, 1, 0, 1, 2, 1),
    "hermite_h": (2, 0, 0, 0, 2, 0, 0, 1, 2, 0),
    "hermite_he": (1, 0, 0, 0, 1, 0, 0, 1, 1, 0),
    "laguerre_l": (-1, 0, 2, 1, 1, 0, 1, 1, -1, 1),
    "legendre_p": (1, 2, 0, 0, 1, 0, 1, 1, 1, 0),
}


def row(family: str, shifted: bool = False) -> TensorProto:
    """The float64 row of ``orthogonal_polynomial`` for a family; ``shifted`` evaluates at 2x - 1."""
    ax, akx, ak, a0, bk, b0, gk, g0, px, p0 = _RECURRENCES[family]
    values = [2.0, -1.0] if shifted else [1.0, 0.0]
    values += [px, p0, ax, akx, ak, a0, bk, b0, gk, g0]
    return make_tensor(f"{'shifted_' if shifted else ''}{family}", TensorProto.DOUBLE, [12], [float(v) for v in values])


def infer(x: TensorSpec, n: TensorSpec) -> TensorSpec:
    return TensorSpec(broadcast_dims(x.shape, n.shape), x.dtype)


def samples(rng: np.random.Generator, lo: float = -1.5, hi: float = 1.5) -> Iterator[Sample]:
    """x in [lo, hi) against orders 0..10 (and a negative and a fractional one), broadcasting, the ends of
    [-1, 1] and [0, 1], float64, an int64 order tensor, 0-d, empty."""
    f32 = np.float32
    orders = np.array([0, 1, 2, 3, 4, 5, 6, 7, 8, 10, -1, 2.7], f32)
    yield Sample(rng.uniform(lo, hi, (3, 12)).astype(f32), np.broadcast_to(orders, (3, 12)).copy()).named("orders")
    yield Sample(rng.uniform(lo, hi, (4, 1)), np.arange(6, dtype=np.float64)).named("broadcast_float64")
    ends = np.array([-1, 1, 0, 0.5, -1, 1, 0, 1], f32)
    yield Sample(ends, np.array([3, 3, 4, 5, 4, 9, 9, 8], f32)).named("ends")
    yield Sample(rng.uniform(lo, hi, (5,)).astype(f32), np.array([0, 2, 4, 6, 9])).named("int64_orders")
    yield Sample(np.array(0.3, f32), np.array(4.0, f32)).named("0d")
    yield Sample(np.zeros((0, 3), f32), np.ones((0, 3), f32)).named("empty")


def lower(opdef: OpDef, overload_args: dict) -> Any:
    """Emit ``opdef`` for an aten call (x, n); a Scalar x or n becomes a constant."""
    op = _aten.std_opset()
    x, n = overload_args["x"], overload_args["n"]
    if isinstance(x, (int, float)):
        x = op.CastLike(op.Constant(value_float=float(x)), n) if n.dtype is not None and int(n.dtype) in (1, 10, 11) \
            else op.Constant(value_float=float(x))
    if isinstance(n, (int, float)):
        n = op.Constant(value_float=float(n))
    return _aten.emit(opdef, x, n)
