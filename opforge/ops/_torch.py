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
    if not x.flags.writeable:  # ORT hands read-only views; torch only reads them but warns
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)
            return torch.from_numpy(x)
    return torch.from_numpy(x)


def cpu(fn: Callable[..., Any], *arrays: Any, upcast: bool = False, **kwargs: Any) -> Any:
    """``fn(*tensors, **kwargs)`` on numpy arrays; a tuple result comes back as a tuple of arrays.
    ``upcast``: float16 inputs run in float32 and come back as float16 (torch lacks half kernels)."""
    tensors = [None if a is None else _from_numpy(np.asarray(a)) for a in arrays]
    low = upcast and tensors and tensors[0] is not None and tensors[0].dtype in _LOW_PRECISION
    if low:
        dtype = tensors[0].dtype
        tensors = [t.float() if t is not None and t.dtype == dtype else t for t in tensors]
    with torch.no_grad():
        out = fn(*tensors, **kwargs)
    if isinstance(out, (tuple, list)):
        return tuple((o.to(dtype) if low and o.is_floating_point() else o).numpy() for o in out)
    return (out.to(dtype) if low and out.is_floating_point() else out).numpy()


def cuda(fn: Callable[..., Any], *arrays: Any, upcast: bool = False, **kwargs: Any) -> Any:
    """As :func:`cpu` with cupy arrays on the GPU."""
    import cupy

    tensors = [None if a is None else torch.from_dlpack(a) for a in arrays]
    low = upcast and tensors and tensors[0] is not None and tensors[0].dtype in _LOW_PRECISION
    if low:
        dtype = tensors[0].dtype
        tensors = [t.float() if t is not None and t.dtype == dtype else t for t in tensors]
    with torch.no_grad():
        out = fn(*tensors, **kwargs)
    outs = out if isinstance(out, (tuple, list)) else (out,)
    outs = tuple(cupy.from_dlpack((o.to(dtype) if low and o.is_floating_point() else o).contiguous()) for o in outs)
    return outs if isinstance(out, (tuple, list)) else outs[0]
