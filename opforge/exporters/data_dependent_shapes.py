"""Fake implementations, for the duration of an export, of aten ops whose output shape depends on the data.

``torch.export`` runs every op on fake tensors. An op that torch tags ``dynamic_output_shape`` and
gives no fake implementation stops the export (``DynamicOutputShapeException``), although most of its
outputs have shapes that follow from the input shapes and its arguments. :func:`data_dependent_fakes`
registers, while it is active, a fake implementation for each op in :data:`FAKES`: every output size that
follows from the shapes and arguments is computed exactly, and only a size that truly depends on the
values is a fresh unbacked symbol (``ctx.new_dynamic_size()``). The trace then goes on, the op reaches
torch.onnx, which has no translation for it, and the generic fallback carries it as an ``opforge.aten``
node run by the very torch op; the data-dependent dim is declared unknown (a ``dim_param``), so ONNX
Runtime takes the kernel's actual shape. Where even the rank of an output depends on the data, the fake
refuses with an error that names the op and what to do.

The registrations live in one ``torch.library.Library`` fragment that is destroyed when the last
active scope ends: outside an export (eager code, the user's own ``torch.compile``) torch behaves as if
opforge were not installed. Unbacked symbols of outputs a caller drops (``ctc_loss`` returns its loss
and never its ``log_alpha``) are declared discarded, so torch.export does not ask for them.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Callable, Iterator, Sequence
from typing import Any

import torch


class DataDependentShapeError(RuntimeError):
    """An op's output cannot be described by fixed rank and unbacked sizes (so it cannot be exported)."""


def _dynamic_size(where: str, *, max_size: int | None = None) -> Any:
    """A fresh data-dependent size in [0, max_size]; its symbol may be dropped by the caller's graph."""
    ctx = torch.library.get_ctx()
    shape_env = getattr(ctx, "_shape_env", None)
    if shape_env is None:
        raise DataDependentShapeError(f"{where}: a data-dependent output size needs fake tensors with a ShapeEnv")
    with shape_env.ignore_fresh_unbacked_symbols():
        return ctx.new_dynamic_size(max=max_size)


def _ctc_loss(log_probs: torch.Tensor, targets: torch.Tensor, input_lengths: Any, target_lengths: Any,
              blank: int = 0, zero_infinity: bool = False) -> tuple[torch.Tensor, torch.Tensor]:
    """aten::_ctc_loss(Tensor log_probs, Tensor targets, int[]|Tensor input_lengths, int[]|Tensor target_lengths,
    int blank=0, bool zero_infinity=False) -> (Tensor neg_log_likelihood, Tensor log_alpha)

    log_alpha is (batch, time, 2 * max(target_lengths) + 1): data dependent when the lengths are a tensor."""
    if log_probs.dim() != 3:
        raise DataDependentShapeError(f"aten._ctc_loss: log_probs must be (time, batch, classes), got "
                                      f"{log_probs.dim()} dims")
    time, batch = log_probs.shape[0], log_probs.shape[1]
    if isinstance(target_lengths, torch.Tensor):
        labels = _dynamic_size("aten._ctc_loss.Tensor")
    else:
        labels = 2 * max((int(n) for n in target_lengths), default=0) + 1
    return log_probs.new_empty((batch,)), log_probs.new_empty((batch, time, labels))


_LSTSQ_DRIVERS = ("gels", "gelsy", "gelsd", "gelss")


def _linalg_lstsq(a: torch.Tensor, b: torch.Tensor, rcond: float | None = None, *,
                  driver: str | None = None) -> tuple[torch.Tensor, ...]:
    """aten::linalg_lstsq(Tensor self, Tensor b, float? rcond=None, *, str? driver=None)
    -> (Tensor solution, Tensor residuals, Tensor rank, Tensor singular_values)

    Only ``residuals`` can depend on the values: gelsd/gelss on a tall (m > n) system compute it only when
    every matrix has full rank n."""
    where = "torch.linalg.lstsq (aten.linalg_lstsq)"
    if a.device.type != "cpu":
        raise DataDependentShapeError(f"{where}: opforge exports it for CPU tensors only, got {a.device}")
    driver = "gelsy" if driver is None else driver
    if driver not in _LSTSQ_DRIVERS:
        raise DataDependentShapeError(f"{where}: driver {driver!r} is not one of {', '.join(_LSTSQ_DRIVERS)}")
    if a.dim() < 2:
        raise DataDependentShapeError(f"{where}: input must have at least 2 dims, got {a.dim()}")
    m, n = a.shape[-2], a.shape[-1]
    vector = b.dim() == a.dim() - 1
    columns = 1 if vector else b.shape[-1]
    batch = list(torch.broadcast_shapes(a.shape[:-2], b.shape[:-1] if vector else b.shape[:-2]))
    real = a.dtype.to_real() if a.is_complex() else a.dtype
    solution = a.new_empty(batch + [n] if vector else batch + [n, columns], dtype=torch.result_type(a, b))
    rank = a.new_empty([0] if driver == "gels" else batch, dtype=torch.int64)
    singular = a.new_empty(batch + [min(m, n)] if driver in ("gelsd", "gelss") else [0], dtype=real)
    if not (m > n and driver != "gelsy"):
        residuals = a.new_empty([0], dtype=real)
    elif driver == "gels":
        residuals = a.new_empty(batch + [columns], dtype=real)
    elif not batch:  # (columns,) at full rank, (0,) otherwise
        residuals = a.new_empty([_dynamic_size(where, max_size=None)], dtype=real)
    else:
        raise DataDependentShapeError(
            f"{where}: with driver={driver!r} on a batch of tall matrices, residuals is {batch + [columns]} when "
            "every matrix has full rank and (0,) otherwise, so even its rank depends on the data and no graph can "
            "hold it. Fix: use driver='gels' (full-rank inputs) or 'gelsy' (no residuals), or compute the "
            "residuals from the solution: ((a @ x - b) ** 2).sum(-2)")
    return solution, residuals, rank, singular


# qualified overload name -> fake implementation
FAKES: dict[str, Callable[..., Any]] = {
    "aten::_ctc_loss": _ctc_loss,
    "aten::_ctc_loss.Tensor": _ctc_loss,
    "aten::linalg_lstsq": _linalg_lstsq,
}

_LOCK = threading.RLock()
_ACTIVE: list[Any] = []  # the Library holding the registrations while at least one scope is active
_DEPTH = 0


@contextlib.contextmanager
def data_dependent_fakes() -> Iterator[None]:
    """Register the fake implementations of :data:`FAKES` while the block runs.

    Re-entrant and shared between threads: the first scope registers, the last one to end removes them."""
    global _DEPTH
    with _LOCK:
        if _DEPTH == 0:
            library = torch.library.Library("aten", "FRAGMENT")  # noqa: TOR901 - destroyed below
            try:
                for qualname, fake in FAKES.items():
                    torch.library.register_fake(qualname, fake, lib=library)
            except Exception:
                library._destroy()
                raise
            _ACTIVE.append(library)
        _DEPTH += 1
    try:
        yield
    finally:
        with _LOCK:
            _DEPTH -= 1
            if _DEPTH == 0:
                _ACTIVE.pop()._destroy()


def handled_ops() -> Sequence[str]:
    """The aten overloads (qualified names) that export with a data-dependent output shape."""
    return tuple(FAKES)


__all__ = ["FAKES", "DataDependentShapeError", "data_dependent_fakes", "handled_ops"]
