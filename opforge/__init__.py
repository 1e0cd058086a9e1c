"""opforge: one decorator for custom ONNX operators.

From one Python definition opforge registers the ONNX schema, the torch op and its exporters
(dynamo and TorchScript), CPU (numpy) and GPU (cupy) kernels that ONNX Runtime runs, an optional
pure-ONNX function body, and conformance samples.
"""

# the contrib library: declaring its ops also teaches opforge.export the aten calls they fix
from . import ops as ops
from ._infer import InferError as InferError
from ._validate import DeclarationError as DeclarationError
from .api import ExportSummaryWarning as ExportSummaryWarning
from .api import VerificationError as VerificationError
from .api import assert_close as assert_close
from .api import export as export
from .api import op as op
from .exporters import DynamicDimError as DynamicDimError
from .exporters import ExportError as ExportError
from .exporters import TraceError as TraceError
from .exporters import TraceWarning as TraceWarning
from .kernels import InferenceSession as InferenceSession
from .kernels import MissingKernelError as MissingKernelError
from .kernels import reference_ops as reference_ops
from .opdef import OpDef as OpDef
from .opdef import list_ops as list_ops
from .opdef import load_ops as load_ops
from .types import Sample as Sample
from .types import TensorSpec as TensorSpec

__version__ = "0.1.0"


def __getattr__(name: str):
    # opforge.conformance imports pytest-facing machinery: load it on first use only
    if name == "conformance":
        import importlib

        return importlib.import_module(".conformance", __name__)
    raise AttributeError(f"module 'opforge' has no attribute {name!r}")

__all__ = [
    "DeclarationError",
    "DynamicDimError",
    "ExportError",
    "ExportSummaryWarning",
    "InferError",
    "InferenceSession",
    "MissingKernelError",
    "OpDef",
    "Sample",
    "TensorSpec",
    "TraceError",
    "TraceWarning",
    "VerificationError",
    "assert_close",
    "conformance",
    "export",
    "list_ops",
    "load_ops",
    "op",
    "reference_ops",
]
