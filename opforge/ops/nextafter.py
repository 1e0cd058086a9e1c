"""opforge.contrib::NextAfter: torch.nextafter (the next representable float after x towards y)."""

from __future__ import annotations

import numpy as np
import torch

from ..api import op as declare
from ..types import Sample
from . import _aten, _torch
from ._common import broadcast_spec

_FLOAT = ["float32", "float64"]


@declare("opforge.contrib::NextAfter", version=1, dtypes={"x": _FLOAT, "y": _FLOAT, "output": _FLOAT},
         serves=["torch.nextafter", "Tensor.nextafter"])
def nextafter(x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """Elementwise next representable value after ``x`` in the direction of ``y`` (broadcasting); ``y`` when
    they are equal, NaN when either is NaN."""
    return torch.nextafter(x, y)


@nextafter.kernel("cpu")
def _(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    return _torch.cpu(nextafter.reference, x, y, name=nextafter.name)


@nextafter.kernel("cuda")
def _(x, y):  # noqa: ANN001, ANN202
    import cupy

    return cupy.nextafter(x, y)


nextafter.infer(broadcast_spec)


@nextafter.samples
def _(rng: np.random.Generator):  # noqa: ANN202
    f32 = np.float32
    yield Sample(rng.standard_normal((4, 8)).astype(f32), rng.standard_normal((4, 8)).astype(f32)).named("same_shape")
    yield Sample(rng.standard_normal((3, 1, 5)), rng.standard_normal((4, 1))).named("broadcast_float64")
    tiny = np.finfo(f32).tiny
    yield Sample(np.array([0.0, -0.0, 0.0, 1, 1, np.inf, -np.inf, np.nan, 2, tiny, np.finfo(f32).max], f32),
                 np.array([1, -1, -0.0, 1, 2, 0, 0, 1, np.nan, 0, np.inf], f32)).named("zero_equal_inf_nan_subnormal")
    yield Sample(np.array(1.0, f32), np.array(2.0, f32)).named("0d")
    yield Sample(np.zeros((0, 2), f32), np.zeros((1, 2), f32)).named("empty")


@_aten.lowers(torch.ops.aten.nextafter.default, nextafter)
def _(a: dict) -> object:
    """nextafter(Tensor self, Tensor other) -> Tensor"""
    return _aten.emit(nextafter, a["self"], a["other"])
