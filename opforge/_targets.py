"""Resolve the MODULE arguments of the ``opforge`` command to ops: a module name or an op domain.

A name is looked up like ``python -m`` looks up a module: the current folder first, then
``sys.path``. A name that is no module but the domain of registered ops (``opforge.contrib``, the
domain every contrib row shows) selects those ops. Import failures in the user's own code become a
:class:`~opforge._terminal.CliError` that names the module, the exception and the line.
"""

from __future__ import annotations

import importlib
import importlib.util
import os
import re
import sys
import traceback
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING

from ._terminal import CliError

if TYPE_CHECKING:
    from .opdef import OpDef

#: opforge's own op modules: their domains resolve without a --load
OWN_MODULES = ("opforge.ops", "opforge.demo")
# a Python module name and an op domain share one syntax: identifiers joined by dots
_DOTTED = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*(?:\.[A-Za-z_][A-Za-z0-9_]*)*$")
_MAX_NAME = 200


@dataclass
class Target:
    """What a MODULE argument named: ``kind`` is ``"module"`` or ``"domain"``."""

    name: str
    kind: str
    ops: list[OpDef]


@contextmanager
def current_folder_first() -> Iterator[None]:
    """Put the current folder first on ``sys.path`` while a user's module is found and imported.

    ``python -m`` does the same (a console script has its bin folder there instead). opforge's own
    dependencies are imported before, and the folder leaves ``sys.path`` after, so that a stray
    ``numpy.py`` in the folder of a model being inspected is never imported in their place.
    """
    importlib.import_module("opforge._public")  # torch, onnx, onnxruntime, numpy: from site-packages
    cwd = os.getcwd()
    added = sys.path[:1] not in ([cwd], [""])
    if added:
        sys.path.insert(0, cwd)
    try:
        yield
    finally:
        if added and cwd in sys.path:
            sys.path.remove(cwd)


def _check_syntax(name: str) -> None:
    if len(name) <= _MAX_NAME and _DOTTED.match(name):
        return
    hint = ""
    if name.endswith(".py") or "/" in name or os.sep in name:
        module = os.path.splitext(name)[0].strip("./").replace("/", ".").replace(os.sep, ".")
        hint = f"; give the module's import name, e.g. {module!r}, not a file path"
    raise CliError(f"{name!r} is not a module or op domain name: expected identifiers joined by dots, "
                   f"e.g. 'my_pkg.ops' or 'acme.vision' (at most {_MAX_NAME} characters){hint}")


def _user_frame(exc: BaseException) -> str:
    """'file:line' of the innermost frame outside importlib, where the user's code failed."""
    frames = [f for f in traceback.extract_tb(exc.__traceback__) if "importlib" not in f.filename]
    return f" ({frames[-1].filename}:{frames[-1].lineno})" if frames else ""


def _find(name: str) -> bool:
    """Whether ``name`` is an importable module (importing its parent packages, not the module itself)."""
    try:
        return importlib.util.find_spec(name) is not None
    except ModuleNotFoundError as exc:  # a parent is missing, or is a plain module ('json.dump')
        if exc.name is not None and (name + ".").startswith(exc.name + "."):
            return False
        raise CliError(f"importing the packages above {name!r} failed: {exc}{_user_frame(exc)}") from None
    except ValueError:  # __main__.__spec__ is None and similar oddities
        return False
    except Exception as exc:  # noqa: BLE001 - a parent package's own code failed on import
        raise CliError(f"importing the packages above {name!r} failed: {type(exc).__name__}: "
                       f"{exc}{_user_frame(exc)}") from None


def _import(name: str) -> list[OpDef]:
    from . import opdef

    try:
        return opdef.load_ops(name)
    except CliError:
        raise
    except ModuleNotFoundError as exc:
        # the module exists (found above), so this is one of its own imports
        cause = exc.__cause__ if isinstance(exc.__cause__, ModuleNotFoundError) else exc
        raise CliError(f"importing {name} failed: it imports a module that is not installed: {cause}"
                       f"{_user_frame(cause)}") from None
    except Exception as exc:  # noqa: BLE001 - the user's module raised while being imported
        raise CliError(f"importing {name} failed: {type(exc).__name__}: {exc}{_user_frame(exc)}") from None


def load_own_ops() -> None:
    """Import opforge's own op modules (the contrib library, the demo): no user folder on sys.path."""
    for module in OWN_MODULES:
        _import(module)


def resolve(name: str) -> Target:
    """The ops that the MODULE argument ``name`` selects: a module (and its submodules) or an op domain.

    Raises:
        CliError: ``name`` is neither an importable module nor a registered op domain, or importing it
            failed (the message names the exception and the line of the user's code).
    """
    from . import opdef

    _check_syntax(name)
    with current_folder_first():
        found = _find(name)
        ops = _import(name) if found else []
    if found:
        return Target(name, "module", ops or by_domain(name))
    load_own_ops()
    ops = by_domain(name)
    if ops:
        return Target(name, "domain", ops)
    domains = sorted({o.domain for o in opdef.list_ops()})
    raise CliError(f"no module or op domain named {name!r}: no module of that name is importable from the "
                   f"current folder ({os.getcwd()}) or sys.path (is the package that holds it installed? pip "
                   f"install -e .), and no registered op has that domain (known domains: {', '.join(domains)})")


def by_domain(domain: str) -> list[OpDef]:
    """Registered ops whose domain is ``domain`` or below it (``acme`` selects ``acme.vision`` too)."""
    from . import opdef

    return [o for o in opdef.list_ops() if o.domain == domain or o.domain.startswith(domain + ".")]


def load_modules(names: list[str]) -> None:
    """Import each module of ``names`` (``--load``); a name must be a module, not a domain."""
    for name in names:
        _check_syntax(name)
        with current_folder_first():
            if not _find(name):
                raise CliError(f"no module named {name!r} is importable from the current folder ({os.getcwd()}) "
                               "or sys.path: is the package installed (pip install -e .)?")
            _import(name)


__all__ = ["OWN_MODULES", "Target", "by_domain", "current_folder_first", "load_modules", "load_own_ops", "resolve"]
