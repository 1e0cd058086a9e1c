"""Planted bugs: the conformance suite must fail each one, naming the check and the sample."""

from __future__ import annotations

import dataclasses
import itertools

import numpy as np
import onnx
import pytest
import torch
from onnxscript import opset18 as op18

import opforge
from opforge.conformance import check

DOMAIN = "opforge.test.conf.planted"
_names = itertools.count()
FAST = ["schema", "inference", "torch", "numerics.kernel", "numerics.onnxruntime", "numerics.reference_evaluator",
        "numerics.portable"]


def swish_samples(rng: np.random.Generator):
    yield opforge.Sample(rng.standard_normal((4, 8)).astype(np.float32), beta=0.5).named("beta_half")
    yield opforge.Sample(rng.standard_normal((3, 5)).astype(np.float32)).named("default_beta")


def make_swish(kernel=None, infer=None, body=None) -> opforge.OpDef:
    """A swish op (reference x * sigmoid(beta * x)) with the given parts; a fresh name each time."""

    @opforge.op(f"{DOMAIN}::Swish{next(_names)}")
    def swish(x: torch.Tensor, beta: float = 1.0) -> torch.Tensor:
        return x * torch.sigmoid(beta * x)

    swish.kernel("cpu", kernel or (lambda x, *, beta: (x / (1 + np.exp(-beta * x))).astype(x.dtype)))
    swish.infer(infer or (lambda x, *, beta: opforge.TensorSpec(x.shape, x.dtype)))
    swish.samples(swish_samples)
    if body is not None:
        swish.onnx_function(body)
    return swish


def failed(report: opforge.conformance.Report) -> set[tuple[str, str]]:
    return {(r.check, r.sample) for r in report.failures}


def test_correct_swish_passes_every_applicable_check():
    def body(x, beta: float = 1.0):
        return op18.Mul(x, op18.Sigmoid(op18.Mul(op18.CastLike(beta, x), x)))

    report = check(make_swish(body=body), checks=FAST)
    assert report.ok, str(report)
    assert {r.status for r in report.results} <= {"pass", "n/a"}
    assert {r.check for r in report.results if r.status == "pass"} == set(FAST)


def test_wrong_kernel_is_caught_with_its_error():
    swish = make_swish(kernel=lambda x, *, beta: (x / (1 + np.exp(-beta * x)) + 0.01).astype(x.dtype))
    report = check(swish, checks=FAST)
    assert not report.ok
    for runtime in ("numerics.kernel", "numerics.onnxruntime", "numerics.reference_evaluator"):
        for sample in ("beta_half", "default_beta", "beta_half-float64"):
            assert (runtime, sample) in failed(report), str(report)
    result = report.get("numerics.kernel", "beta_half")
    assert result.max_abs == pytest.approx(0.01, rel=1e-3)
    assert "[numerics.kernel] sample beta_half" in result.message()
    assert "[numerics.kernel] sample beta_half" in str(report)
    assert "differs from the torch reference" in result.reason
    # what the kernel does not touch still passes
    assert report.get("torch", "beta_half").status == "pass"
    assert report.get("schema", "beta_half").status == "pass"


def test_wrong_infer_is_caught_by_the_inference_check():
    swish = make_swish(infer=lambda x, *, beta: opforge.TensorSpec([*x.shape[:-1], x.shape[-1] + 1], x.dtype))
    report = check(swish, checks=["inference", "numerics.kernel"])
    assert ("inference", "beta_half") in failed(report)
    message = report.get("inference", "beta_half").message()
    assert "[inference] sample beta_half" in message
    assert "@infer says shape [4, 9]" in message and "float32[4, 8]" in message
    assert "ONNX shape inference says shape [4, 9]" in message
    assert report.get("numerics.kernel", "beta_half").status == "pass"


def test_wrong_attribute_default_is_caught():
    swish = make_swish()
    # plant: the declaration's default (what ONNX and the runtimes use) no longer matches the reference's 1.0
    swish.attributes = [dataclasses.replace(swish.attributes[0], default=0.25)]
    opforge.schemas.register(swish)
    report = check(swish, checks=["schema", "numerics.onnxruntime", "numerics.reference_evaluator"])
    schema = report.get("schema", "default_beta")
    assert schema.status == "fail"
    assert "[schema] sample default_beta" in schema.message()
    assert "'beta' defaults differ" in schema.reason and "the ONNX schema 0.25" in schema.reason
    # the sample that leaves beta unset runs with the wrong default in both runtimes...
    assert ("numerics.onnxruntime", "default_beta") in failed(report)
    assert ("numerics.reference_evaluator", "default_beta") in failed(report)
    # ...while the sample that sets beta explicitly is right there
    assert report.get("numerics.onnxruntime", "beta_half").status == "pass"


def test_wrong_default_in_the_onnx_schema_alone_is_caught():
    swish = make_swish()
    tampered = dataclasses.replace(swish.attributes[0], default=2.0)
    real = swish.attributes
    swish.attributes = [tampered]
    try:
        opforge.schemas.register(swish)  # only the ONNX schema gets the wrong default
    finally:
        swish.attributes = real
    assert onnx.defs.get_schema(swish.op_type, 1, DOMAIN).attributes["beta"].default_value.f == 2.0
    report = check(swish, checks=["schema"])
    assert report.get("schema", "beta_half").status == "fail"
    assert "the ONNX schema 2.0" in report.get("schema", "beta_half").reason


def test_kernel_that_ignores_an_attribute_is_caught_on_the_samples_that_set_it():
    swish = make_swish(kernel=lambda x, *, beta: (x / (1 + np.exp(-x))).astype(x.dtype))  # beta ignored
    report = check(swish, checks=["numerics.kernel", "numerics.onnxruntime"])
    bad = failed(report)
    assert ("numerics.kernel", "beta_half") in bad and ("numerics.onnxruntime", "beta_half") in bad
    assert ("numerics.kernel", "beta_half-float16") in bad
    # with the default beta = 1 the bug is invisible, and the suite says so honestly
    assert report.get("numerics.kernel", "default_beta").status == "pass"
    assert "[numerics.onnxruntime] sample beta_half" in str(report)


def test_body_that_differs_from_the_kernel_is_caught():
    def body(x, beta: float = 1.0):  # forgets beta
        return op18.Mul(x, op18.Sigmoid(x))

    swish = make_swish(body=body)
    report = check(swish, checks=["numerics.kernel", "numerics.portable"])
    assert ("numerics.portable", "beta_half") in failed(report)
    result = report.get("numerics.portable", "beta_half")
    assert "[numerics.portable] sample beta_half" in result.message()
    assert "portable body" in result.reason and result.max_abs > 1e-3
    assert report.get("numerics.kernel", "beta_half").status == "pass"
    assert report.get("numerics.portable", "default_beta").status == "pass"


def test_xfail_and_skip_samples_are_honoured():
    @opforge.op(f"{DOMAIN}::Twice{next(_names)}")
    def twice(x: torch.Tensor) -> torch.Tensor:
        return 2 * x

    twice.kernel("cpu", lambda x: np.where(x > 10, x, 2 * x).astype(x.dtype))  # wrong above 10

    @twice.samples
    def _(rng):
        yield opforge.Sample(np.arange(4, dtype=np.float32)).named("small")
        yield opforge.Sample(np.full(3, 20, np.float32)).named("big").xfail(reason="kernel clips above 10")
        yield opforge.Sample(np.ones(2, np.float32)).named("skipped").skip(reason="not today")

    report = check(twice, checks=["numerics.kernel"])
    assert report.ok
    assert report.get("numerics.kernel", "small").status == "pass"
    big = report.get("numerics.kernel", "big")
    assert big.status == "xfail" and "kernel clips above 10" in big.reason
    assert report.get("numerics.kernel", "skipped").status == "skip"
    assert report.get("numerics.kernel", "skipped").reason == "not today"


def test_kernel_exception_and_missing_samples_fail_by_name():
    @opforge.op(f"{DOMAIN}::Boom{next(_names)}")
    def boom(x: torch.Tensor) -> torch.Tensor:
        return x + 1

    def kernel(x):
        raise ValueError("kernel exploded")

    boom.kernel("cpu", kernel)
    report = check(boom)
    assert [(r.check, r.status) for r in report.results] == [("samples", "fail")]
    assert "no samples" in report.failures[0].reason

    boom.samples(lambda rng: [opforge.Sample(np.ones((2, 3), np.float32)).named("ones")])
    report = check(boom, checks=["numerics.kernel", "numerics.onnxruntime"])
    assert "ValueError: kernel exploded" in report.get("numerics.onnxruntime", "ones").reason
    assert "ValueError: kernel exploded" in report.get("numerics.kernel", "ones").reason
