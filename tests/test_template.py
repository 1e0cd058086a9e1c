"""The project template (``cookiecutter/``) and ``opforge new``.

The expensive end-to-end test renders a package, adds a second op by the README's steps and runs the
generated tests (conformance + export round trip) in a subprocess with ``<project>/src`` on
PYTHONPATH, so the generated ops never register in this test process. The packaging test builds a
wheel from a copy of the sources and renders the template from the unpacked wheel.
"""

from __future__ import annotations

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
from opforge.template import TemplateError, new_project, template_candidates, template_dir

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
    assert any(dep.startswith("opforge>=") for dep in pyproject["project"]["dependencies"])
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
