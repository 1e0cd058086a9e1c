"""opforge.contrib::Polygamma: torch.polygamma / torch.special.polygamma (the n-th derivative of digamma)."""

from __future__ import annotations

import numpy as np
import torch
from onnxscript import opset18 as op

from ..api import op as declare
from ..types import Sample, TensorSpec
from . import _aten, _special, _torch
from ._special_lib import digamma_f64, hurwitz_zeta, trigamma_f64

_FLOATS = ["float32", "float64", "float16"]


@declare("opforge.contrib::Polygamma", version=1, dtypes={"x": _FLOATS, "output": _FLOATS},
         serves=["torch.polygamma", "torch.special.polygamma", "Tensor.polygamma"])
def polygamma(x: torch.Tensor, n: int) -> torch.Tensor:
    """psi^(n)(x), elementwise, for n >= 0 (n = 0 is digamma): (-1)^(n+1) n! zeta(n + 1, x)."""
    if n < 0:
        raise ValueError(f"opforge.contrib::Polygamma: n={n} must be >= 0 (the order of the derivative)")
    if x.dtype in (torch.float16, torch.bfloat16):
        return torch.polygamma(n, x.float()).to(x.dtype)
    return torch.polygamma(n, x)


@polygamma.kernel("cpu")
def _(x: np.ndarray, *, n: int) -> np.ndarray:
    return _torch.cpu(polygamma.reference, x, n=n, name=polygamma.name)


@polygamma.kernel("cuda")
def _(x, *, n):  # noqa: ANN001, ANN202
    return _torch.cuda(polygamma.reference, x, n=n)


@polygamma.infer
def _(x: TensorSpec, *, n: int) -> TensorSpec:
    if n < 0:
        raise ValueError(f"{polygamma.name}: n={n} must be >= 0 (the order of the derivative)")
    return TensorSpec(x.shape, x.dtype)


@polygamma.onnx_function
def _(x, n: int):  # noqa: ANN001, ANN202
    # no If: onnxscript leaves the lib domain out of the function's imports when only a branch calls it
    v = op.Cast(x, to=11)
    order = op.Constant(value_int=n)
    s = op.Cast(op.Max(order, op.Constant(value_int=1)) + op.Constant(value_int=1), to=11)
    factorial = op.CastLike(1.0, v)
    for i in range(order):
        factorial = factorial * op.Cast(i + op.Constant(value_int=1), to=11)
    sign = op.Where(op.Mod(order, op.Constant(value_int=2)) == op.Constant(value_int=1),
                    op.CastLike(1.0, v), op.CastLike(-1.0, v))
    out = op.Where(order == op.Constant(value_int=1), trigamma_f64(v), sign * factorial * hurwitz_zeta(s, v))
    out = op.Where(order == op.Constant(value_int=0), digamma_f64(v), out)
    return op.CastLike(out, x)


@polygamma.samples
def _(rng: np.random.Generator):  # noqa: ANN202
    # (no negative integers for n = 1: torch's trigamma gives rounding-dependent huge values there)
    special = [0.0, -2.5, 1.0, 0.5, 1e-3, 40.0, -0.3, 7.25, float("inf"), float("nan")]
    yield from (Sample(*s.args, n=1).named(f"{s.name}_n1") for s in _special.unary_samples(rng, -4.0, 12.0, special))
    for n in (2, 3):
        yield Sample(rng.uniform(-4.0, 12.0, (4, 8)).astype(np.float32), n=n).named(f"uniform_n{n}")
        yield Sample(np.array(special, np.float32), n=n).named(f"special_values_n{n}")
    yield Sample(rng.uniform(0.1, 8.0, (3, 5)).astype(np.float32), n=0).named("n0_digamma")
    yield Sample(rng.uniform(0.1, 30.0, (8,)), n=6).named("n6_float64")


@_aten.lowers(torch.ops.aten.polygamma.default, polygamma)
def _(a: dict) -> object:
    """polygamma(int n, Tensor self) -> Tensor"""
    return _aten.emit(polygamma, a["self"], n=int(a["n"]))
