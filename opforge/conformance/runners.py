"""One-node models of a case, and every place a case can run: torch, the CPU kernel, ONNX Runtime,
the ONNX reference evaluator, the portable body under plain ONNX Runtime, the cuda kernel."""

from __future__ import annotations

from typing import Any

import numpy as np
import onnx
from onnx import helper

from ..opdef import OpDef
from ..schemas import attribute_proto
from ..types import dtype_name, numpy_dtype, onnx_dtype
from .cases import Case

ONNX_OPSET = 18
_NARROW = ("float16", "bfloat16")


def filled_attrs(op: OpDef, attrs: dict[str, Any]) -> dict[str, Any]:
    """The case's attributes with the op's defaults filled in."""
    out = {}
    for a in op.attributes:
        if a.name in attrs:
            out[a.name] = attrs[a.name]
        elif a.required:
            raise ValueError(f"{op.name}: the sample does not set the required attribute {a.name!r}")
        else:
            out[a.name] = a.default
    return out


def as_list(out: Any) -> list[Any]:
    return list(out) if isinstance(out, (tuple, list)) else [out]


# -- torch ---------------------------------------------------------------------------------------

def to_torch(array: np.ndarray, upcast: bool = False) -> Any:
    import torch

    name = dtype_name(array.dtype)
    array = np.array(array, copy=True, order="C")  # keeps 0-d arrays 0-d (ascontiguousarray would not)
    if upcast and name in _NARROW:
        return torch.from_numpy(array.astype(np.float32))
    if name == "bfloat16":
        return torch.from_numpy(array.view(np.int16)).view(torch.bfloat16)
    return torch.from_numpy(array)


def from_torch(tensor: Any) -> np.ndarray:
    import torch

    tensor = tensor.detach().cpu()
    if tensor.dtype == torch.bfloat16:
        return tensor.view(torch.int16).numpy().view(numpy_dtype("bfloat16"))
    return tensor.numpy()


def torch_args(op: OpDef, inputs: list[Any], upcast: bool = False) -> dict[str, Any]:
    """The op's inputs as torch tensors, by parameter name."""
    out = {}
    for spec, value in zip(op.inputs, inputs):
        if value is None:
            out[spec.name] = None
        elif isinstance(value, list):
            out[spec.name] = [to_torch(a, upcast) for a in value]
        else:
            out[spec.name] = to_torch(value, upcast)
    return out


def run_reference(op: OpDef, inputs: list[Any], attrs: dict[str, Any], *, upcast: bool = False) -> list[np.ndarray]:
    """The torch reference in eager mode; ``upcast`` runs float16/bfloat16 inputs in float32."""
    import torch

    with torch.no_grad():
        out = op.reference(**torch_args(op, inputs, upcast), **attrs)
    return [from_torch(t) for t in as_list(out)]


# -- models --------------------------------------------------------------------------------------

def input_layout(op: OpDef, case: Case) -> tuple[list[str], list[tuple[str, np.ndarray]]]:
    """(node input names, [(graph input name, array)]) with absent optionals left empty."""
    names: list[str] = []
    feeds: list[tuple[str, np.ndarray]] = []
    for spec, value in zip(op.inputs, case.inputs):
        if value is None:
            names.append("")
        elif isinstance(value, list):
            for k, array in enumerate(value):
                names.append(f"{spec.name}_{k}")
                feeds.append((f"{spec.name}_{k}", array))
        else:
            names.append(spec.name)
            feeds.append((spec.name, value))
    while names and names[-1] == "":
        names.pop()
    return names, feeds


def batch_size(case: Case) -> int | None:
    from .cases import batch_dim

    return batch_dim(case.inputs)


def node_model(
    op: OpDef,
    case: Case,
    output_types: list[tuple[str, int | None]] | None,
    *,
    fill_defaults: bool = False,
    symbolic_batch: bool = True,
    omit_attrs: tuple[str, ...] = (),
    input_dtype: tuple[str, str] | None = None,
    identity_outputs: bool = False,
    functions: list[onnx.FunctionProto] | None = None,
    widen_bfloat16: bool = False,
) -> onnx.ModelProto:
    """A model of one ``op`` node fed by ``case``.

    ``output_types``: (dtype, rank) per output (rank None: unknown), or None to leave the graph
    outputs untyped behind Identity nodes (``identity_outputs``) so inference alone types them.
    ``symbolic_batch`` names dim 0 ``"batch"`` on the inputs of rank >= 2 that share the batch dim.
    ``input_dtype=(name, dtype)`` overrides one graph input's declared dtype.
    ``widen_bfloat16`` makes bfloat16 graph inputs and outputs float32 with Cast nodes around the
    op (onnxruntime's Python API cannot feed or fetch ml_dtypes bfloat16 arrays); the op node still
    sees bfloat16.
    """
    names, feeds = input_layout(op, case)
    batch = batch_size(case)
    graph_inputs = []
    nodes = []
    for name, array in feeds:
        if widen_bfloat16 and dtype_name(array.dtype) == "bfloat16":
            nodes.append(helper.make_node("Cast", [name + "__f32"], [name], to=onnx_dtype("bfloat16")))
            graph_inputs.append(helper.make_tensor_value_info(name + "__f32", onnx_dtype("float32"), list(array.shape)))
            continue
        shape: list[Any] = list(array.shape)
        if symbolic_batch and batch is not None and len(shape) >= 2 and shape[0] == batch:
            shape[0] = "batch"
        dtype = dtype_name(array.dtype)
        if input_dtype is not None and input_dtype[0] == name:
            dtype = input_dtype[1]
        graph_inputs.append(helper.make_tensor_value_info(name, onnx_dtype(dtype), shape))
    attrs = filled_attrs(op, case.attrs) if fill_defaults else dict(case.attrs)
    kinds = {a.name: a.kind for a in op.attributes}
    node_attrs = [attribute_proto(k, kinds[k], v) for k, v in attrs.items() if k not in omit_attrs]
    out_names = [o.name for o in op.outputs]
    node_outputs = [f"{n}__raw" for n in out_names] if identity_outputs else out_names
    node = helper.make_node(op.op_type, names, node_outputs, domain=op.domain, name=f"{op.op_type}_node")
    node.attribute.extend(node_attrs)
    nodes.append(node)
    graph_outputs = []
    for index, name in enumerate(out_names):
        if identity_outputs:
            nodes.append(helper.make_node("Identity", [node_outputs[index]], [name]))
        if output_types is None:
            graph_outputs.append(helper.make_empty_tensor_value_info(name))
        else:
            dtype, rank = output_types[index]
            if widen_bfloat16 and dtype == "bfloat16":
                node.output[index] = f"{name}__bf16"
                nodes.append(helper.make_node("Cast", [f"{name}__bf16"], [name], to=onnx_dtype("float32")))
                dtype = "float32"
            graph_outputs.append(helper.make_tensor_value_info(name, onnx_dtype(dtype),
                                                               None if rank is None else [None] * rank))
    graph = helper.make_graph(nodes, f"{op.op_type}_conformance", graph_inputs, graph_outputs)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", ONNX_OPSET),
                                                    helper.make_opsetid(op.domain, op.version)],
                              producer_name="opforge.conformance")
    model.ir_version = 10
    imported = {o.domain for o in model.opset_import}
    for function in functions or ():
        model.functions.append(function)
        for opset in function.opset_import:
            if opset.domain not in imported:
                model.opset_import.append(helper.make_opsetid(opset.domain, opset.version))
                imported.add(opset.domain)
    return model


def feeds_of(op: OpDef, case: Case, widen_bfloat16: bool = False) -> dict[str, np.ndarray]:
    feeds = {}
    for name, array in input_layout(op, case)[1]:
        if widen_bfloat16 and dtype_name(array.dtype) == "bfloat16":
            feeds[name + "__f32"] = array.astype(np.float32)
        else:
            feeds[name] = array
    return feeds


def narrow_back(outs: list[np.ndarray], output_types: list[tuple[str, int | None]]) -> list[np.ndarray]:
    """Undo ``widen_bfloat16`` on the outputs (lossless: the values came from bfloat16)."""
    return [o.astype(numpy_dtype("bfloat16")) if t[0] == "bfloat16" else o for o, t in zip(outs, output_types)]


def function_protos(op: OpDef) -> list[onnx.FunctionProto]:
    """The op's portable body, named after the op, and the functions it calls: as export attaches them."""
    from ..portable import function_protos as portable_functions

    return portable_functions(op, ONNX_OPSET)


# -- runtimes ------------------------------------------------------------------------------------

def run_kernel(op: OpDef, case: Case, device: str = "cpu") -> list[np.ndarray]:
    from ..kernels import resolve

    kernel = resolve(op, device)
    return [np.asarray(o) for o in as_list(kernel(*op.python_inputs(case.inputs), **filled_attrs(op, case.attrs)))]


def run_onnxruntime(op: OpDef, case: Case, model: onnx.ModelProto, device: str = "cpu",
                    widen_bfloat16: bool = False) -> list[np.ndarray]:
    from ..kernels import InferenceSession

    session = InferenceSession(model, kernel_device=device)
    return session.run(None, feeds_of(op, case, widen_bfloat16))


def run_reference_evaluator(op: OpDef, case: Case, model: onnx.ModelProto) -> list[np.ndarray]:
    from onnx.reference import ReferenceEvaluator

    from ..kernels import reference_ops

    evaluator = ReferenceEvaluator(model, new_ops=reference_ops())
    return [np.asarray(o) for o in evaluator.run(None, feeds_of(op, case))]


def run_plain_onnxruntime(op: OpDef, case: Case, model: onnx.ModelProto,
                          widen_bfloat16: bool = False) -> list[np.ndarray]:
    import onnxruntime

    session = onnxruntime.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    return session.run(None, feeds_of(op, case, widen_bfloat16))
