"""``aten.divide.Tensor`` (the alias of ``div``) with mixed dtypes. torch.onnx's type-promotion pass knows
``div`` but not its alias, so e.g. a float tensor divided by an int64 count (``torch.masked.var/std``)
exports as a Div of two dtypes that does not validate. Here both sides are cast to torch's result dtype."""

from __future__ import annotations

from typing import Any

import torch

from .. import _aten

_FLOAT_WIDTH = {10: 16, 16: 16, 1: 32, 11: 64}  # ONNX float16, bfloat16, float, double -> bits


def _dtype(value: Any) -> int | None:
    dtype = getattr(value, "dtype", None)
    return None if dtype is None else int(dtype)


def _rank(value: Any) -> int | None:
    shape = getattr(value, "shape", None)
    return None if shape is None else len(shape)


def _true_div_dtype(x: Any, y: Any) -> int | None:
    """torch's result dtype of x / y (an ONNX dtype; None: leave the graph's types alone)."""
    a, b = _dtype(x), _dtype(y)
    if a is None or b is None:
        return None
    if (_rank(x) == 0) != (_rank(y) == 0):  # a 0-d tensor yields to a dimensioned one of its category
        dims, zero = (a, b) if _rank(y) == 0 else (b, a)
        if dims in _FLOAT_WIDTH or zero not in _FLOAT_WIDTH:
            return dims if dims in _FLOAT_WIDTH else 1
    floats = [d for d in (a, b) if d in _FLOAT_WIDTH]
    if not floats:
        return 1  # int / int: the default float32
    if len(floats) == 2 and floats[0] != floats[1]:
        wide = max(_FLOAT_WIDTH[d] for d in floats)
        return 1 if wide == 16 else 11 if wide == 64 else 1
    return floats[0]


@_aten.overrides(torch.ops.aten.divide.Tensor, "stock skips type promotion for the alias of div")
def _(a: dict) -> Any:
    """divide.Tensor(Tensor self, Tensor other) -> Tensor"""
    op = _aten.std_opset()
    x, y = a["self"], a["other"]
    target = _true_div_dtype(x, y)
    if target is not None:
        if _dtype(x) != target:
            x = op.Cast(x, to=target)
        if _dtype(y) != target:
            y = op.Cast(y, to=target)
    return op.Div(x, y)
