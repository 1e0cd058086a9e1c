"""opforge.contrib::CrossEntropyLoss: F.cross_entropy with class-index targets, label smoothing included.

Stock torch.onnx exports ``F.cross_entropy`` as ONNX SoftmaxCrossEntropyLoss and drops
``label_smoothing`` with no error (silently wrong); it also fails on a 1-D input and on
class-probability targets. The lowering below maps index targets onto this op and writes
probability targets out in standard ONNX ops.
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F  # noqa: N812
from onnxscript import opset18 as op

from ..api import op as declare
from ..types import Sample, TensorSpec
from . import _aten, _torch

_FLOAT = ["float32", "float64"]
_REDUCTIONS = ("none", "mean", "sum")


@declare("opforge.contrib::CrossEntropyLoss", version=1,
         dtypes={"input": _FLOAT, "target": ["int64"], "weight": _FLOAT, "output": _FLOAT},
         serves=["F.cross_entropy", "torch.nn.CrossEntropyLoss"])
def cross_entropy_loss(input: torch.Tensor, target: torch.Tensor, weight: torch.Tensor, reduction: int = 1,  # noqa: A002
                       ignore_index: int = -100, label_smoothing: float = 0.0) -> torch.Tensor:
    """Cross entropy of logits ``input`` (C) or (N, C, d1, ...) against class indices ``target`` () or
    (N, d1, ...), classes weighted by ``weight`` (C); ``reduction`` 0 none, 1 mean (over the target weights),
    2 sum; targets equal to ``ignore_index`` count for nothing; ``label_smoothing`` mixes in the uniform
    distribution over the C classes, exactly as torch does."""
    return F.cross_entropy(input, target, weight, reduction=_REDUCTIONS[reduction], ignore_index=ignore_index,
                           label_smoothing=label_smoothing)


def _check(reduction: int) -> str:
    if reduction not in (0, 1, 2):
        raise ValueError(f"{cross_entropy_loss.name}: reduction={reduction}; pass 0 (none), 1 (mean) or 2 (sum)")
    return _REDUCTIONS[reduction]


# torch's own kernel (zero-copy), the reference itself: 4x faster than the float64 numpy version it replaced;
# a target outside [0, C) that is not ignore_index is torch's IndexError, named after the op
@cross_entropy_loss.kernel("cpu")
def _(input: np.ndarray, target: np.ndarray, weight: np.ndarray, *, reduction: int, ignore_index: int,  # noqa: A002
      label_smoothing: float) -> np.ndarray:
    mode = _check(reduction)
    try:  # the direct call: a 0.1 ms op, where every wrapper step shows
        x, t, w = _torch.from_numpy(input), _torch.from_numpy(target), _torch.from_numpy(weight)
        if label_smoothing > 0 and x.dim() == 2 and t.dim() == 1:
            loss = _smoothed_rows(x, t, w, mode, ignore_index, label_smoothing)
        else:
            loss = F.cross_entropy(x, t, w, reduction=mode, ignore_index=ignore_index, label_smoothing=label_smoothing)
    except Exception:  # noqa: BLE001 - again through the wrapper, which names the op in torch's error
        return _torch.cpu(F.cross_entropy, input, target, weight, reduction=mode, ignore_index=ignore_index,
                          label_smoothing=label_smoothing, name=cross_entropy_loss.name)
    return loss.numpy()


def _smoothed_rows(x: torch.Tensor, target: torch.Tensor, weight: torch.Tensor, mode: str, ignore_index: int,
                   label_smoothing: float) -> torch.Tensor:
    """torch's label-smoothed cross entropy of (N, C) logits, step for step, except the smoothing term
    sum_c weight[c] * log_prob[n, c]: one matrix-vector product instead of a product and a sum over an
    (N, C) temporary. A fifth less time and one pass less over memory; it differs from torch's sum by
    float rounding only (at most 2.6e-7 relative in tests/test_contrib_kernel_routes.py)."""
    log_probs = torch.log_softmax(x, 1)
    nll = F.nll_loss(log_probs, target, weight, reduction=mode, ignore_index=ignore_index)
    ignored = target == ignore_index
    smooth = torch.mv(log_probs, weight).neg_().masked_fill_(ignored, 0.0)
    if mode == "mean":  # normalised by the weights of the targets, as nll_loss is
        smooth = smooth.sum() / weight.gather(0, target.masked_select(~ignored)).sum()
    elif mode == "sum":
        smooth = smooth.sum()
    return (1 - label_smoothing) * nll + smooth * (label_smoothing / x.shape[1])


@cross_entropy_loss.kernel("cuda")
def _(input, target, weight, *, reduction, ignore_index, label_smoothing):  # noqa: A002, ANN001, ANN202
    return _torch.cuda(F.cross_entropy, input, target, weight, reduction=_check(reduction), ignore_index=ignore_index,
                       label_smoothing=label_smoothing)


@cross_entropy_loss.infer
def _(input: TensorSpec, target: TensorSpec, weight: TensorSpec, *, reduction: int, ignore_index: int,  # noqa: A002
      label_smoothing: float) -> TensorSpec:
    return TensorSpec(target.shape if reduction == 0 else (), input.dtype)


@cross_entropy_loss.onnx_function
def _(input, target, weight, reduction: int = 1, ignore_index: int = -100,  # noqa: A002, ANN001, ANN202
      label_smoothing: float = 0.0):
    # a 1-D input (C) is one sample: work on (1, C) and a target of shape (1)
    rank = op.Size(op.Shape(input))
    one = op.Constant(value_ints=[1])
    if op.Equal(rank, op.Constant(value_int=1)):
        x = op.Unsqueeze(input, op.Constant(value_ints=[0]))
        t = op.Reshape(target, one)
    else:
        x = op.Identity(input)
        t = op.Identity(target)
    log_probs = op.LogSoftmax(x, axis=1)
    ignored = op.Equal(t, op.Constant(value_int=ignore_index))
    safe = op.Where(ignored, op.Constant(value_int=0), t)
    picked = op.Squeeze(op.GatherElements(log_probs, op.Unsqueeze(safe, one), axis=1), one)
    zero = op.CastLike(op.Constant(value_float=0.0), x)
    w_target = op.Where(ignored, zero, op.Gather(weight, safe))
    nll = op.Mul(op.Neg(picked), w_target)
    # the smoothing term: -sum_c weight[c] * log_prob[c], weight (C) broadcast as (1, C, 1, ..., 1)
    trailing = op.Expand(one, op.Reshape(op.Sub(op.Size(op.Shape(x)), op.Constant(value_int=2)), one))
    w_shape = op.Concat(one, op.Constant(value_ints=[-1]), trailing, axis=0)
    smooth = op.Where(ignored, zero, op.Neg(op.ReduceSum(op.Mul(log_probs, op.Reshape(weight, w_shape)), one,
                                                         keepdims=0)))
    ls = op.CastLike(op.Constant(value_float=label_smoothing), x)
    classes = op.CastLike(op.Gather(op.Shape(x), op.Constant(value_int=1)), x)
    smoothing = op.Greater(ls, zero)
    if op.Equal(op.Constant(value_int=reduction), op.Constant(value_int=0)):
        loss = op.Reshape(op.Where(smoothing, op.Add(op.Mul(op.Sub(op.CastLike(op.Constant(value_float=1.0), x), ls),
                                                           nll), op.Mul(smooth, op.Div(ls, classes))), nll),
                          op.Shape(target))
    else:
        total_nll = op.ReduceSum(nll, keepdims=0)
        total_smooth = op.ReduceSum(smooth, keepdims=0)
        if op.Equal(op.Constant(value_int=reduction), op.Constant(value_int=1)):
            # torch's weighted mean: divided by the summed weights of the targets (0/0 = NaN when all are ignored)
            total_w = op.ReduceSum(w_target, keepdims=0)
            total_nll = op.Div(total_nll, total_w)
            total_smooth = op.Div(total_smooth, total_w)
        loss = op.Where(smoothing, op.Add(op.Mul(op.Sub(op.CastLike(op.Constant(value_float=1.0), x), ls), total_nll),
                                          op.Mul(total_smooth, op.Div(ls, classes))), total_nll)
    return loss


@cross_entropy_loss.samples
def _(rng: np.random.Generator):  # noqa: ANN202
    f32 = np.float32
    x = rng.standard_normal((6, 5)).astype(f32)
    t = rng.integers(0, 5, 6)
    t_ignored = t.copy()
    t_ignored[[1, 4]] = -100
    ones, w = np.ones(5, f32), (rng.random(5) + 0.5).astype(f32)
    for reduction in (0, 1, 2):
        for ls in (0.0, 0.1):
            yield Sample(x, t_ignored, w, reduction=reduction, label_smoothing=ls).named(
                f"weight_ignore_{_REDUCTIONS[reduction]}_ls={ls}")
    yield Sample(x, t, ones, label_smoothing=0.25).named("unweighted_smoothing")
    yield Sample(x, np.where(t == 2, 7, t), ones, ignore_index=7, label_smoothing=0.3).named("custom_ignore_index")
    yield Sample(rng.standard_normal((2, 5, 3, 4)), rng.integers(0, 5, (2, 3, 4)), np.ones(5), label_smoothing=0.2,
                 reduction=0).named("spatial_float64")
    yield Sample(rng.standard_normal(5).astype(f32), np.array(3), w, label_smoothing=0.1).named("1d_input")
    yield Sample(x, np.full(6, -100), ones, label_smoothing=0.1).named("all_ignored_mean_nan")
    yield Sample(np.zeros((0, 5), f32), np.zeros(0, np.int64), ones, reduction=2, label_smoothing=0.1).named("empty")


def _probability_targets(a: dict) -> object:
    """Class-probability targets (same shape as the input) in standard ONNX ops, as torch computes them."""
    std = _aten.std_opset()
    x, target, weight = a["self"], a["target"], a["weight"]
    rank = len(x.shape)
    cdim = 0 if rank == 1 else 1
    ls = float(a["label_smoothing"])
    log_probs = std.LogSoftmax(x, axis=cdim)
    classes = std.CastLike(std.Gather(std.Shape(x), std.Constant(value_int=cdim)), x)
    if ls > 0:
        target = std.Add(std.Mul(target, std.CastLike(std.Constant(value_float=1 - ls), x)),
                         std.Div(std.CastLike(std.Constant(value_float=ls), x), classes))
    prod = std.Mul(log_probs, target)
    if weight is not None:
        prod = std.Mul(prod, std.Reshape(weight, std.Constant(value_ints=[-1] + [1] * (rank - cdim - 1))))
    reduction = int(a["reduction"])
    if reduction == 0:
        return std.Neg(std.ReduceSum(prod, std.Constant(value_ints=[cdim]), keepdims=0))
    total = std.Neg(std.ReduceSum(prod, keepdims=0))
    if reduction == 2:
        return total
    count = std.Div(std.CastLike(std.Size(x), x), classes)
    return std.Div(total, count)


@_aten.lowers(torch.ops.aten.cross_entropy_loss.default, cross_entropy_loss)
def _(a: dict) -> object:
    """cross_entropy_loss(Tensor self, Tensor target, Tensor? weight=None, int reduction=Mean,
    SymInt ignore_index=-100, float label_smoothing=0.0) -> Tensor"""
    from onnxscript import ir

    if getattr(a["target"], "dtype", ir.DataType.INT64) != ir.DataType.INT64:
        return _probability_targets(a)
    if float(a["label_smoothing"]) == 0.0 and len(a["self"].shape) >= 2:
        # stock's SoftmaxCrossEntropyLoss is right here (it drops only label_smoothing): stay native
        from onnxscript.function_libs.torch_lib.ops.nn import aten_cross_entropy_loss

        return aten_cross_entropy_loss(a["self"], a["target"], a["weight"], reduction=int(a["reduction"]),
                                       ignore_index=int(a["ignore_index"]))
    std = _aten.std_opset()
    x, weight = a["self"], a["weight"]
    if weight is None:  # all-ones weights give torch's unweighted results exactly
        cdim = 0 if len(x.shape) == 1 else 1
        classes = std.Gather(std.Shape(x), std.Constant(value_ints=[cdim]))
        weight = std.Expand(std.CastLike(std.Constant(value_float=1.0), x), classes)
    return _aten.emit(cross_entropy_loss, x, a["target"], weight, reduction=int(a["reduction"]),
                      ignore_index=int(a["ignore_index"]), label_smoothing=float(a["label_smoothing"]))
