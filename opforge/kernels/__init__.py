"""Kernel registry, the ONNX Runtime bridge, cupy dispatch and ``InferenceSession``."""

from .gpu import cuda_unavailable_reason
from .reference import reference_ops
from .registry import MissingKernelError, kernel_source, resolve
from .session import InferenceSession

__all__ = ["InferenceSession", "MissingKernelError", "cuda_unavailable_reason", "kernel_source",
           "reference_ops", "resolve"]
