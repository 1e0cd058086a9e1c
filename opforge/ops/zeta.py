"""opforge.contrib::Zeta: torch.special.zeta (the Hurwitz zeta function)."""

from __future__ import annotations

import numpy as np
import torch
from onnxscript import opset18 as op

from ..api import op as declare
from ..types import Sample, TensorSpec
from . import _aten, _torch
from ._common import broadcast_dims
from ._special_lib import hurwitz_zeta

_FLOATS = ["float32", "float64", "float16"]


@declare("opforge.contrib::Zeta", version=1, dtypes={"x": _FLOATS, "q": _FLOATS, "output": _FLOATS},
         serves=["torch.special.zeta"])
def zeta(x: torch.Tensor, q: torch.Tensor) -> torch.Tensor:
    """sum_k (q + k)^-x over broadcast x and q (Cephes' conventions: +inf at x = 1 and at q = 0, -1, ...,
    NaN for x < 1, for q < 0 with x not an integer, and at q = +inf)."""
    if x.dtype in (torch.float16, torch.bfloat16):  # torch has no half kernel on the CPU
        return torch.special.zeta(x.float(), q.float()).to(x.dtype)
    return torch.special.zeta(x, q)


@zeta.kernel("cpu")
def _(x: np.ndarray, q: np.ndarray) -> np.ndarray:
    return _torch.cpu(zeta.reference, x, q, name=zeta.name)


@zeta.kernel("cuda")
def _(x, q):  # noqa: ANN001, ANN202
    return _torch.cuda(zeta.reference, x, q)


@zeta.infer
def _(x: TensorSpec, q: TensorSpec) -> TensorSpec:
    return TensorSpec(broadcast_dims(x.shape, q.shape), x.dtype)


@zeta.onnx_function
def _(x, q):  # noqa: ANN001, ANN202
    s = op.Cast(x, to=11)
    a = op.Cast(q, to=11)
    shape = op.Shape(s + a)
    s = op.Expand(s, shape)
    a = op.Expand(a, shape)
    one = op.CastLike(1.0, s)
    out = hurwitz_zeta(op.Where(s > one, s, one + one), a)  # s <= 1 is masked below
    nan = op.CastLike(op.Constant(value_float=float("nan")), s)
    inf = op.CastLike(op.Constant(value_float=float("inf")), s)
    undefined = op.And(op.And(a < 0.0, a != op.Floor(a)), s != op.Floor(s))  # (q + k)^-x for q < 0
    out = op.Where(op.Or(op.Or(s < one, undefined), a == inf), nan, out)
    out = op.Where(s == one, inf, out)
    return op.CastLike(out, x)


@zeta.samples
def _(rng: np.random.Generator):  # noqa: ANN202
    f32 = np.float32
    yield Sample(rng.uniform(1.1, 8.0, (4, 8)).astype(f32), rng.uniform(0.1, 10.0, (4, 8)).astype(f32)).named("uniform")
    yield Sample(rng.uniform(1.5, 6.0, (3, 1)), rng.uniform(0.5, 4.0, (1, 5))).named("broadcast_float64")
    yield Sample(np.array([1, 0.5, 2, 2, 2, 2.5, 3, 1.01, 30, 4], f32),
                 np.array([1, 1, 0, -1, -1.5, -1.5, np.inf, 2, 1, -7.25], f32)).named("poles_and_domain")
    yield Sample(np.array(2.0, f32), np.array(1.0, f32)).named("0d")
    yield Sample(np.zeros((0, 3), f32), np.ones((0, 3), f32)).named("empty")


@_aten.lowers(torch.ops.aten.special_zeta.default, zeta)
def _(a: dict) -> object:
    """special_zeta(Tensor self, Tensor other) -> Tensor"""
    return _aten.emit(zeta, a["self"], a["other"])


@_aten.lowers(torch.ops.aten.special_zeta.other_scalar, zeta)
def _(a: dict) -> object:
    """special_zeta.other_scalar(Tensor self, Scalar other) -> Tensor"""
    std = _aten.std_opset()
    return _aten.emit(zeta, a["self"], std.CastLike(std.Constant(value_float=float(a["other"])), a["self"]))
