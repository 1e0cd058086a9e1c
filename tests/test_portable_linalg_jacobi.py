"""Portable eigenvalues, singular values and pseudo-inverses (contrib ops Eigvalsh, Svdvals, LinalgPinv, whose
bodies run cyclic Jacobi sweeps in an ONNX Loop): unmodified models exported with ``portable=True`` run on a
plain ``onnxruntime.InferenceSession`` and match eager PyTorch, batched, at new batch sizes and on empty
inputs; eigen- and singular vectors, whose signs LAPACK picks, stay on the fallback, which ``portable=True``
refuses by name.
"""

from __future__ import annotations

import numpy as np
import onnxruntime
import pytest
import torch

import opforge
import opforge.ops  # noqa: F401 - declares the contrib ops and their lowerings
from opforge.portable import PortableError


def _run(proto: object, *inputs: torch.Tensor) -> list[np.ndarray]:
    session = onnxruntime.InferenceSession(proto.SerializeToString(), providers=["CPUExecutionProvider"])
    return session.run(None, {i.name: x.numpy() for i, x in zip(session.get_inputs(), inputs, strict=True)})


def _assert_matches(got: list[np.ndarray], expected: tuple[torch.Tensor, ...]) -> None:
    assert len(got) == len(expected)
    for index, (g, e) in enumerate(zip(got, expected, strict=True)):
        assert g.shape == tuple(e.shape), (index, g.shape, e.shape)
        torch.testing.assert_close(torch.from_numpy(g), e, rtol=1e-4, atol=1e-5, msg=f"output {index}")


def _domains(proto: object) -> set[str]:
    return {n.domain for n in proto.graph.node}


class _Spectra(torch.nn.Module):
    """Everything the Jacobi bodies serve, on a batch of square, tall and wide matrices."""

    def forward(self, x: torch.Tensor, tall: torch.Tensor, wide: torch.Tensor, atol: torch.Tensor
                ) -> tuple[torch.Tensor, ...]:
        sym = x + x.mT
        return (torch.linalg.eigvalsh(x),  # reads the lower triangle of a nonsymmetric matrix
                torch.linalg.eigvalsh(x, UPLO="U"),
                torch.linalg.matrix_rank(sym, hermitian=True),
                torch.linalg.svdvals(tall),
                torch.linalg.svdvals(wide),
                torch.linalg.eigh(sym).eigenvalues,  # eigenvectors dropped: lowered onto Eigvalsh
                torch.linalg.cond(x),
                torch.linalg.matrix_rank(tall @ wide),  # rank 3 of 5
                torch.linalg.matrix_norm(wide, "nuc"),
                torch.linalg.svd(tall).S,  # U and Vh are dropped: no vectors needed
                torch.linalg.pinv(tall),
                torch.linalg.pinv(wide),
                torch.linalg.pinv(tall @ wide),  # singular: small singular values cut off
                torch.linalg.pinv(x, atol=atol),  # a batch of absolute tolerances
                torch.linalg.pinv(x, rtol=0.3),
                torch.linalg.pinv(sym, hermitian=True),
                torch.pinverse(x))


def _spectra_inputs(batch: int, seed: int) -> tuple[torch.Tensor, ...]:
    g = torch.Generator().manual_seed(seed)
    return (torch.randn(batch, 4, 4, generator=g), torch.randn(batch, 5, 3, generator=g),
            torch.randn(batch, 3, 5, generator=g), torch.rand(batch, generator=g))


def test_unmodified_model_exports_portable_and_matches_eager_at_new_batch_sizes() -> None:
    model = _Spectra()
    batch = torch.export.Dim("batch")
    proto = opforge.export(model, _spectra_inputs(2, 0), portable=True,
                           dynamic_shapes=({0: batch}, {0: batch}, {0: batch}, {0: batch}))
    # the contrib nodes carry their bodies as model-local functions; no fallback node is left
    assert _domains(proto) == {"", "opforge.contrib"}, _domains(proto)
    assert {"Eigvalsh", "Svdvals", "LinalgPinv"} <= {f.name for f in proto.functions}
    for size, seed in ((3, 1), (1, 2)):
        inputs = _spectra_inputs(size, seed)
        with torch.no_grad():
            expected = model(*inputs)
        _assert_matches(_run(proto, *inputs), expected)


@pytest.mark.parametrize("shape", [(0, 0), (0, 3, 3), (4, 0), (2, 0, 3)], ids=str)
def test_empty_inputs(shape: tuple[int, ...]) -> None:
    class Empty(torch.nn.Module):
        def forward(self, a: torch.Tensor) -> tuple[torch.Tensor, ...]:
            return torch.linalg.svdvals(a), torch.linalg.pinv(a), *torch.linalg.svd(a, full_matrices=True)

    a = torch.zeros(shape)
    proto = opforge.export(Empty(), (a,), portable=True)
    with torch.no_grad():
        _assert_matches(_run(proto, a), Empty()(a))


def test_empty_eigvalsh() -> None:
    class Eig(torch.nn.Module):
        def forward(self, a: torch.Tensor) -> torch.Tensor:
            return torch.linalg.eigvalsh(a)

    for a in (torch.zeros(0, 0), torch.zeros(0, 3, 3)):
        proto = opforge.export(Eig(), (a,), portable=True)
        _assert_matches(_run(proto, a), (torch.linalg.eigvalsh(a),))


class _Svdvals(torch.nn.Module):
    def forward(self, a: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        return torch.linalg.svdvals(a), torch.linalg.svdvals(a.mT)  # tall and wide


def _exact_singular_values(a: np.ndarray) -> np.ndarray:
    mpmath = pytest.importorskip("mpmath")
    with mpmath.workdps(50):  # of the very float64 entries of a
        return np.array([float(v) for v in mpmath.svd_r(mpmath.matrix(a.tolist()), compute_uv=False)])


def test_small_singular_values_are_not_lost() -> None:
    # singular values from 1 down to 1e-12 (condition 1e12): one-sided Jacobi on A is accurate to ~eps ||A||,
    # as LAPACK; sqrt(eig(A^T A)) squares the condition number and misses the small ones by orders of magnitude
    rng = np.random.default_rng(0)
    q1, _ = np.linalg.qr(rng.standard_normal((7, 7)))
    q2, _ = np.linalg.qr(rng.standard_normal((6, 6)))
    a = q1[:, :6] @ np.diag(10.0 ** -np.arange(0, 13, 2.4)) @ q2.T
    exact = _exact_singular_values(a)
    normal_equations = np.sqrt(np.abs(np.linalg.eigvalsh(a.T @ a)))[::-1]
    assert np.abs(normal_equations - exact).max() > 1e-10  # the accuracy this test guards is not a given
    proto = opforge.export(_Svdvals(), (torch.from_numpy(a),), portable=True)
    for got in _run(proto, torch.from_numpy(a)):
        np.testing.assert_allclose(got, exact, rtol=0, atol=1e-15)


def test_graded_matrices_keep_relative_accuracy() -> None:
    # A = B D, B well conditioned, D graded down to 1e-12: every singular value to float64 relative accuracy
    rng = np.random.default_rng(1)
    a = rng.standard_normal((7, 6)) * 10.0 ** -np.arange(0, 13, 2.4)
    exact = _exact_singular_values(a)
    proto = opforge.export(_Svdvals(), (torch.from_numpy(a),), portable=True)
    for got in _run(proto, torch.from_numpy(a)):
        np.testing.assert_allclose(got, exact, rtol=1e-12)


def test_float64_inputs_are_solved_in_float64() -> None:
    class Both(torch.nn.Module):
        def forward(self, a: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
            return torch.linalg.eigvalsh(a), torch.linalg.pinv(a)

    g = torch.Generator().manual_seed(3)
    a = torch.randn(2, 6, 6, generator=g, dtype=torch.float64)
    proto = opforge.export(Both(), (a,), portable=True)
    got = _run(proto, a)
    expected = Both()(a)
    for g_, e in zip(got, expected, strict=True):
        assert g_.dtype == np.float64
        torch.testing.assert_close(torch.from_numpy(g_), e, rtol=1e-10, atol=1e-12)


class _Vectors(torch.nn.Module):
    def forward(self, a: torch.Tensor) -> tuple[torch.Tensor, ...]:
        values, vectors = torch.linalg.eigh(a)
        u, s, vh = torch.linalg.svd(a)
        return values, vectors, u, s, vh


def test_eigen_and_singular_vectors_stay_on_the_fallback() -> None:
    a = torch.randn(4, 4)
    a = a + a.mT
    with pytest.raises(PortableError, match=r"_linalg_eigh.*_linalg_svd|_linalg_svd.*_linalg_eigh"):
        opforge.export(_Vectors(), (a,), portable=True)
    # without portable=True they run as fallback nodes (by torch) and match eager exactly
    proto = opforge.export(_Vectors(), (a,))
    fallback = {n.op_type for n in proto.graph.node if n.domain == "opforge.aten"}
    assert fallback == {"aten___linalg_eigh__default", "aten___linalg_svd__default"}, fallback
    got = opforge.InferenceSession(proto).run(None, {proto.graph.input[0].name: a.numpy()})
    _assert_matches(got, _Vectors()(a))


def test_spectral_norms_and_condition_numbers() -> None:
    # (static shapes: torch.export itself fixes the batch dim of cond(p=-2) / matrix_norm(ord=2))
    class Norms(torch.nn.Module):
        def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, ...]:
            return (torch.linalg.cond(x, 2), torch.linalg.cond(x, -2), torch.linalg.matrix_norm(x, 2),
                    torch.linalg.matrix_norm(x, -2))

    x = torch.randn(3, 4, 6, generator=torch.Generator().manual_seed(5))
    proto = opforge.export(Norms(), (x,), portable=True)
    _assert_matches(_run(proto, x), Norms()(x))
