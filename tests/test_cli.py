"""The ``opforge`` command line: demo, ops, inspect, and the help of conformance and new."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import onnx
import pytest
import torch
from onnx import TensorProto, helper
from typer.testing import CliRunner

import opforge
from opforge.cli import app

DOMAIN = "opforge.test.cli"
WIDE = {"COLUMNS": "250"}  # rich wraps table cells at the terminal width; keep each row on one line


@opforge.op(f"{DOMAIN}::Halve")
def halve(x: torch.Tensor, offset: float = 0.0) -> torch.Tensor:
    """x / 2 + offset (a CPU kernel)."""
    return x / 2 + offset


@halve.kernel("cpu")
def _(x: np.ndarray, *, offset: float) -> np.ndarray:
    return x / 2 + offset


@opforge.op(f"{DOMAIN}::RefOnly", version=2)
def ref_only(x: torch.Tensor) -> torch.Tensor:
    """No kernel: the torch reference runs in ONNX Runtime."""
    return x.flip(-1)


def run(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(app, list(args), env=WIDE)
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        raise result.exception
    return result.exit_code, result.output


def row_of(output: str, op: str) -> str:
    """The table row whose first cell is ``op``, cells joined by " | " (wrapped cells rejoined)."""
    rows: list[list[str]] = []
    for line in output.splitlines():
        if not line.startswith("│"):
            continue
        cells = [cell.strip() for cell in line.strip("│").split("│")]
        if cells[0] or not rows:
            rows.append(cells)
        else:  # a continuation line of a wrapped row
            rows[-1] = [f"{a} {b}".strip() for a, b in zip(rows[-1], cells, strict=False)]
    found = [r for r in rows if r[0] == op]
    assert found, f"no row for {op!r} in:\n{output}"
    return " | ".join(found[0])


@pytest.fixture(scope="module")
def demo_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[int, str, Path]:
    out = tmp_path_factory.mktemp("demo")
    code, output = run("demo", "--out", str(out), "--batch", "1", "--batch", "5", "--repeat", "3")
    return code, output, out / "opforge_demo.onnx"


def test_demo_exports_runs_and_prints_a_row_per_batch(demo_run: tuple[int, str, Path]) -> None:
    code, output, path = demo_run
    assert code == 0, output
    assert path.is_file()
    for batch in ("1", "5"):
        row = row_of(output, batch)
        cells = row.split(" | ")
        assert cells[0] == batch and cells[2] == "yes", row
        assert float(cells[1]) <= 1e-5 and float(cells[3]) > 0 and float(cells[4]) > 0, row
    assert "exported" in output
    # library log lines (torch.onnx's "torchvision is not installed") come after the table, summarised
    for noise in ("torchvision", "Warning"):
        assert noise not in output or output.index(noise) > output.index("tolerance:"), output
    # the exported model keeps a dynamic batch dim and both custom nodes
    model = onnx.load(str(path))
    assert model.graph.input[0].type.tensor_type.shape.dim[0].dim_param
    assert sorted(n.op_type for n in model.graph.node if n.domain == "opforge.demo") == ["IterShrink", "ScaledSwish"]


def test_demo_exits_1_when_ort_and_eager_disagree(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    import opforge.demo

    bad = opforge.demo.DemoResult(tmp_path / "m.onnx", 0.1, [opforge.demo.DemoRow(3, 0.5, False, 1.0, 1.0)], [])
    monkeypatch.setattr(opforge.demo, "run_demo", lambda *args, **kwargs: bad)
    code, output = run("demo")
    assert code == 1
    assert row_of(output, "3").split(" | ")[:3] == ["3", "0.5", "NO"]
    assert "FAILED" in output


def test_inspect_exported_model_names_what_runs_each_node(demo_run: tuple[int, str, Path]) -> None:
    _, _, path = demo_run
    code, output = run("inspect", str(path))
    assert code == 0, output
    swish = row_of(output, "opforge.demo::ScaledSwish")
    assert swish.startswith("opforge.demo::ScaledSwish | 1 | 1 | CPU kernel"), swish
    shrink = row_of(output, "opforge.demo::IterShrink")
    assert "torch reference: needs torch at inference time" in shrink, shrink


def _handmade_model(tmp_path: Path) -> Path:
    """A Halve node, two RefOnly nodes (domain imported at v2), an unknown op, a local function."""
    double = helper.make_function("acme.local", "Double", ["x"], ["y"], [helper.make_node("Add", ["x", "x"], ["y"])],
                                  [helper.make_opsetid("", 18)])
    nodes = [
        helper.make_node("Halve", ["x"], ["a"], domain=DOMAIN, offset=1.0),
        helper.make_node("RefOnly", ["a"], ["b"], domain=DOMAIN),
        helper.make_node("RefOnly", ["b"], ["c"], domain=DOMAIN),
        helper.make_node("Double", ["c"], ["d"], domain="acme.local"),
        helper.make_node("Frobnicate", ["d"], ["y"], domain="acme.unknown"),
    ]
    graph = helper.make_graph(nodes, "g", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [2, 3])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, None)])
    model = helper.make_model(graph, functions=[double], opset_imports=[
        helper.make_opsetid("", 18), helper.make_opsetid(DOMAIN, 2), helper.make_opsetid("acme.local", 1),
        helper.make_opsetid("acme.unknown", 3)])
    path = tmp_path / "handmade.onnx"
    onnx.save(model, str(path))
    return path


def test_inspect_says_what_is_missing(tmp_path: Path) -> None:
    path = _handmade_model(tmp_path)
    code, output = run("inspect", str(path))
    assert code == 1, output  # one node has nothing to run it
    unknown = row_of(output, "acme.unknown::Frobnicate")
    assert unknown.startswith("acme.unknown::Frobnicate | 3 | 1 | nothing"), unknown
    assert "no opforge op registered for acme.unknown::Frobnicate" in unknown
    assert "load_ops" in unknown and "portable=True" in unknown
    assert "model-local function body" in row_of(output, "acme.local::Double")
    ref = row_of(output, f"{DOMAIN}::RefOnly")
    assert ref.startswith(f"{DOMAIN}::RefOnly | 2 | 2 | torch reference"), ref
    assert "CPU kernel" in row_of(output, f"{DOMAIN}::Halve")
    assert "cannot run" in output


def test_inspect_too_old_domain_version_and_bad_file(tmp_path: Path) -> None:
    node = helper.make_node("RefOnly", ["x"], ["y"], domain=DOMAIN)
    graph = helper.make_graph([node], "g", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [2])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, None)])
    path = tmp_path / "old.onnx"
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 18), helper.make_opsetid(DOMAIN, 1)]),
              str(path))
    code, output = run("inspect", str(path))
    assert code == 1
    assert "only from version 2" in row_of(output, f"{DOMAIN}::RefOnly")
    junk = tmp_path / "junk.onnx"
    junk.write_bytes(b"not a model")
    code, output = run("inspect", str(junk))
    assert code == 2 and "cannot read" in output


def test_inspect_load_imports_the_module_first(tmp_path: Path) -> None:
    node = helper.make_node("IterShrink", ["x"], ["y"], domain="opforge.demo")
    graph = helper.make_graph([node], "g", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [2])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, None)])
    path = tmp_path / "m.onnx"
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 18),
                                                      helper.make_opsetid("opforge.demo", 1)]), str(path))
    code, output = run("inspect", "--load", "opforge.demo", str(path))
    assert code == 0, output
    assert "torch reference" in row_of(output, "opforge.demo::IterShrink")
    code, output = run("inspect", "--load", "no_such_pkg.ops", str(path))
    assert code == 2 and "no_such_pkg" in output


def test_ops_lists_signature_kernels_and_portable_body() -> None:
    code, output = run("ops", "opforge.demo")
    assert code == 0, output
    assert row_of(output, "opforge.demo::ScaledSwish") == \
        "opforge.demo::ScaledSwish | 1 | x | beta: float = 1.0 | output | cpu | yes"
    assert row_of(output, "opforge.demo::IterShrink") == \
        "opforge.demo::IterShrink | 1 | x | threshold: float = 0.5, max_iter: int = 10 | output | torch-reference | no"
    assert DOMAIN not in output  # only the module's ops

    code, output = run("ops")
    assert code == 0, output
    assert row_of(output, f"{DOMAIN}::Halve") == f"{DOMAIN}::Halve | 1 | x | offset: float = 0.0 | output | cpu | no"
    assert "opforge.demo::IterShrink" in output


def test_ops_of_a_missing_module_fails_clearly() -> None:
    code, output = run("ops", "no_such_pkg.ops")
    assert code == 2
    assert "no_such_pkg" in output and "installed" in output


@pytest.mark.parametrize("command", ["conformance", "new", "demo", "ops", "inspect"])
def test_help(command: str) -> None:
    code, output = run(command, "--help")
    assert code == 0, output
    assert "Usage" in output
    if command == "conformance":
        assert "--device" in output and "--emit" in output and "--report" in output
    if command == "new":
        assert "--no-input" in output and "--with-cuda" in output and "--domain" in output
        assert "--opforge-source" in output


# -- a well-kept tool: fast start, clean errors, escaped text ------------------------------------------


HEAVY = ("torch", "onnxruntime", "onnx", "numpy", "opforge.ops", "opforge.api")


@pytest.mark.parametrize("argv", [[], ["--help"], ["--version"], ["demo", "--help"], ["new", "--help"]])
def test_help_and_version_import_no_heavy_module(argv: list[str]) -> None:
    script = (
        "import sys\n"
        "from opforge.cli import app\n"
        "try:\n"
        f"    app({argv!r}, prog_name='opforge')\n"
        "except SystemExit as exc:\n"
        "    code = exc.code\n"
        f"print('HEAVY', sorted(m for m in {HEAVY!r} if m in sys.modules), code)\n"
    )
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60,
                            env={**os.environ, "COLUMNS": "120"})
    assert f"HEAVY [] {0 if argv else 2}" in result.stdout, result.stdout + result.stderr
    if argv == ["--version"]:
        assert result.stdout.startswith(f"opforge {opforge.__version__}\n"), result.stdout


def test_version() -> None:
    code, output = run("--version")
    assert code == 0 and output.strip() == f"opforge {opforge.__version__}"


def rejected(*args: str) -> str:
    """Run the command, expect a usage error (exit 2) shown in a panel, and return the output."""
    result = CliRunner().invoke(app, list(args), env=WIDE)
    assert result.exit_code == 2, result.output
    assert not isinstance(result.exception, Exception) or isinstance(result.exception, SystemExit), result.exception
    assert "Traceback" not in result.output and "Error" in result.output, result.output
    return result.output


@pytest.mark.parametrize(("args", "expected"), [
    (["-b", "0"], "'--batch' / '-b'"),
    (["-b", "-3"], "'--batch' / '-b'"),
    (["-b", "2", "-b", "0"], "'--batch' / '-b'"),
    (["-b", "99999999999"], "'--batch' / '-b'"),
    (["--repeat", "0"], "'--repeat'"),
    (["--repeat", "-1"], "'--repeat'"),
    (["--threads", "0"], "'--threads'"),
    (["-b", "two"], "'--batch' / '-b'"),
])
def test_demo_refuses_bad_numbers_before_any_work(args: list[str], expected: str,
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    import opforge.demo

    monkeypatch.setattr(opforge.demo, "run_demo", lambda *a, **k: pytest.fail("the demo ran"))
    output = rejected("demo", *args)
    assert f"Invalid value for {expected}" in output


def test_demo_refuses_an_existing_file_or_unwritable_folder_as_out(tmp_path: Path,
                                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    import opforge.demo

    monkeypatch.setattr(opforge.demo, "run_demo", lambda *a, **k: pytest.fail("the demo ran"))
    existing = tmp_path / "existing"
    existing.write_text("keep me")
    assert "is a file" in rejected("demo", "-o", str(existing))
    assert "is a file" in rejected("demo", "-o", str(existing / "below"))
    assert existing.read_text() == "keep me"
    if os.geteuid() != 0:  # root may write anywhere
        locked = tmp_path / "locked"
        locked.mkdir(mode=0o500)
        assert "cannot write" in rejected("demo", "-o", str(locked / "out"))


def test_an_unexpected_error_is_a_panel_not_a_traceback(monkeypatch: pytest.MonkeyPatch) -> None:
    import opforge.demo

    def boom(*args, **kwargs):
        raise RuntimeError("export blew up [bold]here[/bold]")

    monkeypatch.setattr(opforge.demo, "run_demo", boom)
    result = CliRunner().invoke(app, ["demo"], env=WIDE)
    assert result.exit_code == 1 and isinstance(result.exception, SystemExit), result.output
    assert "opforge demo failed: RuntimeError: export blew up [bold]here[/bold]" in result.output
    assert "OPFORGE_TRACEBACK=1" in result.output and "Traceback" not in result.output


def test_cupy_hint_keeps_its_brackets(monkeypatch: pytest.MonkeyPatch) -> None:
    import opforge.kernels
    from opforge.conformance.cli import main

    monkeypatch.setattr(opforge.kernels, "cuda_unavailable_reason",
                        lambda: "cupy is not installed (pip install 'opforge[gpu]')")
    result = CliRunner().invoke(app, ["conformance", "opforge.demo", "--device", "cuda"], env=WIDE)
    assert result.exit_code == 1, result.output
    assert "pip install 'opforge[gpu]'" in result.output, result.output
    assert main  # the command goes through opforge.conformance.cli.main


HOSTILE_NAMES = ["Scale[/bold]", "[link=https://evil.example]Click[/link]", "Esc\x1b[31mRed\x1b]8;;http://x\x07",
                 "Rtl\u202eevil", "Bell\x07Cr\r"]


def _model_with(tmp_path: Path, op_type: str, domain: str = "acme.hostile") -> Path:
    node = helper.make_node(op_type, ["x"], ["y"], domain=domain)
    graph = helper.make_graph([node], "g", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [2])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, None)])
    path = tmp_path / "hostile.onnx"
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 18), helper.make_opsetid(domain, 1)]),
              str(path))
    return path


@pytest.mark.parametrize("name", HOSTILE_NAMES, ids=["markup-close", "link", "escape-seq", "bidi", "bell-cr"])
def test_inspect_shows_model_controlled_names_as_inert_text(tmp_path: Path, name: str) -> None:
    path = _model_with(tmp_path, name, domain=f"acme.{name}" if "[" in name else "acme.hostile")
    result = CliRunner().invoke(app, ["inspect", str(path)], env=WIDE)
    assert result.exit_code == 1, result.output  # nothing runs the unknown op; no MarkupError
    assert isinstance(result.exception, SystemExit), result.exception
    output = result.output
    for char in "\x1b\x07\r\u202e":
        assert char not in output, repr(output)
    # markup is shown literally; control characters as Python escapes (\x1b), never raw
    shown = name if name.isprintable() else name.encode("unicode_escape").decode("ascii")
    assert f"{shown}::{shown}" in output or shown in output.replace("\n", ""), output


@opforge.op("opforge.test.climarkup::Tagged")
def tagged(x: torch.Tensor, tag: str = "[red]hot[/red]", names: list[str] = ("[link=https://x]a",)) -> torch.Tensor:
    """An op whose attribute defaults hold rich markup."""
    return x


def test_ops_table_shows_attribute_defaults_literally() -> None:
    code, output = run("ops", "opforge.test.climarkup")
    assert code == 0, output
    row = row_of(output, "opforge.test.climarkup::Tagged")
    assert "tag: str = '[red]hot[/red]'" in row and "[link=https://x]a" in row, row


# -- MODULE arguments: modules like python -m, op domains, clear errors ---------------------------------


def test_ops_takes_an_op_domain() -> None:
    code, output = run("ops", "opforge.contrib")
    assert code == 0, output
    assert "opforge ops in domain opforge.contrib" in output
    assert row_of(output, "opforge.contrib::SearchSorted").startswith("opforge.contrib::SearchSorted | 1")
    assert "opforge.demo::" not in output


def test_ops_of_a_module_without_ops_names_it_clearly() -> None:
    code, output = run("ops", "json")  # json's __all__ lists functions, not submodules
    assert code == 1, output
    assert "json declares no opforge ops" in output and "json.dump" not in output


@pytest.fixture
def scratch_path(monkeypatch: pytest.MonkeyPatch, tmp_path: Path):
    """A current folder that is not on sys.path; sys.path and sys.modules restored afterwards."""
    monkeypatch.setattr(sys, "path", [p for p in sys.path if p not in ("", os.getcwd(), str(tmp_path))])
    monkeypatch.chdir(tmp_path)
    before = set(sys.modules)
    yield tmp_path
    for name in set(sys.modules) - before:
        if name.startswith("cwd_"):
            del sys.modules[name]
    opforge.opdef.unregister("opforge.test.cwd")


def test_a_module_in_the_current_folder_is_found_like_python_m(scratch_path: Path) -> None:
    (scratch_path / "cwd_ops.py").write_text(textwrap.dedent('''
        import torch, opforge

        @opforge.op("opforge.test.cwd::Here")
        def here(x: torch.Tensor) -> torch.Tensor:
            """Declared in a module of the current folder."""
            return x + 1
    '''))
    code, output = run("ops", "cwd_ops")
    assert code == 0, output
    assert row_of(output, "opforge.test.cwd::Here").startswith("opforge.test.cwd::Here | 1 | x")


@pytest.mark.parametrize(("source", "expected"), [
    ("raise ValueError('bad [red]config[/red]')\n", "importing cwd_broken failed: ValueError: bad [red]config[/red]"),
    ("import cwd_missing_dependency\n", "it imports a module that is not installed"),
    ("def (:\n", "importing cwd_broken failed: SyntaxError"),
])
def test_a_module_that_fails_to_import_is_reported_with_its_line(scratch_path: Path, source: str,
                                                                 expected: str) -> None:
    (scratch_path / "cwd_broken.py").write_text(source)
    for command in (["ops", "cwd_broken"], ["inspect", "--load", "cwd_broken", str(scratch_path / "cwd_broken.py")]):
        result = CliRunner().invoke(app, command, env=WIDE)
        assert result.exit_code == 2, result.output
        assert isinstance(result.exception, SystemExit) and "Traceback" not in result.output
        text = " ".join(result.output.replace("│", " ").split())
        assert expected in text, text
        assert "cwd_broken.py" in text


@pytest.mark.parametrize("name", ["no_such_pkg", "my-ops", "ops/cdist.py", "x" * 300, "a..b"])
def test_bad_module_names_are_refused_clearly(name: str) -> None:
    result = CliRunner().invoke(app, ["ops", name], env=WIDE)
    assert result.exit_code == 2, result.output
    assert isinstance(result.exception, SystemExit) and "Traceback" not in result.output


# -- inspect refuses what is not an ONNX model ----------------------------------------------------------


@pytest.mark.parametrize(("content", "expected"), [
    (b"", "is empty (0 bytes)"),
    (b"\x08\x07", "it has no graph"),  # parses as a ModelProto with only ir_version = 7
    (b"\x80\x81garbage\xff", "cannot read"),
])
def test_inspect_refuses_a_file_that_is_no_onnx_model(tmp_path: Path, content: bytes, expected: str) -> None:
    path = tmp_path / "model.onnx"
    path.write_bytes(content)
    result = CliRunner().invoke(app, ["inspect", str(path)], env=WIDE)
    assert result.exit_code == 2, result.output
    assert expected in " ".join(result.output.replace("│", " ").split()), result.output
    assert "plain onnxruntime runs this model" not in result.output


def test_inspect_refuses_a_folder_and_a_missing_file(tmp_path: Path) -> None:
    assert "is a directory" in rejected("inspect", str(tmp_path))
    assert "does not exist" in rejected("inspect", str(tmp_path / "missing.onnx"))


@pytest.mark.parametrize(("args", "expected"), [
    (["--device", "tpu"], "must be cpu or cuda"),
    (["--emit", "{file}"], "is a file"),
    (["--report", "{folder}"], "is a directory"),
    (["--report", "{file}/below.md"], "is a file, not a folder"),
])
def test_conformance_refuses_bad_options_before_checking(tmp_path: Path, args: list[str], expected: str) -> None:
    existing = tmp_path / "existing.txt"
    existing.write_text("keep")
    args = [a.format(file=existing, folder=tmp_path) for a in args]
    output = rejected("conformance", "opforge.demo", *args)
    assert expected in " ".join(output.replace("│", " ").split()), output
    assert existing.read_text() == "keep"


def test_conformance_takes_an_op_domain_and_refuses_an_unknown_name(tmp_path: Path) -> None:
    code, output = run("conformance", DOMAIN, "--report", str(tmp_path / "r.md"))  # a domain, not a module
    assert code == 1, output  # this file's ops have no samples: the check says so
    assert "Halve v1" in output and "RefOnly v2" in output and "0 of 2 op(s)" in output
    assert "the op has no samples" in output
    result = CliRunner().invoke(app, ["conformance", "no_such_pkg.ops"], env=WIDE)
    assert result.exit_code == 2 and "no module or op domain named 'no_such_pkg.ops'" in result.output


def test_new_refuses_a_file_as_output_folder(tmp_path: Path) -> None:
    existing = tmp_path / "existing"
    existing.write_text("keep")
    assert "is a file" in rejected("new", "Some Ops", "-o", str(existing), "--no-input")
    assert existing.read_text() == "keep"


def test_the_current_folder_never_replaces_opforge_dependencies(tmp_path: Path) -> None:
    """A stray torch.py / numpy.py next to a model or a user module is never imported in place of the real one."""
    for name in ("torch", "numpy", "onnxruntime"):
        (tmp_path / f"{name}.py").write_text(f"open({str(tmp_path / (name + '.imported'))!r}, 'w').close()\n")
    (tmp_path / "cwd_user_ops.py").write_text(textwrap.dedent('''
        import torch, opforge

        @opforge.op("opforge.test.cwdsafe::Here")
        def here(x: torch.Tensor) -> torch.Tensor:
            """Declared next to a stray torch.py."""
            return x + 1
    '''))
    model = tmp_path / "model.onnx"
    node = helper.make_node("IterShrink", ["x"], ["y"], domain="opforge.demo")
    graph = helper.make_graph([node], "g", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [2])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, None)])
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 18),
                                                      helper.make_opsetid("opforge.demo", 1)]), str(model))
    script = (
        "import sys\n"
        "from opforge.cli import app\n"
        "for argv in (['inspect', 'model.onnx'], ['ops', 'cwd_user_ops']):\n"
        "    try:\n"
        "        app(argv, prog_name='opforge')\n"
        "    except SystemExit as exc:\n"
        "        print('EXIT', argv[0], exc.code)\n"
    )
    # -I: no script folder or cwd on sys.path from Python itself, as when the console script runs
    result = subprocess.run([sys.executable, "-I", "-c", script], cwd=tmp_path, capture_output=True, text=True,
                            timeout=300, env={**os.environ, "COLUMNS": "200"})
    assert "EXIT inspect 0" in result.stdout and "EXIT ops 0" in result.stdout, result.stdout + result.stderr
    assert "opforge.test.cwdsafe::Here" in result.stdout  # the user's module was found in the current folder
    assert sorted(p.name for p in tmp_path.glob("*.imported")) == [], "a stray module replaced a dependency"
