"""``F.linear_cross_entropy``'s chunked ops (torch's own custom ops ``torch_nn::_linear_cross_entropy_batch_chunked``
and ``..._no_reduction``) in plain ONNX: stock torch.onnx has no translation for them.

The loss is what eager's chunked loop computes, without the chunks: logits = input @ linear_weight.T (+ bias),
shifted by their row max; per row ``scale * (log(sum(exp(shifted))) - shifted[target])``, where ``scale`` is the
class weight of the target (1 without ``weight``), 0 on ``ignore_index`` rows, and for ``mean`` divided by the
sum of those weights (NaN when that sum is 0, as in eager). Inputs in a narrower dtype than ``acc_dtype`` are
computed in ``acc_dtype`` and the results cast back, as eager's accumulators are.

The scalar-reduction op also returns the gradient buffers that eager precomputes for its backward: with a
``compute_*_grad`` flag False, an empty tensor of the rank eager gives ((0, 0), (0, 0), (0,)); with it True
(export traced with parameters that require grad), the gradient itself: with D = (softmax(logits) -
onehot(target)) * scale, grad_input = D @ linear_weight, grad_linear_weight = D.T @ input, grad_linear_bias =
sum over rows of D.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import onnx.helper
import torch

from .. import _aten

try:  # the module that defines the ops (torch.nn.functional imports it lazily)
    import torch.nn.modules.linear_cross_entropy  # noqa: F401

    _CHUNKED = torch.ops.torch_nn._linear_cross_entropy_batch_chunked.default
    _NO_REDUCTION = torch.ops.torch_nn._linear_cross_entropy_batch_chunked_no_reduction.default
except (ImportError, AttributeError, RuntimeError):  # a torch without linear_cross_entropy
    _CHUNKED = _NO_REDUCTION = None

_WHY = "stock torch.onnx has no translation for torch's own custom op"


class LinearCrossEntropyExportError(ValueError):
    """A call of linear_cross_entropy's chunked op that the plain-ONNX translation cannot express."""


def _onnx_dtype(dtype: Any) -> int:
    """A dtype argument as torch.onnx hands it over (an onnx_ir DataType, or a torch.dtype) -> ONNX dtype enum."""
    if isinstance(dtype, int) and not isinstance(dtype, bool) and dtype in onnx.TensorProto.DataType.values():
        return int(dtype)
    if isinstance(dtype, torch.dtype):
        from ...types import dtype_name

        return onnx.helper.np_dtype_to_tensor_dtype(np.dtype(dtype_name(dtype)))
    raise LinearCrossEntropyExportError(
        f"torch_nn._linear_cross_entropy_batch_chunked: acc_dtype {dtype!r} is not a torch dtype; export it "
        "with acc_dtype left to LinearCrossEntropyOptions' default")


def _check(where: str, a: dict) -> None:
    x, w = a["input"], a["linear_weight"]
    if x.shape is None or len(x.shape) != 2 or w.shape is None or len(w.shape) != 2:
        raise LinearCrossEntropyExportError(
            f"{where}: input and linear_weight must be 2-D (got ranks {None if x.shape is None else len(x.shape)} "
            f"and {None if w.shape is None else len(w.shape)}); torch's chunked op only takes (N, F) and (C, F)")
    if float(a.get("label_smoothing", 0.0) or 0.0) != 0.0:
        raise LinearCrossEntropyExportError(
            f"{where}: label_smoothing={a['label_smoothing']} (eager's chunked op refuses it too); use "
            "F.cross_entropy(F.linear(...), label_smoothing=...) instead")
    if not isinstance(a["ignore_index"], int):
        raise LinearCrossEntropyExportError(f"{where}: ignore_index must be a Python int constant")


def _loss_parts(a: dict, reduction: str) -> tuple[Any, Any, Any, Any]:
    """(per-row loss, a builder of d loss / d logits, input, linear_weight), all in acc_dtype."""
    op = _aten.std_opset()
    x, w, target, bias, class_weight = (a["input"], a["linear_weight"], a["target"], a["linear_bias"],
                                        a["weight"])
    acc = _onnx_dtype(a["acc_dtype"])
    classes = w.shape[0] if isinstance(w.shape[0], int) else None
    x, w = op.Cast(x, to=acc), op.Cast(w, to=acc)
    logits = op.MatMul(x, op.Transpose(w, perm=[1, 0]))
    if bias is not None:
        logits = op.Add(logits, op.Cast(bias, to=acc))
    shifted = op.Sub(logits, op.ReduceMax(logits, op.Constant(value_ints=[1]), keepdims=1))
    exp = op.Exp(shifted)
    denom = op.ReduceSum(exp, op.Constant(value_ints=[1]), keepdims=0)
    ignore = a["ignore_index"]
    mask = op.Equal(target, op.Constant(value_int=ignore))
    zero_index = op.Constant(value_int=0)
    if classes is None or not 0 <= ignore < classes:  # eager's corrected_target: keeps gathers in bounds
        target = op.Where(mask, zero_index, target)
    zero = op.CastLike(op.Constant(value_float=0.0), x)
    if class_weight is None:
        scale = op.Cast(op.Not(mask), to=acc)
    else:
        scale = op.Where(mask, zero, op.Cast(op.Gather(class_weight, target, axis=0), to=acc))
    if reduction == "mean":
        total = op.ReduceSum(scale, keepdims=0)
        nan = op.CastLike(op.Constant(value_float=float("nan")), x)
        scale = op.Div(scale, op.Where(op.Equal(total, zero), nan, total))
    picked = op.Squeeze(op.GatherElements(shifted, op.Unsqueeze(target, op.Constant(value_ints=[1])), axis=1),
                        op.Constant(value_ints=[1]))
    per_row = op.Mul(op.Sub(op.Log(denom), picked), scale)

    def grad_logits() -> Any:  # only built when a gradient is asked for
        softmax = op.Div(exp, op.Unsqueeze(denom, op.Constant(value_ints=[1])))
        onehot = op.OneHot(target, op.Shape(w, start=0, end=1),
                           op.Cast(op.Constant(value_floats=[0.0, 1.0]), to=acc), axis=-1)
        return op.Mul(op.Sub(softmax, onehot), op.Unsqueeze(scale, op.Constant(value_ints=[1])))

    return per_row, grad_logits, x, w


def _empty(rank: int, like: Any) -> Any:
    op = _aten.std_opset()
    dtype = onnx.helper.np_dtype_to_tensor_dtype(np.dtype("float32"))
    value = onnx.helper.make_tensor("zero", dtype, [1], [0.0])
    return op.CastLike(op.ConstantOfShape(op.Constant(value_ints=[0] * rank), value=value), like)


if _CHUNKED is not None:

    @_aten.overrides(_CHUNKED, _WHY)
    def _(a: dict) -> Any:
        """_linear_cross_entropy_batch_chunked(Tensor input, Tensor linear_weight, Tensor target, Tensor?
        linear_bias, Tensor? weight, str reduction, int ignore_index, float label_smoothing, int batch_chunk_size,
        str acc_policy, ScalarType acc_dtype, bool allow_retain_graph, bool compute_input_grad,
        bool compute_linear_weight_grad, bool compute_linear_bias_grad) -> (Tensor, Tensor, Tensor, Tensor)"""
        where = "torch_nn._linear_cross_entropy_batch_chunked"
        _check(where, a)
        reduction = a["reduction"]
        if reduction not in ("mean", "sum"):
            raise LinearCrossEntropyExportError(f"{where}: reduction {reduction!r}; this op takes 'mean' or 'sum'")
        op = _aten.std_opset()
        x_in = a["input"]
        per_row, make_grad_logits, x, w = _loss_parts(a, reduction)
        loss = op.CastLike(op.ReduceSum(per_row, keepdims=0), x_in)
        wanted = (a["compute_input_grad"], a["compute_linear_weight_grad"], a["compute_linear_bias_grad"])
        grad_logits = make_grad_logits() if any(wanted) else None
        grad_input = op.CastLike(op.MatMul(grad_logits, w), x_in) if wanted[0] else _empty(2, x_in)
        grad_weight = (op.CastLike(op.MatMul(op.Transpose(grad_logits, perm=[1, 0]), x), x_in) if wanted[1]
                       else _empty(2, x_in))
        grad_bias = (op.CastLike(op.ReduceSum(grad_logits, op.Constant(value_ints=[0]), keepdims=0), x_in)
                     if wanted[2] else _empty(1, x_in))
        return loss, grad_input, grad_weight, grad_bias

    @_aten.overrides(_NO_REDUCTION, _WHY)
    def _(a: dict) -> Any:
        """_linear_cross_entropy_batch_chunked_no_reduction(Tensor input, Tensor linear_weight, Tensor target,
        Tensor? linear_bias, Tensor? weight, int ignore_index, int batch_chunk_size, str acc_policy,
        ScalarType acc_dtype) -> Tensor"""
        _check("torch_nn._linear_cross_entropy_batch_chunked_no_reduction", a)
        per_row = _loss_parts(a, "none")[0]
        return _aten.std_opset().CastLike(per_row, a["input"])
