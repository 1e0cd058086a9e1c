"""opforge.contrib::CumMax: torch.cummax (running max and the index where it was last attained)."""

from __future__ import annotations

import numpy as np
import torch

from ..api import op as declare
from ..types import TensorSpec
from . import _aten, _cumulative

_NUMERIC = ["float32", "float64", "float16", "int32", "int64"]


@declare("opforge.contrib::CumMax", version=1, outputs=["values", "indices"],
         dtypes={"x": _NUMERIC, "values": _NUMERIC, "indices": ["int64"]},
         serves=["torch.cummax", "Tensor.cummax"])
def cummax(x: torch.Tensor, dim: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Running max of ``x`` along ``dim`` and the index of its last occurrence. A NaN propagates to
    the end of the scan; the index then follows the latest NaN."""
    values, indices = torch.cummax(x, dim)
    return values, indices


@cummax.kernel("cpu")
def _(x: np.ndarray, *, dim: int) -> tuple[np.ndarray, np.ndarray]:
    return _cumulative.cum_extreme_numpy(x, dim, True, cummax.name)


@cummax.kernel("cuda")
def _(x, *, dim):  # noqa: ANN001, ANN202
    return _cumulative.cum_extreme_cupy(x, dim, True, cummax.name)


@cummax.infer
def _(x: TensorSpec, *, dim: int) -> tuple[TensorSpec, TensorSpec]:
    return TensorSpec(x.shape, x.dtype), TensorSpec(x.shape, "int64")


cummax.samples(_cumulative.samples)


@_aten.lowers(torch.ops.aten.cummax.default, cummax)
def _(a: dict) -> object:
    """cummax(Tensor self, int dim) -> (Tensor values, Tensor indices)"""
    return _aten.emit(cummax, a["self"], dim=int(a["dim"]))
