"""The ``opforge`` command line: demo, ops, inspect, and the help of conformance and new."""

from __future__ import annotations

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
