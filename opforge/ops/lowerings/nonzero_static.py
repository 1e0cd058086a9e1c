"""``nonzero_static`` in plain ONNX (stock torch.onnx has no translation): the rows of NonZero (one per
nonzero element, row-major order as in eager), padded with ``fill_value`` rows and cut to ``size``."""

from __future__ import annotations

from typing import Any

import onnx.helper
import torch

from .. import _aten


@_aten.overrides(torch.ops.aten.nonzero_static.default, "stock torch.onnx has no translation")
def _(a: dict) -> Any:
    """nonzero_static(Tensor self, *, SymInt size, int fill_value=-1) -> Tensor"""
    x, size, fill = a["self"], a["size"], a["fill_value"]
    if not isinstance(size, int) or not isinstance(fill, int) or x.shape is None:
        return _aten.fall_back(torch.ops.aten.nonzero_static.default, a)
    op = _aten.std_opset()
    rank = len(x.shape)
    padding = op.ConstantOfShape(op.Constant(value_ints=[size, rank]),
                                 value=onnx.helper.make_tensor("fill", onnx.TensorProto.INT64, [1], [fill]))
    if rank == 0:  # no coordinates to list: size rows of no columns
        return padding
    found = op.Transpose(op.NonZero(x), perm=[1, 0])
    rows = op.Concat(found, padding, axis=0)
    return op.Slice(rows, op.Constant(value_ints=[0]), op.Constant(value_ints=[size]), op.Constant(value_ints=[0]))
