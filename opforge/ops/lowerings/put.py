"""``put`` in plain ONNX (stock torch.onnx has no translation): ``self`` flattened, ScatterElements of
``source`` at ``index`` (negative indices count from the end in both), ``reduction="add"`` when
``accumulate``, reshaped back."""

from __future__ import annotations

from typing import Any

import torch

from .. import _aten


@_aten.overrides(torch.ops.aten.put.default, "stock torch.onnx has no translation")
def _(a: dict) -> Any:
    """put(Tensor self, Tensor index, Tensor source, bool accumulate=False) -> Tensor"""
    op = _aten.std_opset()
    x = a["self"]
    flat = op.Constant(value_ints=[-1])
    scattered = op.ScatterElements(op.Reshape(x, flat), op.Reshape(a["index"], flat), op.Reshape(a["source"], flat),
                                   axis=0, reduction="add" if a["accumulate"] else "none")
    return op.Reshape(scattered, op.Shape(x))
