"""``scaled_dot_product_attention`` on 3-D query / key / value (batch, sequence, embedding): stock
torch.onnx's translation asserts 4-D inputs. Here a 3-D call runs stock's own translation with a head
axis of size 1 inserted (and removed after), so it computes exactly what stock computes for 4-D; 4-D
calls go to stock's translation, whatever their arguments. With a boolean mask, a query row that may
attend to no key is 0, as in eager (stock's softmax over all -inf gives NaN there). Other ranks, and
dropout or grouped-query attention on 3-D inputs (where torch reads dim -3, the batch, as the heads)
go to the generic fallback."""

from __future__ import annotations

from typing import Any

import torch
from onnxscript import ir

from .. import _aten

_sdpa = torch.ops.aten.scaled_dot_product_attention.default


def _rank(x: Any) -> int | None:
    return None if x is None or x.shape is None else len(x.shape)


def _stock(a: dict, query: Any, key: Any, value: Any, mask: Any) -> Any:
    from onnxscript.function_libs.torch_lib.ops import nn

    out = nn.aten_scaled_dot_product_attention(query, key, value, mask, a["dropout_p"], bool(a["is_causal"]),
                                               a["scale"], bool(a["enable_gqa"]))
    if mask is None or mask.dtype != ir.DataType.BOOL:
        return out
    # a query row that may attend to no key is 0 in eager; stock's softmax over all -inf gives NaN there
    op = _aten.std_opset()
    attends = op.Cast(op.ReduceSum(op.Cast(mask, to=7), op.Constant(value_ints=[-1]), keepdims=1), to=9)
    return op.Where(attends, out, op.CastLike(op.Constant(value_float=0.0), out))


@_aten.overrides(_sdpa, "stock torch.onnx's translation only takes 4-D query, key and value")
def _(a: dict) -> Any:
    """scaled_dot_product_attention(Tensor query, Tensor key, Tensor value, Tensor? attn_mask=None,
    float dropout_p=0., bool is_causal=False, *, float? scale=None, bool enable_gqa=False) -> Tensor"""
    query, key, value, mask = a["query"], a["key"], a["value"], a["attn_mask"]
    ranks = {_rank(query), _rank(key), _rank(value)}
    plain = a["dropout_p"] == 0 and not (mask is not None and a["is_causal"]) and \
        (a["scale"] is None or isinstance(a["scale"], (int, float)))
    if ranks == {4}:  # stock's case, whatever the arguments (so nothing stock exported changes route)
        return _stock(a, query, key, value, mask)
    if ranks != {3} or not plain or a["enable_gqa"] or (mask is not None and _rank(mask) not in (2, 3)):
        return _aten.fall_back(_sdpa, a)
    op = _aten.std_opset()
    heads = op.Constant(value_ints=[1])

    def with_heads(x: Any) -> Any:
        # stock's translation reads rank and dtype off its inputs: give the new values both
        out = op.Unsqueeze(x, heads)
        out.shape, out.dtype = ir.Shape([x.shape[0], 1, *x.shape[1:]]), x.dtype
        return out

    if mask is not None and _rank(mask) == 3:  # (batch, L, S): its own head axis; (L, S) broadcasts as is
        mask = with_heads(mask)
    return op.Squeeze(_stock(a, with_heads(query), with_heads(key), with_heads(value), mask), heads)
