"""opforge.contrib::CumMin: torch.cummin (running min and the index where it was last attained)."""

from __future__ import annotations

import numpy as np
import torch

from ..api import op as declare
from ..types import TensorSpec
from . import _aten, _cumulative

_NUMERIC = ["float32", "float64", "float16", "int32", "int64"]


@declare("opforge.contrib::CumMin", version=1, outputs=["values", "indices"],
         dtypes={"x": _NUMERIC, "values": _NUMERIC, "indices": ["int64"]},
         serves=["torch.cummin", "Tensor.cummin"])
def cummin(x: torch.Tensor, dim: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Running min of ``x`` along ``dim`` and the index of its last occurrence. A NaN propagates to
    the end of the scan; the index then follows the latest NaN."""
    values, indices = torch.cummin(x, dim)
    return values, indices


@cummin.kernel("cpu")
def _(x: np.ndarray, *, dim: int) -> tuple[np.ndarray, np.ndarray]:
    return _cumulative.cum_extreme_numpy(x, dim, False, cummin.name)


@cummin.kernel("cuda")
def _(x, *, dim):  # noqa: ANN001, ANN202
    return _cumulative.cum_extreme_cupy(x, dim, False, cummin.name)


@cummin.infer
def _(x: TensorSpec, *, dim: int) -> tuple[TensorSpec, TensorSpec]:
    return TensorSpec(x.shape, x.dtype), TensorSpec(x.shape, "int64")


cummin.samples(_cumulative.samples)


@_aten.lowers(torch.ops.aten.cummin.default, cummin)
def _(a: dict) -> object:
    """cummin(Tensor self, int dim) -> (Tensor values, Tensor indices)"""
    return _aten.emit(cummin, a["self"], dim=int(a["dim"]))
