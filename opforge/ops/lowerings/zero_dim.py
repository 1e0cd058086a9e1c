"""0-d inputs that stock torch.onnx translations get wrong or fail on: ``nonzero`` (eager gives (0, 0) or
(1, 0), stock (0, 1) or (1, 1)) and ``amin``/``amax``/``aminmax`` (a reduction over axis 0 of a rank-0
tensor does not validate). Tensors of rank >= 1 keep stock's translation."""

from __future__ import annotations

from typing import Any

import torch

from .. import _aten

aten = torch.ops.aten


def _rank0(x: Any) -> bool:
    return x.shape is not None and len(x.shape) == 0


@_aten.overrides(aten.nonzero.default, "a 0-d input gives (0, 0) or (1, 0) in eager, stock returns one column")
def _(a: dict) -> Any:
    """nonzero(Tensor self) -> Tensor"""
    x = a["self"]
    op = _aten.std_opset()
    if not _rank0(x):
        return op.Transpose(op.NonZero(x), perm=[1, 0])
    # one row when x is nonzero, none otherwise; no columns
    rows = op.Cast(op.Cast(x, to=9), to=7)
    return op.Expand(op.Constant(value_ints=[]), op.Concat(op.Reshape(rows, op.Constant(value_ints=[1])),
                                                         op.Constant(value_ints=[0]), axis=0))


def _reduce(kind: str, x: Any, dim: Any, keepdim: bool) -> Any:
    op = _aten.std_opset()
    if _rank0(x):  # every reduction of a 0-d tensor is the tensor itself
        return op.Identity(x)
    dims = [] if dim is None else [int(d) for d in dim] if isinstance(dim, (list, tuple)) else [int(dim)]
    reduce = getattr(op, kind)
    if not dims:
        return reduce(x, keepdims=int(keepdim))
    return reduce(x, op.Constant(value_ints=dims), keepdims=int(keepdim))


_REASON = "a 0-d input fails in stock torch.onnx"


@_aten.overrides(aten.amin.default, _REASON)
def _(a: dict) -> Any:
    """amin(Tensor self, int[1] dim=[], bool keepdim=False) -> Tensor"""
    return _reduce("ReduceMin", a["self"], a["dim"], bool(a["keepdim"]))


@_aten.overrides(aten.amax.default, _REASON)
def _(a: dict) -> Any:
    """amax(Tensor self, int[1] dim=[], bool keepdim=False) -> Tensor"""
    return _reduce("ReduceMax", a["self"], a["dim"], bool(a["keepdim"]))


@_aten.overrides(aten.aminmax.default, _REASON)
def _(a: dict) -> Any:
    """aminmax(Tensor self, *, int? dim=None, bool keepdim=False) -> (Tensor min, Tensor max)"""
    return (_reduce("ReduceMin", a["self"], a["dim"], bool(a["keepdim"])),
            _reduce("ReduceMax", a["self"], a["dim"], bool(a["keepdim"])))
