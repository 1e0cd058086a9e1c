"""The spectral norm (``torch.linalg.matrix_norm`` / ``torch.linalg.norm`` with ``ord=2`` or ``-2``) with a
dynamic dim: torch's C++ composite fixes the batch dims at trace time (``torch.export`` then refuses a
dynamic batch), though what it computes traces fine. During ``opforge.export`` a stand-in takes its place
with the same steps in Python: the two matrix dims moved last, the singular values (``svdvals``, which
opforge lowers to the Svdvals contrib op), their largest (``ord=2``) or smallest (``ord=-2``)."""

from __future__ import annotations

from typing import Any

import torch

from ...exporters import stand_ins


def _spectral(a: Any, order: Any, dim: Any, keepdim: bool, dtype: Any) -> Any:
    """The spectral norm over the two dims ``dim``, or NotImplemented for anything else (torch's own call)."""
    if not isinstance(a, torch.Tensor) or not _spectral_order(order) or isinstance(dim, int) or dim is None or \
            len(dim) != 2 or a.dim() < 2 or dim[0] % a.dim() == dim[1] % a.dim():
        return NotImplemented
    if dtype is not None:
        a = a.to(dtype)
    first, second = (d % a.dim() for d in dim)
    values = torch.linalg.svdvals(a.movedim((first, second), (-2, -1)))
    norm = values.amax(-1) if order > 0 else values.amin(-1)
    if keepdim:
        for d in sorted((first, second)):
            norm = norm.unsqueeze(d)
    return norm


def _spectral_order(order: Any) -> bool:
    return isinstance(order, (int, float)) and not isinstance(order, bool) and abs(order) == 2


@stand_ins.stands_in(torch.linalg.matrix_norm)
def _(A: Any, ord: Any = "fro", dim: Any = (-2, -1), keepdim: bool = False, *, dtype: Any = None,  # noqa: A002, N803
      out: Any = None) -> Any:
    return NotImplemented if out is not None else _spectral(A, ord, dim, keepdim, dtype)


@stand_ins.stands_in(torch.linalg.norm)
def _(A: Any, ord: Any = None, dim: Any = None, keepdim: bool = False, *, dtype: Any = None,  # noqa: A002, N803
      out: Any = None) -> Any:
    if out is not None or not isinstance(A, torch.Tensor):
        return NotImplemented
    if dim is None and A.dim() == 2:  # a matrix: its norm; otherwise a vector norm (torch's own call)
        dim = (-2, -1)
    return _spectral(A, ord, dim, keepdim, dtype)
