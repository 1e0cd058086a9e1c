"""``prims.view_of`` (what ``squeeze`` over dims that are not all 1 traces to) in plain ONNX: stock
torch.onnx has no translation; a view of the whole tensor is the tensor (Identity)."""

from __future__ import annotations

from typing import Any

import torch

from .. import _aten


@_aten.overrides(torch.ops.prims.view_of.default, "stock torch.onnx has no translation")
def _(a: dict) -> Any:
    """view_of(Tensor(a) a) -> Tensor(a)"""
    return _aten.std_opset().Identity(a["a"])
