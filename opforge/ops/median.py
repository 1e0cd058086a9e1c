"""opforge.contrib::Median: torch.median (lower median along a dim, with its index)."""

from __future__ import annotations

import numpy as np
import torch

from ..api import op as declare
from ..types import Sample, TensorSpec
from . import _aten, _order_stats, _torch
from ._order_stats import median_select

_NUMERIC = ["float32", "float64", "float16", "int32", "int64"]


@declare("opforge.contrib::Median", version=1, outputs=["values", "indices"],
         dtypes={"x": _NUMERIC, "values": _NUMERIC, "indices": ["int64"]},
         serves=["torch.median", "Tensor.median"])
def median(x: torch.Tensor, dim: int, keepdim: bool = False) -> tuple[torch.Tensor, torch.Tensor]:
    """Lower median of ``x`` along ``dim`` (for an even count, the smaller of the two middle values) and
    its index: the median's position in a stable sort, so ties resolve by position as in torch. A NaN in a
    slice makes the median NaN, at the first NaN's index."""
    values, indices = torch.median(x, dim, keepdim)
    return values, indices


# torch's own kernel (zero-copy), the reference itself: 3-6x faster than a numpy argsort, and its out=
# writes values and indices into ONNX Runtime's buffers
@median.kernel("cpu")
def _(x: np.ndarray, *, dim: int, keepdim: bool, out: tuple[np.ndarray, np.ndarray] | None = None
      ) -> tuple[np.ndarray, np.ndarray]:
    _order_stats.check_reducible(x, dim, median.name)
    return _torch.cpu(torch.median, x, dim=dim, keepdim=keepdim, out=out, name=median.name)


@median.kernel("cuda")
def _(x, *, dim, keepdim):  # noqa: ANN001, ANN202
    _order_stats.check_reducible(x, dim, median.name)
    return _torch.cuda(torch.median, x, dim=dim, keepdim=keepdim)


@median.infer
def _(x: TensorSpec, *, dim: int, keepdim: bool) -> tuple[TensorSpec, TensorSpec]:
    return _order_stats.reduced_specs(x, dim, keepdim, median.name)


@median.onnx_function
def _(x, dim: int, keepdim: int = 0):  # noqa: ANN001, ANN202
    values, index = median_select(x, dim=dim, keepdim=keepdim, ignore_nan=0)
    return values, index


@median.samples
def _(rng: np.random.Generator):  # noqa: ANN202
    for sample in _order_stats.tie_samples(rng):
        yield Sample(*sample.args, dim=-1).named(sample.name)
    yield Sample(rng.standard_normal((6, 4)).astype(np.float32), dim=0, keepdim=True).named("dim0_keepdim")
    yield Sample(np.array([3.0, 1.0, 2.0, 1.0], np.float32), dim=0).named("even_count_lower")
    yield Sample(np.array(2.5, np.float32), dim=0).named("0d")
    yield Sample(np.zeros((0, 3), np.float32), dim=1).named("empty_rows")


@_aten.lowers(torch.ops.aten.median.dim, median)
def _(a: dict) -> object:
    """median.dim(Tensor self, int dim, bool keepdim=False) -> (Tensor values, Tensor indices)"""
    return _aten.emit(median, a["self"], dim=int(a["dim"]), keepdim=bool(a["keepdim"]))


@_aten.lowers(torch.ops.aten.median.default, median)
def _(a: dict) -> object:
    """median(Tensor self) -> Tensor"""
    std = _aten.std_opset()
    flat = std.Reshape(a["self"], std.Constant(value_ints=[-1]))
    values, _ = _aten.emit(median, flat, dim=0, keepdim=False)
    return values
