"""The cumulative max/min scan shared by CumMax and CumMin (numpy and cupy)."""

from __future__ import annotations

from typing import Any

import numpy as np

from ..types import Sample
from ._common import normalize_dim


def _order_key(x: np.ndarray, largest: bool) -> np.ndarray:
    """Integer keys that order like ``x`` (of the same width): -0.0 ties with 0.0, every NaN gets the
    top key, and for min the key is complemented, so a running max of the key is the running
    extreme either way (NaN propagating)."""
    if x.dtype.kind != "f":
        return x if largest else ~x
    bits = np.dtype(f"int{8 * x.dtype.itemsize}")
    top = np.iinfo(bits).max
    b = (x + x.dtype.type(0)).view(bits)  # adding 0 maps -0.0 to +0.0
    key = b ^ ((b >> (8 * x.dtype.itemsize - 1)) & bits.type(top))
    if not largest:
        key = ~key
    nan = np.isnan(x)
    if nan.any():
        key[nan] = top
    return key


def cum_extreme_numpy(x: np.ndarray, dim: int, largest: bool, name: str) -> tuple[np.ndarray, np.ndarray]:
    """torch.cummax / cummin: running extreme along ``dim`` and the index of its last occurrence.

    A NaN propagates and takes its own index; later NaNs move the index on (as torch does).
    The scan runs on integer order keys: numpy's int64 ``maximum.accumulate`` is several times
    faster than its float one. Up to 32-bit dtypes, key and position are packed into one int64
    (key high, position low), so a single running max yields the extreme and its last index.
    """
    if x.ndim == 0:
        return x.copy(), np.zeros((), np.int64)
    dim = normalize_dim(dim, x.ndim, name)
    if x.size == 0:
        return x.copy(), np.zeros(x.shape, np.int64)
    shape = [1] * x.ndim
    shape[dim] = x.shape[dim]
    positions = np.arange(x.shape[dim], dtype=np.int64).reshape(shape)
    key = _order_key(x, largest)
    if x.dtype.itemsize > 4:
        running = np.maximum.accumulate(key, axis=dim)
        indices = np.maximum.accumulate(np.where(running == key, positions, 0), axis=dim)
        return np.take_along_axis(x, indices, axis=dim), indices
    # in place where possible: fresh temporaries of this size cost page faults
    packed = key.astype(np.int64)
    np.left_shift(packed, 32, out=packed)
    np.bitwise_or(packed, positions, out=packed)
    packed = np.maximum.accumulate(packed, axis=dim)
    running = (packed >> 32).astype(key.dtype)
    np.bitwise_and(packed, 0xFFFFFFFF, out=packed)
    return _from_key(running, x.dtype, largest), packed


def _from_key(key: np.ndarray, dtype: np.dtype, largest: bool) -> np.ndarray:
    """The values of :func:`_order_key` keys (a NaN comes back as the canonical NaN, -0.0 as 0.0)."""
    if dtype.kind != "f":
        return key if largest else ~key
    top = np.iinfo(key.dtype).max
    nan = key == top
    if not largest:
        np.invert(key, out=key)
    np.bitwise_xor(key, (key >> (8 * dtype.itemsize - 1)) & key.dtype.type(top), out=key)
    values = key.view(dtype)
    if nan.any():
        values[nan] = np.nan
    return values


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


