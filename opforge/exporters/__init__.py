"""OpDef -> torch.library op, dynamo translation and TorchScript symbolic; ``to_onnx`` wraps torch.onnx.export."""

from . import aten_fallback, dynamo, graph_breaks, torch_op, torchscript
from .export import DynamicDimError, ExportError, to_onnx
from .trace_warnings import TraceError, TraceWarning


def register(opdef, old=None):
    """Give ``opdef`` a torch op and both exporters (called for every op as it is declared)."""
    torch_op.register(opdef, old)
    dynamo.register(opdef, old)
    torchscript.register(opdef, old)


__all__ = ["DynamicDimError", "ExportError", "TraceError", "TraceWarning", "aten_fallback", "dynamo", "graph_breaks",
           "register", "to_onnx", "torch_op", "torchscript"]
