"""``aten.pad`` in the modes ONNX Runtime's Pad lacks: ``circular`` on an empty tensor ("Unexpected mode")
and ``replicate`` with a negative pad that crops a dim to nothing before replicating. Each padded dim
becomes one Gather with torch's own index map: clamp(i - left, 0, n - 1) for replicate, (i - left) mod n
for circular (after cropping negative pads). Other modes, and pads that are not plain ints, keep stock's translation."""

from __future__ import annotations

from typing import Any

import torch

from .. import _aten


def _gather_pad(x: Any, pads: list[int], mode: str) -> Any:
    op = _aten.std_opset()
    rank = len(x.shape)
    for k in range(len(pads) // 2):
        axis = rank - 1 - k
        left, right = pads[2 * k], pads[2 * k + 1]
        if left == 0 and right == 0:
            continue
        n = op.Gather(op.Shape(x), op.Constant(value_ints=[axis]))  # (1,) int64
        size = op.Add(n, op.Constant(value_ints=[left + right]))
        source = op.Sub(op.Range(op.Constant(value_int=0), op.Squeeze(size), op.Constant(value_int=1)),
                        op.Constant(value_int=left))
        if mode == "replicate":
            source = op.Min(op.Max(source, op.Constant(value_int=0)), op.Sub(op.Squeeze(n), op.Constant(value_int=1)))
        else:  # circular: torch crops the negative pads first and wraps within what is left
            first = max(-left, 0)
            kept = op.Squeeze(op.Add(n, op.Constant(value_ints=[min(left, 0) + min(right, 0)])))
            source = op.Sub(source, op.Constant(value_int=max(left, 0) - left))  # i - max(left, 0)
            source = op.Add(op.Mod(op.Add(source, kept), kept), op.Constant(value_int=first))
        x = op.Gather(x, source, axis=axis)
    return x


@_aten.overrides(torch.ops.aten.pad.default, "ORT's Pad fails on circular of an empty tensor and on replicate "
                                             "after a negative pad")
def _(a: dict) -> Any:
    """pad(Tensor self, SymInt[] pad, str mode="constant", float? value=None) -> Tensor"""
    pads, mode = a["pad"], str(a["mode"])
    if mode in ("replicate", "circular") and all(isinstance(p, int) for p in pads) and a["self"].shape is not None:
        return _gather_pad(a["self"], [int(p) for p in pads], mode)
    from onnxscript.function_libs.torch_lib.ops.nn import aten_pad

    return aten_pad(a["self"], pads, mode, a["value"])
