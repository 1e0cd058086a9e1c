"""Helpers shared by several contrib op modules (not ops themselves)."""

from __future__ import annotations

from typing import Any

import numpy as np
from onnxscript.values import Opset

from ..types import TensorSpec

# the domain of onnxscript functions that several portable bodies call; export attaches them beside the bodies
BODY_LIB = Opset("opforge.contrib.lib", 1)


def same_dim(a: Any, b: Any) -> bool:
    """Two dims known to be equal: equal ints, or the same symbol (never guards a torch SymInt)."""
    if isinstance(a, int) and isinstance(b, int):
        return a == b
    return a is b or (a is not None and b is not None and str(a) == str(b))


def broadcast_dims(a: tuple, b: tuple) -> tuple:
    """numpy broadcasting of two shapes whose dims may be symbolic (a 1 yields to the other)."""
    rank = max(len(a), len(b))
    a = (1,) * (rank - len(a)) + tuple(a)
    b = (1,) * (rank - len(b)) + tuple(b)
    out = []
    for x, y in zip(a, b, strict=True):
        if isinstance(x, int) and x == 1:
            out.append(y)
        elif isinstance(y, int) and y == 1:
            out.append(x)
        else:
            out.append(x if isinstance(x, int) or not isinstance(y, int) else y)
    return tuple(out)


def normalize_dim(dim: int, rank: int, op_name: str) -> int:
    """``dim`` in [0, rank) (a 0-d tensor takes dim 0 or -1, as in torch)."""
    size = max(rank, 1)
    if not -size <= dim < size:
        raise IndexError(f"{op_name}: dim {dim} is out of range for a tensor of rank {rank}; "
                         f"pass a dim in [{-size}, {size - 1}]")
    return dim % size


def same_spec(x: TensorSpec) -> TensorSpec:
    return TensorSpec(x.shape, x.dtype)


def broadcast_spec(x: TensorSpec, y: TensorSpec) -> TensorSpec:
    """``@infer`` of a broadcasting binary op whose output takes ``x``'s dtype."""
    return TensorSpec(broadcast_dims(x.shape, y.shape), x.dtype)


def nan_pair_samples(rng: Any) -> Any:
    """Samples of a binary op that treats NaN specially (fmax, fmin): shapes, broadcasting, NaN/inf ties,
    0-d, empty, float16."""
    import numpy as np

    from ..types import Sample

    f32 = np.float32
    yield Sample(rng.standard_normal((4, 8)).astype(f32), rng.standard_normal((4, 8)).astype(f32)).named("same_shape")
    yield Sample(rng.standard_normal((3, 1, 5)), rng.standard_normal((4, 1))).named("broadcast_float64")
    yield Sample(np.array([np.nan, 1, np.nan, -np.inf, 2], f32), np.array([3, np.nan, np.nan, 1, 2], f32)
                 ).named("nan_inf_ties")
    yield Sample(np.array(1.0, f32), np.array(np.nan, f32)).named("0d")
    yield Sample(np.zeros((0, 2), f32), np.zeros((1, 2), f32)).named("empty")
    yield Sample(rng.standard_normal(9).astype(np.float16), rng.standard_normal(9).astype(np.float16)).named("float16")


# dtypes where numpy's fmax/fmin loops are faster than torch's at one thread (float16 is not: numpy goes
# through float32 per element) and torch implements them too (not bool)
_NUMPY_FMINMAX = frozenset(np.dtype(t) for t in "float32 float64 int8 int16 int32 int64 uint8 uint16 uint32 uint64".split())


def nan_ignoring_extreme(numpy_fn: Any, torch_fn: Any, x: Any, y: Any, out: Any, name: str) -> Any:
    """torch.fmax/fmin (``torch_fn``) on numpy arrays, through numpy's loop where that is faster. The
    arguments go to numpy swapped: on a tie (0.0 vs -0.0) numpy returns its second, torch its first."""
    if x.dtype == y.dtype and x.dtype in _NUMPY_FMINMAX:
        try:  # a 0-d result would be a numpy scalar: asarray keeps it an array
            return numpy_fn(y, x, out=out) if out is not None else np.asarray(numpy_fn(y, x))
        except ValueError:  # shapes that do not broadcast: torch raises its own error below
            pass
    from . import _torch  # torch only where a kernel runs

    return _torch.cpu(torch_fn, x, y, out=out, name=name)
