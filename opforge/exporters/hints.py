"""Fixes appended to validation errors whose cause is an opforge declaration (``dtypes=``)."""

from __future__ import annotations

import re

import onnx

from ..opdef import lookup

_UNSUPPORTED = re.compile(r"\(op_type:(?P<op>\w+), node name: (?P<node>[^)]*)\): (?P<input>\w+) typestr: "
                          r"T_(?P=input), has unsupported type: tensor\((?P<type>\w+)\)")


def dtype_hint(proto: onnx.ModelProto, message: str) -> str:
    """' Fix: ...' naming the op, the input and its ``dtypes=`` when a node got a dtype its op narrowed out."""
    match = _UNSUPPORTED.search(message)
    if match is None:
        return ""
    node = next((n for n in proto.graph.node if n.op_type == match["op"] and n.name == match["node"]), None)
    if node is None:
        return ""
    versions = {o.domain: o.version for o in proto.opset_import}
    opdef = lookup(node.domain, node.op_type, versions.get(node.domain))
    spec = next((i for i in opdef.inputs if i.name == match["input"]), None) if opdef is not None else None
    if spec is None:
        return ""
    got = {"float": "float32", "double": "float64"}.get(match["type"], match["type"])
    return (f". Input {spec.name!r} of {opdef.name} is {got} here, but its @opforge.op declares "
            f"dtypes={{{spec.name!r}: {list(spec.dtypes)}}}. Fix: add {got!r} to that list (or drop the entry: an input "
            f"takes every dtype by default), or cast the input to one of the allowed dtypes")
