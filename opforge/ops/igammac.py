"""opforge.contrib::Igammac: torch.igammac / torch.special.gammaincc (the upper regularized incomplete gamma
function)."""

from __future__ import annotations

import numpy as np
import torch
from onnxscript import opset18 as op

from ..api import op as declare
from . import _aten, _incomplete_gamma, _torch
from ._common import broadcast_spec
from ._incomplete_gamma import regularized_pair


@declare("opforge.contrib::Igammac", version=1, dtypes={"a": _incomplete_gamma.FLOATS, "x": _incomplete_gamma.FLOATS,
                                                      "output": _incomplete_gamma.FLOATS},
         serves=["torch.igammac", "torch.special.gammaincc", "Tensor.igammac"])
def igammac(a: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    """Q(a, x) = 1 - P(a, x) = Gamma(a, x) / Gamma(a) over broadcast ``a`` and ``x`` (torch's conventions:
    NaN for a < 0, x < 0 and a = x = 0; 0 at a = 0 < x and at x = inf; 1 at x = 0 < a)."""
    return torch.igammac(a, x)


@igammac.kernel("cpu")
def _(a: np.ndarray, x: np.ndarray, *, out: np.ndarray | None = None) -> np.ndarray:
    return _torch.cpu(torch.igammac, a, x, out=out, name=igammac.name)


@igammac.kernel("cuda")
def _(a, x):  # noqa: ANN001, ANN202
    return _torch.cuda(torch.igammac, a, x)


igammac.infer(broadcast_spec)


@igammac.onnx_function
def _(a, x):  # noqa: ANN001, ANN202
    _p, q = regularized_pair(a, x)
    return op.CastLike(q, a)


igammac.samples(_incomplete_gamma.samples)


@_aten.lowers(torch.ops.aten.igammac.default, igammac)
def _(a: dict) -> object:
    """igammac(Tensor self, Tensor other) -> Tensor"""
    return _aten.emit(igammac, a["self"], a["other"])


@_aten.lowers(torch.ops.prims.igammac.default, igammac)
def _(a: dict) -> object:
    """prims::igammac(Tensor self, Tensor other) -> Tensor: what torch.onnx's decompositions leave"""
    return _aten.emit(igammac, a["self"], a["other"])
