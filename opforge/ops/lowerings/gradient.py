"""torch.gradient with a dynamic dim: torch's C++ function reads ``sizes()``, which fixes every dim of the
input at trace time, even along the dims it does not differentiate (``torch.export`` then refuses a
dynamic batch). During ``opforge.export`` a stand-in takes its place with eager's own steps in Python,
where sizes stay symbolic: central differences inside, one-sided ones of order ``edge_order`` at both
ends, for a uniform spacing (a number per dim) or coordinates (a 1-D tensor per dim). Bit for bit eager's
result (``tests/test_dynamic_dims_stand_ins.py``)."""

from __future__ import annotations

from typing import Any

import torch

from ...exporters import stand_ins


def _ends(x: torch.Tensor, dim: int, edge_order: int) -> tuple:
    """Slices of ``x`` along ``dim``: first, second, third, third to last, second to last, last (the third
    ones only for ``edge_order`` 2, which needs them; a dim of 2 has none)."""
    n = x.shape[dim]
    first, second, second_last, last = x.narrow(dim, 0, 1), x.narrow(dim, 1, 1), x.narrow(dim, n - 2, 1), \
        x.narrow(dim, n - 1, 1)
    if edge_order == 1:
        return first, second, None, None, second_last, last
    return first, second, x.narrow(dim, 2, 1), x.narrow(dim, n - 3, 1), second_last, last


def _uniform(x: torch.Tensor, h: float, dim: int, edge_order: int) -> torch.Tensor:
    n = x.shape[dim]
    first, second, third, third_last, second_last, last = _ends(x, dim, edge_order)
    center = (x.narrow(dim, 2, n - 2) - x.narrow(dim, 0, n - 2)) / h / 2
    if edge_order == 1:
        before, after = (second - first) / h, (last - second_last) / h
    else:
        before = (first * -1.5 + second * 2 + third * -0.5) / h
        after = (third_last * 0.5 + second_last * -2 + last * 1.5) / h
    return torch.cat([before, center, after], dim)


def _coordinates(x: torch.Tensor, t: torch.Tensor, dim: int, edge_order: int) -> torch.Tensor:
    n = x.shape[dim]
    shape = [1] * x.dim()
    shape[dim] = -1
    dx = t.diff()
    dx1, dx2 = dx[:-1], dx[1:]
    a = (-dx2 / (dx1 * (dx1 + dx2))).reshape(shape)
    b = ((dx2 - dx1) / (dx1 * dx2)).reshape(shape)
    c = (dx1 / (dx2 * (dx1 + dx2))).reshape(shape)
    center = a * x.narrow(dim, 0, n - 2) + b * x.narrow(dim, 1, n - 2) + c * x.narrow(dim, 2, n - 2)
    first, second, third, third_last, second_last, last = _ends(x, dim, edge_order)
    if edge_order == 1:
        before, after = (second - first) / dx[0], (last - second_last) / dx[-1]
    else:
        d0, d1, e1, e2 = dx[0], dx[1], dx[-1], dx[-2]
        before = (-(2.0 * d0 + d1) / (d0 * (d0 + d1)) * first + (d0 + d1) / (d0 * d1) * second
                  + (-d0) / (d1 * (d0 + d1)) * third)
        after = (e1 / (e2 * (e1 + e2)) * third_last - (e1 + e2) / (e1 * e2) * second_last
                 + (2 * e1 + e2) / (e1 * (e1 + e2)) * last)
    return torch.cat([before, center, after], dim)


def _number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


@stand_ins.stands_in(torch.gradient)
def _(input: Any, *, spacing: Any = 1, dim: Any = None, edge_order: int = 1) -> Any:  # noqa: A002
    if not isinstance(input, torch.Tensor) or not input.is_floating_point() or input.dim() == 0 or \
            edge_order not in (1, 2):
        return NotImplemented
    dims = list(range(input.dim())) if dim is None else [dim] if isinstance(dim, int) else list(dim)
    dims = [d % input.dim() for d in dims]
    if _number(spacing):
        spacing = [spacing] * len(dims)
    if not isinstance(spacing, (list, tuple)) or len(spacing) != len(dims):
        return NotImplemented  # torch's own function: its result, or its error
    if any(isinstance(input.shape[d], int) and input.shape[d] < edge_order + 1 for d in dims):
        return NotImplemented  # too short: torch's error
    out = []
    for d, h in zip(dims, spacing, strict=True):
        if isinstance(h, torch.Tensor) and h.dim() == 1 and h.is_floating_point():
            out.append(_coordinates(input, h, d, edge_order))
        elif _number(h):
            out.append(_uniform(input, h, d, edge_order))
        else:
            return NotImplemented
    return tuple(out)
