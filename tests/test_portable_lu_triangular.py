"""Portable (plain-ONNX) translations of the triangular-solve, Cholesky-solve, LU and slogdet family
(opforge.ops.lowerings.triangular / .lu): ``opforge.export(portable=True)`` runs on a plain onnxruntime
session and matches eager PyTorch, flags, batches, empty batches and 0x0 matrices included; the argument
combinations a translation does not handle exactly still export, through the generic fallback."""

from __future__ import annotations

import warnings
from collections.abc import Callable

import numpy as np
import onnxruntime
import pytest
import torch

import opforge
import opforge.ops  # noqa: F401 - declares the contrib ops and the lowerings
from opforge.exporters import aten_fallback


class _Call(torch.nn.Module):
    def __init__(self, fn: Callable) -> None:
        super().__init__()
        self.fn = fn

    def forward(self, *args: torch.Tensor) -> object:
        return self.fn(*args)


def _eager(fn: Callable, args: tuple) -> list[np.ndarray]:
    with torch.no_grad():
        out = fn(*args)
    return [t.numpy() for t in (out if isinstance(out, (tuple, list)) else (out,))]


def _portable(fn: Callable, args: tuple) -> list[np.ndarray]:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        proto = opforge.export(_Call(fn), args, portable=True)
    assert not aten_fallback.fallback_nodes(proto)
    session = onnxruntime.InferenceSession(proto.SerializeToString(), providers=["CPUExecutionProvider"])
    names = [i.name for i in session.get_inputs()]
    return session.run(None, {n: t.numpy() for n, t in zip(names, args, strict=True)})


def _assert_matches(fn: Callable, args: tuple) -> None:
    expected, got = _eager(fn, args), _portable(fn, args)
    assert len(expected) == len(got)
    for index, (e, g) in enumerate(zip(expected, got, strict=True)):
        assert g.dtype == e.dtype, f"output {index}: dtype {g.dtype}, eager {e.dtype}"
        assert g.shape == e.shape, f"output {index}: shape {g.shape}, eager {e.shape}"
        np.testing.assert_allclose(g, e, rtol=1e-4, atol=1e-5, err_msg=f"output {index}")


_g = torch.Generator().manual_seed(7)


def _randn(*shape: int) -> torch.Tensor:
    return torch.randn(*shape, generator=_g)


_A = _randn(2, 4, 4) + 4 * torch.eye(4)  # well conditioned in either triangle
_L = torch.linalg.cholesky(_A @ _A.mT)


TRIANGULAR = {
    **{f"solve_triangular_upper{u}_left{s}_unit{t}": (
        lambda a, b, u=u, s=s, t=t: torch.linalg.solve_triangular(a, b, upper=u, left=s, unitriangular=t),
        (_A, _randn(2, 4, 3) if s else _randn(2, 3, 4)))
       for u in (True, False) for s in (True, False) for t in (True, False)},
    "solve_triangular_broadcast_batch": (lambda a, b: torch.linalg.solve_triangular(a, b, upper=False),
                                         (_A[:1], _randn(3, 1, 4, 2))),
    "solve_triangular_empty_batch": (lambda a, b: torch.linalg.solve_triangular(a, b, upper=True),
                                     (torch.zeros(0, 3, 3), torch.zeros(0, 3, 2))),
    "solve_triangular_0x0": (lambda a, b: torch.linalg.solve_triangular(a, b, upper=True),
                             (torch.zeros(0, 0), torch.zeros(0, 2))),
    **{f"triangular_solve_upper{u}_transpose{t}_unit{n}": (
        lambda b, a, u=u, t=t, n=n: torch.triangular_solve(b, a, upper=u, transpose=t, unitriangular=n),
        (_randn(3, 1, 4, 2), _A))
       for u in (True, False) for t in (True, False) for n in (True, False)},
    "cholesky_solve_lower": (lambda b, f: torch.cholesky_solve(b, f), (_randn(2, 4, 3), _L)),
    "cholesky_solve_upper": (lambda b, f: torch.cholesky_solve(b, f, upper=True), (_randn(4, 2), _L.mT[1])),
    "cholesky_solve_0x0": (lambda b, f: torch.cholesky_solve(b, f), (torch.zeros(0, 0), torch.zeros(0, 0))),
    "cholesky_inverse_lower": (torch.cholesky_inverse, (_L,)),
    "cholesky_inverse_upper": (lambda f: torch.cholesky_inverse(f, upper=True), (_L.mT[0],)),
    "cholesky_inverse_empty_batch": (torch.cholesky_inverse, (torch.zeros(0, 2, 2),)),
}


@pytest.mark.parametrize("case", sorted(TRIANGULAR))
def test_triangular_family_portable_matches_eager(case: str) -> None:
    fn, args = TRIANGULAR[case]
    _assert_matches(fn, args)


def test_solve_triangular_reads_only_its_triangle() -> None:
    # garbage (even inf) in the other triangle must not leak into the solution, as in LAPACK's trtrs
    a = torch.triu(_A[0]) + torch.tril(torch.full((4, 4), float("inf")), -1)
    _assert_matches(lambda m, b: torch.linalg.solve_triangular(m, b, upper=True), (a, _randn(4, 2)))
