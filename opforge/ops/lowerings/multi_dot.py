"""torch.linalg.multi_dot of three matrices with a dynamic dim: torch's C++ picks the cheaper product order
from the sizes (``(A B) C`` or ``A (B C)``), which fixes them at trace time (``torch.export`` then refuses
a dynamic batch). During ``opforge.export`` a stand-in computes both orders and picks, per call, the one
eager picks for those sizes (the same cost comparison, on the graph's own sizes), at twice the products:
called eagerly it gives eager's result bit for bit; in ONNX Runtime the products are MatMul nodes, within
float rounding of torch's. Other lengths run torch's own function."""

from __future__ import annotations

from typing import Any

import torch

from ...exporters import stand_ins


@stand_ins.stands_in(torch.linalg.multi_dot)
def _(tensors: Any, *, out: Any = None) -> Any:
    if out is not None or not isinstance(tensors, (list, tuple)) or len(tensors) != 3 or \
            not all(isinstance(t, torch.Tensor) for t in tensors):
        return NotImplemented
    first, middle, last = tensors
    if middle.dim() != 2 or first.dim() not in (1, 2) or last.dim() not in (1, 2):
        return NotImplemented
    a = first.unsqueeze(0) if first.dim() == 1 else first  # a vector at either end: a row, a column
    c = last.unsqueeze(-1) if last.dim() == 1 else last
    rows, inner, cols, width = a.shape[0], middle.shape[0], c.shape[0], c.shape[1]
    # (rows x inner) (inner x cols) (cols x width): eager's cost of each order
    left_cost, right_cost = (rows * cols) * (inner + width), (inner * width) * (rows + cols)
    if all(isinstance(size, int) for size in (rows, inner, cols, width)):
        result = a @ (middle @ c) if left_cost > right_cost else (a @ middle) @ c
    else:  # decided per call in the graph: comparing symbolic sizes here would fix them
        right_first = torch.full((), left_cost, dtype=torch.int64) > torch.full((), right_cost, dtype=torch.int64)
        result = torch.where(right_first, a @ (middle @ c), (a @ middle) @ c)
    if last.dim() == 1:
        result = result.squeeze(-1)
    if first.dim() == 1:
        result = result.squeeze(0)
    return result
