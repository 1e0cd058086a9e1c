"""opforge.contrib::Cdist: torch.cdist (batched p-norm distance between two sets of row vectors)."""

from __future__ import annotations

import math

import numpy as np
import torch
from onnxscript import opset18 as op

from ..api import op as declare
from ..types import Sample, TensorSpec
from . import _aten, _torch
from ._common import broadcast_dims

_FLOAT = ["float32", "float64"]
_MODE_NAMES = {0: "use_mm_for_euclid_dist_if_necessary", 1: "use_mm_for_euclid_dist", 2: "donot_use_mm_for_euclid_dist"}


@declare("opforge.contrib::Cdist", version=1, dtypes={"x1": _FLOAT, "x2": _FLOAT, "output": _FLOAT},
         serves=["torch.cdist"])
def cdist(x1: torch.Tensor, x2: torch.Tensor, p: float = 2.0, compute_mode: int = 0) -> torch.Tensor:
    """``p``-norm distances between the rows of ``x1`` (..., P, M) and ``x2`` (..., R, M), batch dims
    broadcast: (..., P, R). ``p`` = 0 counts differing coordinates, ``inf`` takes the largest. For ``p`` = 2,
    ``compute_mode`` picks torch's matrix-product form: 0 when P or R exceeds 25, 1 always, 2 never."""
    return torch.cdist(x1, x2, p, compute_mode=_MODE_NAMES[compute_mode])


def _mode_name(p: float, compute_mode: int) -> str:
    if compute_mode not in _MODE_NAMES:
        raise ValueError(f"opforge.contrib::Cdist: compute_mode={compute_mode}; pass 0 (matrix product when a "
                         "side has over 25 rows), 1 (always) or 2 (never)")
    if p < 0:
        raise ValueError(f"opforge.contrib::Cdist: p={p}; pass a non-negative p")
    return _MODE_NAMES[compute_mode]


# torch's own kernel (zero-copy): the reference itself, and 20x faster than the numpy version it replaced;
# its out= overload copies the result into ONNX Runtime's buffer in C++
@cdist.kernel("cpu")
def _(x1: np.ndarray, x2: np.ndarray, *, p: float, compute_mode: int, out: np.ndarray | None = None) -> np.ndarray:
    _mode_name(p, compute_mode)
    if out is None:
        return _torch.cpu(torch.ops.aten._cdist_forward, x1, x2, p=p, compute_mode=compute_mode, name=cdist.name)
    return _torch.cpu(torch.ops.aten._cdist_forward.out, x1, x2, p=p, compute_mode=compute_mode, out=out,
                      name=cdist.name)


@cdist.kernel("cuda")
def _(x1, x2, *, p, compute_mode):  # noqa: ANN001, ANN202
    return _torch.cuda(torch.cdist, x1, x2, p=p, compute_mode=_mode_name(p, compute_mode))


@cdist.infer
def _(x1: TensorSpec, x2: TensorSpec, *, p: float, compute_mode: int) -> TensorSpec:
    batch = broadcast_dims(tuple(x1.shape[:-2]), tuple(x2.shape[:-2]))
    return TensorSpec((*batch, x1.shape[-2], x2.shape[-2]), x1.dtype)


@cdist.onnx_function
def _(x1, x2, p: float = 2.0, compute_mode: int = 0):  # noqa: ANN001, ANN202
    last = op.Constant(value_ints=[-1])
    rows1, rows2 = op.Unsqueeze(x1, op.Constant(value_ints=[-2])), op.Unsqueeze(x2, op.Constant(value_ints=[-3]))
    diff = op.Abs(op.Sub(rows1, rows2))
    pw = op.CastLike(op.Constant(value_float=p), x1)
    zero = op.CastLike(op.Constant(value_float=0.0), x1)
    general = op.Pow(op.ReduceSum(op.Pow(diff, pw), last, keepdims=0), op.Reciprocal(pw))
    count = op.ReduceSum(op.CastLike(op.Not(op.Equal(diff, zero)), x1), last, keepdims=0)
    taxicab = op.ReduceSum(diff, last, keepdims=0)
    largest = op.ReduceMax(diff, last, keepdims=0)
    euclid = op.Sqrt(op.ReduceSum(op.Mul(diff, diff), last, keepdims=0))
    sq1 = op.ReduceSum(op.Mul(x1, x1), last, keepdims=1)
    sq2 = op.Unsqueeze(op.ReduceSum(op.Mul(x2, x2), last, keepdims=0), op.Constant(value_ints=[-2]))
    cross = op.ReduceSum(op.Mul(rows1, rows2), last, keepdims=0)  # batch dims broadcast (Einsum's "..." do not)
    squared = op.Sub(op.Add(sq1, sq2), op.Mul(op.CastLike(op.Constant(value_float=2.0), x1), cross))
    product = op.Sqrt(op.Max(squared, zero))
    shape1, shape2 = op.Shape(x1), op.Shape(x2)
    minus2 = op.Constant(value_ints=[-2])
    many = op.Or(op.Greater(op.Gather(shape1, minus2), op.Constant(value_ints=[25])),
                 op.Greater(op.Gather(shape2, minus2), op.Constant(value_ints=[25])))
    mode = op.Constant(value_int=compute_mode)
    use_mm = op.Or(op.Equal(mode, op.Constant(value_int=1)), op.And(op.Equal(mode, op.Constant(value_int=0)), many))
    two = op.Where(op.Squeeze(use_mm), product, euclid)
    out = op.Where(op.Equal(pw, zero), count,
                   op.Where(op.Equal(pw, op.CastLike(op.Constant(value_float=1.0), x1)), taxicab,
                            op.Where(op.IsInf(pw), largest,
                                     op.Where(op.Equal(pw, op.CastLike(op.Constant(value_float=2.0), x1)), two,
                                              general))))
    return out


@cdist.samples
def _(rng: np.random.Generator):  # noqa: ANN202
    f32 = np.float32
    a, b = rng.standard_normal((4, 3)).astype(f32), rng.standard_normal((5, 3)).astype(f32)
    for p in (2.0, 1.0, 0.0, 3.0, 0.5, math.inf):
        yield Sample(a, b, p=p).named(f"p={p}")
    yield Sample(rng.standard_normal((2, 1, 4, 3)), rng.standard_normal((3, 6, 3))).named("broadcast_batch_float64")
    yield Sample(rng.standard_normal((30, 4)).astype(f32), rng.standard_normal((7, 4)).astype(f32)
                 ).named("matrix_product_rows>25")
    yield Sample(a, b, compute_mode=1).named("always_matrix_product")
    yield Sample(rng.standard_normal((30, 4)).astype(f32), rng.standard_normal((7, 4)).astype(f32), compute_mode=2
                 ).named("never_matrix_product")
    yield Sample(np.zeros((0, 3), f32), b).named("empty_rows")
    yield Sample(np.array([[1, 0, np.inf]], f32), np.array([[1, 2, 0], [1, 0, 5]], f32), p=0.0).named("p0_inf")


@_aten.lowers(torch.ops.aten.cdist.default, cdist)
def _(a: dict) -> object:
    """cdist(Tensor x1, Tensor x2, float p=2, int? compute_mode=None) -> Tensor"""
    mode = a["compute_mode"]
    return _aten.emit(cdist, a["x1"], a["x2"], p=float(a["p"]), compute_mode=0 if mode is None else int(mode))


@_aten.lowers(torch.ops.aten._cdist_forward.default, cdist)
def _(a: dict) -> object:
    """_cdist_forward(Tensor x1, Tensor x2, float p, int? compute_mode) -> Tensor"""
    mode = a["compute_mode"]
    return _aten.emit(cdist, a["x1"], a["x2"], p=float(a["p"]), compute_mode=0 if mode is None else int(mode))
