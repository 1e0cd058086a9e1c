"""What ``import opforge`` exposes, imported on first use by ``opforge/__init__.py``.

These imports pull in torch, onnx, onnxruntime and the contrib ops (seconds of work), so the package
defers them until a public name is first read: ``opforge --help`` and ``opforge --version`` never pay
for them, and ``opforge.op`` / ``from opforge import export`` load everything exactly as before.
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
