"""``aten.grid_sampler_3d`` (what ``torch.grid_sampler_3d`` and volumetric ``F.grid_sample`` dispatch to):
stock torch.onnx translates only ``grid_sampler``; the 5-D call is ONNX's own GridSample (opset 20 samples
N-D inputs), trilinear or nearest, with torch's three padding modes and align_corners. torch has no
bicubic 3-D mode (it raises), so that case stays on the fallback, which raises torch's own error."""

from __future__ import annotations

from typing import Any

import torch

from .. import _aten

aten = torch.ops.aten

_MODES = {0: "linear", 1: "nearest"}  # torch's GridSamplerInterpolation: 0 bilinear, 1 nearest, 2 bicubic
_PADDING = {0: "zeros", 1: "border", 2: "reflection"}  # GridSamplerPadding


@_aten.overrides(aten.grid_sampler_3d.default, "stock torch.onnx has no translation of the 5-D grid sampler")
def _(a: dict) -> Any:
    """grid_sampler_3d(Tensor input, Tensor grid, int interpolation_mode, int padding_mode, bool align_corners)
    -> Tensor"""
    mode, padding = _MODES.get(int(a["interpolation_mode"])), _PADDING.get(int(a["padding_mode"]))
    if mode is None or padding is None:
        return _aten.fall_back(aten.grid_sampler_3d.default, a)
    from onnxscript import opset20

    return opset20.GridSample(a["input"], a["grid"], mode=mode, padding_mode=padding,
                              align_corners=int(bool(a["align_corners"])))
