"""opforge.contrib::Igamma: torch.igamma / torch.special.gammainc (the lower regularized incomplete gamma
function)."""

from __future__ import annotations

import numpy as np
import torch
from onnxscript import opset18 as op

from ..api import op as declare
from . import _aten, _incomplete_gamma, _torch
from ._common import broadcast_spec
from ._incomplete_gamma import regularized_pair


@declare("opforge.contrib::Igamma", version=1, dtypes={"a": _incomplete_gamma.FLOATS, "x": _incomplete_gamma.FLOATS,
                                                      "output": _incomplete_gamma.FLOATS},
         serves=["torch.igamma", "torch.special.gammainc", "Tensor.igamma"])
def igamma(a: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    """P(a, x) = gamma(a, x) / Gamma(a) over broadcast ``a`` and ``x`` (torch's conventions: NaN for a < 0,
    x < 0 and a = x = 0; 1 at a = 0 < x and at x = inf; 0 at x = 0 < a)."""
    return torch.igamma(a, x)


@igamma.kernel("cpu")
def _(a: np.ndarray, x: np.ndarray, *, out: np.ndarray | None = None) -> np.ndarray:
    return _torch.cpu(torch.igamma, a, x, out=out, name=igamma.name)


@igamma.kernel("cuda")
def _(a, x):  # noqa: ANN001, ANN202
    return _torch.cuda(torch.igamma, a, x)


igamma.infer(broadcast_spec)


@igamma.onnx_function
def _(a, x):  # noqa: ANN001, ANN202
    p, _q = regularized_pair(a, x)
    return op.CastLike(p, a)


igamma.samples(_incomplete_gamma.samples)


@_aten.lowers(torch.ops.aten.igamma.default, igamma)
def _(a: dict) -> object:
    """igamma(Tensor self, Tensor other) -> Tensor"""
    return _aten.emit(igamma, a["self"], a["other"])


@_aten.lowers(torch.ops.prims.igamma.default, igamma)
def _(a: dict) -> object:
    """prims::igamma(Tensor self, Tensor other) -> Tensor: what torch.onnx's decompositions leave"""
    return _aten.emit(igamma, a["self"], a["other"])
