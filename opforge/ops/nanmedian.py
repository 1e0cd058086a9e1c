"""opforge.contrib::NanMedian: torch.nanmedian (lower median of the non-NaN values along a dim, with its index)."""

from __future__ import annotations

import numpy as np
import torch

from ..api import op as declare
from ..types import Sample, TensorSpec
from . import _aten, _order_stats, _torch
from ._order_stats import median_select

_NUMERIC = ["float32", "float64", "float16", "int32", "int64"]


@declare("opforge.contrib::NanMedian", version=1, outputs=["values", "indices"],
         dtypes={"x": _NUMERIC, "values": _NUMERIC, "indices": ["int64"]},
         serves=["torch.nanmedian", "Tensor.nanmedian"])
def nanmedian(x: torch.Tensor, dim: int, keepdim: bool = False) -> tuple[torch.Tensor, torch.Tensor]:
    """Lower median of the non-NaN values of ``x`` along ``dim`` and its index (the position in a stable
    sort, so ties resolve by position as in torch). An all-NaN slice gives NaN at index 0 (torch's index there
    depends on its sort internals for slices over 3 elements)."""
    values, indices = torch.nanmedian(x, dim, keepdim)
    return values, indices


# torch's own kernel (zero-copy), the reference itself: 3-6x faster than a numpy argsort, and its out=
# writes values and indices into ONNX Runtime's buffers
@nanmedian.kernel("cpu")
def _(x: np.ndarray, *, dim: int, keepdim: bool, out: tuple[np.ndarray, np.ndarray] | None = None
      ) -> tuple[np.ndarray, np.ndarray]:
    _order_stats.check_reducible(x, dim, nanmedian.name)
    return _torch.cpu(torch.nanmedian, x, dim=dim, keepdim=keepdim, out=out, name=nanmedian.name)


@nanmedian.kernel("cuda")
def _(x, *, dim, keepdim):  # noqa: ANN001, ANN202
    _order_stats.check_reducible(x, dim, nanmedian.name)
    return _torch.cuda(torch.nanmedian, x, dim=dim, keepdim=keepdim)


@nanmedian.infer
def _(x: TensorSpec, *, dim: int, keepdim: bool) -> tuple[TensorSpec, TensorSpec]:
    return _order_stats.reduced_specs(x, dim, keepdim, nanmedian.name)


@nanmedian.onnx_function
def _(x, dim: int, keepdim: int = 0):  # noqa: ANN001, ANN202
    values, index = median_select(x, dim=dim, keepdim=keepdim, ignore_nan=1)
    return values, index


@nanmedian.samples
def _(rng: np.random.Generator):  # noqa: ANN202
    for sample in _order_stats.tie_samples(rng):
        yield Sample(*sample.args, dim=-1).named(sample.name)
    yield Sample(rng.standard_normal((6, 4)).astype(np.float32), dim=0, keepdim=True).named("dim0_keepdim")
    yield Sample(np.array([3.0, 1.0, 2.0, 1.0], np.float32), dim=0).named("even_count_lower")
    yield Sample(np.array(2.5, np.float32), dim=0).named("0d")
    yield Sample(np.zeros((0, 3), np.float32), dim=1).named("empty_rows")
    yield Sample(np.array([[np.nan, np.nan, np.nan], [np.nan, 1.0, np.nan]], np.float32), dim=1).named("all_nan_row")


@_aten.lowers(torch.ops.aten.nanmedian.dim, nanmedian)
def _(a: dict) -> object:
    """nanmedian.dim(Tensor self, int dim, bool keepdim=False) -> (Tensor values, Tensor indices)"""
    return _aten.emit(nanmedian, a["self"], dim=int(a["dim"]), keepdim=bool(a["keepdim"]))


@_aten.lowers(torch.ops.aten.nanmedian.default, nanmedian)
def _(a: dict) -> object:
    """nanmedian(Tensor self) -> Tensor"""
    std = _aten.std_opset()
    flat = std.Reshape(a["self"], std.Constant(value_ints=[-1]))
    values, _ = _aten.emit(nanmedian, flat, dim=0, keepdim=False)
    return values
