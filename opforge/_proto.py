"""ONNX protos <-> opforge values, shared by schemas, kernels and conformance."""

from __future__ import annotations

from typing import Any

import onnx
from onnx import AttributeProto, TypeProto, helper

from .opdef import OpDef
from .types import SymDim, TensorSpec


def attribute_value(kind: str, proto: AttributeProto) -> Any:
    """An AttributeProto's value as the OpDef declares it (bool from int, str from bytes, lists)."""
    value = helper.get_attribute_value(proto)
    if kind == "bool":
        return bool(value)
    if kind == "str":
        return value.decode() if isinstance(value, bytes) else value
    if kind == "strs":
        return [v.decode() if isinstance(v, bytes) else v for v in value]
    if kind in ("ints", "floats"):
        return list(value)
    return value


def node_attributes(opdef: OpDef, node: onnx.NodeProto) -> dict[str, Any]:
    """Every attribute of ``opdef`` for ``node``: given values decoded, defaults filled in."""
    given = {a.name: a for a in node.attribute}
    unknown = set(given) - set(opdef.attribute_names)
    if unknown:
        raise ValueError(f"node {node.name!r} ({opdef.name}) has attribute(s) {sorted(unknown)} that the op does not "
                         f"declare (it declares {opdef.attribute_names})")
    values = {}
    for a in opdef.attributes:
        if a.name in given:
            values[a.name] = attribute_value(a.kind, given[a.name])
        elif a.required:
            raise ValueError(f"node {node.name!r} ({opdef.name}) lacks the required attribute {a.name!r}")
        else:
            values[a.name] = a.default
    return values


def type_proto_to_spec(tp: TypeProto | None) -> TensorSpec | None:
    """A tensor TypeProto as a TensorSpec (symbolic dims as SymDim); None when not a typed tensor."""
    if tp is None or not tp.HasField("tensor_type") or tp.tensor_type.elem_type == 0:
        return None
    tensor = tp.tensor_type
    shape = None
    if tensor.HasField("shape"):
        shape = [d.dim_value if d.HasField("dim_value") else SymDim(d.dim_param) if d.dim_param else None
                 for d in tensor.shape.dim]
    return TensorSpec(shape, tensor.elem_type)
