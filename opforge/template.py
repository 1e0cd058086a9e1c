"""``opforge new``: render the op-package template that ships with opforge.

The template is a cookiecutter 2.x template. In a source checkout it is the top-level
``cookiecutter/`` folder; the wheel ships the same folder as ``opforge/_template`` (see
``[tool.setuptools]`` in pyproject.toml), so ``opforge new`` works after a plain ``pip install``.
"""

from __future__ import annotations

import logging
import os
import tempfile
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from . import __version__

#: where the template lies inside the installed package
INSTALLED_TEMPLATE = "_template"
#: where the template lies in a source checkout, next to the ``opforge`` package
SOURCE_TEMPLATE = "cookiecutter"
#: the pre_gen_project hook writes its message to this file instead of stderr when it is set
ERROR_FILE_ENV = "OPFORGE_TEMPLATE_ERROR_FILE"


def _click_exception() -> type[Exception]:
    """The ClickException class that the installed typer catches and prints without a traceback."""
    try:
        from typer._click.exceptions import ClickException  # typer >= 0.20 vendors click
    except ImportError:  # pragma: no cover - older typer uses click itself
        from click import ClickException
    return ClickException


class TemplateError(_click_exception(), ValueError):  # type: ignore[misc]
    """``opforge new`` cannot render the project: a rejected name, an existing folder, no template.

    A ``ClickException``, so the ``opforge`` command prints the message without a traceback;
    library callers can catch it as a ``ValueError``.
    """

    exit_code = 2


def template_candidates(package_dir: Path | None = None) -> list[Path]:
    """The places searched for the template, in order: the installed copy, then the source checkout."""
    package_dir = Path(__file__).resolve().parent if package_dir is None else Path(package_dir)
    return [package_dir / INSTALLED_TEMPLATE, package_dir.parent / SOURCE_TEMPLATE]


def template_dir(package_dir: Path | None = None) -> Path:
    """The folder of the cookiecutter template (the one holding ``cookiecutter.json``).

    Args:
        package_dir: the ``opforge`` package folder to search from (default: this installation's).

    Raises:
        TemplateError: neither an installed nor a source-checkout template is there.
    """
    candidates = template_candidates(package_dir)
    for candidate in candidates:
        if (candidate / "cookiecutter.json").is_file():
            return candidate
    raise TemplateError(
        "opforge new: the project template is missing (looked for cookiecutter.json in "
        + " and ".join(str(c) for c in candidates)
        + "); reinstall opforge from a wheel or an sdist built from the repository"
    )


@contextmanager
def _quiet_cookiecutter() -> Iterator[None]:
    """cookiecutter logs a traceback when a hook fails; new_project raises the hook's message instead."""
    logger = logging.getLogger("cookiecutter.hooks")
    level = logger.level
    logger.setLevel(logging.CRITICAL)
    try:
        yield
    finally:
        logger.setLevel(level)


@contextmanager
def _hook_error_file() -> Iterator[Path]:
    """Point the pre_gen_project hook at a temporary file for its message; restore the environment."""
    previous = os.environ.get(ERROR_FILE_ENV)
    with tempfile.TemporaryDirectory(prefix="opforge-new-") as tmp:
        path = Path(tmp) / "hook-error.txt"
        os.environ[ERROR_FILE_ENV] = str(path)
        try:
            yield path
        finally:
            if previous is None:
                os.environ.pop(ERROR_FILE_ENV, None)
            else:
                os.environ[ERROR_FILE_ENV] = previous


def new_project(
    name: str,
    output_dir: Path | str = Path("."),
    no_input: bool = False,
    domain: str | None = None,
    op: str | None = None,
    with_cuda: bool = False,
    *,
    extra_context: Mapping[str, Any] | None = None,
) -> Path:
    """Render a new op package from the opforge template and return its folder.

    The package holds ``pyproject.toml`` (depending on opforge), a README, ``src/<module>/ops/<op>.py``
    with a working example op, tests that run ``opforge.conformance`` and an export + ONNX Runtime
    round trip, a CI workflow, ruff config and ``.gitignore``.

    Args:
        name: the project name, e.g. ``"Acme Vision Ops"``; the package name (``acme-vision-ops``),
            the module name (``acme_vision_ops``) and the default ONNX domain derive from it.
        output_dir: the folder to create the project in (created if missing).
        no_input: use the given values and the template's defaults without prompting.
        domain: the ops' ONNX domain (default: the module name).
        op: the first op's OpType, PascalCase (default: ``SoftClip``).
        with_cuda: give the example op a cupy (CUDA) kernel.
        extra_context: any other template variable (``author``, ``license``, ``module_name``, ...).

    Raises:
        TemplateError: a name is invalid (the message lists each problem and nothing is created),
            the project folder already exists, or cookiecutter is not installed.

    Examples::

        >>> new_project("Acme Vision Ops", "/tmp/work", no_input=True, domain="acme.vision", op="Warp")
        PosixPath('/tmp/work/acme-vision-ops')
    """
    try:
        from cookiecutter.exceptions import (
            CookiecutterException,
            FailedHookException,
            OutputDirExistsException,
        )
        from cookiecutter.main import cookiecutter
    except ImportError:  # pragma: no cover - cookiecutter is a dependency of opforge
        raise TemplateError("opforge new needs cookiecutter: pip install 'cookiecutter>=2.6'") from None

    context: dict[str, Any] = {"project_name": name, "with_cuda": bool(with_cuda), "_opforge_version": __version__}
    if domain is not None:
        context["onnx_domain"] = domain
    if op is not None:
        context["op_name"] = op
    context.update(extra_context or {})

    output = Path(output_dir).expanduser().absolute()
    created_output = not output.exists()
    template = template_dir()
    try:
        with _hook_error_file() as error_file, _quiet_cookiecutter():
            try:
                path = cookiecutter(str(template), no_input=no_input, extra_context=context, output_dir=str(output))
            except FailedHookException as exc:
                detail = error_file.read_text(encoding="utf-8") if error_file.is_file() else str(exc)
                raise TemplateError(f"opforge new: {detail}") from None
    except OutputDirExistsException as exc:
        raise TemplateError(f"opforge new: {exc}; choose another project name or output folder "
                            "(nothing was changed)") from None
    except CookiecutterException as exc:
        raise TemplateError(f"opforge new: the template failed to render: {exc}") from exc
    finally:
        if created_output and output.is_dir() and not any(output.iterdir()):
            output.rmdir()  # leave nothing behind when the project was not created
    return Path(path)
