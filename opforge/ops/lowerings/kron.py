"""torch.kron with a dynamic dim: torch's C++ composite reads ``sizes()``, which fixes every dim of both
inputs at trace time (``torch.export`` then refuses a dynamic batch). During ``opforge.export`` a stand-in
takes its place: the same products a_i * b_j of the same interleaved views, in Python, where sizes stay
symbolic. Bit for bit eager's result."""

from __future__ import annotations

from typing import Any

import torch

from ...exporters import stand_ins


@stand_ins.stands_in(torch.kron, torch.Tensor.kron)
def _(input: Any, other: Any, *, out: Any = None) -> Any:  # noqa: A002
    if out is not None or not isinstance(input, torch.Tensor) or not isinstance(other, torch.Tensor):
        return NotImplemented
    rank = max(input.dim(), other.dim())
    a = input.reshape((1,) * (rank - input.dim()) + tuple(input.shape))  # the shorter one padded in front
    b = other.reshape((1,) * (rank - other.dim()) + tuple(other.shape))
    products = a.reshape([d for size in a.shape for d in (size, 1)]) * b.reshape([d for size in b.shape for d in (1, size)])
    return products.reshape([x * y for x, y in zip(a.shape, b.shape, strict=True)])
