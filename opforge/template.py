"""``opforge new``: render the op-package template that ships with opforge.

The template is a cookiecutter 2.x template. In a source checkout it is the top-level
``cookiecutter/`` folder; the wheel ships the same folder as ``opforge/_template`` (see
``[tool.setuptools]`` in pyproject.toml), so ``opforge new`` works after a plain ``pip install``.
"""

from __future__ import annotations

import json
import logging
import os
import re
import runpy
import shutil
import tempfile
import unicodedata
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from importlib import metadata
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlparse
from urllib.request import url2pathname

from . import __version__
from ._terminal import click_exception

#: where the template lies inside the installed package
INSTALLED_TEMPLATE = "_template"
#: where the template lies in a source checkout, next to the ``opforge`` package
SOURCE_TEMPLATE = "cookiecutter"
#: the pre_gen_project hook writes its message to this file instead of stderr when it is set
ERROR_FILE_ENV = "OPFORGE_TEMPLATE_ERROR_FILE"
#: the template variables a caller may set (``extra_context``); ``_``-prefixed ones are the template's own
SETTABLE = ("project_name", "package_slug", "module_name", "onnx_domain", "op_name", "author", "license", "with_cuda")
#: the longest accepted value of each variable (an op name becomes a file name; 255 bytes is the usual limit)
MAX_LENGTH = {"project_name": 100, "package_slug": 100, "module_name": 100, "onnx_domain": 128, "op_name": 64,
              "author": 200, "license": 40, "opforge_source": 1000}


class TemplateError(click_exception(), ValueError):  # type: ignore[misc]
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


def default_opforge_source() -> str:
    """Where this opforge was installed from, as pip accepts it: a folder or wheel URL, a VCS URL or ``opforge==V``.

    Read from the installation's PEP 610 ``direct_url.json`` (``pip install -e .``, ``pip install
    path/to/opforge.whl``, ``pip install git+https://...``); a source checkout that is imported without
    being installed gives its folder; an installation from a package index gives ``opforge==<version>``.
    """
    try:
        direct = metadata.distribution("opforge").read_text("direct_url.json")
    except metadata.PackageNotFoundError:
        direct = None
    checkout = Path(__file__).resolve().parent.parent
    running_from_checkout = (checkout / "pyproject.toml").is_file() and (checkout / SOURCE_TEMPLATE).is_dir()
    if direct:
        info = json.loads(direct)
        vcs = info.get("vcs_info")
        if vcs and info.get("url"):
            commit = vcs.get("commit_id") or vcs.get("requested_revision")
            return f"{vcs.get('vcs', 'git')}+{info['url']}" + (f"@{commit}" if commit else "")
        if info.get("url") and not running_from_checkout:  # a wheel or a folder, installed (not editable)
            return str(info["url"])
    if running_from_checkout:  # an editable install, or the checkout on PYTHONPATH
        return checkout.as_uri()
    return f"opforge=={__version__}"


def opforge_requirement(source: str) -> str:
    """The PEP 508 requirement that installs opforge from ``source``.

    Args:
        source: a folder or wheel path (made absolute), a URL (``file://``, ``https://``,
            ``git+https://...@tag``) or a requirement that names opforge (``opforge==0.1.0``).

    Raises:
        TemplateError: ``source`` is none of these.
    """
    requirement = _requirement(source.strip())
    # it lands in TOML, YAML, Markdown and a shell: no quotes, whitespace, backslashes or '$' in it
    if not _SAFE_REQUIREMENT.match(requirement):
        raise TemplateError(f"opforge new: --opforge-source {source!r} holds a quote, a space, a backslash or '$'; "
                            "give a plain path, URL or requirement such as 'opforge==0.1.0'")
    return requirement


_SAFE_REQUIREMENT = re.compile(r"^opforge(?: @ [^\s\"'`\\$]+|(?:\[[a-z,]+\])?(?:[=<>!~]=?[^\s\"'`\\$,]+,?)*)$")


def _requirement(text: str) -> str:
    if text.startswith("opforge") and not os.path.exists(text):
        rest = text[len("opforge"):].lstrip()
        if not rest or rest[0] in "=<>!~[":
            return text
    if "://" in text:
        scheme = text.split("://", 1)[0]
        if scheme in ("file", "http", "https") or scheme.split("+", 1)[0] in ("git", "hg", "svn", "bzr"):
            if scheme == "file" and not Path(url2pathname(unquote(urlparse(text).path))).exists():
                raise TemplateError(f"opforge new: --opforge-source {text!r} points at a path that does not exist")
            return f"opforge @ {text}"
    path = Path(text).expanduser()
    if path.exists() and (path.is_dir() and (path / "pyproject.toml").is_file() or path.suffix == ".whl"):
        return f"opforge @ {path.resolve().as_uri()}"
    raise TemplateError(
        f"opforge new: --opforge-source {text!r} is not an opforge source: give a folder holding opforge's "
        "pyproject.toml, a .whl file, a URL (git+https://github.com/<you>/opforge@v0.1.0) or a requirement "
        "such as 'opforge==0.1.0'")


def _unsafe_characters(value: str) -> str | None:
    if "{" in value or "}" in value:
        return "'{' or '}' (the template engine would read them as code)"
    for char in value:
        if unicodedata.category(char) in ("Cc", "Cf", "Zl", "Zp"):
            return f"the control character {char.encode('unicode_escape').decode('ascii')}"
    return None


def check_values(values: Mapping[str, Any]) -> list[str]:
    """Problems with the raw values given to :func:`new_project`, found before anything is rendered.

    Every value is data: a string with template syntax (``{{``, ``{%``) or control characters is
    refused, as is an unknown or private template variable and a value longer than :data:`MAX_LENGTH`.
    """
    found = []
    for key, value in values.items():
        if key not in SETTABLE and key != "opforge_source":
            found.append(f"{key!r} is not a template variable you can set (choose from {', '.join(SETTABLE)})")
            continue
        if key == "with_cuda":
            if not isinstance(value, bool):
                found.append(f"with_cuda must be True or False, got {value!r}")
            continue
        if not isinstance(value, str):
            found.append(f"{key} must be a string, got {type(value).__name__}")
            continue
        unsafe = _unsafe_characters(value)
        if unsafe:
            found.append(f"{key} {value[:60]!r} contains {unsafe}: use letters, digits, spaces and punctuation")
        elif len(value) > MAX_LENGTH.get(key, 200):
            found.append(f"{key} is {len(value)} characters long; at most {MAX_LENGTH.get(key, 200)} are accepted")
    return found


def _hook_problems(template: Path) -> Callable[[dict], list]:
    """The pre_gen_project hook's ``problems`` function (the same rules cookiecutter enforces later)."""
    return runpy.run_path(str(template / "hooks" / "pre_gen_project.py"))["problems"]


def _answers(template: Path, context: Mapping[str, Any]) -> dict[str, Any]:
    """Every template variable as cookiecutter would compute it from ``context``, without writing a file."""
    from cookiecutter.generate import generate_context
    from cookiecutter.prompt import prompt_for_config

    full = generate_context(context_file=str(template / "cookiecutter.json"), extra_context=dict(context))
    return dict(prompt_for_config(full, no_input=True))


def new_project(
    name: str,
    output_dir: Path | str = Path("."),
    no_input: bool = False,
    domain: str | None = None,
    op: str | None = None,
    with_cuda: bool = False,
    *,
    extra_context: Mapping[str, Any] | None = None,
    opforge_source: str | None = None,
) -> Path:
    """Render a new op package from the opforge template and return its folder.

    The package holds ``pyproject.toml`` (depending on opforge), a README, ``src/<module>/ops/<op>.py``
    with a working example op, tests that run ``opforge.conformance`` and an export + ONNX Runtime
    round trip, a CI workflow, ruff config and ``.gitignore``.

    Every name is checked before anything is rendered (a bad one raises and creates nothing): values
    are data, never template code; a name that would shadow an installed distribution or an
    importable module is refused. A failure while rendering removes the half-written project.

    Args:
        name: the project name, e.g. ``"Acme Vision Ops"``; the package name (``acme-vision-ops``),
            the module name (``acme_vision_ops``) and the default ONNX domain derive from it.
        output_dir: the folder to create the project in (created if missing).
        no_input: use the given values and the template's defaults without prompting.
        domain: the ops' ONNX domain (default: the module name).
        op: the first op's OpType, PascalCase (default: ``SoftClip``).
        with_cuda: give the example op a cupy (CUDA) kernel.
        extra_context: any other template variable (``author``, ``license``, ``module_name``, ...).
        opforge_source: where the package installs opforge from (see :func:`opforge_requirement`);
            default: where this opforge came from (:func:`default_opforge_source`). Recorded in the generated
            ``pyproject.toml``, README and CI workflow.

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

    given: dict[str, Any] = {"project_name": name, "with_cuda": with_cuda}
    if domain is not None:
        given["onnx_domain"] = domain
    if op is not None:
        given["op_name"] = op
    given.update(extra_context or {})
    source = opforge_source if opforge_source is not None else default_opforge_source()
    found = check_values({**given, "opforge_source": source})
    if found:
        raise TemplateError(_hook_message(found))
    context: dict[str, Any] = {**given, "_opforge_version": __version__, "_opforge_source": source,
                               "_opforge_requirement": opforge_requirement(source)}

    output = Path(output_dir).expanduser().absolute()
    template = template_dir()
    project: Path | None = None
    if no_input:  # compute every name now and check it, so that a bad one writes nothing at all
        try:
            answers = _answers(template, context)
        except (CookiecutterException, ValueError) as exc:
            raise TemplateError(f"opforge new: {exc}") from None
        found = _hook_problems(template)(answers)
        if found:
            raise TemplateError(_hook_message(found))
        project = output / str(answers["__project_dir"])
        if project.exists():
            raise TemplateError(f"opforge new: {project} already exists; choose another project name or output "
                                "folder (nothing was changed)")
    created_output = not output.exists()
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
    except BaseException as exc:
        if project is not None and project.exists():
            shutil.rmtree(project, ignore_errors=True)  # leave no half-written project behind
        if isinstance(exc, CookiecutterException):
            raise TemplateError(f"opforge new: the template failed to render: {exc} (nothing was left on disk)") from exc
        if isinstance(exc, OSError):
            raise TemplateError(f"opforge new: writing the project failed: {exc} (nothing was left on disk)") from exc
        raise
    finally:
        if created_output and output.is_dir() and not any(output.iterdir()):
            output.rmdir()  # leave nothing behind when the project was not created
    return Path(path)


def _hook_message(found: list[str]) -> str:
    lines = ["opforge new: cannot create the op package:"]
    lines += [f"  - {problem}" for problem in found]
    lines.append("Nothing was created. Fix the name(s) and run again, e.g. "
                 "opforge new 'Acme Vision Ops' --domain acme.vision --op SoftClip")
    return "\n".join(lines)
