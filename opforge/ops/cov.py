"""opforge.contrib::Cov: torch.cov (and, through it, torch.corrcoef).

torch.cov checks its weights' values (not negative, not summing to zero) and its degrees of freedom in C++,
which ``torch.export`` cannot trace (``DataDependentOutputException: aten.equal``). During ``opforge.export``
``torch.cov`` / ``Tensor.cov`` stand in as this op, whose kernel is torch.cov itself: those checks run, with
torch's messages, inside ONNX Runtime. ``torch.corrcoef`` stands in as this op followed by torch's own
normalisation (the C++ composite's ops, traced as usual).

Absent weights become all-ones inputs (the same arithmetic). With a dynamic observation count that is 0
at run time this says "weights sum to zero" where torch returns NaN; with a dynamic first dim that is 1
at run time torch returns a 0-d result where the graph holds (n, n).
"""

from __future__ import annotations

import numpy as np
import torch
from onnxscript import opset18 as op

from ..api import op as declare
from ..exporters import stand_ins
from ..types import Sample, TensorSpec
from . import _torch

_FLOAT = ["float32", "float64"]


@declare("opforge.contrib::Cov", version=1,
         dtypes={"x": _FLOAT, "fweights": ["int64"], "aweights": _FLOAT, "output": _FLOAT},
         serves=["torch.cov", "Tensor.cov", "torch.corrcoef", "Tensor.corrcoef"])
def cov(x: torch.Tensor, fweights: torch.Tensor, aweights: torch.Tensor, correction: int = 1) -> torch.Tensor:
    """Covariance of the variables in the rows of ``x`` (N, M) (a 0-d or 1-D ``x`` is one variable),
    observations weighted by the integer ``fweights`` (M) times ``aweights`` (M): exactly
    ``torch.cov(x, correction=correction, fweights=fweights, aweights=aweights)``. All-ones weights give the
    unweighted covariance. Negative weights, weights summing to zero and other invalid inputs raise torch's
    error (the portable body, which cannot raise, gives NaN instead)."""
    return torch.cov(x, correction=correction, fweights=fweights, aweights=aweights)


@cov.kernel("cpu")
def _(x: np.ndarray, fweights: np.ndarray, aweights: np.ndarray, *, correction: int) -> np.ndarray:
    return _torch.cpu(cov.reference, x, fweights, aweights, correction=correction, name=cov.name)


@cov.kernel("cuda")
def _(x, fweights, aweights, *, correction):  # noqa: ANN001, ANN202
    return _torch.cuda(cov.reference, x, fweights, aweights, correction=correction)


@cov.infer
def _(x: TensorSpec, fweights: TensorSpec, aweights: TensorSpec, *, correction: int) -> TensorSpec:
    # torch squeezes the (N, N) result: one variable gives a 0-d covariance
    variables = 1 if len(x.shape) < 2 else x.shape[0]
    return TensorSpec(() if isinstance(variables, int) and variables == 1 else (variables, variables), x.dtype)


@cov.onnx_function
def _(x, fweights, aweights, correction: int = 1):  # noqa: ANN001, ANN202
    # torch's composite (aten/src/ATen/native/Correlation.cpp) step by step, on (N, M) observations. Plain
    # ONNX cannot raise: where torch rejects the weights (negative, or summing to zero) the result is NaN
    two_d = op.Slice(op.Concat(op.Constant(value_ints=[1, 1]), op.Shape(x), axis=0), op.Constant(value_ints=[-2]),
                     op.Constant(value_ints=[4]))  # the last two of [1, 1, *shape]
    xs = op.Reshape(x, two_d)
    w = op.Mul(op.CastLike(fweights, x), aweights)
    w_sum = op.ReduceSum(w, keepdims=0)
    avg = op.Div(op.ReduceSum(op.Mul(xs, w), op.Constant(value_ints=[1]), keepdims=0), w_sum)
    corr = op.CastLike(op.Constant(value_int=correction), x)
    zero = op.CastLike(op.Constant(value_float=0.0), x)
    weighted = op.Sub(w_sum, op.Div(op.Mul(corr, op.ReduceSum(op.Mul(w, aweights), keepdims=0)), w_sum))
    norm = op.Where(op.Equal(corr, zero), w_sum, weighted)
    norm = op.Where(op.LessOrEqual(norm, zero), zero, norm)  # torch warns and divides by 0
    centered = op.Sub(xs, op.Unsqueeze(avg, op.Constant(value_ints=[1])))
    product = op.MatMul(centered, op.Transpose(op.Mul(centered, w), perm=[1, 0]))
    negative = op.Add(op.ReduceSum(op.Cast(op.Less(fweights, op.CastLike(op.Constant(value_int=0), fweights)),
                                           to=7), keepdims=0),
                      op.ReduceSum(op.Cast(op.Less(aweights, zero), to=7), keepdims=0))
    valid = op.And(op.Equal(negative, op.Constant(value_int=0)), op.Not(op.Equal(w_sum, zero)))
    nan = op.CastLike(op.Constant(value_float=float("nan")), x)
    return op.Squeeze(op.Where(valid, op.Div(product, norm), nan))


@cov.samples
def _(rng: np.random.Generator):  # noqa: ANN202
    f32 = np.float32
    x = rng.standard_normal((3, 6)).astype(f32)
    ones_f, ones_a = np.ones(6, np.int64), np.ones(6, f32)
    yield Sample(x, ones_f, ones_a).named("unweighted")
    yield Sample(x, rng.integers(0, 4, 6), ones_a, correction=0).named("fweights_correction0")
    yield Sample(x, ones_f, rng.uniform(0.1, 2.0, 6).astype(f32)).named("aweights")
    yield Sample(x, rng.integers(1, 4, 6), rng.uniform(0.1, 2.0, 6).astype(f32), correction=2).named("both_correction2")
    yield Sample(rng.standard_normal(5).astype(f32), np.ones(5, np.int64), np.ones(5, f32)).named("one_variable_1d")
    yield Sample(rng.standard_normal((4, 7)), np.ones(7, np.int64), rng.uniform(0.5, 1.5, 7)).named("float64")


# -- stand-ins for torch.cov and torch.corrcoef during opforge.export ------------------------------------


def _handled(x: object, fweights: object, aweights: object) -> bool:
    """Calls this op computes exactly: float32/float64 ``x``; integer fweights; aweights of x's dtype."""
    if not isinstance(x, torch.Tensor) or x.dtype not in (torch.float32, torch.float64):
        return False
    if fweights is not None and (not isinstance(fweights, torch.Tensor) or fweights.is_floating_point()
                                 or fweights.is_complex() or fweights.dtype == torch.bool):
        return False
    return aweights is None or isinstance(aweights, torch.Tensor) and aweights.dtype == x.dtype


def _observations(x: torch.Tensor) -> int | torch.SymInt:
    return x.numel() if x.dim() < 2 else x.shape[1]


def _cov_node(x: torch.Tensor, correction: int, fweights: torch.Tensor | None,
              aweights: torch.Tensor | None) -> torch.Tensor:
    """One Cov node; absent weights as all-ones weights (the same arithmetic in torch's composite)."""
    m = _observations(x)
    fw = torch.ones(m, dtype=torch.int64) if fweights is None else fweights.to(torch.int64)
    aw = torch.ones(m, dtype=x.dtype) if aweights is None else aweights
    return cov(x, fw, aw, correction=int(correction))


@stand_ins.stands_in(torch.cov, torch.Tensor.cov)
def _(input: torch.Tensor, *, correction: int = 1, fweights: torch.Tensor | None = None,  # noqa: A002
      aweights: torch.Tensor | None = None) -> torch.Tensor:
    if not _handled(input, fweights, aweights) or not isinstance(correction, int):
        return NotImplemented
    if fweights is None and aweights is None and isinstance(_observations(input), int) and _observations(input) == 0:
        return NotImplemented  # no observations, no weights: torch gives NaN where all-ones weights would raise
    return _cov_node(input, correction, fweights, aweights)


@stand_ins.stands_in(torch.corrcoef, torch.Tensor.corrcoef)
def _(input: torch.Tensor) -> torch.Tensor:  # noqa: A002
    # torch's composite (Correlation.cpp: corrcoef) around the Cov node
    if not _handled(input, None, None) or input.dim() > 2 or (
            isinstance(_observations(input), int) and _observations(input) == 0):
        return NotImplemented
    c = _cov_node(input, 1, None, None)
    if c.dim() == 0:
        return c / c  # NaN for a 0, inf or NaN variance, 1 otherwise
    stddev = torch.sqrt(c.diagonal())
    c = c / stddev.view(-1, 1)
    c = c / stddev.view(1, -1)
    return torch.clip(c, -1, 1)
