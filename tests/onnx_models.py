"""Hand-built one-node ONNX models for the runtime tests (what a model file from elsewhere holds)."""

from __future__ import annotations

import onnx
from onnx import helper


def one_node_model(domain: str, op_type: str, inputs: list[tuple[str, int, list | None]],
                   outputs: list[tuple[str, int, list | None]], node_inputs: list[str] | None = None,
                   name: str | None = None, **attrs: object) -> onnx.ModelProto:
    """A graph of one ``domain::op_type`` node; inputs and outputs as (name, elem type, shape or None)."""
    node = helper.make_node(op_type, node_inputs or [n for n, _, _ in inputs], [n for n, _, _ in outputs],
                            domain=domain, name=name, **attrs)
    graph = helper.make_graph([node], op_type, [helper.make_tensor_value_info(n, t, s) for n, t, s in inputs],
                              [helper.make_tensor_value_info(n, t, s) for n, t, s in outputs])
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 18), helper.make_opsetid(domain, 1)])
