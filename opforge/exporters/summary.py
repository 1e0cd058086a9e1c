"""What an export did beyond plain translation, collected while it runs and reported once at the end.

Features that change how a model is exported (a torch op run by a fallback node, a function
outlined at a graph break, ...) add one :class:`SummaryEntry` each; ``opforge.export`` prints the
summary and stores it in the model's ``metadata_props`` so ``opforge inspect`` can show it later.
opforge never changes an export silently.
"""

from __future__ import annotations

import contextlib
import contextvars
import dataclasses
import json
from collections.abc import Iterator


@dataclasses.dataclass(frozen=True)
class SummaryEntry:
    kind: str  # "fallback", "graph break", ...: what opforge did
    name: str  # what it did it to: an aten op, a function's qualified name
    detail: str  # one line: where and why
    recipe: str = ""  # a paste-ready @opforge.op declaration that makes it permanent, if any
    portable: bool = False  # True when the node has an ONNX function body (portable=True can take it)


_CURRENT: contextvars.ContextVar[list[SummaryEntry] | None] = contextvars.ContextVar("opforge_export_summary",
                                                                                      default=None)


@contextlib.contextmanager
def collecting() -> Iterator[list[SummaryEntry]]:
    """Collect the entries that features add during one export (nested exports collect their own)."""
    entries: list[SummaryEntry] = []
    token = _CURRENT.set(entries)
    try:
        yield entries
    finally:
        _CURRENT.reset(token)


def add(entry: SummaryEntry) -> None:
    """Record ``entry`` in the export under way (a no-op outside one); equal entries are kept once."""
    entries = _CURRENT.get()
    if entries is not None and entry not in entries:
        entries.append(entry)


METADATA_KEY = "opforge.export_summary"


def to_metadata(entries: list[SummaryEntry]) -> str:
    return json.dumps([dataclasses.asdict(e) for e in entries])


def format_text(entries: list[SummaryEntry]) -> str:
    """Plain text for a terminal or a warning (callers escape it before rich markup)."""
    lines = [f"opforge.export: {len(entries)} note(s) on this export:"]
    for entry in entries:
        lines.append(f"- {entry.kind}: {entry.name} — {entry.detail}")
        if entry.recipe:
            lines.extend("    " + line for line in entry.recipe.splitlines())
    return "\n".join(lines)
