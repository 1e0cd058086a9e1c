"""torch.take_along_dim with a dynamic dim: torch's C++ function broadcasts through ``sizes()``, which fixes
the dims at trace time (``torch.export`` then refuses a dynamic batch). During ``opforge.export`` a
stand-in takes its place with eager's own steps in Python, where sizes stay symbolic: broadcast input and
indices against each other except along ``dim``, wrap the indices into range (negative ones count from
the end, as eager does), gather."""

from __future__ import annotations

from typing import Any

import torch

from ...exporters import stand_ins


@stand_ins.stands_in(torch.take_along_dim, torch.Tensor.take_along_dim)
def _(input: Any, indices: Any, dim: Any = None, *, out: Any = None) -> Any:  # noqa: A002
    if out is not None or not isinstance(input, torch.Tensor) or not isinstance(indices, torch.Tensor) or \
            input.dim() == 0 or indices.is_floating_point():
        return NotImplemented  # torch's own function: its result, or its error
    if dim is None:  # the flattened input, indices of any rank
        return input.reshape(-1).gather(0, indices.reshape(-1))
    if input.dim() != indices.dim():
        return NotImplemented
    dim = dim % input.dim()
    index_shape = list(input.shape)
    index_shape[dim] = indices.shape[dim]
    wide_indices = indices.broadcast_to(torch.broadcast_shapes(tuple(index_shape), tuple(indices.shape)))
    input_shape = list(indices.shape)
    input_shape[dim] = input.shape[dim]
    wide_input = input.broadcast_to(torch.broadcast_shapes(tuple(input_shape), tuple(input.shape)))
    size = wide_input.shape[dim]
    if not isinstance(size, int):  # a dynamic size: a tensor divisor (ONNX has no attribute for a graph value)
        size = torch.full((), size, dtype=wide_indices.dtype)
    return wide_input.gather(dim, torch.remainder(wide_indices, size))
