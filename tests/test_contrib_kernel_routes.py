"""Contrib CPU kernels that take a faster route than their torch reference (numpy's float32 Cholesky loop,
cross entropy's smoothing term as one matrix-vector product): they agree with torch within ONNX
Runtime's tolerances on every case the route takes, fall back to torch's own call otherwise, and keep
torch's errors, named after the op."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F  # noqa: N812

import opforge
import opforge.ops  # noqa: F401 - declares the contrib ops
from opforge.ops import cholesky as cholesky_module

CONTRIB = {o.op_type: o for o in opforge.list_ops("opforge.ops")}
TOLERANCE = {np.float32: {"rtol": 1e-4, "atol": 1e-5}, np.float64: {"rtol": 1e-10, "atol": 1e-12}}


def _spd(rng: np.random.Generator, shape: tuple[int, ...], dtype: type) -> np.ndarray:
    a = rng.standard_normal(shape)
    return (a @ np.swapaxes(a, -1, -2) + shape[-1] * np.eye(shape[-1])).astype(dtype)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("upper", [False, True])
@pytest.mark.parametrize("with_out", [False, True])
def test_cholesky_numpy_loop_agrees_with_torch(dtype: type, upper: bool, with_out: bool) -> None:
    rng = np.random.default_rng(0)
    a = _spd(rng, (16, 24, 24), dtype)
    symmetric = a.copy()
    if upper:  # torch reads the upper triangle then, the lower one otherwise
        a[:, 5, 0] = 1e6
    else:
        a[:, 0, 5] = 1e6
    expected = torch.linalg.cholesky(torch.from_numpy(symmetric), upper=upper).numpy()
    out = np.full_like(a, 7) if with_out else None
    got = CONTRIB["Cholesky"].kernels["cpu"](a, upper=upper, out=out)
    assert got.dtype == a.dtype and got.shape == a.shape
    assert out is None or got is out
    np.testing.assert_allclose(got, expected, **TOLERANCE[dtype])
    assert not np.triu(np.swapaxes(got, -1, -2) if upper else got, 1).any(), "the other triangle is not zero"


@pytest.mark.parametrize("with_out", [False, True])
def test_cholesky_not_positive_definite_is_torchs_error(with_out: bool) -> None:
    a = _spd(np.random.default_rng(1), (3, 4, 4), np.float32)
    a[1, 2, 2] = -50.0
    out = np.empty_like(a) if with_out else None
    with pytest.raises(Exception, match=r"^opforge\.contrib::Cholesky: .*Batch element 1.*order 3.*positive-definite"):
        CONTRIB["Cholesky"].kernels["cpu"](a, upper=False, out=out)


def test_cholesky_without_numpys_loop_is_torchs_factor_bit_for_bit(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(cholesky_module, "_LOWER", None)
    monkeypatch.setattr(cholesky_module, "_UPPER", None)
    a = _spd(np.random.default_rng(2), (5, 9, 9), np.float32)
    for upper in (False, True):
        out = np.full_like(a, 7)
        assert CONTRIB["Cholesky"].kernels["cpu"](a, upper=upper, out=out) is out
        assert np.array_equal(out, torch.linalg.cholesky(torch.from_numpy(a), upper=upper).numpy())


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("reduction", [0, 1, 2])
@pytest.mark.parametrize("ignore_index", [-100, 2])
@pytest.mark.parametrize("shape", [(64, 300), (1, 3), (9, 1), (0, 4)])
def test_smoothed_cross_entropy_agrees_with_torch(dtype: type, reduction: int, ignore_index: int,
                                                  shape: tuple[int, int]) -> None:
    rng = np.random.default_rng(sum(shape) + reduction)
    n, c = shape
    x = (rng.standard_normal(shape) * 5).astype(dtype)
    target = rng.integers(0, c, n)
    target[::3] = ignore_index if ignore_index < 0 or ignore_index < c else 0
    weight = rng.uniform(0.5, 2.0, c).astype(dtype)
    for smoothing in (0.1, 1.0):
        got = CONTRIB["CrossEntropyLoss"].kernels["cpu"](x, target, weight, reduction=reduction,
                                                        ignore_index=ignore_index, label_smoothing=smoothing)
        expected = F.cross_entropy(torch.from_numpy(x), torch.from_numpy(target), torch.from_numpy(weight),
                                   reduction=("none", "mean", "sum")[reduction], ignore_index=ignore_index,
                                   label_smoothing=smoothing).numpy()
        assert got.dtype == expected.dtype and got.shape == expected.shape
        np.testing.assert_allclose(got, expected, **TOLERANCE[dtype])  # NaN (all ignored, mean) on both sides


def test_smoothed_cross_entropy_keeps_torchs_errors() -> None:
    x, weight = np.zeros((2, 3), np.float32), np.ones(3, np.float32)
    with pytest.raises(IndexError, match=r"^opforge\.contrib::CrossEntropyLoss: Target 5 is out of bounds"):
        CONTRIB["CrossEntropyLoss"].kernels["cpu"](x, np.array([0, 5]), weight, reduction=1, ignore_index=-100,
                                                  label_smoothing=0.1)
