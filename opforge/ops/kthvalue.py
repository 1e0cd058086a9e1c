"""opforge.contrib::KthValue: torch.kthvalue (k-th smallest value along a dim, with its index)."""

from __future__ import annotations

import numpy as np
import torch
from onnxscript import opset18 as op

from ..api import op as declare
from ..types import Sample, TensorSpec
from . import _aten, _order_stats
from ._order_stats import reduced_pair
from ._quickselect import quickselect

_NUMERIC = ["float32", "float64", "float16", "int32", "int64"]


@declare("opforge.contrib::KthValue", version=1, outputs=["values", "indices"],
         dtypes={"x": _NUMERIC, "values": _NUMERIC, "indices": ["int64"]},
         serves=["torch.kthvalue", "Tensor.kthvalue"])
def kthvalue(x: torch.Tensor, k: int, dim: int = -1, keepdim: bool = False) -> tuple[torch.Tensor, torch.Tensor]:
    """The ``k``-th smallest value of ``x`` along ``dim`` (``k`` counts from 1; NaN sorts last) and an index
    where it occurs. Among ties, the index is the one torch's median-of-three quickselect leaves at rank k."""
    values, indices = torch.kthvalue(x, k, dim, keepdim)
    return values, indices


@kthvalue.kernel("cpu")
def _(x: np.ndarray, *, k: int, dim: int, keepdim: bool) -> tuple[np.ndarray, np.ndarray]:
    return _order_stats.kthvalue(x, k, dim, keepdim, kthvalue.name)


@kthvalue.kernel("cuda")
def _(x, *, k, dim, keepdim):  # noqa: ANN001, ANN202
    return _order_stats.on_host(_order_stats.kthvalue, x, k=k, dim=dim, keepdim=keepdim, name=kthvalue.name)


@kthvalue.onnx_function
def _(x, k: int, dim: int = -1, keepdim: int = 0):  # noqa: ANN001, ANN202
    # torch's own quickselect, replayed (opforge/ops/_quickselect.py): the same index among ties; a 0-d x
    # runs as shape (1)
    if op.Equal(op.Size(op.Shape(x)), op.Constant(value_int=0)):
        xs = op.Reshape(x, op.Constant(value_ints=[1]))
    else:
        xs = op.Identity(x)
    values, index = quickselect(xs, k=k, dim=dim)
    out_values, out_index = reduced_pair(x, values, index, dim=dim, keepdim=keepdim)
    return out_values, out_index


@kthvalue.infer
def _(x: TensorSpec, *, k: int, dim: int, keepdim: bool) -> tuple[TensorSpec, TensorSpec]:
    return _order_stats.reduced_specs(x, dim, keepdim, kthvalue.name)


@kthvalue.samples
def _(rng: np.random.Generator):  # noqa: ANN202
    for sample in _order_stats.tie_samples(rng):
        n = sample.args[0].shape[-1]
        for k in sorted({1, (n + 1) // 2, n}):
            yield Sample(*sample.args, k=k).named(f"{sample.name}_k{k}")
    yield Sample(rng.standard_normal((6, 4)).astype(np.float32), k=2, dim=0, keepdim=True).named("dim0_keepdim")
    yield Sample(np.array(2.5, np.float32), k=1, dim=0).named("0d")
    yield Sample(np.zeros((0, 3), np.float32), k=2, dim=1).named("empty_rows")


@_aten.lowers(torch.ops.aten.kthvalue.default, kthvalue)
def _(a: dict) -> object:
    """kthvalue(Tensor self, SymInt k, int dim=-1, bool keepdim=False) -> (Tensor values, Tensor indices)"""
    return _aten.emit(kthvalue, a["self"], k=int(a["k"]), dim=int(a["dim"]), keepdim=bool(a["keepdim"]))
