"""``log_sigmoid`` (``F.logsigmoid``, and inside ``multilabel_soft_margin_loss``): stock torch.onnx emits
``Log(Sigmoid(x))``, which is -inf below about -17 and loses digits well before (ONNX Runtime's Sigmoid
has absolute, not relative, accuracy near 0), silently. ``log(sigmoid(x)) = -softplus(-x)``, and
Softplus is evaluated stably for both signs."""

from __future__ import annotations

from typing import Any

import torch

from .. import _aten

aten = torch.ops.aten


@_aten.overrides(aten.log_sigmoid.default, "stock's Log(Sigmoid(x)) is -inf below about -17 and inexact before")
def _(a: dict) -> Any:
    """log_sigmoid(Tensor self) -> Tensor"""
    op = _aten.std_opset()
    return op.Neg(op.Softplus(op.Neg(a["self"])))

