"""Run a torch function as a contrib op's kernel: numpy in/out on the CPU (zero-copy through
``torch.from_numpy``), cupy in/out on the GPU (zero-copy through DLPack). Where torch implements an op's
exact semantics this is both the fastest kernel and the reference itself."""

from __future__ import annotations

import warnings
from collections.abc import Callable
from typing import Any

import numpy as np
import torch

_LOW_PRECISION = (torch.float16, torch.bfloat16)


def _from_numpy(x: np.ndarray) -> torch.Tensor:
    bfloat16 = x.dtype.name == "bfloat16"  # ml_dtypes' bfloat16: torch reads its bits as int16
    if bfloat16:
        x = x.view(np.int16)
    if not x.flags.writeable:  # ORT hands read-only views; torch only reads them but warns
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)
            t = torch.from_numpy(x)
    else:
        t = torch.from_numpy(x)
    return t.view(torch.bfloat16) if bfloat16 else t


def _to_numpy(t: torch.Tensor) -> np.ndarray:
    if t.dtype == torch.bfloat16:
        import ml_dtypes

        return t.view(torch.int16).numpy().view(ml_dtypes.bfloat16)
    return t.numpy()


def cpu(fn: Callable[..., Any], *arrays: Any, upcast: bool = False, name: str | None = None, **kwargs: Any) -> Any:
    """``fn(*tensors, **kwargs)`` on numpy arrays; a tuple result comes back as a tuple of arrays.
    ``upcast``: float16 inputs run in float32 and come back as float16 (torch lacks half kernels).
    ``name``: the op's name, put in front of torch's error message (same exception type)."""
    try:
        return _cpu(fn, arrays, upcast, kwargs)
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
    outs, many = _run(fn, [None if a is None else _from_numpy(np.asarray(a)) for a in arrays], upcast, kwargs)
    results = tuple(_to_numpy(o) for o in outs)
    return results if many else results[0]


def cuda(fn: Callable[..., Any], *arrays: Any, upcast: bool = False, **kwargs: Any) -> Any:
    """As :func:`cpu` with cupy arrays on the GPU."""
    import cupy

    outs, many = _run(fn, [None if a is None else torch.from_dlpack(a) for a in arrays], upcast, kwargs)
    results = tuple(cupy.from_dlpack(o.contiguous()) for o in outs)
    return results if many else results[0]
