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

Some composite ops fail earlier: their own decomposition reads tensor values (``narrow`` with a tensor
start calls ``.item()``, ``tensor_split`` with a tensor of indices ``.tolist()``, ``ctc_loss`` with list
lengths builds a tensor from raw data). :data:`REWRITES` replaces their CompositeImplicitAutograd kernel
for the export with an exact equivalent of traceable ops (a gather of computed positions, masks and
``nonzero``), which stock ONNX translates: those stay portable. A case no graph can hold (a 0-d tensor
of sections: the number of outputs depends on its value) is refused with the fix.

The registrations live in one ``torch.library.Library`` fragment that is destroyed when the last
active scope ends: outside an export (eager code, the user's own ``torch.compile``) torch behaves as if
opforge were not installed. Unbacked symbols of outputs a caller drops (``ctc_loss`` returns its loss
and never its ``log_alpha``) are declared discarded, so torch.export does not ask for them.
"""

from __future__ import annotations

import contextlib
import threading
import warnings
from collections.abc import Callable, Iterator
from typing import Any

import torch

from . import summary


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
        residuals = a.new_empty([_dynamic_size(where, max_size=columns if isinstance(columns, int) else None)],
                                dtype=real)
    else:
        raise DataDependentShapeError(
            f"{where}: with driver={driver!r} on a batch of tall matrices, residuals is {batch + [columns]} when "
            "every matrix has full rank and (0,) otherwise, so even its rank depends on the data and no graph can "
            "hold it. Fix: use driver='gels' (full-rank inputs) or 'gelsy' (no residuals), or compute the "
            "residuals from the solution: ((a @ x - b) ** 2).sum(-2)")
    return solution, residuals, rank, singular


# -- rewrites: composite ops whose own decomposition reads tensor values, replaced during the export by
# an exact equivalent built from traceable ops (each one is plain ONNX, so it stays portable)


def _narrow_tensor(self: torch.Tensor, dim: int, start: torch.Tensor, length: int) -> torch.Tensor:
    """aten::narrow.Tensor(Tensor(a) self, int dim, Tensor start, SymInt length) -> Tensor(a)

    torch reads ``start.item()``; here ``start`` stays a tensor: a gather of ``length`` positions. A start out
    of range makes every position ``size``, which the Gather refuses at run time (eager raises there too)."""
    if start.dim() != 0 or start.dtype.is_floating_point or start.is_complex() or start.dtype == torch.bool:
        raise DataDependentShapeError(f"torch.narrow: start must be a 0-dim integer tensor, got shape "
                                      f"{tuple(start.shape)} and {start.dtype}")
    if self.dim() == 0:
        raise DataDependentShapeError("torch.narrow: input must have at least 1 dim, got a 0-d tensor")
    if length < 0:
        raise DataDependentShapeError(f"torch.narrow: length must be non-negative, got {length}")
    _report("aten.narrow.Tensor", "start is a tensor: exported as a Gather of start + arange(length) (plain ONNX; "
            "a start out of range fails in the Gather at run time, as eager raises)")
    size = self.size(dim)
    start = start.to(torch.int64)
    start = torch.where(start < 0, start + size, start)
    in_range = (start >= 0) & (start + length <= size)
    positions = torch.where(in_range, start + torch.arange(length, device=self.device), size)
    return self.index_select(dim, positions)


def _tensor_split_tensor(self: torch.Tensor, tensor_indices_or_sections: torch.Tensor,
                         dim: int = 0) -> tuple[torch.Tensor, ...]:
    """aten::tensor_split.tensor_indices_or_sections(Tensor(a -> *) self, Tensor tensor_indices_or_sections,
    int dim=0) -> Tensor(a)[]

    With a 1-D tensor of indices the number of pieces is fixed and each piece is the positions between two
    clamped indices (a mask, its nonzero, a gather): its size is data dependent, as in eager."""
    where = "torch.tensor_split(input, tensor_indices_or_sections)"
    split = tensor_indices_or_sections
    if split.dtype != torch.int64 or split.device.type != "cpu":
        raise DataDependentShapeError(f"{where}: tensor_indices_or_sections must be an int64 CPU tensor, got "
                                      f"{split.dtype} on {split.device}")
    if split.dim() == 0:
        raise DataDependentShapeError(
            f"{where}: a 0-d tensor is a number of sections, and the number of outputs then depends on its value, "
            "which no exported graph can hold. Fix: pass the number of sections as a Python int, or the split "
            "points as a 1-D tensor of indices")
    if split.dim() != 1:
        raise DataDependentShapeError(f"{where}: tensor_indices_or_sections must be 0-d or 1-D, got "
                                      f"{split.dim()} dims")
    if self.dim() == 0:
        raise DataDependentShapeError(f"{where}: input must have at least 1 dim, got a 0-d tensor")
    _report("aten.tensor_split.tensor_indices_or_sections", "a 1-D tensor of indices: each piece exported as a "
            "Gather of the positions between two clamped indices (plain ONNX; data-dependent sizes)")
    size = self.size(dim)
    positions = torch.arange(size, device=self.device)
    # slice semantics: a negative index counts from the end, then everything is clamped to [0, size]
    bounds = torch.where(split < 0, split + size, split).clamp(0, size)
    count = split.shape[0]
    pieces = []
    for piece in range(count + 1):
        lower = bounds[piece - 1] if piece > 0 else 0
        upper = bounds[piece] if piece < count else size
        mask = (positions >= lower) & (positions < upper)
        pieces.append(self.index_select(dim, torch.nonzero(mask).squeeze(1)))
    return tuple(pieces)


def _ctc_loss_int_list(log_probs: torch.Tensor, targets: torch.Tensor, input_lengths: list[int],
                       target_lengths: list[int], blank: int = 0, reduction: int = 1,
                       zero_infinity: bool = False) -> torch.Tensor:
    """aten::ctc_loss.IntList(Tensor log_probs, Tensor targets, int[] input_lengths, int[] target_lengths,
    int blank=0, int reduction=Mean, bool zero_infinity=False) -> Tensor

    torch's own decomposition (LossCTC.cpp) builds the 'mean' divisor with ``at::tensor(target_lengths)``,
    raw data that fake tensors do not have; the same steps here build it with ``new_full``."""
    batched = log_probs.dim() == 3
    loss = torch.ops.aten._ctc_loss.default(log_probs if batched else log_probs.unsqueeze(1), targets,
                                            input_lengths, target_lengths, blank, zero_infinity)[0]
    if zero_infinity:
        loss = torch.where(loss == float("inf"), loss.new_zeros(()), loss)
    if reduction == 1:  # mean: each loss over its target length (at least 1), then the mean
        divisor = torch.cat([loss.new_full((1,), max(int(n), 1)) for n in target_lengths]) if target_lengths \
            else loss.new_empty((0,))
        return (loss / divisor).mean()
    if reduction == 2:
        return loss.sum()
    return loss if batched else loss.squeeze(0)


def _report(name: str, detail: str) -> None:
    summary.add(summary.SummaryEntry("rewrite", name, detail, portable=True))


# overload name (in aten) -> its CompositeImplicitAutograd kernel during the export
REWRITES: dict[str, Callable[..., Any]] = {
    "narrow.Tensor": _narrow_tensor,
    "tensor_split.tensor_indices_or_sections": _tensor_split_tensor,
    "ctc_loss.IntList": _ctc_loss_int_list,
}

# qualified overload name -> fake implementation
FAKES: dict[str, Callable[..., Any]] = {
    "aten::_ctc_loss": _ctc_loss,
    "aten::_ctc_loss.Tensor": _ctc_loss,
    "aten::linalg_lstsq": _linalg_lstsq,
}

_LOCK = threading.RLock()
_SAVED_PY_KERNELS: dict[Any, Any] = {}  # overload -> torch's own Python CIA kernel, while replaced


def _swap_python_kernels() -> None:
    """torch's Python dispatcher prefers a Python CompositeImplicitAutograd kernel (torch/_decomp registers
    one for tensor_split) over the dispatcher's; point it at the rewrite too for the export's duration."""
    key = torch._C.DispatchKey.CompositeImplicitAutograd
    for name, kernel in REWRITES.items():
        packet, _, overload_name = name.partition(".")
        overload = getattr(getattr(torch.ops.aten, packet), overload_name or "default")
        if key in overload.py_kernels:
            _SAVED_PY_KERNELS[overload] = overload.py_kernels[key]
            overload.py_kernels[key] = kernel
            overload._dispatch_cache.clear()


def _restore_python_kernels() -> None:
    key = torch._C.DispatchKey.CompositeImplicitAutograd
    while _SAVED_PY_KERNELS:
        overload, kernel = _SAVED_PY_KERNELS.popitem()
        overload.py_kernels[key] = kernel
        overload._dispatch_cache.clear()
_ACTIVE: list[Any] = []  # the Library holding the registrations while at least one scope is active
_DEPTH = 0


@contextlib.contextmanager
def data_dependent_fakes() -> Iterator[None]:
    """Register the fake implementations of :data:`FAKES` and the kernels of :data:`REWRITES` while the block runs.

    Re-entrant and shared between threads: the first scope registers, the last one to end removes them. Eager
    code running meanwhile is unaffected: fakes only serve fake tensors and each rewrite computes what torch's
    own kernel does."""
    global _DEPTH
    with _LOCK:
        if _DEPTH == 0:
            library = torch.library.Library("aten", "FRAGMENT")  # noqa: TOR901 - destroyed below
            try:
                with warnings.catch_warnings():
                    # replacing torch's kernels is the point: no "Overriding a previously registered kernel"
                    warnings.filterwarnings("ignore", message="(?s).*Overriding a previously registered kernel")
                    for qualname, fake in FAKES.items():
                        torch.library.register_fake(qualname, fake, lib=library)
                    for overload, kernel in REWRITES.items():
                        library.impl(overload, kernel, "CompositeImplicitAutograd")
                    _swap_python_kernels()
            except Exception:
                _restore_python_kernels()
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
                _restore_python_kernels()
                _ACTIVE.pop()._destroy()


__all__ = ["FAKES", "REWRITES", "DataDependentShapeError", "data_dependent_fakes"]
