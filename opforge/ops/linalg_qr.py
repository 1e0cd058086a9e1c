"""opforge.contrib::LinalgQR: torch.linalg.qr (reduced and complete)."""

from __future__ import annotations

import numpy as np
import torch

from ..api import op as declare
from ..types import Sample, TensorSpec
from . import _aten, _torch

_MODES = ("reduced", "complete")


@declare("opforge.contrib::LinalgQR", version=1, outputs=["Q", "R"], dtypes={"A": ["float32", "float64"]},
         serves=["torch.linalg.qr", "torch.qr", "Tensor.qr"])
def linalg_qr(A: torch.Tensor, mode: str = "reduced") -> tuple[torch.Tensor, torch.Tensor]:  # noqa: N803
    """QR decomposition of each matrix of ``A`` ``(*, m, n)`` (Householder, LAPACK sign convention):
    ``mode="reduced"`` gives Q ``(*, m, k)``, R ``(*, k, n)`` with k = min(m, n); ``"complete"``
    gives Q ``(*, m, m)``, R ``(*, m, n)``."""
    Q, R = torch.linalg.qr(A, mode=mode)  # noqa: N806
    return Q, R


def _qr(xp, A, mode):  # noqa: ANN001, ANN202, N803
    if mode not in _MODES:
        raise ValueError(f"{linalg_qr.name}: mode={mode!r} is not one of {_MODES}")
    m, n = A.shape[-2:]
    k = min(m, n) if mode == "reduced" else m
    if A.size == 0:
        batch = A.shape[:-2]
        eye = xp.broadcast_to(xp.eye(m, k, dtype=A.dtype), (*batch, m, k)).copy()
        return eye, xp.zeros((*batch, k, n), A.dtype)
    return xp.linalg.qr(A, mode=mode)


@linalg_qr.kernel("cpu")
def _(A: np.ndarray, *, mode: str) -> tuple[np.ndarray, np.ndarray]:  # noqa: N803
    return _torch.cpu(linalg_qr.reference, A, mode=mode, name=linalg_qr.name)


@linalg_qr.kernel("cuda")
def _(A, *, mode):  # noqa: ANN001, ANN202, N803
    import cupy

    return _qr(cupy, A, mode)


@linalg_qr.infer
def _(A: TensorSpec, *, mode: str) -> tuple[TensorSpec, TensorSpec]:  # noqa: N803
    *batch, m, n = A.shape
    if mode == "complete":
        k = m
    elif isinstance(m, int) and isinstance(n, int):
        k = min(m, n)
    else:
        k = None
    return TensorSpec((*batch, m, k), A.dtype), TensorSpec((*batch, k, n), A.dtype)


@linalg_qr.samples
def _(rng: np.random.Generator):  # noqa: ANN202
    yield Sample(rng.standard_normal((5, 3)).astype(np.float32)).named("tall")
    yield Sample(rng.standard_normal((2, 3, 4))).named("wide_batched_float64")
    yield Sample(rng.standard_normal((4, 4)).astype(np.float32), mode="complete").named("square_complete")
    yield Sample(rng.standard_normal((5, 2)), mode="complete").named("tall_complete")
    yield Sample(np.zeros((0, 3, 2), np.float32)).named("empty_batch")


@_aten.lowers(torch.ops.aten.linalg_qr.default, linalg_qr)
def _(a: dict) -> object:
    """linalg_qr(Tensor A, str mode="reduced") -> (Tensor Q, Tensor R)"""
    return _aten.emit(linalg_qr, a["A"], mode=str(a["mode"]))
