"""Correct ops for the conformance suite's own tests (domain ``opforge.test.conf``)."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch
from onnxscript import opset18 as op

import opforge

DOMAIN = "opforge.test.conf"


@opforge.op(f"{DOMAIN}::ConfSwish")
def conf_swish(x: torch.Tensor, beta: float = 1.0) -> torch.Tensor:
    """x * sigmoid(beta * x)."""
    return x * torch.sigmoid(beta * x)


@conf_swish.kernel("cpu")
def _(x: np.ndarray, *, beta: float) -> np.ndarray:
    return (x / (1 + np.exp(-beta * x))).astype(x.dtype)


@conf_swish.infer
def _(x: opforge.TensorSpec, *, beta: float) -> opforge.TensorSpec:
    return opforge.TensorSpec(x.shape, x.dtype)


@conf_swish.samples
def _(rng: np.random.Generator):
    yield opforge.Sample(rng.standard_normal((4, 8)).astype(np.float32), beta=0.5)
    yield opforge.Sample(rng.standard_normal((3, 5)).astype(np.float32)).named("default_beta")


@conf_swish.onnx_function
def _(x, beta: float = 1.0):
    return op.Mul(x, op.Sigmoid(op.Mul(op.CastLike(beta, x), x)))


@opforge.op(f"{DOMAIN}::ConfTopRows", outputs=["values", "indices"], dtypes={"indices": ["int64"]})
def conf_top_rows(x: torch.Tensor, bias: torch.Tensor | None = None, k: int = 2) -> tuple[torch.Tensor, torch.Tensor]:
    """Row-wise top-k of x (+ bias): values and indices; two outputs and an optional input."""
    if bias is not None:
        x = x + bias
    values, indices = torch.topk(x, k, dim=-1)
    return values, indices


@conf_top_rows.kernel("cpu")
def _(x: np.ndarray, bias: np.ndarray | None, *, k: int) -> tuple[np.ndarray, np.ndarray]:
    if bias is not None:
        x = x + bias
    indices = np.argsort(-x, axis=-1, kind="stable")[..., :k]
    return np.take_along_axis(x, indices, axis=-1), indices.astype(np.int64)


@conf_top_rows.infer
def _(x, bias, *, k):
    shape = tuple(x.shape[:-1]) + (k,)
    return opforge.TensorSpec(shape, x.dtype), opforge.TensorSpec(shape, "int64")


@conf_top_rows.samples
def _(rng: np.random.Generator):
    # distinct values: ties would make the indices implementation-defined
    x = rng.permutation(60).reshape(6, 10).astype(np.float32) / 7
    yield opforge.Sample(x, k=3)
    yield opforge.Sample(x, (np.arange(10) % 3).astype(np.float32) * 100).named("with_bias")


@opforge.op(f"{DOMAIN}::ConfWeightedSum", dtypes={"xs": ["float32", "float64"]})
def conf_weighted_sum(xs: Sequence[torch.Tensor], weights: list[float]) -> torch.Tensor:
    """sum_i weights[i] * xs[i]; a variadic input and a required attribute."""
    out = torch.zeros_like(xs[0])
    for w, x in zip(weights, xs):
        out = out + w * x
    return out


@conf_weighted_sum.kernel("cpu")
def _(xs: list[np.ndarray], *, weights: list[float]) -> np.ndarray:
    out = np.zeros_like(xs[0])
    for w, x in zip(weights, xs):
        out = out + np.asarray(w, dtype=x.dtype) * x
    return out


@conf_weighted_sum.samples
def _(rng: np.random.Generator):
    xs = [rng.standard_normal((2, 3)).astype(np.float32) for _ in range(3)]
    yield opforge.Sample(xs, weights=[0.5, -1.0, 2.0])
    yield opforge.Sample(xs[:1], weights=[3.0]).xfail(reason="demonstrates a sample marked xfail that passes")
