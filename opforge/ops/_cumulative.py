"""The cumulative max/min scan shared by CumMax and CumMin on the GPU (cupy; the CPU kernels run torch)."""

from __future__ import annotations

from typing import Any

import numpy as np

from ..types import Sample
from ._common import normalize_dim


def cum_extreme_cupy(x: Any, dim: int, largest: bool, name: str) -> tuple[Any, Any]:
    """The same scan with cupy, as a log-step (Hillis-Steele) prefix scan of elementwise ops."""
    import cupy

    if x.ndim == 0:
        return x.copy(), cupy.zeros((), cupy.int64)
    dim = normalize_dim(dim, x.ndim, name)
    values = cupy.moveaxis(x, dim, -1).copy()
    n = values.shape[-1]
    positions = cupy.broadcast_to(cupy.arange(n, dtype=cupy.int64), values.shape).copy()
    ufunc = cupy.maximum if largest else cupy.minimum
    is_float = cupy.issubdtype(x.dtype, cupy.floating)
    step = 1
    while step < n:
        prev_v, prev_i = values[..., :-step].copy(), positions[..., :-step].copy()
        cur_v, cur_i = values[..., step:], positions[..., step:]
        # keep the later element when it is the extreme (ties: later wins) or when it is NaN
        later_wins = (cur_v == ufunc(prev_v, cur_v))
        if is_float:
            later_wins |= cupy.isnan(cur_v)
            later_wins &= ~(cupy.isnan(prev_v) & ~cupy.isnan(cur_v))
        values[..., step:] = cupy.where(later_wins, cur_v, prev_v)
        positions[..., step:] = cupy.where(later_wins, cur_i, prev_i)
        step *= 2
    return cupy.moveaxis(values, -1, dim), cupy.moveaxis(positions, -1, dim)


def samples(rng: np.random.Generator) -> Any:
    yield Sample(rng.standard_normal((4, 9)).astype(np.float32), dim=1).named("rows")
    yield Sample(rng.standard_normal((5, 3, 2)), dim=0).named("dim0_float64")
    yield Sample(rng.standard_normal((2, 3, 6)).astype(np.float32), dim=-1).named("negative_dim")
    yield Sample(np.array([[1, 3, 3, 2, 3, 0, 5, 5]], np.float32), dim=1).named("ties_last_index")
    yield Sample(np.array([1, np.nan, 4, np.nan, -2, 7], np.float32), dim=0).named("nan")
    yield Sample(np.array([-np.inf, np.inf, 0, np.inf], np.float32), dim=0).named("inf")
    yield Sample(rng.integers(-4, 4, (3, 10)), dim=1).named("int64_ties")
    yield Sample(np.array(2.5, np.float32), dim=0).named("0d")
    yield Sample(np.zeros((3, 0), np.float32), dim=1).named("empty")
    yield Sample(rng.standard_normal((4, 7)).astype(np.float16), dim=1).named("float16")


