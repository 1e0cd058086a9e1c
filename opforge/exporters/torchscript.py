"""The TorchScript symbolic (``torch.onnx.export(..., dynamo=False)``) of an opforge torch op."""

from __future__ import annotations

from typing import Any

import torch
from torch.onnx import symbolic_helper

from .._infer import output_specs
from ..opdef import OpDef
from ..types import TensorSpec, torch_dtype
from .torch_op import torch_namespace

_CONST_KIND = {"float": "f", "int": "i", "bool": "b", "str": "s", "ints": "is", "floats": "fs"}
_ATTR_SUFFIX = {"float": "f", "int": "i", "bool": "i", "str": "s", "ints": "i", "floats": "f", "strs": "s"}


def _const(value: Any, kind: str) -> Any:
    if kind == "strs":
        return list(symbolic_helper._node_get(value.node(), "value"))
    out = symbolic_helper._maybe_get_const(value, _CONST_KIND[kind])
    if kind == "bool":
        return bool(out)
    if kind in ("ints", "floats"):
        return [float(v) if kind == "floats" else int(v) for v in out]
    return out


def _spec(value: Any) -> TensorSpec | None:
    t = value.type()
    if not isinstance(t, torch._C.TensorType) or t.dtype() is None:
        return None
    sizes = t.varyingSizes()
    return TensorSpec(None if sizes is None else [s if s is not None else None for s in sizes], t.dtype())


def make_symbolic(opdef: OpDef):
    def symbolic(g: Any, *args: Any) -> Any:
        names = list(opdef.signature.parameters)
        by_name = dict(zip(names, args))
        onnx_inputs: list[Any] = []
        specs: list[Any] = []
        for spec in opdef.inputs:
            value = by_name[spec.name]
            if spec.variadic:
                items = symbolic_helper._unpack_list(value)
                onnx_inputs.extend(items)
                specs.append([_spec(v) for v in items])
            elif spec.optional and symbolic_helper._is_none(value):
                onnx_inputs.append(None)
                specs.append(None)
            else:
                onnx_inputs.append(value)
                specs.append(_spec(value))
        while onnx_inputs and onnx_inputs[-1] is None:
            onnx_inputs.pop()
        onnx_inputs = [g.op("prim::Constant").setType(torch._C.OptionalType.ofTensor()) if v is None else v
                       for v in onnx_inputs]
        attrs = {a.name: _const(by_name[a.name], a.kind) for a in opdef.attributes}
        onnx_attrs = {f"{name}_{_ATTR_SUFFIX[a.kind]}": (int(attrs[name]) if a.kind == "bool" else attrs[name])
                      for a in opdef.attributes for name in [a.name]}
        outputs = g.op(f"{opdef.domain}::{opdef.op_type}", *onnx_inputs, outputs=len(opdef.outputs), **onnx_attrs)
        out_list = outputs if isinstance(outputs, (list, tuple)) else [outputs]
        _set_types(opdef, specs, attrs, out_list)
        return outputs

    return symbolic


def _set_types(opdef: OpDef, specs: list[Any], attrs: dict, outputs: list[Any]) -> None:
    """Give the new node's outputs their types, since torch's own ONNX shape inference cannot see our schemas."""
    try:
        out_specs = output_specs(opdef, specs, attrs)
    except Exception:  # noqa: BLE001 - types stay unknown; ONNX shape inference fills them after export
        return
    for value, spec in zip(outputs, out_specs):
        ttype = torch._C.TensorType.get().with_dtype(torch_dtype(spec.dtype))
        if spec.shape is not None:
            ttype = ttype.with_sizes([d if isinstance(d, int) else None for d in spec.shape])
        value.setType(ttype)


_VERSIONS: dict[str, dict[int, OpDef]] = {}


def _dispatch(name: str):
    def symbolic(g: Any, *args: Any) -> Any:
        versions = _VERSIONS[name]
        version = max(versions)
        node = getattr(g, "original_node", None)
        if node is not None:  # the schema names the overload, ".v<version>"
            overload = str(node.schema()).split("(")[0].rpartition(".")[2]
            if overload.startswith("v") and overload[1:].isdigit() and int(overload[1:]) in versions:
                version = int(overload[1:])
        return make_symbolic(versions[version])(g, *args)

    return symbolic


def register(opdef: OpDef, old: OpDef | None = None) -> None:
    name = f"{torch_namespace(opdef.domain)}::{opdef.op_type}"
    first = name not in _VERSIONS
    _VERSIONS.setdefault(name, {})[opdef.version] = opdef
    if first:
        torch.onnx.register_custom_op_symbolic(name, _dispatch(name), 1)
