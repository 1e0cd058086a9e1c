"""Stand-ins for torch library functions whose own implementation checks tensor VALUES.

``torch.cov`` checks that ``fweights`` / ``aweights`` are not negative (C++ ``is_scalar_tensor_true`` ->
``aten.equal``) and ``F.gaussian_nll_loss`` raises when ``torch.any(var < 0)``. ``torch.export`` cannot trace
such a check (``DataDependentOutputException``, ``GuardOnDataDependentSymNode``), and outlining cannot help:
the failing frame is torch's, or C++ with no Python frame at all.

An op module registers a stand-in for such a function with :func:`stands_in` (usually: call a contrib op
whose kernel is torch's own function, so the checks run, with torch's messages, inside ONNX Runtime).
When a trace fails (a data-dependent check, a C++ size query on a dynamic dim), ``opforge.export`` traces
again under :func:`active` (:func:`retried`): a :class:`torch.overrides.TorchFunctionMode` that routes the registered functions to their
stand-ins. Models that export without them never see the mode.

Why a torch function mode rather than patching ``torch.cov`` and friends: it sees every way a function is
reached (``torch.cov``, ``Tensor.cov``, a reference captured before the export, as OpInfo does), it only
lives on the exporting thread's mode stack (other threads keep calling torch's own functions), and leaving
the ``with`` block restores everything, on error too. A stand-in returns ``NotImplemented`` for calls it
does not handle (a dtype its op lacks, a Python-float ``var``), which then run torch's own function.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from typing import Any, TypeVar

from torch.overrides import TorchFunctionMode

_T = TypeVar("_T")

# torch function (as __torch_function__ sees it) -> stand-in(*args, **kwargs), or NotImplemented
STAND_INS: dict[Any, Callable[..., Any]] = {}


def stands_in(*functions: Any) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """Register the decorated ``stand_in(*args, **kwargs)`` for the torch ``functions`` during
    ``opforge.export`` (it gets their arguments as written at the call site; ``Tensor.cov`` passes ``self``
    first). It returns the result, or ``NotImplemented`` to run the torch function itself."""
    if not functions:
        raise TypeError("stands_in: name at least one torch function, e.g. @stands_in(torch.cov, torch.Tensor.cov)")

    def attach(stand_in: Callable[..., Any]) -> Callable[..., Any]:
        for function in functions:
            if function in STAND_INS and STAND_INS[function] is not stand_in:
                raise ValueError(f"stands_in: {getattr(function, '__qualname__', function)!s} already has a "
                                 f"stand-in ({STAND_INS[function].__qualname__})")
            STAND_INS[function] = stand_in
        return stand_in

    return attach


class _StandInMode(TorchFunctionMode):
    """Routes the registered torch functions to their stand-ins (torch turns the mode off inside
    ``__torch_function__``, so a stand-in that calls torch's own function does not loop)."""

    def __torch_function__(self, func: Any, types: Any, args: tuple = (), kwargs: dict | None = None) -> Any:
        kwargs = kwargs or {}
        stand_in = STAND_INS.get(func)
        if stand_in is not None:
            result = stand_in(*args, **kwargs)
            if result is not NotImplemented:
                return result
        return func(*args, **kwargs)


@contextlib.contextmanager
def active() -> Iterator[None]:
    """Route the registered functions to their stand-ins on this thread, for the ``with`` block only."""
    if not STAND_INS:
        yield
        return
    with _StandInMode():
        yield


def retried(export: Callable[[], _T]) -> _T:
    """``export()``; when it fails, ``export()`` again with the stand-ins :func:`active` (the second try's
    error, if any, is the one raised: it is the one to outline or report). Any failure, not only a
    data-dependent one: torch.cov also calls ``numel()`` in C++, which fails on a dynamic size."""
    try:
        return export()
    except Exception:
        if not STAND_INS:
            raise
    with active():
        return export()
