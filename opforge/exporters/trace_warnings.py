"""TorchScript export (``dynamo=False``) never hides torch's TracerWarnings.

A TracerWarning means the trace turned a tensor into a Python value (``bool(t)``, ``int(t)``,
``t.tolist()``): the exported graph holds the value seen on the example input, and may be wrong
for every other input. Each is reported once, at its source line, with the fix; ``strict=True``
makes them an error. Code that warns but is correct (sizes of a static shape, say) still exports.
"""

from __future__ import annotations

import contextlib
import contextvars
import linecache
import warnings
from collections.abc import Iterator

import torch

FIX = ("Fix: wrap that code in an @opforge.op (it stays one node and runs as written, loops and branches "
       "included), or export with dynamo=True.")


class TraceWarning(UserWarning):
    """torch's tracer recorded a Python value as a constant; the model may be wrong for other inputs."""


class TraceError(RuntimeError):
    """``strict=True``: the TorchScript trace recorded Python values as constants."""


def _text(filename: str, lineno: int, message: str) -> str:
    code = linecache.getline(filename, lineno).strip()
    first = message.split(". ")[0].rstrip(".")
    return (f"{filename}:{lineno}: {code}\n  torch's tracer (opforge.export, dynamo=False): {first}. The exported "
            f"graph keeps the value of the example input here and may be wrong for other inputs. {FIX}")


_FOUND: contextvars.ContextVar[list[str] | None] = contextvars.ContextVar("opforge_trace_warnings", default=None)


@contextlib.contextmanager
def collecting() -> Iterator[list[str]]:
    """Collect the reports of one export (opforge.export's verify names them when it finds a mismatch)."""
    found: list[str] = []
    token = _FOUND.set(found)
    try:
        yield found
    finally:
        _FOUND.reset(token)


@contextlib.contextmanager
def reported(strict: bool = False) -> Iterator[None]:
    """Run a TorchScript export: silence its other warnings, report each TracerWarning once."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        yield
    seen: dict[tuple[str, int], str] = {}
    for item in caught:
        if issubclass(item.category, torch.jit.TracerWarning):
            seen.setdefault((item.filename, item.lineno), str(item.message))
    if not seen:
        return
    texts = [_text(filename, lineno, message) for (filename, lineno), message in seen.items()]
    found = _FOUND.get()
    if found is not None:
        found.extend(texts)
    if strict:
        raise TraceError(f"opforge.export(dynamo=False, strict=True): the trace recorded Python values as constants "
                         f"at {len(texts)} place(s):\n" + "\n".join(texts))
    for (filename, lineno), text in zip(seen, texts):
        warnings.warn_explicit(TraceWarning(text), TraceWarning, filename, lineno)
