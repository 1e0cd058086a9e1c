"""Walking ONNX graphs, subgraphs of If/Loop/Scan included (shared by kernels, exporters, portable, cli)."""

from __future__ import annotations

from collections.abc import Iterable, Iterator

import onnx


def subgraphs(node: onnx.NodeProto) -> list[onnx.GraphProto]:
    """The graphs held in ``node``'s attributes (If branches, Loop/Scan bodies)."""
    graphs = []
    for attr in node.attribute:
        if attr.type == onnx.AttributeProto.GRAPH:
            graphs.append(attr.g)
        graphs.extend(attr.graphs)
    return graphs


def all_nodes(nodes: Iterable[onnx.NodeProto]) -> Iterator[onnx.NodeProto]:
    """Every node of ``nodes`` and, depth first after it, of its subgraphs."""
    for node in nodes:
        yield node
        for sub in subgraphs(node):
            yield from all_nodes(sub.node)
