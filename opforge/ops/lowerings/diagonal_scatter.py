"""``diagonal_scatter`` in plain ONNX. Stock torch.onnx has no translation, and its decomposition writes
through ``prims.copy_to``, which the exporter's functionalization rejects. Here the two diagonal dims move
last, a mask marks the diagonal (``j - i == offset``), and a Where takes ``src`` there: src is gathered
along its last axis by the row index (offset >= 0) or the column index (offset < 0), padded by one
element so an empty diagonal still gathers in bounds (the mask is all false then)."""

from __future__ import annotations

from typing import Any

import torch

from .. import _aten


@_aten.overrides(torch.ops.aten.diagonal_scatter.default,
                 "stock torch.onnx has no translation and its decomposition (prims.copy_to) does not export")
def _(a: dict) -> Any:
    """diagonal_scatter(Tensor self, Tensor src, int offset=0, int dim1=0, int dim2=1) -> Tensor"""
    op = _aten.std_opset()
    x, src, offset = a["self"], a["src"], int(a["offset"])
    rank = len(x.shape)
    dim1, dim2 = int(a["dim1"]) % rank, int(a["dim2"]) % rank
    perm = [d for d in range(rank) if d not in (dim1, dim2)] + [dim1, dim2]
    inverse = [perm.index(d) for d in range(rank)]
    moved = op.Transpose(x, perm=perm)  # [..., rows, cols]
    shape = op.Shape(moved)
    rows = op.Range(op.Constant(value_int=0), op.Squeeze(op.Gather(shape, op.Constant(value_ints=[rank - 2]))),
                    op.Constant(value_int=1))
    cols = op.Range(op.Constant(value_int=0), op.Squeeze(op.Gather(shape, op.Constant(value_ints=[rank - 1]))),
                    op.Constant(value_int=1))
    on_diagonal = op.Equal(op.Sub(op.Unsqueeze(cols, op.Constant(value_ints=[0])),
                                  op.Unsqueeze(rows, op.Constant(value_ints=[1]))), op.Constant(value_int=offset))
    length = op.Squeeze(op.Gather(op.Shape(src), op.Constant(value_ints=[rank - 2])))
    padded = op.Pad(src, op.Constant(value_ints=[0] * (rank - 1) + [0] * (rank - 2) + [1]))
    if offset >= 0:  # row i holds src[..., i]
        values = op.Unsqueeze(op.Gather(padded, op.Min(rows, length), axis=rank - 2), op.Constant(value_ints=[-1]))
    else:  # column j holds src[..., j]
        values = op.Unsqueeze(op.Gather(padded, op.Min(cols, length), axis=rank - 2), op.Constant(value_ints=[-2]))
    return op.Transpose(op.Where(on_diagonal, values, moved), perm=inverse)
