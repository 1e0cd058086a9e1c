"""``im2col`` (``nn.functional.unfold``) in plain ONNX: stock torch.onnx's translation reshapes with 0
and -1 together, which fails on an empty batch. Here the input is zero-padded, its spatial dims
flattened, and every block gathered with one constant index table (exact: a copy, no arithmetic).
Output channel ``c*kh*kw + i*kw + j`` and column ``oh*out_w + ow`` as in eager. A dynamic channel or
spatial size goes to the generic fallback."""

from __future__ import annotations

from typing import Any

import numpy as np
import onnx.helper
import torch

from .. import _aten

_im2col = torch.ops.aten.im2col.default


def _pair(v: Any) -> list[int]:
    v = list(v) if isinstance(v, (list, tuple)) else [v]
    return [int(e) for e in (v * 2 if len(v) == 1 else v)]


@_aten.overrides(_im2col, "stock torch.onnx's translation fails on an empty batch (Reshape with 0 and -1)")
def _(a: dict) -> Any:
    """im2col(Tensor self, int[2] kernel_size, int[2] dilation, int[2] padding, int[2] stride) -> Tensor"""
    x = a["self"]
    if x.shape is None or len(x.shape) not in (3, 4) or not all(isinstance(d, int) for d in list(x.shape)[-3:]):
        return _aten.fall_back(_im2col, a)
    (kh, kw), (dh, dw), (ph, pw), (sh, sw) = (_pair(a[k]) for k in ("kernel_size", "dilation", "padding", "stride"))
    c, h, w = list(x.shape)[-3:]
    hp, wp = h + 2 * ph, w + 2 * pw
    out_h, out_w = (hp - dh * (kh - 1) - 1) // sh + 1, (wp - dw * (kw - 1) - 1) // sw + 1
    if min(kh, kw, dh, dw, sh, sw) < 1 or min(ph, pw) < 0 or out_h < 1 or out_w < 1:
        return _aten.fall_back(_im2col, a)  # torch raises its own error for these
    op = _aten.std_opset()
    batched = len(x.shape) == 4
    if not batched:
        x = op.Unsqueeze(x, op.Constant(value_ints=[0]))
    if ph or pw:
        x = op.Pad(x, op.Constant(value_ints=[0, 0, ph, pw, 0, 0, ph, pw]))
    batch = op.Slice(op.Shape(x), op.Constant(value_ints=[0]), op.Constant(value_ints=[1]))
    flat = op.Reshape(x, op.Concat(batch, op.Constant(value_ints=[c, hp * wp]), axis=0))
    rows = (np.arange(out_h)[None, :, None] * sh + np.arange(kh)[:, None, None] * dh)  # (kh, out_h, 1)
    cols = (np.arange(out_w)[None, None, :] * sw + np.arange(kw)[:, None, None] * dw)  # (kw, 1, out_w)
    table = (rows[:, None, :, :] * wp + cols[None, :, :, :]).reshape(kh * kw, out_h * out_w)
    index = op.Constant(value=onnx.helper.make_tensor("index", onnx.TensorProto.INT64, list(table.shape),
                                                      table.ravel().tolist()))
    blocks = op.Gather(flat, index, axis=2)  # (N, C, kh*kw, L)
    out = op.Reshape(blocks, op.Concat(batch, op.Constant(value_ints=[c * kh * kw, out_h * out_w]), axis=0))
    return out if batched else op.Squeeze(out, op.Constant(value_ints=[0]))
