"""``resize`` (what ``resize_as_`` / ``resize_`` trace to) in plain ONNX (stock torch.onnx has no
translation) when the result is defined: a size with at most as many elements as ``self`` keeps the
leading elements of its storage in row-major order (Reshape, after a Slice when it shrinks). Growing
(eager leaves the new elements uninitialised), a dynamic size and a memory format other than the
contiguous one go to the generic fallback."""

from __future__ import annotations

import math
from typing import Any

import torch

from .. import _aten

_resize = torch.ops.aten.resize.default


@_aten.overrides(_resize, "stock torch.onnx has no translation")
def _(a: dict) -> Any:
    """resize(Tensor self, SymInt[] size, *, MemoryFormat? memory_format=None) -> Tensor"""
    x, size, memory_format = a["self"], list(a["size"]), a["memory_format"]
    contiguous = memory_format is None or str(memory_format).removeprefix("torch.") == "contiguous_format"
    if x.shape is None or not all(isinstance(d, int) for d in x.shape) or not contiguous \
            or not all(isinstance(d, int) and d >= 0 for d in size) or math.prod(size) > math.prod(x.shape):
        return _aten.fall_back(_resize, a)
    op = _aten.std_opset()
    flat = op.Reshape(x, op.Constant(value_ints=[-1]))
    if math.prod(size) < math.prod(x.shape):
        flat = op.Slice(flat, op.Constant(value_ints=[0]), op.Constant(value_ints=[math.prod(size)]))
    return op.Reshape(flat, op.Constant(value_ints=size))
