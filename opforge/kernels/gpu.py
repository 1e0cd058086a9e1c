"""cupy/CUDA dispatch. cupy is optional: nothing here imports it until a CUDA kernel runs."""

from __future__ import annotations

import functools


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
    reason = cuda_unavailable_reason()
    if reason is not None:
        raise RuntimeError(f"kernel_device='cuda' needs cupy and a CUDA device: {reason}")
