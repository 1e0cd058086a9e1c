"""opforge kernels in ONNX Runtime: the kernel registry, native custom ops (CPU and CUDA execution
providers), cupy dispatch and ``InferenceSession``."""

from .. import opdef as _opdef
from .gpu import call_kernel as _call_kernel
from .gpu import cuda_unavailable_reason
from .reference import reference_ops
from .registry import MissingKernelError, kernel_source, resolve
from .session import InferenceSession

_opdef.set_kernel_caller(_call_kernel)  # OpDef.call_kernel runs here

__all__ = ["InferenceSession", "MissingKernelError", "cuda_unavailable_reason", "kernel_source",
           "reference_ops", "resolve"]
