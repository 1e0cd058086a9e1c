"""Shared pieces of the linear-algebra contrib ops."""

from __future__ import annotations

from typing import Any

import numpy as np

from . import _aten


def well_conditioned(rng: np.random.Generator, shape: tuple, dtype: Any) -> np.ndarray:
    n = shape[-1]
    return (rng.standard_normal(shape) + n * np.eye(n)).astype(dtype)


def spd(rng: np.random.Generator, shape: tuple, dtype: Any) -> np.ndarray:
    a = rng.standard_normal(shape)
    return (a @ np.swapaxes(a, -1, -2) + shape[-1] * np.eye(shape[-1])).astype(dtype)


def zero_info(matrix: Any) -> Any:
    """The ``info`` output of the aten ``*_ex`` ops: int32 zeros of the batch shape (errors raise instead)."""
    std = _aten.std_opset()
    batch = std.Shape(matrix, end=-2)
    return std.ConstantOfShape(batch, value=_int32_zero())


def _int32_zero() -> Any:
    from onnx import helper

    return helper.make_tensor("zero", 6, [1], [0])
