"""Portable (plain-ONNX) translations of the triangular-solve, Cholesky-solve, LU, slogdet, LDL, Householder
and matrix-exponential family (opforge.ops.lowerings.triangular / .lu / .ldl / .householder / .matrix_exp):
``opforge.export(portable=True)`` runs on a plain onnxruntime session and matches eager PyTorch, flags,
pivots, batches, empty batches and 0x0 matrices included; the cases a translation does not handle exactly
(LU without pivoting, a float32 matrix exponential) still export, through the generic fallback, and
``portable=True`` refuses them."""

from __future__ import annotations

import warnings
from collections.abc import Callable

import numpy as np
import onnxruntime
import pytest
import torch
from call_module import Call

import opforge
import opforge.ops  # noqa: F401 - declares the contrib ops and the lowerings
from opforge.exporters import aten_fallback
from opforge.portable import PortableError


def _eager(fn: Callable, args: tuple) -> list[np.ndarray]:
    with torch.no_grad():
        out = fn(*args)
    return [t.numpy() for t in (out if isinstance(out, (tuple, list)) else (out,))]


def _portable(fn: Callable, args: tuple, verify: bool = True) -> list[np.ndarray]:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        proto = opforge.export(Call(fn), args, portable=True, verify=verify)
    assert not aten_fallback.fallback_nodes(proto)
    session = onnxruntime.InferenceSession(proto.SerializeToString(), providers=["CPUExecutionProvider"])
    names = [i.name for i in session.get_inputs()]
    return session.run(None, {n: t.numpy() for n, t in zip(names, args, strict=True)})


def _assert_matches(fn: Callable, args: tuple, verify: bool = True) -> None:
    expected, got = _eager(fn, args), _portable(fn, args, verify)
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


def _all(*calls: Callable) -> Callable:
    """One model computing several cases (one export and one session for all of them: exports are slow)."""
    def run(*args: torch.Tensor) -> tuple:
        outs: list = []
        for call in calls:
            out = call(*args)
            outs += list(out) if isinstance(out, (tuple, list)) else [out]
        return tuple(outs)

    return run


_FLAGS = [(u, s, t) for u in (True, False) for s in (True, False) for t in (True, False)]

TRIANGULAR = {
    # every flag combination; B (3, 1, 4, 4) broadcasts against A's batch (2, 4, 4)
    "solve_triangular_flags": (_all(*[
        lambda a, b, u=u, s=s, t=t: torch.linalg.solve_triangular(a, b, upper=u, left=s, unitriangular=t)
        for u, s, t in _FLAGS]), (_A, _randn(3, 1, 4, 4))),
    "triangular_solve_flags": (_all(*[
        lambda b, a, u=u, s=s, t=t: torch.triangular_solve(b, a, upper=u, transpose=s, unitriangular=t)
        for u, s, t in _FLAGS]), (_randn(3, 1, 4, 2), _A)),
    "solve_triangular_empty_batch_and_0x0": (_all(
        lambda a, b, c, d: torch.linalg.solve_triangular(a, b, upper=True),
        lambda a, b, c, d: torch.linalg.solve_triangular(c, d, upper=False, left=False)),
        (torch.zeros(0, 3, 3), torch.zeros(0, 3, 2), torch.zeros(0, 0), torch.zeros(2, 0))),
    "cholesky_solve_and_inverse": (_all(
        lambda b, f: torch.cholesky_solve(b, f), lambda b, f: torch.cholesky_solve(b, f.mT, upper=True),
        lambda b, f: torch.cholesky_inverse(f[0]), lambda b, f: torch.cholesky_inverse(f.mT, upper=True)),
        (_randn(2, 4, 3), _L)),
    "cholesky_0x0_and_empty_batch": (_all(
        lambda b, f, e: torch.cholesky_solve(b, f), lambda b, f, e: torch.cholesky_inverse(e)),
        (torch.zeros(0, 0), torch.zeros(0, 0), torch.zeros(0, 2, 2))),
}


@pytest.mark.parametrize("case", sorted(TRIANGULAR))
def test_triangular_family_portable_matches_eager(case: str) -> None:
    fn, args = TRIANGULAR[case]
    _assert_matches(fn, args)


def test_solve_triangular_reads_only_its_triangle() -> None:
    # garbage (even inf) in the other triangle must not leak into the solution, as in LAPACK's trtrs
    a = torch.triu(_A[0]) + torch.tril(torch.full((4, 4), float("inf")), -1)
    _assert_matches(lambda m, b: torch.linalg.solve_triangular(m, b, upper=True), (a, _randn(4, 2)))


def _lu(shape: tuple) -> tuple[torch.Tensor, torch.Tensor]:
    return torch.linalg.lu_factor(_randn(*shape))


_SINGULAR = torch.tensor([[1.0, 0.0, 2.0], [2.0, 0.0, 1.0], [3.0, 0.0, 5.0]])  # a zero column: U[1, 1] == 0
_SHAPES = {"square": (4, 4), "wide": (3, 5), "tall": (5, 3), "batched": (2, 3, 3), "empty_batch": (0, 3, 3),
           "0x0": (0, 0)}
_FACTORIZE = _all(torch.linalg.lu_factor_ex, torch.linalg.lu, lambda a: torch.lu_unpack(*torch.linalg.lu_factor(a)))

LU = {
    **{f"factorizations_{name}": (_FACTORIZE, (_randn(*shape),)) for name, shape in _SHAPES.items()},
    "lu_unpack_parts": (_all(
        lambda lu, p: torch.lu_unpack(lu, p, unpack_data=False),
        lambda lu, p: torch.lu_unpack(lu, p, unpack_pivots=False)), _lu((2, 3, 4))),
    # a zero column (U[1, 1] == 0: info 2, no division), the zero matrix, and a tie on the first pivot
    "singular_and_ties": (_all(torch.linalg.lu_factor_ex, torch.linalg.slogdet, torch.linalg.lu),
                          (torch.stack([_SINGULAR, torch.zeros(3, 3), torch.tensor([[1.0, 2, 0], [-1, 3, 0],
                                                                                    [0, 1, 1]])]),)),
    "lu_solve_flags": (_all(*[lambda lu, p, b, s=s, t=t: torch.linalg.lu_solve(lu, p, b if s else b.mT, left=s,
                                                                             adjoint=t)
                              for s in (True, False) for t in (True, False)]), (*_lu((4, 4)), _randn(3, 4, 4))),
    "lu_solve_deprecated": (torch.lu_solve, (_randn(2, 3, 1), *_lu((2, 3, 3)))),
    "slogdet": (_all(torch.linalg.slogdet, torch.ops.aten._linalg_slogdet.default, torch.logdet),
                (_randn(3, 4, 4) + 4 * torch.eye(4),)),
    "slogdet_0x0_and_1x1": (lambda a, b: (*torch.linalg.slogdet(a), *torch.linalg.slogdet(b)),
                            (torch.zeros(0, 0), torch.tensor([[-2.0]]))),
}


@pytest.mark.parametrize("case", sorted(LU))
def test_lu_family_portable_matches_eager(case: str) -> None:
    fn, args = LU[case]
    _assert_matches(fn, args)


def test_lu_without_pivoting_falls_back_and_portable_refuses() -> None:
    # eager refuses pivot=False on the CPU; no body may invent an answer: it stays a fallback node
    fn = Call(lambda a: torch.linalg.lu_factor_ex(a, pivot=False))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        proto = opforge.export(fn, (_randn(3, 3),), verify=False)
        assert aten_fallback.fallback_nodes(proto) == ["aten__linalg_lu_factor_ex__default"]
        with pytest.raises(PortableError, match="linalg_lu_factor_ex"):
            opforge.export(fn, (_randn(3, 3),), portable=True, verify=False)


_QR = torch.geqrf(_randn(5, 3))

HOUSEHOLDER_AND_EXP = {
    "geqrf_shapes": (_all(lambda a, b, c, d: torch.geqrf(a), lambda a, b, c, d: torch.geqrf(b), lambda a, b, c, d: torch.geqrf(c),
                          lambda a, b, c, d: torch.geqrf(d)),
                     (_randn(5, 5), _randn(2, 5, 3), _randn(3, 5), torch.zeros(0, 0))),
    # a zero column: no reflection (tau 0), as LAPACK's dlarfg
    "geqrf_zero_column": (torch.geqrf, (torch.tensor([[0.0, 1.0], [0.0, 2.0], [0.0, 3.0]]),)),
    "householder_product": (_all(lambda a, t, b, u: torch.linalg.householder_product(a, t),
                                 lambda a, t, b, u: torch.linalg.householder_product(b, u)),
                            (_randn(6, 4), _randn(3), _randn(2, 4, 4), _randn(2, 4))),
    "ormqr_flags": (_all(*[lambda a, t, c, s=s, u=u: torch.ormqr(a, t, c if s else c.mT, left=s, transpose=u)
                           for s in (True, False) for u in (True, False)]), (*_QR, _randn(5, 4))),
    "matrix_exp_float64": (_all(lambda a, b, c: torch.linalg.matrix_exp(a), lambda a, b, c: torch.linalg.matrix_exp(b),
                                lambda a, b, c: torch.linalg.matrix_exp(c)),
                           (_randn(2, 5, 5).double(), _randn(3, 3).double() * 10, torch.zeros(0, 0, dtype=torch.float64))),
}


@pytest.mark.parametrize("case", sorted(HOUSEHOLDER_AND_EXP))
def test_householder_and_matrix_exp_portable_match_eager(case: str) -> None:
    fn, args = HOUSEHOLDER_AND_EXP[case]
    _assert_matches(fn, args)


def test_matrix_exp_float32_stays_on_the_fallback() -> None:
    # eager's float32 answer carries cancellation error no body reproduces: no body, so portable refuses
    fn = Call(torch.linalg.matrix_exp)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        proto = opforge.export(fn, (_randn(3, 3),))
        assert aten_fallback.fallback_nodes(proto) == ["aten__linalg_matrix_exp__default"]
        with pytest.raises(PortableError, match="linalg_matrix_exp"):
            opforge.export(fn, (_randn(3, 3),), portable=True, verify=False)


def test_dynamic_batch_and_size_stay_dynamic() -> None:
    # the Loops run to sizes read from the input's shape: one file serves every batch and matrix size
    fn = Call(_all(torch.linalg.lu_factor_ex, torch.linalg.slogdet,
                    lambda a: torch.linalg.solve_triangular(a, a, upper=False)))
    batch, n = torch.export.Dim("batch"), torch.export.Dim("n", min=2)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        proto = opforge.export(fn, (_randn(2, 3, 3) + 3 * torch.eye(3),), portable=True,
                               dynamic_shapes=(({0: batch, 1: n, 2: n},),))
    session = onnxruntime.InferenceSession(proto.SerializeToString(), providers=["CPUExecutionProvider"])
    x = _randn(4, 5, 5) + 5 * torch.eye(5)
    got = session.run(None, {session.get_inputs()[0].name: x.numpy()})
    for index, (e, g) in enumerate(zip(_eager(fn, (x,)), got, strict=True)):
        np.testing.assert_allclose(g, e, rtol=1e-4, atol=1e-5, err_msg=f"output {index}")


def _symmetric(*shape: int) -> torch.Tensor:
    a = _randn(*shape)
    return a + a.mT


LDL = {
    # 100 random symmetric 6x6 matrices: 1x1 and 2x2 blocks, with and without swaps, mixed in one batch
    "ldl_factor_ex_mixed_blocks": (torch.linalg.ldl_factor_ex, (_symmetric(100, 6, 6),)),
    # small integers: exact ties and zero columns (info > 0)
    "ldl_factor_ex_ties_and_zeros": (torch.linalg.ldl_factor_ex,
                                     (torch.randint(-2, 3, (60, 5, 5), generator=_g).float().triu().mT.contiguous(),)),
    "ldl_factor_reads_lower_and_edges": (_all(
        lambda a, e, z: torch.linalg.ldl_factor(a, hermitian=True), lambda a, e, z: torch.linalg.ldl_factor(e),
        lambda a, e, z: torch.linalg.ldl_factor_ex(z)), (_randn(2, 4, 4), torch.zeros(0, 2, 2), torch.zeros(0, 0))),
    "ldl_solve_mixed_blocks": (torch.linalg.ldl_solve, (*torch.linalg.ldl_factor(_symmetric(60, 6, 6)),
                                                         _randn(60, 6, 3))),
    "ldl_solve_broadcast_and_edges": (_all(
        lambda ld, p, b, e, q, c: torch.linalg.ldl_solve(ld, p, b, hermitian=True),
        lambda ld, p, b, e, q, c: torch.linalg.ldl_solve(e, q, c)),
        (*torch.linalg.ldl_factor(_symmetric(3, 5, 5)), _randn(5, 2), torch.zeros(0, 2, 2),
         torch.zeros(0, 2, dtype=torch.int32), torch.zeros(2, 4))),
}


@pytest.mark.parametrize("case", sorted(LDL))
def test_ldl_portable_matches_eager(case: str) -> None:
    fn, args = LDL[case]
    # verify=True: an export holding ldl_solve keeps integer inputs (the pivots) as given in verify's
    # generated inputs, since eager's sytrs reads out of bounds on pivots no factorization made
    _assert_matches(fn, args, verify=True)


def test_verify_keeps_pivots_of_ldl_solve_as_given() -> None:
    """Permuted pivots can crash eager torch (LAPACK sytrs reads out of bounds): an export with ldl_solve
    says in its summary that verify keeps integer inputs, and verify's generated inputs keep them."""
    from opforge import _verify

    ld, pivots = torch.linalg.ldl_factor(_symmetric(4, 6, 6))
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        opforge.export(Call(torch.linalg.ldl_solve), (ld, pivots, _randn(4, 6, 2)))  # verify=True
    notes = [str(w.message) for w in caught if isinstance(w.message, opforge.ExportSummaryWarning)]
    assert any("verify keeps the example's integer inputs" in n for n in notes)
    example = [ld.numpy(), pivots.numpy()]
    cases = _verify._generate(example, [["b", None, None], ["b", None]], np.random.default_rng(0), keep_integers=True)
    assert len(cases) == 2 and all(np.array_equal(c.arrays[1], example[1]) for c in cases)
    assert not np.array_equal(cases[1].arrays[0], example[0])  # floats still vary
    moved = _verify._generate(example, [["b", None, None], ["b", None]], np.random.default_rng(0))
    assert any(not np.array_equal(c.arrays[1], example[1]) or c.arrays[1].shape != example[1].shape for c in moved)
