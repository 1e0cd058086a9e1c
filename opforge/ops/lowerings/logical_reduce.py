"""``all`` / ``any`` over dims in plain ONNX. Stock torch.onnx reduces over axis 0 of a 0-d input, which
onnxruntime rejects at load time. Here every rank works: the truth values are counted with ReduceSum
(``all``: no False among them, ``any``: at least one True), so an empty reduction gives True / False as
in eager; a uint8 input gives a uint8 result, as in eager."""

from __future__ import annotations

from typing import Any

import torch

from .. import _aten

aten = torch.ops.aten
_BOOL, _INT64 = 9, 7


def _reduce(kind: str, x: Any, dim: Any, keepdim: bool) -> Any:
    op = _aten.std_opset()
    truth = op.Cast(x, to=_BOOL)
    if x.shape is not None and len(x.shape) == 0:  # a 0-d tensor reduces to itself
        return truth
    counted = op.Cast(op.Not(truth) if kind == "all" else truth, to=_INT64)
    dims = [] if dim is None else [int(d) for d in dim] if isinstance(dim, (list, tuple)) else [int(dim)]
    if dims:
        total = op.ReduceSum(counted, op.Constant(value_ints=dims), keepdims=int(keepdim))
    else:
        total = op.ReduceSum(counted, keepdims=int(keepdim))
    nonzero = op.Cast(total, to=_BOOL)
    return op.Not(nonzero) if kind == "all" else nonzero


_REASON = "stock's translation reduces a 0-d input over axis 0, which onnxruntime rejects"


@_aten.overrides(aten.all.dim, _REASON)
def _(a: dict) -> Any:
    """all.dim(Tensor self, int dim, bool keepdim=False) -> Tensor"""
    return _reduce("all", a["self"], a["dim"], bool(a["keepdim"]))


@_aten.overrides(aten.all.dims, _REASON)
def _(a: dict) -> Any:
    """all.dims(Tensor self, int[]? dim=None, bool keepdim=False) -> Tensor"""
    return _reduce("all", a["self"], a["dim"], bool(a["keepdim"]))


@_aten.overrides(aten.any.dim, _REASON)
def _(a: dict) -> Any:
    """any.dim(Tensor self, int dim, bool keepdim=False) -> Tensor"""
    return _reduce("any", a["self"], a["dim"], bool(a["keepdim"]))


@_aten.overrides(aten.any.dims, _REASON)
def _(a: dict) -> Any:
    """any.dims(Tensor self, int[]? dim=None, bool keepdim=False) -> Tensor"""
    return _reduce("any", a["self"], a["dim"], bool(a["keepdim"]))
