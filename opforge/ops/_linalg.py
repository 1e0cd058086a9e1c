"""Shared pieces of the linear-algebra contrib ops."""

from __future__ import annotations

from typing import Any

import numpy as np
from onnxscript import opset18 as op
from onnxscript import script

from . import _aten
from ._common import BODY_LIB


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


@script(BODY_LIB, default_opset=op)
def solve_square(a, b):  # noqa: ANN001, ANN201
    """X with a X = b, for a (*, n, n) and b (*, n, k) of equal batch dims: Gaussian elimination with
    partial pivoting (LAPACK getrf's rule: the first row of largest magnitude at or below the diagonal)
    on [a | b], then back substitution. A singular a gives inf/NaN (torch raises)."""
    last = op.Constant(value_ints=[-1])
    n = op.Squeeze(op.Shape(a, start=-1))
    rows = op.Unsqueeze(op.Range(op.Constant(value_int=0), n, op.Constant(value_int=1)), last)
    m = op.Concat(a, b, axis=-1)
    for j in range(n):
        column = op.Gather(m, j, axis=-1)
        magnitude = op.Where(op.Less(op.Squeeze(rows, last), j), op.CastLike(op.Constant(value_int=-1), m),
                             op.Abs(column))
        p = op.Unsqueeze(op.ArgMax(magnitude, axis=-1, keepdims=1), last)  # (*, 1, 1)
        here = op.Unsqueeze(op.Gather(m, j, axis=-2), op.Constant(value_ints=[-2]))
        pivot_row = op.GatherElements(m, op.Expand(p, op.Shape(here)), axis=-2)
        m = op.Where(op.Equal(rows, j), pivot_row, op.Where(op.Equal(rows, p), here, m))
        pivot = op.Gather(pivot_row, op.Unsqueeze(j, op.Constant(value_ints=[0])), axis=-1)
        factor = op.Div(op.Gather(m, op.Unsqueeze(j, op.Constant(value_ints=[0])), axis=-1), pivot)
        factor = op.Where(op.Greater(rows, j), factor, op.CastLike(op.Constant(value_int=0), m))
        m = op.Sub(m, op.Mul(factor, pivot_row))
    end = op.Unsqueeze(n, op.Constant(value_ints=[0]))
    u = op.Slice(m, op.Constant(value_ints=[0]), end, last)
    c = op.Slice(m, end, op.Constant(value_ints=[9223372036854775807]), last)
    x = op.Expand(op.CastLike(op.Constant(value_int=0), m), op.Shape(c))
    for s in range(n):
        j = op.Sub(op.Sub(n, s), op.Constant(value_int=1))
        at = op.Unsqueeze(j, op.Constant(value_ints=[0]))
        u_row = op.Gather(u, at, axis=-2)  # (*, 1, n): entries left of j multiply rows of x still zero
        diagonal = op.Gather(u_row, at, axis=-1)
        x_j = op.Div(op.Sub(op.Gather(c, at, axis=-2), op.MatMul(u_row, x)), diagonal)
        x = op.Where(op.Equal(rows, j), x_j, x)
    return x
