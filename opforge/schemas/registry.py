"""Build and register the ONNX schema of an OpDef; run ``@infer`` inside ONNX shape inference."""

from __future__ import annotations

from typing import Any

import onnx
from onnx import AttributeProto, TypeProto, helper
from onnx.defs import OpSchema

from .._infer import InferError, output_specs
from .._proto import attribute_value, type_proto_to_spec
from ..opdef import OpDef
from ..types import TensorSpec, dtype_name, onnx_dtype

_ATTR_TYPES = {
    "float": OpSchema.AttrType.FLOAT,
    "int": OpSchema.AttrType.INT,
    "bool": OpSchema.AttrType.INT,
    "str": OpSchema.AttrType.STRING,
    "ints": OpSchema.AttrType.INTS,
    "floats": OpSchema.AttrType.FLOATS,
    "strs": OpSchema.AttrType.STRINGS,
}
_ONNX_ATTR = {
    "float": AttributeProto.FLOAT, "int": AttributeProto.INT, "bool": AttributeProto.INT,
    "str": AttributeProto.STRING, "ints": AttributeProto.INTS, "floats": AttributeProto.FLOATS,
    "strs": AttributeProto.STRINGS,
}


def attribute_proto(name: str, kind: str, value: Any) -> AttributeProto:
    """An AttributeProto of the declared kind (bools become ints, as ONNX has no bool attribute)."""
    if kind == "bool":
        value = int(bool(value))
    elif kind == "float":
        value = float(value)
    elif kind == "floats":
        value = [float(v) for v in value]
    attr = helper.make_attribute(name, value, attr_type=_ONNX_ATTR[kind])
    return attr


def _type_strings(dtypes: tuple[str, ...]) -> list[str]:
    names = {"float32": "float", "float64": "double"}
    return [f"tensor({names.get(d, d)})" for d in dtypes]


def build_schema(opdef: OpDef) -> OpSchema:
    inputs = []
    constraints = []
    for i in opdef.inputs:
        option = {
            "tensor": OpSchema.FormalParameterOption.Single,
            "optional": OpSchema.FormalParameterOption.Optional,
            "variadic": OpSchema.FormalParameterOption.Variadic,
        }[i.kind]
        type_param = f"T_{i.name}"
        inputs.append(OpSchema.FormalParameter(i.name, type_param, "", param_option=option,
                                               is_homogeneous=True, min_arity=0 if i.variadic else 1))
        constraints.append((type_param, _type_strings(i.dtypes), f"types allowed for {i.name}"))
    outputs = []
    for o in opdef.outputs:
        type_param = f"T_{o.name}"
        outputs.append(OpSchema.FormalParameter(o.name, type_param, ""))
        constraints.append((type_param, _type_strings(o.dtypes), f"types allowed for {o.name}"))
    attributes = []
    for a in opdef.attributes:
        if a.required:
            attributes.append(OpSchema.Attribute(a.name, _ATTR_TYPES[a.kind], "", required=True))
        else:
            attributes.append(OpSchema.Attribute(a.name, attribute_proto(a.name, a.kind, a.default), ""))
    schema = OpSchema(opdef.op_type, opdef.domain, opdef.version, doc=opdef.doc, inputs=inputs,
                      outputs=outputs, type_constraints=constraints, attributes=attributes)
    schema.set_type_and_shape_inference_function(lambda ctx: _infer(opdef, ctx))
    return schema


def to_type_proto(spec: TensorSpec) -> TypeProto:
    shape = None
    if spec.shape is not None:
        shape = [d if isinstance(d, int) or d is None else str(d) for d in spec.shape]
    return helper.make_tensor_type_proto(onnx_dtype(spec.dtype), shape)


def _infer(opdef: OpDef, ctx: Any) -> None:
    n = ctx.get_num_inputs()
    specs: list[Any] = []
    position = 0
    for i in opdef.inputs:
        if i.variadic:
            group = [type_proto_to_spec(ctx.get_input_type(j)) for j in range(position, n)]
            if any(s is None for s in group):
                return  # types not known yet: leave outputs untyped
            specs.append(group)
            position = n
        else:
            present = position < n and ctx.has_input(position)
            spec = type_proto_to_spec(ctx.get_input_type(position)) if present else None
            if present and spec is None:
                return
            specs.append(spec)
            position += 1
    attrs = {}
    for a in opdef.attributes:
        proto = ctx.get_attribute(a.name)
        if proto is None:
            if a.required:
                raise onnx.shape_inference.InferenceError(
                    f"[ShapeInferenceError] {opdef.name}: required attribute {a.name!r} is missing")
            attrs[a.name] = a.default
        else:
            attrs[a.name] = attribute_value(a.kind, proto)
    try:
        outs = output_specs(opdef, specs, attrs)
    except InferError:
        return  # the exporter and the bridge report it where it matters, with the fix
    for index, spec in enumerate(outs):
        allowed = opdef.outputs[index].dtypes
        if dtype_name(spec.dtype) not in allowed:
            raise onnx.shape_inference.InferenceError(
                f"[TypeInferenceError] {opdef.name}: output {opdef.outputs[index].name!r} is {spec.dtype}, "
                f"not one of the declared dtypes {allowed}")
        ctx.set_output_type(index, to_type_proto(spec))


_REGISTERED: dict[tuple[str, str, int], OpSchema] = {}


def register(opdef: OpDef, old: OpDef | None = None) -> OpSchema:
    """Register (or cleanly replace) the schema of ``opdef`` with ``onnx.defs``."""
    key = (opdef.domain, opdef.op_type, opdef.version)
    if key in _REGISTERED or onnx.defs.has(opdef.op_type, opdef.version, opdef.domain):
        try:
            onnx.defs.deregister_schema(opdef.op_type, opdef.version, opdef.domain)
        except Exception:  # registered by someone else under an exact version we cannot drop
            pass
    schema = build_schema(opdef)
    onnx.defs.register_schema(schema)
    _REGISTERED[key] = schema
    return schema
