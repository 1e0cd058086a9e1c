"""opforge.contrib::GaussianNllLoss: F.gaussian_nll_loss with a tensor ``var``.

F.gaussian_nll_loss raises when ``torch.any(var < 0)``, a check on tensor values that ``torch.export``
cannot trace (``GuardOnDataDependentSymNode``). During ``opforge.export`` the function stands in as this op,
whose kernel is torch's function itself: a negative variance raises torch's ValueError inside ONNX Runtime.
"""

from __future__ import annotations

import math

import numpy as np
import torch
import torch.nn.functional as F  # noqa: N812
from onnxscript import opset18 as op

from ..api import op as declare
from ..exporters import stand_ins
from ..types import Sample, TensorSpec
from . import _torch
from ._common import broadcast_dims, same_dim

_FLOAT = ["float32", "float64"]
_REDUCTIONS = ("none", "mean", "sum")


@declare("opforge.contrib::GaussianNllLoss", version=1,
         dtypes={"input": _FLOAT, "target": _FLOAT, "var": _FLOAT, "output": _FLOAT},
         serves=["F.gaussian_nll_loss", "torch.nn.GaussianNLLLoss"])
def gaussian_nll_loss(input: torch.Tensor, target: torch.Tensor, var: torch.Tensor, full: bool = False,  # noqa: A002
                      eps: float = 1e-6, reduction: int = 1) -> torch.Tensor:
    """Gaussian negative log likelihood of ``target`` under means ``input`` and variances ``var`` (of
    ``input``'s shape, or one dim short of it, or 1 in one dim: torch's homoscedastic forms), ``var`` clamped
    below at ``eps``; ``full`` adds log(2 pi) / 2; ``reduction`` 0 none, 1 mean, 2 sum. Exactly
    F.gaussian_nll_loss: a negative variance or a ``var`` of the wrong shape raises torch's ValueError (the
    portable body, which cannot raise, gives NaN for a negative variance)."""
    return F.gaussian_nll_loss(input, target, var, full=full, eps=eps, reduction=_REDUCTIONS[reduction])


def _check_reduction(reduction: int) -> None:
    if reduction not in (0, 1, 2):
        raise ValueError(f"{gaussian_nll_loss.name}: reduction={reduction}; pass 0 (none), 1 (mean) or 2 (sum)")


def _loss_into(input: np.ndarray, target: np.ndarray, var: np.ndarray, full: bool, eps: float,  # noqa: A002
               out: np.ndarray) -> bool:
    """reduction='none' with every shape equal: F.gaussian_nll_loss's steps in the same order (so the same
    roundings), the last ones into ONNX Runtime's buffer; False when the call needs torch's own path."""
    if not input.shape == target.shape == var.shape == out.shape or not input.dtype == target.dtype == var.dtype:
        return False
    x, t, v, loss = (_torch.from_numpy(a) for a in (input, target, var, out))
    if bool((v < 0).any()):
        return False  # torch's own ValueError
    clamped = v.clamp(min=eps)
    torch.log(clamped, out=loss)
    loss.add_((x - t) ** 2 / clamped).mul_(0.5)
    if full:
        loss.add_(0.5 * math.log(2 * math.pi))
    return True


@gaussian_nll_loss.kernel("cpu")
def _(input: np.ndarray, target: np.ndarray, var: np.ndarray, *, full: bool, eps: float,  # noqa: A002
      reduction: int, out: np.ndarray | None = None) -> np.ndarray:
    _check_reduction(reduction)
    if out is not None and reduction == 0 and _loss_into(input, target, var, full, eps, out):
        return out
    loss = _torch.cpu(gaussian_nll_loss.reference, input, target, var, full=full, eps=eps, reduction=reduction,
                      name=gaussian_nll_loss.name)
    if out is None:
        return loss
    np.copyto(out, loss)
    return out


@gaussian_nll_loss.kernel("cuda")
def _(input, target, var, *, full, eps, reduction):  # noqa: A002, ANN001, ANN202
    _check_reduction(reduction)
    return _torch.cuda(gaussian_nll_loss.reference, input, target, var, full=full, eps=eps, reduction=reduction)


@gaussian_nll_loss.infer
def _(input: TensorSpec, target: TensorSpec, var: TensorSpec, *, full: bool, eps: float,  # noqa: A002
      reduction: int) -> TensorSpec:
    _check_reduction(reduction)
    if reduction != 0:
        return TensorSpec((), input.dtype)
    shape, var_shape = tuple(input.shape), tuple(var.shape)
    if len(var_shape) == len(shape) - 1 and all(same_dim(a, b) for a, b in zip(shape[:-1], var_shape)):
        var_shape = (*var_shape, 1)  # torch unsqueezes a var one dim short of input
    return TensorSpec(broadcast_dims(broadcast_dims(shape, tuple(target.shape)), var_shape), input.dtype)


@gaussian_nll_loss.onnx_function
def _(input, target, var, full: bool = False, eps: float = 1e-6, reduction: int = 1):  # noqa: A002, ANN001, ANN202
    # torch's formula; plain ONNX cannot raise, so a negative variance gives NaN where torch raises
    if op.Equal(op.Size(op.Shape(var)), op.Sub(op.Size(op.Shape(input)), op.Constant(value_int=1))):
        v = op.Unsqueeze(var, op.Constant(value_ints=[-1]))
    else:
        v = op.Identity(var)
    zero = op.CastLike(op.Constant(value_float=0.0), input)
    half = op.CastLike(op.Constant(value_float=0.5), input)
    clamped = op.Max(v, op.CastLike(op.Constant(value_float=eps), input))
    diff = op.Sub(input, target)
    loss = op.Mul(half, op.Add(op.Log(clamped), op.Div(op.Mul(diff, diff), clamped)))
    constant = op.CastLike(op.Constant(value_float=0.5 * math.log(2 * math.pi)), input)
    loss = op.Where(op.Cast(op.Constant(value_int=full), to=9), op.Add(loss, constant), loss)
    negative = op.ReduceSum(op.Cast(op.Less(var, zero), to=7), keepdims=0)
    loss = op.Where(op.Equal(negative, op.Constant(value_int=0)), loss,
                    op.CastLike(op.Constant(value_float=float("nan")), input))
    if op.Equal(op.Constant(value_int=reduction), op.Constant(value_int=1)):
        out = op.Div(op.ReduceSum(loss, keepdims=0), op.CastLike(op.Size(loss), loss))  # empty: NaN, as torch
    elif op.Equal(op.Constant(value_int=reduction), op.Constant(value_int=2)):
        out = op.ReduceSum(loss, keepdims=0)
    else:
        out = op.Identity(loss)
    return out


@gaussian_nll_loss.samples
def _(rng: np.random.Generator):  # noqa: ANN202
    f32 = np.float32
    x, t = rng.standard_normal((4, 3)).astype(f32), rng.standard_normal((4, 3)).astype(f32)
    var = rng.uniform(0.1, 2.0, (4, 3)).astype(f32)
    yield Sample(x, t, var).named("mean")
    yield Sample(x, t, var, reduction=0).named("none")
    yield Sample(x, t, var, reduction=2, full=True).named("sum_full")
    yield Sample(x, t, rng.uniform(0.1, 2.0, 4).astype(f32), reduction=0).named("var_one_dim_short")
    yield Sample(x, t, rng.uniform(0.1, 2.0, (4, 1)).astype(f32), reduction=0).named("var_last_dim_1")
    yield Sample(x, t, np.array([[0.0, 1e-9, 1.0]] * 4, f32), eps=1e-3).named("clamped_at_eps")
    yield Sample(rng.standard_normal((2, 5)), rng.standard_normal((2, 5)), rng.uniform(0.5, 1.5, (2, 5)),
                 full=True).named("float64")


# -- the stand-in for F.gaussian_nll_loss during opforge.export -----------------------------------------


@stand_ins.stands_in(F.gaussian_nll_loss)
def _(input: torch.Tensor, target: torch.Tensor, var: torch.Tensor | float, full: bool = False,  # noqa: A002
      eps: float = 1e-6, reduction: str = "mean") -> torch.Tensor:
    tensors = (input, target, var)
    if not all(isinstance(t, torch.Tensor) for t in tensors):
        return NotImplemented  # a Python-float var: torch checks it in Python, nothing data dependent
    if reduction not in _REDUCTIONS:
        raise ValueError(f"F.gaussian_nll_loss: reduction={reduction!r} is not valid; pass 'none', 'mean' or 'sum'")
    if input.dtype not in (torch.float32, torch.float64) or any(t.dtype != input.dtype for t in tensors):
        return NotImplemented
    if var.shape != input.shape and not (var.shape == input.shape[:-1] or (
            var.dim() == input.dim() and sum(v for i, v in zip(input.shape, var.shape) if i != v) == 1)):
        raise ValueError(f"F.gaussian_nll_loss: var of shape {tuple(var.shape)} is of incorrect size for input of "
                         f"shape {tuple(input.shape)}; pass var of input's shape, input's shape without its last "
                         "dim, or input's shape with one dim of size 1")
    return gaussian_nll_loss(input, target, var, full=bool(full), eps=float(eps),
                             reduction=_REDUCTIONS.index(reduction))
