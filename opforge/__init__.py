"""opforge: one decorator for custom ONNX operators.

From one Python definition opforge registers the ONNX schema, the torch op and its exporters
(dynamo and TorchScript), CPU (numpy) and GPU (cupy) kernels that ONNX Runtime runs, an optional
pure-ONNX function body, and conformance samples.

The public names live in ``opforge/_public.py`` and load on first use (PEP 562): importing the
package alone (as the ``opforge`` command does for ``--help``) imports neither torch nor onnxruntime.
Reading any public name, e.g. ``opforge.op``, imports them all and declares the contrib ops.
"""

from __future__ import annotations

import importlib
import importlib.util
from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

if TYPE_CHECKING:  # the same names as opforge/_public.py, for readers and type checkers
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


def _load_public_api() -> None:
    public = importlib.import_module("._public", __name__)
    globals().update({name: getattr(public, name) for name in __all__ if hasattr(public, name)})


def __getattr__(name: str) -> Any:
    if name.startswith("__"):  # dunder probes (pytest, inspect, pickle) must not import torch
        raise AttributeError(f"module 'opforge' has no attribute {name!r}")
    if name == "conformance":  # pytest-facing machinery: loaded on its own first use
        return importlib.import_module(".conformance", __name__)
    if name in __all__:
        _load_public_api()
        return globals()[name]
    # a submodule (``opforge.api``): import it alone, as ``from . import api`` inside the package expects
    if importlib.util.find_spec(f"{__name__}.{name}") is not None:
        return importlib.import_module(f".{name}", __name__)
    raise AttributeError(f"module 'opforge' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))


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
