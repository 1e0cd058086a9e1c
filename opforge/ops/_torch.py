"""Run a torch function as a contrib op's kernel: numpy in/out on the CPU (zero-copy through
``torch.from_numpy``), cupy in/out on the GPU (zero-copy through DLPack). Where torch implements an op's
exact semantics this is both the fastest kernel and the reference itself.

A CPU kernel that declares ``out`` gets ONNX Runtime's output buffer(s) as numpy arrays: :func:`cpu` with
``out=`` runs torch's ``out=`` variant on zero-copy views of them, so nothing is allocated and nothing is
copied after the call (for a 1 MB output that copy, and the page faults of a fresh buffer, cost more than
a sub-millisecond torch kernel)."""

from __future__ import annotations

import warnings
from collections.abc import Callable
from typing import Any

import numpy as np
import torch

_LOW_PRECISION = (torch.float16, torch.bfloat16)


_read_only_warned = False  # torch warns once per process when handed a read-only array


def from_numpy(x: np.ndarray) -> torch.Tensor:
    """A zero-copy tensor over ``x`` (ml_dtypes' bfloat16 included; a read-only view from ONNX Runtime
    without torch's warning)."""
    global _read_only_warned
    # ml_dtypes' bfloat16 (a numpy "V" kind): torch reads its bits as int16. dtype.name is slow (Python code)
    if x.dtype.kind == "V" and x.dtype.name == "bfloat16":
        return from_numpy(x.view(np.int16)).view(torch.bfloat16)
    if not _read_only_warned and not x.flags.writeable:
        # ORT hands read-only views; torch only reads them but warns (once): keep that warning quiet
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)
            t = torch.from_numpy(x)
        _read_only_warned = True
        return t
    return torch.from_numpy(x)


def to_numpy(t: torch.Tensor) -> np.ndarray:
    """A zero-copy numpy array over the CPU tensor ``t`` (bfloat16 as ml_dtypes' bfloat16)."""
    if t.dtype == torch.bfloat16:
        import ml_dtypes

        return t.view(torch.int16).numpy().view(ml_dtypes.bfloat16)
    return t.numpy()


def torch_dtype(dtype: np.dtype) -> torch.dtype:
    """The torch dtype of a numpy dtype (ml_dtypes' bfloat16 included)."""
    return from_numpy(np.empty(0, dtype)).dtype


def cpu(fn: Callable[..., Any], *arrays: Any, upcast: bool = False, name: str | None = None,
        out: Any = None, **kwargs: Any) -> Any:
    """``fn(*tensors, **kwargs)`` on numpy arrays; a tuple result comes back as a tuple of arrays.
    ``upcast``: float16 inputs run in float32 and come back as float16 (torch lacks half kernels).
    ``name``: the op's name, put in front of torch's error message (same exception type).
    ``out``: ONNX Runtime's output buffer (a tuple of them for several outputs; None: return new arrays).
    ``fn`` then gets ``out=`` zero-copy tensors over them (it must be a torch function that takes ``out``)
    and ``out`` is returned; an upcast 16-bit float result is cast into it instead."""
    try:
        if out is None:
            return _cpu(fn, arrays, upcast, kwargs)
        return _cpu_into(fn, arrays, upcast, kwargs, out)
    except Exception as exc:
        if name is None or str(exc).startswith(name):
            raise
        try:
            error = type(exc)(f"{name}: {exc}")
        except Exception:  # noqa: BLE001 - an exception type with another constructor keeps its message
            raise exc from None
        raise error from exc


def _run(fn: Callable[..., Any], tensors: list, upcast: bool, kwargs: dict) -> tuple[tuple, bool]:
    """``fn`` on ``tensors`` (16-bit floats computed in float32 when ``upcast``): (outputs, was a tuple)."""
    low = upcast and tensors and tensors[0] is not None and tensors[0].dtype in _LOW_PRECISION
    if low:
        dtype = tensors[0].dtype
        tensors = [t.float() if t is not None and t.dtype == dtype else t for t in tensors]
    with torch.no_grad():
        out = fn(*tensors, **kwargs)
    outs = out if isinstance(out, (tuple, list)) else (out,)
    return tuple(o.to(dtype) if low and o.is_floating_point() else o for o in outs), isinstance(out, (tuple, list))


def _cpu(fn: Callable[..., Any], arrays: tuple, upcast: bool, kwargs: dict) -> Any:
    outs, many = _run(fn, [None if a is None else from_numpy(np.asarray(a)) for a in arrays], upcast, kwargs)
    results = tuple(to_numpy(o) for o in outs)
    return results if many else results[0]


def _cpu_into(fn: Callable[..., Any], arrays: tuple, upcast: bool, kwargs: dict, out: Any) -> Any:
    # per call this is Python overhead on a sub-millisecond kernel: plain loops, no no_grad (tensors made
    # from numpy never require grad, so autograd records nothing)
    tensors = [a if a is None else from_numpy(a if type(a) is np.ndarray else np.asarray(a)) for a in arrays]
    if type(out) is tuple:
        buffers, targets = out, tuple([from_numpy(o) for o in out])
        target: Any = targets
    else:
        buffers, target = (out,), from_numpy(out)
        targets = (target,)
    if upcast and tensors and tensors[0] is not None and tensors[0].dtype in _LOW_PRECISION:
        results, _ = _run(fn, tensors, upcast, kwargs)  # no half kernel: compute in float32, cast into the buffer
        for t, result in zip(targets, results, strict=True):
            t.copy_(result)
    else:
        fn(*tensors, out=target, **kwargs)
    for t, buffer in zip(targets, buffers, strict=True):
        if t.shape != buffer.shape:
            _wrong_shape(t, buffer)
    return out


def _wrong_shape(target: torch.Tensor, buffer: np.ndarray) -> None:
    # torch resized the tensor over ONNX Runtime's buffer: its result is no longer where ONNX Runtime reads
    raise ValueError(f"the kernel's output has shape {tuple(target.shape)} but the output buffer (from @infer) "
                     f"has shape {buffer.shape}; make @infer give the kernel's output shape")


def cuda(fn: Callable[..., Any], *arrays: Any, upcast: bool = False, **kwargs: Any) -> Any:
    """As :func:`cpu` with cupy arrays on the GPU."""
    import cupy

    outs, many = _run(fn, [None if a is None else torch.from_dlpack(a) for a in arrays], upcast, kwargs)
    results = tuple(cupy.from_dlpack(o.contiguous()) for o in outs)
    return results if many else results[0]
