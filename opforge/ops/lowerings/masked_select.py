"""``masked_select`` in plain ONNX (stock torch.onnx has no translation): broadcast ``self`` and ``mask``
to one shape, flatten both, Compress."""

from __future__ import annotations

from typing import Any

import torch

from .. import _aten


@_aten.overrides(torch.ops.aten.masked_select.default, "stock torch.onnx has no translation")
def _(a: dict) -> Any:
    """masked_select(Tensor self, Tensor mask) -> Tensor"""
    op = _aten.std_opset()
    x, mask = a["self"], a["mask"]
    # Expand broadcasts both ways: mask expanded to x's shape has the common shape
    flat = op.Constant(value_ints=[-1])
    full = op.Expand(mask, op.Shape(x))
    keep = op.Reshape(full, flat)
    values = op.Reshape(op.Expand(x, op.Shape(full)), flat)
    return op.Compress(values, op.Cast(keep, to=9), axis=0)
