"""Text that is safe to print on a terminal, and the error the ``opforge`` command shows in a panel.

Op names, domains, file names, attribute values and exception messages can come from a model file
or a user's module. rich would read ``[...]`` in them as markup (``Scale[/bold]`` raises MarkupError,
``[link=...]`` makes a hyperlink) and passes escape sequences straight to the terminal, so every
such string goes through :func:`plain` (printed as text) or :func:`markup` (inside rich markup).
"""

from __future__ import annotations

import unicodedata

from rich.markup import escape

#: line breaks and tabs that :func:`plain` keeps when ``multiline`` is set (exception messages)
_LAYOUT = frozenset("\n\t")


def _is_unsafe(char: str) -> bool:
    # Cc: C0/C1 controls (ESC, BEL, CR, ...); Cf: format characters such as the bidi overrides
    # (U+202E) that reorder what a terminal shows; Zl/Zp: Unicode line and paragraph separators
    return unicodedata.category(char) in ("Cc", "Cf", "Zl", "Zp")


def plain(text: object, *, multiline: bool = False) -> str:
    """``str(text)`` with every control or format character shown as a Python escape (``\\x1b``).

    Args:
        text: anything; it is converted with ``str``.
        multiline: keep ``\\n`` and ``\\t`` (for messages that have lines); otherwise escape them too.
    """
    out = []
    for char in str(text):
        if _is_unsafe(char) and not (multiline and char in _LAYOUT):
            out.append(char.encode("unicode_escape").decode("ascii"))
        else:
            out.append(char)
    return "".join(out)


def markup(text: object, *, multiline: bool = False) -> str:
    """:func:`plain` text escaped for rich markup, to place between markup tags: ``f"[red]{markup(x)}[/red]"``."""
    return escape(plain(text, multiline=multiline))


def click_exception() -> type[Exception]:
    """The ClickException class that the installed typer catches and prints in an error panel."""
    try:
        from typer._click.exceptions import ClickException  # typer >= 0.20 vendors click
    except ImportError:  # pragma: no cover - older typer uses click itself
        from click import ClickException
    return ClickException


class CliError(click_exception()):  # type: ignore[misc]
    """An error of the ``opforge`` command: typer prints its message in a red panel, no traceback.

    Args:
        message: what went wrong and how to fix it; control characters are escaped here.
        exit_code: 2 for bad input (arguments, files, modules), 1 for a failure of the work itself.
    """

    def __init__(self, message: str, exit_code: int = 2) -> None:
        super().__init__(plain(message, multiline=True))
        self.exit_code = exit_code


__all__ = ["CliError", "click_exception", "markup", "plain"]
