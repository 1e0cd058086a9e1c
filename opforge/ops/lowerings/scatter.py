"""``scatter`` with ``reduce=`` (the deprecated ``scatter.reduce`` / ``scatter.value_reduce``) in plain
ONNX (stock torch.onnx has no translation): ScatterElements with reduction add / mul. A 0-d ``self``
(ScatterElements needs rank >= 1) goes to the generic fallback."""

from __future__ import annotations

from typing import Any

import torch

from .. import _aten

aten = torch.ops.aten
_REDUCTIONS = {"add": "add", "multiply": "mul"}


def _scatter(overload: Any, a: dict, src: Any) -> Any:
    x, reduce = a["self"], a["reduce"]
    if reduce not in _REDUCTIONS or x.shape is None or len(x.shape) == 0:
        return _aten.fall_back(overload, a)  # torch reports a bad reduce; 0-d runs in torch
    op = _aten.std_opset()
    index = a["index"]
    # torch reads src only where index has elements (src may be larger); ScatterElements wants equal shapes
    rank = len(x.shape)
    src = op.Slice(src, op.Constant(value_ints=[0] * rank), op.Shape(index), op.Constant(value_ints=list(range(rank))))
    return op.ScatterElements(x, index, src, axis=int(a["dim"]), reduction=_REDUCTIONS[reduce])


@_aten.overrides(aten.scatter.reduce, "stock torch.onnx has no translation")
def _(a: dict) -> Any:
    """scatter.reduce(Tensor self, int dim, Tensor index, Tensor src, *, str reduce) -> Tensor"""
    return _scatter(aten.scatter.reduce, a, a["src"])


@_aten.overrides(aten.scatter.value_reduce, "stock torch.onnx has no translation")
def _(a: dict) -> Any:
    """scatter.value_reduce(Tensor self, int dim, Tensor index, Scalar value, *, str reduce) -> Tensor"""
    op = _aten.std_opset()
    value = a["value"]
    if not isinstance(value, (int, float)):
        return _aten.fall_back(aten.scatter.value_reduce, a)
    scalar = op.Constant(value_int=value) if isinstance(value, int) else op.Constant(value_float=float(value))
    src = op.Expand(op.CastLike(scalar, a["self"]), op.Shape(a["index"]))
    return _scatter(aten.scatter.value_reduce, a, src)
