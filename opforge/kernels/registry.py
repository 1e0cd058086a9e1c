"""Which function runs an op on a device, and the numpy <-> torch/cupy hand-offs around it."""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable
from typing import Any

import numpy as np

from ..opdef import OpDef
from ..types import numpy_dtype


class MissingKernelError(RuntimeError):
    """A model needs an op that no kernel, torch reference or function body can run."""


@functools.cache
def torch_available() -> bool:
    try:
        import torch  # noqa: F401
    except ImportError:
        return False
    return True


@functools.lru_cache(maxsize=4096)  # asked per node at every session creation
def takes_out(fn: Callable) -> bool:
    """True when a kernel declares an ``out`` keyword: it can write into ONNX Runtime's output buffers."""
    try:
        return "out" in inspect.signature(fn).parameters
    except (TypeError, ValueError):
        return False


@functools.lru_cache(maxsize=4096)
def returning(fn: Callable) -> Callable:
    """``fn`` for callers that have no output buffers: an ``out`` kernel gets ``out=None`` (it then returns
    its arrays); ``out=`` given explicitly still wins."""
    return functools.partial(fn, out=None) if takes_out(fn) else fn


def kernel_source(opdef: OpDef, device: str = "cpu") -> str:
    """"kernel", "torch reference" (needs torch at inference time) or "" when nothing can run it."""
    if device in opdef.kernels:
        return "kernel"
    if device == "cpu" and torch_available():
        return "torch reference"
    return ""


def _to_torch(array: np.ndarray) -> Any:
    import torch

    if array.dtype == numpy_dtype("bfloat16"):  # torch.from_numpy does not know ml_dtypes
        return torch.from_numpy(array.view(np.int16)).view(torch.bfloat16)
    return torch.from_numpy(array)


def _from_torch(tensor: Any) -> np.ndarray:
    import torch

    tensor = tensor.detach()
    if tensor.device.type != "cpu":
        tensor = tensor.cpu()
    if tensor.dtype == torch.bfloat16:
        return tensor.view(torch.int16).numpy().view(numpy_dtype("bfloat16"))
    return tensor.numpy()


def _torch_reference_kernel(opdef: OpDef) -> Callable:
    def run(*inputs: Any, **attrs: Any) -> Any:
        import torch

        args = [None if v is None else [_to_torch(t) for t in v] if isinstance(v, list) else _to_torch(v)
                for v in inputs]
        with torch.no_grad():
            out = opdef.reference(*args, **attrs)
        return tuple(_from_torch(o) for o in out) if isinstance(out, (tuple, list)) else _from_torch(out)

    return run


def _cuda_kernel(opdef: OpDef) -> Callable:
    """The cuda kernel behind a numpy interface: one H2D copy per input, one D2H per output."""
    from .gpu import run_on_device

    def run(*inputs: Any, **attrs: Any) -> Any:
        return run_on_device(opdef, list(inputs), attrs)

    return run


def resolve(opdef: OpDef, device: str = "cpu", cuda_provider: bool = False) -> Callable:
    """A callable taking numpy inputs and returning numpy outputs for ``device``.

    An op with no cuda kernel resolves for ``"cuda"`` to what runs it on the CPU, with a one-time
    :class:`~opforge.kernels.gpu.CudaFallbackWarning` that names it. ``cuda_provider``: the session
    runs on ONNX Runtime's CUDA execution provider, where such an op's torch reference runs on the
    GPU instead (the CPU kernel returned here serves only nodes ONNX Runtime puts on the CPU); the
    warning says so.
    """
    source = kernel_source(opdef, device)
    if source == "kernel":
        return returning(opdef.kernels["cpu"]) if device == "cpu" else _cuda_kernel(opdef)
    if source == "torch reference":
        return _torch_reference_kernel(opdef)
    if device == "cuda" and kernel_source(opdef, "cpu"):
        from .gpu import warn_fallback

        warn_fallback(opdef, "cpu kernel" if kernel_source(opdef, "cpu") == "kernel" else "torch reference",
                      cuda_provider)
        return resolve(opdef, "cpu")
    hint = (f"attach one with @{opdef.reference.__name__}.kernel({device!r}) (or a cpu kernel to fall back to)"
            if device != "cpu" else "attach @….kernel('cpu') or install torch so the reference can run")
    raise MissingKernelError(f"{opdef.name} v{opdef.version} has no {device} kernel: {hint}")


def coerce_output(opdef: OpDef, index: int, value: Any, expected: str) -> np.ndarray:
    """The kernel's output as a C-contiguous array of the declared dtype, or a clear error."""
    array = np.asarray(value)
    want = numpy_dtype(expected)
    if array.dtype != want:
        if not np.can_cast(array.dtype, want, casting="same_kind"):
            raise TypeError(f"{opdef.name}: output {index} ({opdef.outputs[index].name!r}) of the kernel is "
                            f"{array.dtype}, but the model "
                            f"declares {expected}; return an array of dtype {expected}")
        array = array.astype(want)
    # not np.ascontiguousarray: it turns 0-d arrays into 1-d ones
    return array if array.flags.c_contiguous else array.copy(order="C")


def runners(opdef: OpDef) -> tuple[list[str], list[str]]:
    """What runs ``opdef``'s nodes in ``opforge.InferenceSession`` (for ``opforge inspect``), and what is missing."""
    found, missing = [], []
    cpu = kernel_source(opdef, "cpu")
    how = "as a native ONNX Runtime custom op on the CPU execution provider"
    if cpu == "kernel":
        writes = ", writing into ONNX Runtime's output buffers (out=)" if takes_out(opdef.kernels["cpu"]) and \
            opdef.infer_fn is not None else ""
        found.append(f"CPU kernel (numpy, declared in {opdef.module}) {how}{writes}")
    elif cpu:
        found.append(f"torch reference: needs torch at inference time; {how}")
    else:
        missing.append(f"no CPU kernel: attach @{opdef.reference.__name__}.kernel('cpu') or install torch")
    if "cuda" in opdef.kernels:
        found.append("CUDA kernel (cupy) on device memory with kernel_device='cuda' and the CUDA execution provider "
                     "(onnxruntime-gpu); host copies on the CPU provider")
    else:
        missing.append("no CUDA (cupy) kernel: kernel_device='cuda' runs the torch reference on the CUDA provider, "
                       "the CPU kernel elsewhere")
    return found, missing
