"""Authoring without friction (issue 12): declarations follow torch, and nothing exports silently wrong."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
import torch

import opforge

DOMAIN = "opforge.test.authoring"


def _run(proto, args) -> list[np.ndarray]:
    names = [i.name for i in proto.graph.input]
    return opforge.InferenceSession(proto).run(None, {n: a.numpy() for n, a in zip(names, args)})


def _export(model, args, **kwargs):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", opforge.ExportSummaryWarning)
        return opforge.export(model, args, **kwargs)


# -- a tensor input takes every dtype unless dtypes= narrows it ------------------------------------

@opforge.op(f"{DOMAIN}::TakeRows")
def take_rows(x: torch.Tensor, index: torch.Tensor) -> torch.Tensor:
    """Rows of x at int64 positions: the index input has no dtypes=."""
    return x[index]


class TakeRowsModel(torch.nn.Module):
    def forward(self, x: torch.Tensor, index: torch.Tensor) -> torch.Tensor:
        return take_rows(x, index) * 2


def test_an_input_without_dtypes_takes_every_dtype():
    assert "int64" in take_rows.inputs[1].dtypes and "bool" in take_rows.inputs[1].dtypes
    assert "float32" in take_rows.inputs[0].dtypes


@pytest.mark.parametrize("dynamo", [True, False], ids=["dynamo", "torchscript"])
def test_int64_index_input_without_dtypes_exports_and_runs(dynamo):
    x, index = torch.randn(5, 3), torch.tensor([4, 0, 2, 2])
    proto = _export(TakeRowsModel(), (x, index), dynamo=dynamo)
    (got,) = _run(proto, (x, index))
    np.testing.assert_allclose(got, (x[index] * 2).numpy(), rtol=1e-4, atol=1e-5)


def test_dtypes_still_narrows_with_a_clear_error():
    @opforge.op(f"{DOMAIN}::FloatOnly", dtypes={"x": ["float32"]})
    def float_only(x: torch.Tensor) -> torch.Tensor:
        return x + 1

    import onnx

    node = onnx.helper.make_node("FloatOnly", ["x"], ["y"], domain=DOMAIN)
    graph = onnx.helper.make_graph([node], "g", [onnx.helper.make_tensor_value_info("x", onnx.TensorProto.INT64, [2])],
                                   [onnx.helper.make_empty_tensor_value_info("y")])
    model = onnx.helper.make_model(graph, opset_imports=[onnx.helper.make_opsetid("", 18),
                                                         onnx.helper.make_opsetid(DOMAIN, 1)])
    with pytest.raises(Exception, match="int64"):
        onnx.shape_inference.infer_shapes(model, check_type=True, strict_mode=True)


# -- a variadic input may stand anywhere in the Python signature -----------------------------------

@opforge.op(f"{DOMAIN}::WeightedSum")
def weighted_sum(xs: list[torch.Tensor], bias: torch.Tensor | None = None, scale: float = 1.0) -> torch.Tensor:
    """Sum of a list of tensors, times scale, plus an optional bias."""
    out = torch.stack(xs).sum(0) * scale
    return out if bias is None else out + bias


@weighted_sum.kernel("cpu")
def _(xs, bias, *, scale):
    out = np.sum(np.stack(xs), axis=0) * np.float32(scale)
    return (out if bias is None else out + bias).astype(xs[0].dtype)


@weighted_sum.samples
def _(rng):
    xs = [rng.standard_normal((3, 4)).astype(np.float32) for _ in range(3)]
    yield opforge.Sample(xs, scale=0.5).named("no_bias")
    yield opforge.Sample(xs[:2], rng.standard_normal((3, 4)).astype(np.float32), scale=2.0).named("bias")


class WeightedSumModel(torch.nn.Module):
    def __init__(self, n: int, with_bias: bool) -> None:
        super().__init__()
        self.n, self.with_bias = n, with_bias

    def forward(self, *tensors: torch.Tensor) -> torch.Tensor:
        bias = tensors[self.n] if self.with_bias else None
        return weighted_sum(list(tensors[: self.n]), bias, scale=0.5)


def test_list_then_optional_signature_is_declared_in_onnx_order():
    assert [i.name for i in weighted_sum.inputs] == ["bias", "xs"]  # ONNX: the variadic input last
    assert weighted_sum.python_input_names == ["xs", "bias"]
    assert weighted_sum.python_inputs(["B", ["X0", "X1"]]) == [["X0", "X1"], "B"]


@pytest.mark.parametrize("dynamo", [True, False], ids=["dynamo", "torchscript"])
@pytest.mark.parametrize("n,with_bias", [(2, False), (2, True), (3, False), (3, True)])
def test_list_then_optional_signature_exports_and_runs(n, with_bias, dynamo):
    args = tuple(torch.randn(2, 3) for _ in range(n + with_bias))
    model = WeightedSumModel(n, with_bias)
    proto = _export(model, args, dynamo=dynamo)
    (got,) = _run(proto, args)
    np.testing.assert_allclose(got, model(*args).numpy(), rtol=1e-4, atol=1e-5)


def test_list_then_optional_signature_passes_conformance():
    report = opforge.conformance.check(weighted_sum)
    assert report.ok, "\n".join(f"{r.check} {r.sample}: {r.message}" for r in report.failures)
