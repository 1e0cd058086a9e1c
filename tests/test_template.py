"""The project template (``cookiecutter/``) and ``opforge new``.

The expensive end-to-end test renders a package, adds a second op by the README's steps and runs the
generated tests (conformance + export round trip) in a subprocess with ``<project>/src`` on
PYTHONPATH, so the generated ops never register in this test process. The packaging test builds a
wheel from a copy of the sources and renders the template from the unpacked wheel.
"""

from __future__ import annotations

import ast
import json
import os
import re
import runpy
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest
from cookiecutter.exceptions import FailedHookException
from cookiecutter.main import cookiecutter
from typer.testing import CliRunner

from opforge import _validate
from opforge.cli import app
from opforge.template import (
    TemplateError,
    default_opforge_source,
    new_project,
    opforge_requirement,
    template_candidates,
    template_dir,
)

try:
    import tomllib
except ModuleNotFoundError:  # Python 3.10
    tomllib = pytest.importorskip("tomli")

REPO = Path(__file__).resolve().parents[1]
SOURCE_TEMPLATE = REPO / "cookiecutter"
DOMAIN = "opforge_test.tmpl"


@pytest.fixture(autouse=True)
def cookiecutter_config(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> None:
    """Ignore the user's ~/.cookiecutterrc and keep replay files out of the home folder."""
    home = tmp_path_factory.mktemp("cookiecutter-home")
    config = home / "config.yaml"
    config.write_text(f"replay_dir: {home / 'replay'}\ncookiecutters_dir: {home / 'templates'}\n")
    monkeypatch.setenv("COOKIECUTTER_CONFIG", str(config))


def hook_module() -> dict:
    # run_path compiles without writing __pycache__ into the template
    return runpy.run_path(str(SOURCE_TEMPLATE / "hooks" / "pre_gen_project.py"))


def render(tmp_path: Path, name: str = "Tmpl Ops", **kwargs) -> Path:
    return new_project(name, tmp_path / "out", no_input=True, domain=kwargs.pop("domain", DOMAIN), **kwargs)


def ruff(*args: str | Path) -> subprocess.CompletedProcess:
    pytest.importorskip("ruff", reason="ruff is not installed (pip install 'opforge[dev]')")
    return subprocess.run([sys.executable, "-m", "ruff", *map(str, args)], capture_output=True, text=True)


# -- where the template is --------------------------------------------------------------------------


def test_template_dir_prefers_the_installed_copy_then_the_source_checkout(tmp_path: Path) -> None:
    package = tmp_path / "site" / "opforge"
    checkout = tmp_path / "site" / "cookiecutter"
    for folder in (package / "_template", checkout):
        folder.mkdir(parents=True)
    assert template_candidates(package) == [package / "_template", checkout]
    with pytest.raises(TemplateError, match="template is missing"):
        template_dir(package)
    (checkout / "cookiecutter.json").write_text("{}")
    assert template_dir(package) == checkout  # a source checkout / editable install
    (package / "_template" / "cookiecutter.json").write_text("{}")
    assert template_dir(package) == package / "_template"  # an installed wheel
    assert (template_dir() / "cookiecutter.json").is_file()  # this installation's, whichever kind


def test_pyproject_lists_every_opforge_subpackage() -> None:
    config = tomllib.loads((REPO / "pyproject.toml").read_text())["tool"]["setuptools"]
    listed = set(config["packages"])
    found = {".".join(p.parent.relative_to(REPO).parts) for p in (REPO / "opforge").rglob("__init__.py")}
    missing = sorted(found - listed)
    assert not missing, f"add {missing} to [tool.setuptools] packages in pyproject.toml (the list is explicit)"
    assert config["package-dir"] == {"opforge._template": "cookiecutter"}


def test_the_wheel_ships_the_template_and_new_renders_it_from_there(tmp_path: Path) -> None:
    source = tmp_path / "src"
    source.mkdir()
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc", "*.egg-info")
    for name in ("pyproject.toml", "README.md"):
        shutil.copy2(REPO / name, source / name)
    for name in ("opforge", "cookiecutter"):
        shutil.copytree(REPO / name, source / name, ignore=ignore)
    build = subprocess.run(
        [sys.executable, "-c", "import setuptools.build_meta as b, sys; print(b.build_wheel(sys.argv[1]))",
         str(tmp_path / "dist")], cwd=source, capture_output=True, text=True, timeout=300)
    assert build.returncode == 0, build.stderr[-3000:]
    wheel = tmp_path / "dist" / build.stdout.strip().splitlines()[-1]

    template_files = {p.relative_to(SOURCE_TEMPLATE).as_posix() for p in SOURCE_TEMPLATE.rglob("*")
                      if p.is_file() and "__pycache__" not in p.parts and p.suffix != ".pyc"}
    with zipfile.ZipFile(wheel) as archive:
        shipped = {n.removeprefix("opforge/_template/") for n in archive.namelist()
                   if n.startswith("opforge/_template/")}
        archive.extractall(tmp_path / "site")
    assert shipped == template_files, ("pyproject.toml [tool.setuptools.package-data] misses template files: "
                                       f"{sorted(template_files - shipped)}")

    # pip byte-compiles every .py of a wheel, the template's too; the project must not inherit that
    subprocess.run([sys.executable, "-m", "compileall", "-q", str(tmp_path / "site")], capture_output=True)
    site = tmp_path / "site"
    script = (
        "import sys, opforge.template as t\n"
        "assert t.__file__.startswith(sys.argv[1]), t.__file__\n"
        "print('TEMPLATE', t.template_dir())\n"
        "print('PROJECT', t.new_project('Wheel Ops', sys.argv[2], no_input=True, op='WheelOp'))\n"
    )
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(site), os.environ.get("PYTHONPATH", "")])}
    run = subprocess.run([sys.executable, "-c", script, str(site), str(tmp_path / "out")], env=env,
                         cwd=tmp_path, capture_output=True, text=True, timeout=300)  # not the repo: "" is on sys.path
    assert run.returncode == 0, run.stderr[-3000:]
    assert f"TEMPLATE {site / 'opforge' / '_template'}" in run.stdout
    project = tmp_path / "out" / "wheel-ops"
    assert (project / "src" / "wheel_ops" / "ops" / "wheel_op.py").is_file()
    assert (project / ".github" / "workflows" / "ci.yml").is_file() and (project / ".gitignore").is_file()
    assert not list(project.rglob("__pycache__"))
    assert '@opforge.op("wheel_ops::WheelOp"' in (project / "src" / "wheel_ops" / "ops" / "wheel_op.py").read_text()


# -- names ------------------------------------------------------------------------------------------


def test_names_derive_from_the_project_and_op_names(tmp_path: Path) -> None:
    project = render(tmp_path, "Acme Vision_Ops!", op="GELUFast2D", extra_context={"author": 'Ada "A" Byron'})
    assert project == tmp_path / "out" / "acme-vision-ops"
    op_file = project / "src" / "acme_vision_ops" / "ops" / "gelu_fast2d.py"
    assert f'@opforge.op("{DOMAIN}::GELUFast2D"' in op_file.read_text()
    pyproject = tomllib.loads((project / "pyproject.toml").read_text())
    assert pyproject["project"]["name"] == "acme-vision-ops"
    assert pyproject["project"]["authors"] == [{"name": 'Ada "A" Byron'}]
    # opforge installs from this checkout (the opforge that created the project), not from an index
    assert pyproject["project"]["dependencies"][0] == f"opforge @ {REPO.as_uri()}"
    assert "cuda" not in pyproject["project"]["optional-dependencies"]
    assert '.kernel("cuda")' not in op_file.read_text()

    default = new_project("Iter Ops", tmp_path / "out", no_input=True, op="IterShrink")
    text = (default / "src" / "iter_ops" / "ops" / "iter_shrink.py").read_text()
    assert '@opforge.op("iter_ops::IterShrink"' in text  # the default domain is the module name


def test_with_cuda_adds_a_cupy_kernel_and_both_variants_are_ruff_clean(tmp_path: Path) -> None:
    plain = render(tmp_path, "Plain Ops")
    cuda = render(tmp_path, "Cuda Ops", with_cuda=True)
    op_file = cuda / "src" / "cuda_ops" / "ops" / "soft_clip.py"
    assert '@soft_clip.kernel("cuda")' in op_file.read_text() and "import cupy" in op_file.read_text()
    assert "cupy-cuda12x" in str(tomllib.loads((cuda / "pyproject.toml").read_text())["project"]["optional-dependencies"])
    assert "## CUDA" in (cuda / "README.md").read_text() and "## CUDA" not in (plain / "README.md").read_text()
    for project in (plain, cuda):
        for path in project.rglob("*.py"):
            compile(path.read_text(), str(path), "exec")
        result = ruff("check", "--no-cache", project)
        assert result.returncode == 0, result.stdout + result.stderr
    assert "${{ matrix.python-version }}" in (plain / ".github" / "workflows" / "ci.yml").read_text()


HOOK_CASES = {
    "module-digit": ({"project_name": "123 Ops"}, "module name '123_ops' is not a valid Python import name"),
    "module-stdlib": ({"project_name": "Json"}, "module name 'json' would shadow"),
    "slug": ({"package_slug": "-my-ops"}, "package name '-my-ops' is not a valid distribution name"),
    "domain-onnx": ({"onnx_domain": "ai.onnx.mine"}, "ONNX domain 'ai.onnx.mine' belongs to ONNX/PyTorch"),
    "domain-dash": ({"onnx_domain": "my-domain"}, "ONNX domain 'my-domain' is invalid"),
    "domain-opforge": ({"onnx_domain": "opforge.contrib"}, "reserved for opforge"),
    "op-case": ({"op_name": "softClip"}, "op name 'softClip' is not a valid OpType"),
    "op-keyword": ({"op_name": "Import"}, "module name 'import', which is a keyword"),
}


@pytest.mark.parametrize(("overrides", "expected"), HOOK_CASES.values(), ids=HOOK_CASES.keys())
def test_the_hook_rejects_bad_names_and_leaves_nothing(tmp_path: Path, capfd: pytest.CaptureFixture,
                                                        overrides: dict, expected: str) -> None:
    out = tmp_path / "out"
    out.mkdir()
    context = {"project_name": "Fine Ops", "onnx_domain": DOMAIN, "op_name": "FineOp", **overrides}
    with pytest.raises(FailedHookException):
        cookiecutter(str(SOURCE_TEMPLATE), no_input=True, extra_context=context, output_dir=str(out))
    err = capfd.readouterr().err
    assert expected in err and "Nothing was created" in err
    assert list(out.iterdir()) == []


def test_new_project_raises_the_hooks_message_and_creates_nothing(tmp_path: Path) -> None:
    out = tmp_path / "not-yet"
    with pytest.raises(TemplateError) as info:
        new_project("Good Ops", out, no_input=True, domain="bad domain", op="lowercase")
    message = str(info.value)
    assert "ONNX domain 'bad domain' is invalid" in message and "op name 'lowercase'" in message
    assert isinstance(info.value, ValueError)
    assert not out.exists()
    assert "OPFORGE_TEMPLATE_ERROR_FILE" not in os.environ


def test_cli_new_reports_bad_names_and_existing_folders(tmp_path: Path) -> None:
    runner = CliRunner()
    bad = runner.invoke(app, ["new", "Cli Ops", "-o", str(tmp_path), "--no-input", "--op", "bad_op"],
                        env={"COLUMNS": "250"})
    assert bad.exit_code == 2, bad.output
    assert "op name 'bad_op' is not a valid OpType" in bad.output
    assert list(tmp_path.iterdir()) == []

    good = runner.invoke(app, ["new", "Cli Ops", "-o", str(tmp_path), "--no-input", "--domain", DOMAIN,
                               "--op", "CliOp", "--with-cuda"], env={"COLUMNS": "250"})
    assert good.exit_code == 0, good.output
    assert '.kernel("cuda")' in (tmp_path / "cli-ops" / "src" / "cli_ops" / "ops" / "cli_op.py").read_text()

    again = runner.invoke(app, ["new", "Cli Ops", "-o", str(tmp_path), "--no-input"], env={"COLUMNS": "250"})
    assert again.exit_code == 2 and "already exists" in again.output


def test_hook_rules_agree_with_opforge_declarations() -> None:
    hook = hook_module()
    assert hook["RESERVED_DOMAINS"] == _validate.RESERVED_DOMAINS
    for domain in ("mylab", "com.acme.vision", "_x.y1", "a-b", "a..b", ".a", "a b", "1abc", "ai.onnx", "aten"):
        accepted_by_opforge = True
        try:
            _validate.parse_name(f"{domain}::Op")
        except _validate.DeclarationError:
            accepted_by_opforge = False
        context = {"project_name": "P", "package_slug": "p", "module_name": "p_ops", "onnx_domain": domain,
                   "op_name": "Op", "__op_module": "op"}
        assert (not hook["problems"](context)) == accepted_by_opforge, domain
    good = {"project_name": "Acme", "package_slug": "acme-ops", "module_name": "acme_ops", "onnx_domain": "acme",
            "op_name": "SoftClip", "__op_module": "soft_clip"}
    assert hook["problems"](good) == []


# -- the generated project works --------------------------------------------------------------------


def add_op_by_the_readme(project: Path, module: str, first: str) -> tuple[str, str]:
    """Follow README.md's "Add an op" steps: copy the example module, rename, add the import line."""
    steps = (project / "README.md").read_text().split("## Add an op", 1)[1]
    new_module, new_type = "my_new_op", "MyNewOp"
    import_line = f"from . import {new_module} as {new_module}"
    assert f"src/{module}/ops/{new_module}.py" in steps and import_line in steps
    assert f'"{DOMAIN}::{new_type}"' in steps

    ops = project / "src" / module / "ops"
    source = (ops / f"{first}.py").read_text()  # step 1: copy
    source = re.sub(rf"\b{first}\b", new_module, source)  # step 2: rename the function and its decorators
    source = re.sub(rf'"{re.escape(DOMAIN)}::\w+"', f'"{DOMAIN}::{new_type}"', source)
    source = source.replace("Smooth clipping", "A second op (a renamed copy): smooth clipping")
    (ops / f"{new_module}.py").write_text(source)

    init = (ops / "__init__.py").read_text()  # step 3: the import line (kept sorted, as ruff wants)
    imports = sorted([line for line in init.splitlines() if line.startswith("from . import")] + [import_line])
    names = sorted(line.split()[-1] for line in imports)
    head = init.split("from . import", 1)[0]
    (ops / "__init__.py").write_text(head + "\n".join(imports) + f"\n\n__all__ = {names!r}\n".replace("'", '"'))
    return new_module, new_type


def test_generated_project_with_a_second_op_passes_its_tests(tmp_path: Path) -> None:
    project = render(tmp_path, "Tmpl Ops")
    _, new_type = add_op_by_the_readme(project, "tmpl_ops", "soft_clip")
    lint = ruff("check", "--no-cache", project)
    assert lint.returncode == 0, lint.stdout + lint.stderr

    env = {k: v for k, v in os.environ.items() if k != "PYTEST_ADDOPTS"}
    env["PYTHONPATH"] = os.pathsep.join([str(project / "src"), env.get("PYTHONPATH", "")])
    result = subprocess.run([sys.executable, "-m", "pytest", "tests", "-v", "-p", "no:cacheprovider"], cwd=project,
                            env=env, capture_output=True, text=True, timeout=600)
    output = result.stdout + result.stderr
    assert result.returncode == 0, output[-6000:]
    passed = re.findall(r"^tests/\S+ PASSED", output, re.MULTILINE)
    assert "tests/test_export.py::test_export_and_run_in_onnxruntime PASSED" in output
    for op_type in ("SoftClip", new_type):
        cases = [line for line in passed if f"[{DOMAIN}.{op_type}.v1-" in line]
        assert any("-export.dynamo-" in c for c in cases) and any("-numerics.onnxruntime-" in c for c in cases), (
            f"no passing conformance tests for {op_type}:\n{output[-4000:]}")
    assert not re.search(r"\b(failed|error)\b", output.splitlines()[-1]), output[-2000:]


# -- hostile names: refused before anything is rendered, nothing on disk, no command run ---------------

PAYLOAD_MARK = "opforge-template-payload-ran"


def jinja_payload(target: Path) -> str:
    return "{{ cycler.__init__.__globals__.os.system('touch " + str(target) + "') }}"


HOSTILE = {
    "jinja-project": (lambda mark: {"name": jinja_payload(mark)}, "contains '{' or '}'"),
    "jinja-domain": (lambda mark: {"domain": jinja_payload(mark)}, "contains '{' or '}'"),
    "jinja-op": (lambda mark: {"op": "{% for x in range(3) %}X{% endfor %}"}, "contains '{' or '}'"),
    "jinja-author": (lambda mark: {"extra_context": {"author": jinja_payload(mark)}}, "contains '{' or '}'"),
    "private-variable": (lambda mark: {"extra_context": {"__project_dir": "../escaped"}},
                         "'__project_dir' is not a template variable you can set"),
    "control-char": (lambda mark: {"name": "Evil\x1b[31m Ops"}, "the control character \\x1b"),
    "newline": (lambda mark: {"extra_context": {"author": 'x"""\nimport os'}}, "the control character \\n"),
    "long-op": (lambda mark: {"op": "A" + "b" * 299}, "op_name is 300 characters long"),
    "dist-rich": (lambda mark: {"name": "rich"}, "package name 'rich' is the installed distribution rich"),
    "dist-typer": (lambda mark: {"name": "typer"}, "package name 'typer' is the installed distribution typer"),
    "dist-protobuf": (lambda mark: {"name": "protobuf"}, "package name 'protobuf' is the installed distribution"),
    "dist-jinja2": (lambda mark: {"name": "jinja2"}, "module name 'jinja2' is already importable here"),
    "module-yaml": (lambda mark: {"name": "My Ops", "extra_context": {"module_name": "yaml"}},
                    "module name 'yaml' is already importable here"),
    "bad-source": (lambda mark: {"opforge_source": "https://example.com/$(touch x)"}, "holds a quote, a space"),
}


@pytest.mark.parametrize(("make", "expected"), HOSTILE.values(), ids=HOSTILE.keys())
def test_hostile_names_are_refused_before_rendering(tmp_path: Path, make, expected: str) -> None:
    mark = tmp_path / PAYLOAD_MARK
    args = {"name": "Fine Ops", "domain": DOMAIN, **make(mark)}
    out = tmp_path / "out"
    with pytest.raises(TemplateError) as info:
        new_project(args.pop("name"), out, no_input=True, **args)
    message = " ".join(str(info.value).split())
    assert expected in message, message
    assert "Nothing was created" in message or "opforge source" in message or "holds a quote" in message
    assert not mark.exists(), "a name was evaluated as a template"
    assert not out.exists() and list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("name", [jinja_payload(Path("/tmp") / PAYLOAD_MARK), "rich", "x" * 300])
def test_cli_new_refuses_hostile_names_in_a_panel(tmp_path: Path, name: str) -> None:
    mark = Path("/tmp") / PAYLOAD_MARK
    mark.unlink(missing_ok=True)
    result = CliRunner().invoke(app, ["new", name, "-o", str(tmp_path / "out"), "--no-input", "--domain", DOMAIN],
                                env={"COLUMNS": "250"})
    assert result.exit_code == 2, result.output
    assert isinstance(result.exception, SystemExit) and "Traceback" not in result.output
    assert "Nothing was created" in result.output
    assert not mark.exists() and list(tmp_path.iterdir()) == []


def test_the_hook_refuses_installed_names_too(tmp_path: Path, capfd: pytest.CaptureFixture) -> None:
    """Rendering the template with cookiecutter directly still refuses a name that shadows a distribution."""
    out = tmp_path / "out"
    out.mkdir()
    with pytest.raises(FailedHookException):
        cookiecutter(str(SOURCE_TEMPLATE), no_input=True, output_dir=str(out),
                     extra_context={"project_name": "Typer", "onnx_domain": DOMAIN, "op_name": "FineOp"})
    assert "package name 'typer' is the installed distribution" in capfd.readouterr().err
    assert list(out.iterdir()) == []
    assert hook_module()["installed_conflicts"]("surely-not-installed-ops", "surely_not_installed_ops") == []


def test_quotes_in_names_are_escaped_in_every_generated_literal(tmp_path: Path) -> None:
    name = 'Quote """ \\ \' Ops'
    author = 'Ada """; import os; os.system("x") #'
    project = render(tmp_path, name, extra_context={"author": author})
    init = project / "src" / "quote_ops" / "__init__.py"
    docstring = ast.get_docstring(ast.parse(init.read_text()))
    assert docstring is not None and docstring.startswith(f"{name}: custom ONNX operators"), docstring
    pyproject = tomllib.loads((project / "pyproject.toml").read_text())
    assert pyproject["project"]["authors"] == [{"name": author}]
    assert pyproject["project"]["description"].startswith(name)
    for path in project.rglob("*.py"):
        tree = ast.parse(path.read_text(), str(path))
        calls = [n for n in ast.walk(tree) if isinstance(n, ast.Call) and getattr(n.func, "attr", "") == "system"]
        assert not calls, f"{path} calls os.system: a name injected code"


def test_a_failure_while_rendering_removes_the_half_written_project(tmp_path: Path,
                                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    import cookiecutter.generate as generate

    real = generate.generate_file
    written = []

    def flaky(project_dir, infile, *args, **kwargs):
        if len(written) == 3:
            raise OSError(36, "File name too long", infile)
        written.append(infile)
        return real(project_dir, infile, *args, **kwargs)

    monkeypatch.setattr(generate, "generate_file", flaky)
    out = tmp_path / "out"
    with pytest.raises(TemplateError, match="writing the project failed.*nothing was left on disk"):
        new_project("Half Ops", out, no_input=True, domain=DOMAIN)
    assert len(written) == 3  # files were written, then removed
    assert not out.exists()


# -- where the generated project installs opforge from ----------------------------------------------------


def test_the_default_source_is_this_opforge_and_is_recorded_in_readme_and_ci(tmp_path: Path) -> None:
    assert default_opforge_source() == REPO.as_uri()  # an editable install / source checkout
    project = render(tmp_path, "Source Ops")
    requirement = f"opforge @ {REPO.as_uri()}"
    assert tomllib.loads((project / "pyproject.toml").read_text())["project"]["dependencies"][0] == requirement
    assert f"`{requirement}`" in (project / "README.md").read_text()
    ci = (project / ".github" / "workflows" / "ci.yml").read_text()
    assert f'OPFORGE_REQUIREMENT: "{requirement}"' in ci and 'pip install "$OPFORGE_REQUIREMENT"' in ci
    assert "torch==2.13.0 --index-url https://download.pytorch.org/whl/cpu" in ci

    pinned = render(tmp_path, "Pinned Ops", opforge_source="git+https://github.com/acme/opforge@v0.1.0")
    deps = tomllib.loads((pinned / "pyproject.toml").read_text())["project"]["dependencies"]
    assert deps[0] == "opforge @ git+https://github.com/acme/opforge@v0.1.0"


@pytest.mark.parametrize(("source", "expected"), [
    ("opforge==0.1.0", "opforge==0.1.0"),
    ("opforge>=0.1,<0.2", "opforge>=0.1,<0.2"),
    ("git+https://github.com/acme/opforge@v0.1.0", "opforge @ git+https://github.com/acme/opforge@v0.1.0"),
    ("https://example.com/opforge-0.1.0-py3-none-any.whl", "opforge @ https://example.com/opforge-0.1.0-py3-none-any.whl"),
    (str(REPO), f"opforge @ {REPO.as_uri()}"),
])
def test_opforge_requirement_accepts_paths_wheels_urls_and_requirements(source: str, expected: str) -> None:
    assert opforge_requirement(source) == expected


@pytest.mark.parametrize("source", ["/no/such/folder", "file:///no/such/opforge", "rm -rf /", "opforge==1; x",
                                    "https://x/$(id)"])
def test_opforge_requirement_refuses_what_pip_cannot_use_safely(source: str) -> None:
    with pytest.raises(TemplateError, match="opforge-source"):
        opforge_requirement(source)


def test_the_recorded_requirement_resolves_without_a_package_index(tmp_path: Path) -> None:
    """pip finds opforge at the recorded source with no index (the old 'opforge>=0.1.0' needed one)."""
    project = render(tmp_path, "Offline Ops")
    requirement = tomllib.loads((project / "pyproject.toml").read_text())["project"]["dependencies"][0]
    result = subprocess.run(
        [sys.executable, "-m", "pip", "install", "--dry-run", "--no-index", "--no-deps", "--ignore-installed",
         "--no-build-isolation", "--report", str(tmp_path / "report.json"), "--quiet", requirement],
        capture_output=True, text=True, timeout=300, env={**os.environ, "PIP_FIND_LINKS": ""})
    assert result.returncode == 0, result.stdout + result.stderr[-3000:]
    (item,) = json.loads((tmp_path / "report.json").read_text())["install"]
    assert item["metadata"]["name"] == "opforge" and item["download_info"]["url"] == REPO.as_uri()


def test_interactive_answers_are_data_and_checked_by_the_hook(tmp_path: Path) -> None:
    """Typed answers are never rendered; the hook refuses template syntax in them, and nothing is left."""
    mark = tmp_path / PAYLOAD_MARK
    answers = f"Fine Ops\n\n\n{jinja_payload(mark)}\n" + "\n" * 6
    result = CliRunner().invoke(app, ["new", "Fine Ops", "-o", str(tmp_path / "out")], input=answers,
                                env={"COLUMNS": "250"})
    assert result.exit_code == 2, result.output
    text = " ".join(result.output.replace("│", " ").split())
    assert "onnx_domain" in text and "contains a brace or a control character" in text, text
    assert not mark.exists() and not (tmp_path / "out").exists()

    ended = CliRunner().invoke(app, ["new", "Fine Ops", "-o", str(tmp_path / "out")], input="",
                               env={"COLUMNS": "250"})
    assert ended.exit_code == 2 and "pass --no-input" in ended.output, ended.output
    assert not (tmp_path / "out").exists()
