"""Keep library chatter (numpy and torch warnings, torch.onnx logs, ONNX Runtime's C++ log lines)
out of the ``opforge`` command's tables (conformance, demo), and summarise it afterwards.

The conformance checks run ops on edge cases (empty tensors, float16, huge values) on purpose, so numpy's
``RuntimeWarning: overflow``, torch's TracerWarnings and ONNX Runtime's "[W:onnxruntime:...]" lines
are expected and say nothing about conformance. :func:`captured` collects them: Python warnings
(recorded), log records at WARNING and above (the handlers of every configured logger are swapped
for a collector), and whatever native code writes to file descriptor 2 (ONNX Runtime logs there).
"""

from __future__ import annotations

import logging
import os
import sys
import tempfile
import warnings
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field


@dataclass
class Noise:
    """What the libraries printed while the checks ran: one count per distinct message."""

    messages: Counter[str] = field(default_factory=Counter)

    def add(self, source: str, text: str) -> None:
        first_line = text.strip().splitlines()[0] if text.strip() else ""
        if first_line:
            self.messages[f"{source}: {first_line[:300]}"] += 1

    @property
    def total(self) -> int:
        return sum(self.messages.values())

    def lines(self, limit: int | None = None) -> list[str]:
        """``"3x numpy RuntimeWarning: overflow ..."``, the most frequent first."""
        return [f"{count}x {text}" for text, count in self.messages.most_common(limit)]

    def summary(self, doing: str = "checking", note: str = "they are expected on edge-case samples and are "
                "not failures") -> str:
        if not self.messages:
            return f"no library warnings or log messages while {doing}"
        return (f"{self.total} library warning(s) and log message(s) while {doing} ({len(self.messages)} distinct)"
                + (f"; {note}" if note else ""))


class _Collector(logging.Handler):
    def __init__(self, noise: Noise) -> None:
        super().__init__(logging.WARNING)
        self.noise = noise

    def emit(self, record: logging.LogRecord) -> None:
        try:
            self.noise.add(f"log {record.name} {record.levelname}", record.getMessage())
        except Exception:  # noqa: BLE001 - a bad log call must not break the checks
            pass


@contextmanager
def _logs(noise: Noise) -> Iterator[None]:
    collector = _Collector(noise)
    loggers = [logging.getLogger()] + [
        lg for lg in list(logging.Logger.manager.loggerDict.values()) if isinstance(lg, logging.Logger)]
    swapped = [(lg, lg.handlers[:]) for lg in loggers if lg.handlers]
    for lg, _ in swapped:
        lg.handlers = [collector]
    if not logging.getLogger().handlers:  # records that would reach logging.lastResort
        logging.getLogger().addHandler(collector)
    try:
        yield
    finally:
        logging.getLogger().removeHandler(collector)
        for lg, handlers in swapped:
            lg.handlers = handlers


@contextmanager
def _native_stderr(noise: Noise) -> Iterator[None]:
    """Redirect file descriptor 2 to a temporary file (native libraries write there, not to sys.stderr)."""
    try:
        saved = os.dup(2)
    except OSError:  # no fd 2 (some embedded interpreters): nothing to capture
        yield
        return
    with tempfile.TemporaryFile() as sink:
        sys.stderr.flush()
        os.dup2(sink.fileno(), 2)
        try:
            yield
        finally:
            try:
                sys.stderr.flush()
            finally:
                os.dup2(saved, 2)
                os.close(saved)
            sink.seek(0)
            for line in sink.read().decode("utf-8", "replace").splitlines():
                noise.add("stderr", line)


def _library(filename: str) -> str:
    """The top-level package a warning came from (``numpy`` for .../site-packages/numpy/_core/x.py)."""
    parts = filename.replace("\\", "/").split("/")
    for marker in ("site-packages", "dist-packages"):
        if marker in parts and parts.index(marker) + 1 < len(parts):
            return parts[parts.index(marker) + 1].removesuffix(".py")
    return os.path.basename(filename).removesuffix(".py") or "python"


@contextmanager
def captured() -> Iterator[Noise]:
    """Collect Python warnings, log records and native stderr output inside the block into a :class:`Noise`."""
    noise = Noise()
    with warnings.catch_warnings(record=True) as caught, _logs(noise), _native_stderr(noise):
        warnings.simplefilter("always")
        try:
            yield noise
        finally:
            for w in caught:
                noise.add(f"{_library(w.filename)} {w.category.__name__}", str(w.message))


__all__ = ["Noise", "captured"]
