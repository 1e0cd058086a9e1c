"""The conformance suite on correct ops: checks, derived cases, pytest integration, emit, CLI."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import conformance_ops
import numpy as np
import onnx
import pytest
import torch
from onnx import numpy_helper
from onnx.backend.test.loader import load_model_tests
from onnx.reference import ReferenceEvaluator

import opforge
from opforge.conformance import CHECKS, check, op_cases
from opforge.conformance.cli import main
from opforge.conformance.compare import compare_outputs
from opforge.conformance.emit import emit_cases
from opforge.conformance.pytest_cases import cases_for, checker_for, resolve_ops

TESTS_DIR = Path(__file__).parent
OPS = [conformance_ops.conf_swish, conformance_ops.conf_top_rows, conformance_ops.conf_weighted_sum]

# The integration under test: one pytest test per op x check x sample of conformance_ops.
test_conformance_ops = opforge.conformance.pytest_cases(conformance_ops)


@pytest.mark.parametrize("op", OPS, ids=lambda o: o.op_type)
def test_correct_op_passes_every_applicable_check(op):
    report = checker_for(op).report()  # shared with test_conformance_ops: each check runs once per process
    assert report.ok, str(report)
    statuses = {(r.check, r.status) for r in report.results}
    for name in ("schema", "inference", "torch", "numerics.kernel", "numerics.onnxruntime",
                 "numerics.reference_evaluator", "export.dynamo", "export.torchscript"):
        assert (name, "pass") in statuses, f"{name} never passed:\n{report}"
    assert all(r.status in ("pass", "n/a") for r in report.results), str(report)
    assert all(r.reason for r in report.results if r.status == "n/a")


def test_portable_body_runs_and_bfloat16_is_na_with_a_reason():
    report = checker_for(conformance_ops.conf_swish).report()
    assert report.get("numerics.portable", "s0").status == "pass"
    assert report.get("numerics.portable", "s0-float16").status == "pass"
    na = report.get("numerics.portable", "s0-bfloat16")
    assert na.status == "n/a" and "bfloat16" in na.reason
    # the ONNX Runtime bridge itself does run bfloat16
    assert report.get("numerics.onnxruntime", "s0-bfloat16").status == "pass"


def test_derived_cases_have_stable_ids():
    ids = [c.id for c in op_cases(conformance_ops.conf_swish)]
    assert ids == ["s0", "s0-float64", "s0-float16", "s0-bfloat16", "s0-batch7", "s0-empty",
                   "default_beta", "default_beta-float64", "default_beta-float16", "default_beta-bfloat16"]
    assert ids == [c.id for c in op_cases(conformance_ops.conf_swish)]  # same seed, same data, same ids
    cases = {c.id: c for c in op_cases(conformance_ops.conf_swish)}
    assert cases["s0-float16"].inputs[0].dtype == np.float16
    assert cases["s0-batch7"].inputs[0].shape == (7, 8) and cases["s0-empty"].inputs[0].shape == (0, 8)
    np.testing.assert_array_equal(cases["s0"].inputs[0], op_cases(conformance_ops.conf_swish)[0].inputs[0])
    # float32/float64 only: no float16 variants; the xfail mark travels to derived variants
    sums = {c.id: c for c in op_cases(conformance_ops.conf_weighted_sum)}
    assert list(sums) == ["s0", "s0-float64", "s0-batch5", "s0-empty", "s1", "s1-float64"]
    assert sums["s1-float64"].xfail_reason == sums["s1"].xfail_reason is not None


def test_pytest_cases_ids_and_count():
    cases = cases_for(OPS)
    ids = [c.id for c in cases]
    assert len(ids) == len(set(ids))
    marks = test_conformance_ops.pytestmark
    assert len(marks) == 1 and marks[0].name == "parametrize"
    assert len(marks[0].args[1]) == len(cases)
    assert "opforge.test.conf.ConfSwish.v1-numerics.onnxruntime-s0-float16" in ids
    assert "opforge.test.conf.ConfSwish.v1-export.dynamo-s0" in ids
    assert "opforge.test.conf.ConfSwish.v1-export.dynamo-s0-float16" not in ids  # exports: once per op
    assert not any("numerics.portable" in i for i in ids if "ConfTopRows" in i)  # no body, no case
    # a module, its name and a list of OpDefs name the same ops
    assert resolve_ops(conformance_ops) == resolve_ops("conformance_ops") == OPS
    assert resolve_ops([conformance_ops.conf_swish, "conformance_ops"]) == OPS


def test_pytest_cases_collect_and_pass_under_xdist(tmp_path):
    checks = ["schema", "numerics.kernel", "numerics.onnxruntime"]
    expected = len(cases_for([conformance_ops.conf_weighted_sum], checks=checks))
    (tmp_path / "pytest.ini").write_text("[pytest]\n")
    (tmp_path / "test_generated.py").write_text(textwrap.dedent(f"""
        import sys
        sys.path.insert(0, {str(TESTS_DIR)!r})
        import conformance_ops
        import opforge

        test_generated = opforge.conformance.pytest_cases([conformance_ops.conf_weighted_sum], checks={checks!r})
    """))
    env = {**os.environ, "PYTHONWARNINGS": "ignore"}
    # every worker collects the same ids (else xdist aborts), and all of them run and pass
    run = subprocess.run([sys.executable, "-m", "pytest", "-q", "-n", "2", "-p", "no:cacheprovider",
                          "test_generated.py"], cwd=tmp_path, capture_output=True, text=True, env=env)
    assert run.returncode == 0, run.stdout + run.stderr
    assert f"{expected} passed" in run.stdout, run.stdout


def test_emitted_node_tests_reload_and_pass_under_the_reference_evaluator(tmp_path):
    ops = [conformance_ops.conf_swish, conformance_ops.conf_top_rows]
    folders = opforge.conformance.emit_node_tests(ops, tmp_path / "emitted")
    # every case but the bfloat16 variants, which ONNX Runtime's Python API cannot feed
    assert len(folders) == sum(len([c for c in op_cases(o) if "bfloat16" not in c.id]) for o in ops) == 16
    loaded = load_model_tests(data_dir=str(tmp_path), kind="emitted")
    assert sorted(t.name for t in loaded) == sorted(f.name for f in folders)
    for test in loaded:
        model = onnx.load(os.path.join(test.model_dir, "model.onnx"))
        data = Path(test.model_dir) / "test_data_set_0"
        inputs = [numpy_helper.to_array(onnx.load_tensor(str(data / f"input_{j}.pb")))
                  for j in range(len(list(data.glob("input_*.pb"))))]
        expected = [numpy_helper.to_array(onnx.load_tensor(str(data / f"output_{j}.pb")))
                    for j in range(len(list(data.glob("output_*.pb"))))]
        assert len(inputs) == len(model.graph.input) and len(expected) == len(model.graph.output)
        evaluator = ReferenceEvaluator(model, new_ops=opforge.reference_ops())
        got = evaluator.run(None, {i.name: a for i, a in zip(model.graph.input, inputs)})
        for g, e in zip(got, expected):
            assert g.dtype == e.dtype and g.shape == e.shape, test.name
            np.testing.assert_allclose(g.astype(np.float64), e.astype(np.float64), rtol=test.rtol,
                                       atol=test.atol, err_msg=test.name)


def test_cli_main_writes_a_report_and_node_tests(tmp_path, capsys):
    report = tmp_path / "out" / "conformance.md"
    code = main(["conformance_ops"], "cpu", tmp_path / "emit", report)
    out = capsys.readouterr().out
    assert code == 0, out
    assert "3 of 3 op(s) pass every applicable check" in out
    text = report.read_text()
    assert "| opforge.test.conf::ConfSwish v1 |" in text and "| numerics.portable |" in text.splitlines()[4] + " |"
    assert len(list((tmp_path / "emit").glob("test_*/model.onnx"))) == 22  # 26 cases, 4 of them bfloat16
    assert "4 case(s) not written: they have a bfloat16 input or output" in " ".join(out.split())


def test_cli_main_exits_1_on_a_failure(tmp_path, capsys, monkeypatch):
    (tmp_path / "broken_conf_ops.py").write_text(textwrap.dedent("""
        import numpy as np, torch, opforge

        @opforge.op("opforge.test.conf.cli::ConfBroken")
        def broken(x: torch.Tensor) -> torch.Tensor:
            return x + 1

        broken.kernel("cpu", lambda x: x + 2)
        broken.samples(lambda rng: [opforge.Sample(np.zeros((2, 3), np.float32))])
    """))
    monkeypatch.syspath_prepend(str(tmp_path))
    report = tmp_path / "r.md"
    assert main(["broken_conf_ops"], "cpu", None, report) == 1
    out = capsys.readouterr().out
    assert "[numerics.kernel] sample s0" in out
    assert "| numerics.kernel | s0 | fail |" in report.read_text()


def test_cli_main_without_ops(monkeypatch, capsys):
    monkeypatch.setattr("opforge.conformance.cli._contrib_ops", lambda: [])
    assert main([], "cpu", None, None) == 0
    assert "No opforge ops found" in capsys.readouterr().out
    assert main(["json"], "cpu", None, None) == 1  # a module that declares no ops is a mistake


def test_cuda_without_a_device_is_a_clear_error():
    from opforge.kernels import cuda_unavailable_reason

    if cuda_unavailable_reason() is None:
        pytest.skip("a CUDA device is present; the gpu check runs instead")
    with pytest.raises(RuntimeError, match="device='cuda'"):
        check(conformance_ops.conf_swish, device="cuda")
    assert main(["conformance_ops"], "cuda", None, None) == 1


def test_compare_tolerances_nan_inf_and_order_free():
    f32 = np.array([1.0, np.nan, np.inf, -2.0], np.float32)
    assert compare_outputs([f32], [f32 + np.float32(5e-6)]).ok
    bad = compare_outputs([f32], [f32 + np.float32(1e-3)])
    assert not bad.ok and bad.max_abs == pytest.approx(1e-3, rel=1e-3)
    assert not compare_outputs([f32], [np.array([1.0, 0.0, np.inf, -2.0], np.float32)]).ok  # NaN must match
    assert not compare_outputs([f32], [np.array([1.0, np.nan, -np.inf, -2.0], np.float32)]).ok  # Inf sign
    f16 = np.array([1.0, 2.0], np.float16)
    assert compare_outputs([f16], [f16 + np.float16(2e-3)]).ok  # float16 atol 2.5e-3
    assert not compare_outputs([np.arange(3)], [np.arange(3) + np.array([0, 0, 1])]).ok  # integers exact
    rows = np.array([[1, 2], [3, 4], [5, 6]], np.int64)
    assert not compare_outputs([rows], [rows[::-1]]).ok
    assert compare_outputs([rows], [rows[::-1]], order_free=True).ok
    assert compare_outputs([f32], [f32 + np.float32(1e-3)], atol=1e-2).ok  # Sample.tolerance wins


def test_report_renders():
    report = checker_for(conformance_ops.conf_top_rows).report()
    text = str(report)
    assert text.startswith("conformance of opforge.test.conf::ConfTopRows v1 on cpu:")
    assert "numerics.onnxruntime" in text
    markdown = report.to_markdown()
    assert "| check | sample | status | max abs | max rel | reason |" in markdown
    assert report.summary()["numerics.kernel"] == "pass"
    assert set(report.summary()) <= set(CHECKS)


def test_emit_skips_bfloat16_and_its_readme_replays_the_cases(tmp_path):
    """The README's script, run as written from the emitted folder, replays every case in ONNX Runtime."""
    emitted = emit_cases([conformance_ops.conf_swish, conformance_ops.conf_top_rows], tmp_path / "cases")
    names = {f.name for f in emitted.folders}
    skipped = dict(emitted.skipped)
    assert skipped and all(name.endswith("bfloat16") for name in skipped), skipped
    assert not any("bfloat16" in n for n in names)
    readme = (tmp_path / "cases" / "README.md").read_text()
    assert f"{len(names)} case(s) written" in readme
    for name, reason in skipped.items():
        assert f"`{name}`: {reason}" in readme
    assert "opforge.InferenceSession" in readme and "load_model_tests" in readme
    script = readme.split("```python\n", 1)[1].split("```", 1)[0]
    assert "import conformance_ops  # declares the ops" in script
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(Path(__file__).parent), os.environ.get("PYTHONPATH", "")])}
    run = subprocess.run([sys.executable, "-c", script], cwd=tmp_path / "cases", env=env, capture_output=True,
                         text=True, timeout=300)
    assert run.returncode == 0, run.stdout + run.stderr[-3000:]
    assert sorted(line.split()[1] for line in run.stdout.splitlines() if line.startswith("ok ")) == sorted(names)


NOISY = "opforge.test.conf.noisy"


@opforge.op(f"{NOISY}::NoisyNeg")
def noisy_neg(x: torch.Tensor) -> torch.Tensor:
    """-x, with a kernel that warns, logs and writes to file descriptor 2 like a native library."""
    return -x


@noisy_neg.kernel("cpu")
def _(x: np.ndarray) -> np.ndarray:
    import logging
    import warnings

    warnings.warn("noisy kernel: overflow-ish", RuntimeWarning, stacklevel=1)
    logging.getLogger("noisy.lib").warning("noisy kernel: a library log line")
    os.write(2, b"[W:native] noisy kernel: written to fd 2\n")
    return -x


@noisy_neg.samples
def _(rng):
    yield opforge.Sample(rng.standard_normal((2, 3)).astype(np.float32))


def test_library_noise_is_captured_and_summarised_in_the_report(tmp_path, capfd):
    report = tmp_path / "report.md"
    code = main([noisy_neg], "cpu", None, report)
    out, err = capfd.readouterr()
    assert code == 0, out + err
    assert "noisy kernel" not in err, err  # nothing reaches the terminal's stderr
    table_end = out.index("1 of 1 op(s)")
    assert "library warning(s) and log message(s) while checking" in out[:table_end]
    before_table = out[:out.index("opforge conformance (cpu)")]
    assert "noisy kernel" not in before_table and "torchvision" not in before_table
    text = report.read_text()
    section = text.split("## Library messages while checking", 1)[1]
    for expected in ("RuntimeWarning: noisy kernel: overflow-ish", "log noisy.lib WARNING: noisy kernel: a library log line",
                     "stderr: [W:native] noisy kernel: written to fd 2"):
        assert expected in section, section
