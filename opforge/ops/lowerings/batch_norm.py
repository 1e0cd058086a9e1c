"""Batch norm in plain ONNX. Stock torch.onnx normalises with the running statistics even when
``training=True`` (max diff 37.9 on OpInfo's samples) and returns ``save_mean``/``save_invstd`` of shape
(C,) where eager gives (0,) with ``training=False``."""

from __future__ import annotations

from typing import Any

import torch

from .. import _aten

aten = torch.ops.aten
_WRONG = "stock torch.onnx uses the running statistics with training=True"


def _scalar(value: float, like: Any) -> Any:
    op = _aten.std_opset()
    return op.CastLike(op.Constant(value_float=float(value)), like)


def _channel_shape(x: Any) -> Any:
    """(1, C, 1, ...) for broadcasting a per-channel vector against ``x``."""
    return _aten.std_opset().Constant(value_ints=[1, -1] + [1] * (len(x.shape) - 2))


def _batch_norm(x: Any, weight: Any, bias: Any, running_mean: Any, running_var: Any, training: bool,
                momentum: float, eps: float) -> tuple[Any, ...]:
    """(out, save_mean, save_invstd, new running_mean, new running_var) as torch computes them; the last two
    are None without running statistics, save_* are empty (0,) when not training."""
    op = _aten.std_opset()
    channel = _channel_shape(x)
    if training or running_mean is None:
        axes = op.Constant(value_ints=[0] + list(range(2, len(x.shape))))
        mean = op.ReduceMean(x, axes, keepdims=1)
        centred = op.Sub(x, mean)
        var = op.ReduceMean(op.Mul(centred, centred), axes, keepdims=1)
    else:
        mean = op.Reshape(op.CastLike(running_mean, x), channel)
        var = op.Reshape(op.CastLike(running_var, x), channel)
        centred = op.Sub(x, mean)
    invstd = op.Reciprocal(op.Sqrt(op.Add(var, _scalar(eps, x))))
    out = op.Mul(centred, invstd)
    if weight is not None:
        out = op.Mul(out, op.Reshape(op.CastLike(weight, x), channel))
    if bias is not None:
        out = op.Add(out, op.Reshape(op.CastLike(bias, x), channel))
    flat = op.Constant(value_ints=[-1])
    if not (training or running_mean is None):
        empty = op.Slice(op.Reshape(mean, flat), op.Constant(value_ints=[0]), op.Constant(value_ints=[0]))
        return out, empty, empty, running_mean, running_var
    save_mean, save_invstd, save_var = op.Reshape(mean, flat), op.Reshape(invstd, flat), op.Reshape(var, flat)
    if running_mean is None:
        return out, save_mean, save_invstd, None, None
    # running stats take the unbiased variance: n / (n - 1) with n the elements per channel
    n = op.Cast(op.Div(op.Size(x), op.Gather(op.Shape(x), op.Constant(value_int=1))), to=1)
    n = op.CastLike(n, x)
    unbiased = op.Mul(save_var, op.Div(n, op.Sub(n, _scalar(1.0, x))))
    keep = _scalar(1.0 - momentum, running_mean)
    step = _scalar(momentum, running_mean)
    new_mean = op.Add(op.Mul(keep, running_mean), op.Mul(step, op.CastLike(save_mean, running_mean)))
    new_var = op.Add(op.Mul(keep, running_var), op.Mul(step, op.CastLike(unbiased, running_var)))
    return out, save_mean, save_invstd, new_mean, new_var


@_aten.overrides(aten.batch_norm.default, _WRONG)
def _(a: dict) -> Any:
    """batch_norm(Tensor input, Tensor? weight, Tensor? bias, Tensor? running_mean, Tensor? running_var,
    bool training, float momentum, float eps, bool cudnn_enabled) -> Tensor"""
    return _batch_norm(a["input"], a["weight"], a["bias"], a["running_mean"], a["running_var"], bool(a["training"]),
                       float(a["momentum"]), float(a["eps"]))[0]


@_aten.overrides(aten.native_batch_norm.default, _WRONG + "; save_mean/save_invstd must be (0,) in eval")
def _(a: dict) -> Any:
    """native_batch_norm(Tensor input, Tensor? weight, Tensor? bias, Tensor? running_mean, Tensor? running_var,
    bool training, float momentum, float eps) -> (Tensor, Tensor, Tensor)"""
    return _batch_norm(a["input"], a["weight"], a["bias"], a["running_mean"], a["running_var"], bool(a["training"]),
                       float(a["momentum"]), float(a["eps"]))[:3]


@_aten.overrides(aten._native_batch_norm_legit_functional.default, _WRONG)
def _(a: dict) -> Any:
    """_native_batch_norm_legit_functional(Tensor input, Tensor? weight, Tensor? bias, Tensor running_mean,
    Tensor running_var, bool training, float momentum, float eps) -> (Tensor, Tensor, Tensor, Tensor, Tensor)"""
    return _batch_norm(a["input"], a["weight"], a["bias"], a["running_mean"], a["running_var"], bool(a["training"]),
                       float(a["momentum"]), float(a["eps"]))


@_aten.overrides(aten._native_batch_norm_legit.no_stats, _WRONG)
def _(a: dict) -> Any:
    """_native_batch_norm_legit.no_stats(Tensor input, Tensor? weight, Tensor? bias, bool training,
    float momentum, float eps) -> (Tensor, Tensor, Tensor)"""
    return _batch_norm(a["input"], a["weight"], a["bias"], None, None, True, float(a["momentum"]),
                       float(a["eps"]))[:3]


@_aten.overrides(aten._native_batch_norm_legit_no_training.default, "save_mean/save_invstd must be (0,)")
def _(a: dict) -> Any:
    """_native_batch_norm_legit_no_training(Tensor input, Tensor? weight, Tensor? bias, Tensor running_mean,
    Tensor running_var, float momentum, float eps) -> (Tensor, Tensor, Tensor)"""
    return _batch_norm(a["input"], a["weight"], a["bias"], a["running_mean"], a["running_var"], False,
                       float(a["momentum"]), float(a["eps"]))[:3]
