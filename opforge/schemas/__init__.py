"""OpDef -> ``onnx.defs.OpSchema``: registration and the shape/type inference hook."""

from .registry import (
    attribute_proto,
    attribute_value,
    build_schema,
    register,
    to_type_proto,
    type_proto_to_spec,
)

__all__ = ["attribute_proto", "attribute_value", "build_schema", "register", "to_type_proto", "type_proto_to_spec"]
