"""CUDA: the CUDA execution provider path, cupy dispatch, and ``op.call_kernel``.

cupy is optional: nothing here imports it until a CUDA kernel runs. Three ways reach a
``@op.kernel("cuda")`` kernel (cupy arrays in, cupy arrays out):

* ONNX Runtime with the CUDA execution provider (``InferenceSession(..., kernel_device="cuda")``
  with onnxruntime-gpu): the op is registered for that provider, so its kernel gets ONNX Runtime's
  device buffers, wrapped without a copy through ``__cuda_array_interface__`` (cupy, and torch for
  an op that has only its torch reference), and runs on ONNX Runtime's compute stream
  (:class:`DeviceNodeKernel`).
* ONNX Runtime on the CPU provider with ``kernel_device="cuda"``: the node's memory is on the
  host, so :func:`to_device` copies each input once (one H2D each) and :func:`to_host` copies each
  output once into pinned host memory (one D2H each, queued asynchronously), then waits once.
* torch (``op.call_kernel(*tensors, device="cuda")``): CUDA tensors reach the kernel through
  DLPack and its results come back the same way, with no copy and no synchronisation; the kernel
  runs on torch's current stream. ``device="cpu"`` runs the CPU kernel on CPU tensors through
  numpy, with no copy either.

bfloat16 has no cupy dtype: a bfloat16 input reaches a cuda kernel as float32, and the kernel's
float32 outputs go back as bfloat16 (on the CUDA provider, bfloat16 nodes are an error).
"""

from __future__ import annotations

import contextlib
import ctypes
import functools
import warnings
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

import numpy as np

from .native import NodeKernel, exact_cast, tensor_shape
from .ortapi import P
from .registry import returning

if TYPE_CHECKING:
    from ..opdef import OpDef


class CudaFallbackWarning(RuntimeWarning):
    """``kernel_device="cuda"`` met an op with no cuda kernel; something else runs it, and the
    message says what and where: its cpu kernel (or torch reference) on the CPU, or, on ONNX
    Runtime's CUDA execution provider, its torch reference on the GPU.

    Make it an error with ``warnings.simplefilter("error", CudaFallbackWarning)``.
    """


@functools.cache
def cuda_unavailable_reason() -> str | None:
    """None when cupy and a CUDA device are usable, else why not ("no CUDA device", ...)."""
    try:
        import cupy
    except ImportError:
        return "cupy is not installed (pip install 'opforge[gpu]')"
    try:
        if cupy.cuda.runtime.getDeviceCount() < 1:
            return "no CUDA device"
    except Exception:  # noqa: BLE001 - the CUDA driver is absent or broken
        return "no CUDA device"
    return None


def require_cuda() -> None:
    """Raise a RuntimeError that says why, unless cupy and a CUDA device are usable."""
    reason = cuda_unavailable_reason()
    if reason is not None:
        raise RuntimeError(f"kernel_device='cuda' needs cupy and a CUDA device: {reason}")


_WARNED: set[tuple[str, int, bool]] = set()


def warn_fallback(opdef: OpDef, runner: str, cuda_provider: bool = False) -> None:
    """Warn once per op (per process and path) that its cuda kernel is missing and what serves instead:
    ``runner`` on the CPU, or (``cuda_provider``) its torch reference on CUDA tensors."""
    key = (opdef.name, opdef.version, cuda_provider)
    if key in _WARNED:
        return
    _WARNED.add(key)
    if cuda_provider:  # DeviceNodeKernel: torch over ONNX Runtime's device buffers
        instead = ("runs its torch reference on the GPU instead (torch CUDA tensors over ONNX Runtime's buffers; "
                   f"its {runner} serves only nodes ONNX Runtime places on the CPU)")
    else:
        instead = f"runs its {runner} on the CPU instead"
    warnings.warn(f"{opdef.name} v{opdef.version} has no cuda kernel; kernel_device='cuda' {instead}. Attach one "
                  f"with @{opdef.reference.__name__}.kernel('cuda') (cupy arrays in, cupy arrays out) to run your "
                  "own GPU kernel.", CudaFallbackWarning, stacklevel=3)


# -- ONNX Runtime side: numpy <-> cupy -------------------------------------------------------------

def _bfloat16() -> np.dtype:
    from ..types import numpy_dtype

    return numpy_dtype("bfloat16")


def to_device(inputs: list[Any]) -> tuple[list[Any], bool]:
    """The kernel's arguments on the current device: one H2D copy per array (None and lists kept).

    Returns the arguments and whether a bfloat16 input was widened to float32.
    """
    import cupy

    bf16 = _bfloat16()
    widened = False

    def move(array: np.ndarray) -> Any:
        nonlocal widened
        if array.dtype == bf16:
            widened = True
            array = array.astype(np.float32)
        return cupy.asarray(array)

    args = [None if v is None else [move(a) for a in v] if isinstance(v, (list, tuple)) else move(v)
            for v in inputs]
    return args, widened


def to_host(opdef: OpDef, outputs: list[Any], narrow_bfloat16: bool = False) -> list[np.ndarray]:
    """The kernel's outputs as numpy arrays: one D2H copy each into pinned memory, then one wait.

    The copies are queued on the current stream without blocking, so the host waits once for
    all of them (and for the kernel) rather than once per output.
    """
    import cupy
    import cupyx

    stream = cupy.cuda.get_current_stream()
    results: list[np.ndarray] = []
    queued = False
    for index, value in enumerate(outputs):
        if isinstance(value, cupy.ndarray):
            host = cupyx.empty_pinned(value.shape, value.dtype)
            if value.size:
                value.get(stream=stream, out=host, blocking=False)
                queued = True
            results.append(host)
        elif isinstance(value, (np.ndarray, np.generic, int, float, bool)):
            results.append(np.asarray(value))
        else:
            raise TypeError(f"{opdef.name}: output {index} of the cuda kernel is a {type(value).__name__}; "
                            "a cuda kernel returns cupy arrays")
    if queued:
        stream.synchronize()
    if narrow_bfloat16:
        results = [r.astype(_bfloat16()) if r.dtype == np.float32 else r for r in results]
    return results


def run_on_device(opdef: OpDef, inputs: list[Any], attrs: dict[str, Any]) -> Any:
    """Run the cuda kernel of ``opdef`` on numpy inputs; numpy outputs (a tuple when several)."""
    args, widened = to_device(inputs)
    out = returning(opdef.kernels["cuda"])(*args, **attrs)
    many = isinstance(out, (tuple, list))
    results = to_host(opdef, list(out) if many else [out], narrow_bfloat16=widened)
    return tuple(results) if many else results[0]


# -- torch side: call_kernel -----------------------------------------------------------------------

def call_kernel(opdef: OpDef, args: tuple, kwargs: dict, device: str) -> Any:
    """``opdef.call_kernel``: run the ``device`` kernel on torch tensors, sharing their memory."""
    from .registry import MissingKernelError

    if device not in ("cpu", "cuda"):
        raise ValueError(f"{opdef.name}.call_kernel: device must be 'cpu' or 'cuda', got {device!r}")
    if device not in opdef.kernels:
        other = "call the op itself to run its torch reference" if device == "cpu" else \
            "or use device='cpu' with CPU tensors"
        raise MissingKernelError(f"{opdef.name} v{opdef.version} has no {device} kernel: attach one with "
                                 f"@{opdef.reference.__name__}.kernel({device!r}), {other}")
    inputs, attrs = opdef.bind(args, kwargs)
    for spec, value in zip(opdef.inputs, inputs):
        if value is None and not spec.optional:
            raise TypeError(f"{opdef.name}.call_kernel: input {spec.name!r} is required, got None")
        if spec.variadic and not isinstance(value, (list, tuple)):
            raise TypeError(f"{opdef.name}.call_kernel: input {spec.name!r} is variadic; pass a list of tensors, "
                            f"got {type(value).__name__}")
    if device == "cpu":
        return _call_cpu(opdef, inputs, attrs)
    require_cuda()
    return _call_cuda(opdef, inputs, attrs)


def _tensors(opdef: OpDef, inputs: list[Any]) -> Iterator[tuple[str, Any]]:
    for spec, value in zip(opdef.inputs, inputs):
        if spec.variadic:
            for n, item in enumerate(value):
                yield f"{spec.name}[{n}]", item
        elif value is not None:
            yield spec.name, value


def _convert(opdef: OpDef, inputs: list[Any], convert: Any) -> list[Any]:
    out: list[Any] = []
    for spec, value in zip(opdef.inputs, inputs):
        if value is None:
            out.append(None)
        elif spec.variadic:
            out.append([convert(f"{spec.name}[{n}]", item) for n, item in enumerate(value)])
        else:
            out.append(convert(spec.name, value))
    return out


def _outputs(opdef: OpDef, out: Any, device: str) -> list[Any]:
    outs = list(out) if isinstance(out, (tuple, list)) else [out]
    if len(outs) != len(opdef.outputs):
        raise ValueError(f"{opdef.name}: the {device} kernel returned {len(outs)} output(s), the op declares "
                         f"{len(opdef.outputs)} ({', '.join(o.name for o in opdef.outputs)})")
    return outs


def _call_cpu(opdef: OpDef, inputs: list[Any], attrs: dict[str, Any]) -> Any:
    import torch

    from .registry import _from_torch, _to_torch

    def to_numpy(name: str, value: Any) -> Any:
        if isinstance(value, np.ndarray):
            return value
        if not isinstance(value, torch.Tensor):
            raise TypeError(f"{opdef.name}.call_kernel: input {name!r} is a {type(value).__name__}; pass a "
                            "torch.Tensor (or a numpy array)")
        if value.device.type != "cpu":
            raise ValueError(f"{opdef.name}.call_kernel(device='cpu'): input {name!r} is on {value.device}; "
                             "move it with .cpu(), or call with device='cuda'")
        value = value.detach()
        if value.is_conj():
            value = value.resolve_conj()
        if value.is_neg():
            value = value.resolve_neg()
        return _from_torch(value)  # a view of the tensor's memory

    out = returning(opdef.kernels["cpu"])(*opdef.python_inputs(_convert(opdef, inputs, to_numpy)), **attrs)
    results = []
    for index, value in enumerate(_outputs(opdef, out, "cpu")):
        array = np.asarray(value)
        if not array.flags.writeable or any(s < 0 for s in array.strides):
            array = array.copy()  # torch.from_numpy takes neither read-only nor reversed arrays
        try:
            results.append(_to_torch(array))
        except TypeError as exc:
            raise TypeError(f"{opdef.name}: output {index} ({opdef.outputs[index].name!r}) of the cpu kernel has "
                            f"dtype {array.dtype}, which torch cannot hold: {exc}") from None
    return tuple(results) if len(results) > 1 else results[0]


@contextlib.contextmanager
def _on_torch_stream(device_index: int) -> Iterator[None]:
    """Make cupy run on torch's current stream of that device, so neither side has to wait."""
    import cupy
    import torch

    ptr = torch.cuda.current_stream(device_index).cuda_stream
    with cupy.cuda.Device(device_index):
        stream = cupy.cuda.Stream.null if ptr == 0 else cupy.cuda.ExternalStream(ptr, device_index)
        with stream:
            yield


def _call_cuda(opdef: OpDef, inputs: list[Any], attrs: dict[str, Any]) -> Any:
    import cupy
    import torch

    devices = set()
    widened = False
    for name, value in _tensors(opdef, inputs):
        if not isinstance(value, torch.Tensor):
            raise TypeError(f"{opdef.name}.call_kernel: input {name!r} is a {type(value).__name__}; pass a "
                            "CUDA torch.Tensor")
        if value.device.type != "cuda":
            raise ValueError(f"{opdef.name}.call_kernel(device='cuda'): input {name!r} is on {value.device}; "
                             "move it with .cuda(), or call with device='cpu'")
        devices.add(value.device.index)
        widened |= value.dtype == torch.bfloat16
    if len(devices) > 1:
        raise ValueError(f"{opdef.name}.call_kernel: the inputs are on several devices (cuda:"
                         f"{', cuda:'.join(str(d) for d in sorted(devices))}); put them on one")
    index = devices.pop() if devices else torch.cuda.current_device()

    def to_cupy(name: str, value: Any) -> Any:
        value = value.detach()
        if value.is_conj():
            value = value.resolve_conj()
        if value.dtype == torch.bfloat16:  # cupy has no bfloat16: the kernel gets float32
            value = value.float()
        return cupy.from_dlpack(value)  # shares the tensor's memory

    with _on_torch_stream(index):
        out = returning(opdef.kernels["cuda"])(*opdef.python_inputs(_convert(opdef, inputs, to_cupy)), **attrs)
        results = []
        for position, value in enumerate(_outputs(opdef, out, "cuda")):
            if not isinstance(value, cupy.ndarray):
                raise TypeError(f"{opdef.name}: output {position} ({opdef.outputs[position].name!r}) of the cuda "
                                f"kernel is a {type(value).__name__}; a cuda kernel returns cupy arrays")
            tensor = torch.from_dlpack(value)  # shares the array's memory
            if widened and tensor.dtype == torch.float32:
                tensor = tensor.to(torch.bfloat16)
            results.append(tensor)
    return tuple(results) if len(results) > 1 else results[0]


# -- ONNX Runtime's CUDA execution provider: device buffers, no copies ------------------------------

class DeviceBuffer:
    """ONNX Runtime device memory as ``__cuda_array_interface__`` (v3): cupy and torch wrap it
    without copying (``cupy.asarray(buf)``, ``torch.as_tensor(buf, device="cuda")``)."""

    __slots__ = ("__cuda_array_interface__",)

    def __init__(self, address: int | None, shape: tuple[int, ...], dtype: np.dtype, readonly: bool) -> None:
        if dtype == _bfloat16():
            raise TypeError("bfloat16 tensors cannot reach a cuda kernel on the CUDA execution provider (cupy has "
                            "no bfloat16); cast to float32 around the node")
        self.__cuda_array_interface__ = {"shape": tuple(shape), "typestr": dtype.str, "descr": [("", dtype.str)],
                                         "data": (int(address or 0), readonly), "strides": None, "version": 3}


class DeviceNodeKernel(NodeKernel):
    """A node on the CUDA execution provider: device pointers in and out, ONNX Runtime's stream."""

    def __init__(self, api: Any, plan: Any, attrs: dict[str, Any], in_dtypes: list, out_dtypes: list) -> None:
        opdef = plan.opdef
        self.uses_torch = "cuda" not in opdef.kernels
        kernel = _torch_on_cuda(opdef) if self.uses_torch else opdef.kernels["cuda"]
        super().__init__(api, plan, attrs, kernel, in_dtypes, out_dtypes)
        self.writable_inputs = False
        self.__dict__.pop("compute", None)  # the host fast paths do not apply: always this class's compute
        self.__dict__.pop("lean", None)

    def wrap(self, buffer: DeviceBuffer) -> Any:
        if self.uses_torch:
            import torch

            return torch.as_tensor(buffer, device="cuda")
        import cupy

        return cupy.asarray(buffer)

    def read_input(self, ctx: int, index: int) -> Any:
        api = self.api
        value = P()
        api.check(api.KernelContext_GetInput(ctx, index, ctypes.byref(value)))
        if not value.value:
            return None
        data = P()
        api.check(api.GetTensorMutableData(value, ctypes.byref(data)))
        shape = tensor_shape(api, value.value)
        return self.wrap(DeviceBuffer(data.value, shape, self.in_dtypes[index], True))

    def output_buffer(self, ctx: int, index: int, shape: tuple[int, ...]) -> Any:
        api = self.api
        dims = (ctypes.c_int64 * len(shape))(*shape)
        value = P()
        api.check(api.KernelContext_GetOutput(ctx, index, dims, len(shape), ctypes.byref(value)))
        data = P()
        api.check(api.GetTensorMutableData(value, ctypes.byref(data)))
        return self.wrap(DeviceBuffer(data.value, shape, self.out_dtypes[index], False))

    def compute(self, ctx: int) -> None:
        stream = P()
        self.api.check(self.api.KernelContext_GetGPUComputeStream(ctx, ctypes.byref(stream)))
        with _on_stream(stream.value or 0, self.uses_torch):
            NodeKernel.compute(self, ctx)

    def write(self, ctx: int, result: Any, buffers: list | None) -> None:
        outs = list(result) if isinstance(result, (tuple, list)) else [result]
        if len(outs) != self.n_outputs:
            raise ValueError(f"{self.opdef.name}: the cuda kernel returned {len(outs)} output(s), the op "
                             f"declares {self.n_outputs}")
        for index, value in enumerate(outs):
            if not hasattr(value, "__cuda_array_interface__") and not hasattr(value, "__dlpack__"):
                host = exact_cast(self.opdef, index, value, self.out_dtypes[index])  # a scalar, say
                value = self.wrap_host(host)
            self.check_shape(index, tuple(value.shape))
            target = buffers[index] if buffers is not None else \
                self.output_buffer(ctx, index, tuple(int(d) for d in value.shape))
            if str(value.dtype).removeprefix("torch.") != str(self.out_dtypes[index]):
                raise TypeError(f"{self.opdef.name}: output {index} of the cuda kernel is {value.dtype}, the "
                                f"model declares {self.out_dtypes[index]}; return that dtype")
            if self.uses_torch:
                target.copy_(value)
            else:
                target[...] = value

    def wrap_host(self, array: np.ndarray) -> Any:
        if self.uses_torch:
            import torch

            return torch.from_numpy(np.ascontiguousarray(array)).cuda()
        import cupy

        return cupy.asarray(array)



def _torch_on_cuda(opdef: OpDef) -> Any:
    def run(*inputs: Any, **attrs: Any) -> Any:
        import torch

        attrs.pop("out", None)
        with torch.no_grad():
            return opdef.reference(*inputs, **attrs)

    return run


@contextlib.contextmanager
def _on_stream(pointer: int, use_torch: bool) -> Iterator[None]:
    """Run on ONNX Runtime's compute stream (``pointer``; 0 is the legacy default stream)."""
    if use_torch:
        import torch

        stream = torch.cuda.ExternalStream(pointer) if pointer else torch.cuda.default_stream()
        with torch.cuda.stream(stream):
            yield
        return
    import cupy

    stream = cupy.cuda.ExternalStream(pointer) if pointer else cupy.cuda.Stream.null
    with stream:
        yield

