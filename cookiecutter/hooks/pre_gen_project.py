"""Reject names that would make a broken op package, before cookiecutter renders any file.

Cookiecutter runs this hook inside the freshly created (still empty) project folder. On a bad name
it explains what is wrong and exits 1; cookiecutter then deletes the folder, so nothing is left
behind. The checks are plain functions (``problems``) that opforge's tests call directly.

When ``OPFORGE_TEMPLATE_ERROR_FILE`` is set (``opforge new`` sets it), the message goes to that file
so that ``opforge new`` raises it as its own error; otherwise it goes to stderr.
"""

import json
import keyword
import os
import re
import sys
import unicodedata
from importlib import metadata, util

# Rendered by cookiecutter: the answers, as JSON inside a raw string (tojson escapes quotes).
CONTEXT = r'''{{ cookiecutter | tojson }}'''

ERROR_FILE_ENV = "OPFORGE_TEMPLATE_ERROR_FILE"
# PEP 508 distribution names
SLUG = re.compile(r"^[A-Za-z0-9](?:[A-Za-z0-9._-]*[A-Za-z0-9])?$")
# the domain part of opforge's "domain::OpType" (opforge/_validate.py): dotted identifiers
DOMAIN = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*(?:\.[A-Za-z_][A-Za-z0-9_]*)*$")
OP_TYPE = re.compile(r"^[A-Z][A-Za-z0-9]*$")
RESERVED_DOMAINS = {"", "ai.onnx", "ai.onnx.ml", "ai.onnx.preview.training", "aten", "prim", "onnx"}
# import names the generated package must not shadow
TAKEN_MODULES = {"opforge", "torch", "numpy", "onnx", "onnxruntime", "onnxruntime_extensions", "onnxscript",
                 "cupy", "ml_dtypes", "pytest", "cookiecutter", "setuptools", "test", "tests", "conftest"}


def _normalized(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()  # PEP 503


def _unsafe(value: str) -> bool:
    return "{" in value or "}" in value or any(
        unicodedata.category(c) in ("Cc", "Cf", "Zl", "Zp") for c in value)


def installed_conflicts(slug: str, module: str) -> list:
    """The package name or import name is already taken in this Python environment.

    Installing a package whose distribution name is installed replaces (uninstalls) that distribution;
    an import name that is already importable, or provided by an installed distribution, is shadowed.
    """
    found = []
    dists = {_normalized(d.metadata["Name"] or ""): d for d in metadata.distributions()}
    taken = dists.get(_normalized(slug))
    if taken is not None:
        found.append(f"package name {slug!r} is the installed distribution {taken.metadata['Name']} "
                     f"{taken.version}: installing the new package would replace it; choose another project name")
    providers = metadata.packages_distributions().get(module, [])
    try:
        importable = util.find_spec(module) is not None
    except (ImportError, ValueError):
        importable = True
    if providers or importable:
        by = f" (provided by {', '.join(sorted(set(providers)))})" if providers else ""
        found.append(f"module name {module!r} is already importable here{by}: the new package would shadow it; "
                     "choose another project or module name, e.g. 'acme_vision_ops'")
    return found


def problems(context: dict) -> list:
    """Every problem with the answers in ``context`` (the ``cookiecutter`` dict), worded as a fix."""
    found = []
    for key, value in context.items():
        if isinstance(value, str) and _unsafe(value):
            found.append(f"{key} {value[:60]!r} contains a brace or a control character (template syntax "
                         "is refused): use letters, digits, spaces and punctuation")
    project = str(context.get("project_name", "")).strip()
    slug = str(context.get("package_slug", ""))
    module = str(context.get("module_name", ""))
    domain = str(context.get("onnx_domain", ""))
    op_type = str(context.get("op_name", ""))
    op_module = str(context.get("__op_module", ""))

    if not project:
        found.append("the project name is empty: give a name such as 'Acme Vision Ops'")
    if not SLUG.match(slug):
        found.append(f"package name {slug!r} is not a valid distribution name: use letters, digits, '-', '_' "
                     "and '.', starting and ending with a letter or digit, e.g. 'acme-vision-ops' (by default "
                     f"it derives from the project name {project!r})")
    elif slug.lower().replace("_", "-").replace(".", "-") == "opforge":
        found.append(f"package name {slug!r} is opforge's own: choose another project name")

    if not (module.isidentifier() and module.isascii()):
        found.append(f"module name {module!r} is not a valid Python import name: use letters, digits and '_', "
                     "starting with a letter, e.g. 'acme_vision_ops' (by default it derives from the package "
                     "name; a name that starts with a digit needs an explicit module name)")
    elif keyword.iskeyword(module):
        found.append(f"module name {module!r} is a Python keyword: choose another project or module name")
    elif module in TAKEN_MODULES or module in getattr(sys, "stdlib_module_names", ()):
        found.append(f"module name {module!r} would shadow the installed module of that name: choose another "
                     "project or module name, e.g. 'acme_vision_ops'")
    elif SLUG.match(slug):
        found += installed_conflicts(slug, module)

    if not DOMAIN.match(domain):
        found.append(f"ONNX domain {domain!r} is invalid: expected identifiers joined by dots, e.g. "
                     "'acme.vision' (letters, digits and '_'; no '-' or spaces)")
    elif domain in RESERVED_DOMAINS or domain.startswith("ai.onnx"):
        found.append(f"ONNX domain {domain!r} belongs to ONNX/PyTorch: choose your own, e.g. 'acme.vision'")
    elif domain == "opforge" or domain.startswith("opforge."):
        found.append(f"ONNX domain {domain!r} is reserved for opforge's own ops: choose your own, e.g. 'acme.vision'")

    if not OP_TYPE.match(op_type):
        found.append(f"op name {op_type!r} is not a valid OpType: expected PascalCase letters and digits that "
                     "start with an uppercase letter, e.g. 'SoftClip'")
    elif not op_module.isidentifier() or keyword.iskeyword(op_module):
        found.append(f"op name {op_type!r} gives the Python module name {op_module!r}, which is a keyword: "
                     "choose another op name")
    return found


def message(found: list) -> str:
    lines = ["cannot create the op package:"]
    lines += [f"  - {problem}" for problem in found]
    lines.append("Nothing was created. Fix the name(s) and run again, e.g. "
                 "opforge new 'Acme Vision Ops' --domain acme.vision --op SoftClip")
    return "\n".join(lines)


def main() -> int:
    found = problems(json.loads(CONTEXT))
    if not found:
        return 0
    text = message(found)
    error_file = os.environ.get(ERROR_FILE_ENV)
    if error_file:
        with open(error_file, "w", encoding="utf-8") as stream:
            stream.write(text)
    else:
        print(text, file=sys.stderr)
    return 1


if __name__ == "__main__":
    sys.exit(main())
