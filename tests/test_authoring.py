"""Authoring without friction (issue 12): declarations follow torch, and nothing exports silently wrong."""

from __future__ import annotations

import warnings

import numpy as np
import onnx
import pytest
import torch
from call_module import run_session

import opforge

DOMAIN = "opforge.test.authoring"



def _export(model, args, **kwargs):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", opforge.ExportSummaryWarning)
        return opforge.export(model, args, **kwargs)


# -- a tensor input takes every dtype unless dtypes= narrows it ------------------------------------

@opforge.op(f"{DOMAIN}::TakeRows")
def take_rows(x: torch.Tensor, index: torch.Tensor) -> torch.Tensor:
    """Rows of x at int64 positions: the index input has no dtypes=."""
    return x[index]


@take_rows.samples
def _(rng):
    yield opforge.Sample(rng.standard_normal((5, 3)).astype(np.float32), np.array([4, 0, 2, 2], dtype=np.int64))


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
    (got,) = run_session(proto, (x, index))
    np.testing.assert_allclose(got, (x[index] * 2).numpy(), rtol=1e-4, atol=1e-5)


def test_conformance_follows_an_int64_input_and_derives_float_variants_from_float_inputs_only():
    report = opforge.conformance.check(take_rows)
    assert report.ok, "\n".join(f"{r.check} {r.sample}: {r.message}" for r in report.failures)
    from opforge.conformance.cases import op_cases

    for case in op_cases(take_rows):
        assert case.inputs[1].dtype == np.int64  # the index is never cast to a float dtype
    assert {case.inputs[0].dtype.name for case in op_cases(take_rows)} >= {"float32", "float64", "float16"}


@opforge.op(f"{DOMAIN}::TakeRowsInt32", dtypes={"index": ["int32"]})
def take_rows_int32(x: torch.Tensor, index: torch.Tensor) -> torch.Tensor:
    return x[index]


class TakeRowsInt32Model(torch.nn.Module):
    def forward(self, x: torch.Tensor, index: torch.Tensor) -> torch.Tensor:
        return take_rows_int32(x, index)


@pytest.mark.parametrize("dynamo", [True, False], ids=["dynamo", "torchscript"])
def test_dtypes_narrows_and_the_export_error_names_the_op_input_and_fix(dynamo):
    with pytest.raises(opforge.ExportError, match=r"Input 'index' of opforge.test.authoring::TakeRowsInt32 is int64 "
                                                  r"here, but its @opforge.op declares dtypes=\{'index': \['int32'\]\}. "
                                                  r"Fix: add 'int64'"):
        _export(TakeRowsInt32Model(), (torch.randn(4, 3), torch.tensor([1, 2])), dynamo=dynamo)


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


def test_list_then_optional_signature_reaches_kernels_and_infer_in_python_order():
    xs, bias = [torch.randn(2, 3), torch.randn(2, 3)], torch.randn(2, 3)
    expected = weighted_sum(xs, bias, scale=0.5)
    torch.testing.assert_close(weighted_sum.call_kernel(xs, bias, scale=0.5, device="cpu"), expected)
    from onnx.reference import ReferenceEvaluator

    node = onnx.helper.make_node("WeightedSum", ["b", "x0", "x1"], ["y"], domain=DOMAIN, scale=0.5)
    typed = [onnx.helper.make_tensor_value_info(n, onnx.TensorProto.FLOAT, [2, 3]) for n in ("b", "x0", "x1")]
    graph = onnx.helper.make_graph([node], "g", typed, [onnx.helper.make_empty_tensor_value_info("y")])
    model = onnx.helper.make_model(graph, opset_imports=[onnx.helper.make_opsetid("", 18),
                                                         onnx.helper.make_opsetid(DOMAIN, 1)])
    feeds = {"b": bias.numpy(), "x0": xs[0].numpy(), "x1": xs[1].numpy()}
    (got,) = ReferenceEvaluator(model, new_ops=opforge.reference_ops()).run(None, feeds)
    np.testing.assert_allclose(got, expected.numpy(), rtol=1e-5, atol=1e-6)
    (got,) = opforge.InferenceSession(model).run(None, feeds)
    np.testing.assert_allclose(got, expected.numpy(), rtol=1e-5, atol=1e-6)
    from opforge._infer import output_specs

    (spec,) = output_specs(weighted_sum, [opforge.TensorSpec(["n", 3], "float32"),
                                          [opforge.TensorSpec(["n", 3], "float32")] * 3], {"scale": 1.0})
    assert spec.shape == ("n", 3)


@pytest.mark.parametrize("dynamo", [True, False], ids=["dynamo", "torchscript"])
@pytest.mark.parametrize("n,with_bias", [(2, False), (2, True), (3, False), (3, True)])
def test_list_then_optional_signature_exports_and_runs(n, with_bias, dynamo):
    args = tuple(torch.randn(2, 3) for _ in range(n + with_bias))
    model = WeightedSumModel(n, with_bias)
    proto = _export(model, args, dynamo=dynamo)
    (got,) = run_session(proto, args)
    np.testing.assert_allclose(got, model(*args).numpy(), rtol=1e-4, atol=1e-5)


def test_list_then_optional_signature_passes_conformance():
    report = opforge.conformance.check(weighted_sum)
    assert report.ok, "\n".join(f"{r.check} {r.sample}: {r.message}" for r in report.failures)


# -- @infer is optional unless the outputs depend on the data --------------------------------------

@opforge.op(f"{DOMAIN}::Doubled")
def doubled(x: torch.Tensor) -> torch.Tensor:
    """Plain traceable tensor code, no @infer: dim 0 of the output is 2 * dim 0 of x."""
    return torch.cat([x, x.flip(0)]).reshape(-1, 3)


class DoubledModel(torch.nn.Module):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return doubled(x) + 1


@pytest.mark.parametrize("dynamo", [True, False], ids=["dynamo", "torchscript"])
def test_reference_alone_exports_with_a_dynamic_batch_dim(dynamo):
    x = torch.randn(4, 6)
    proto = _export(DoubledModel(), (x,), dynamic_shapes=({0: torch.export.Dim("batch")},), dynamo=dynamo)
    out_dim0 = proto.graph.output[0].type.tensor_type.shape.dim[0]
    assert not out_dim0.HasField("dim_value")  # symbolic, not a baked-in size
    session = opforge.InferenceSession(proto)
    for batch in (1, 9):
        xb = torch.randn(batch, 6)
        (got,) = session.run(None, {proto.graph.input[0].name: xb.numpy()})
        np.testing.assert_allclose(got, DoubledModel()(xb).numpy(), rtol=1e-4, atol=1e-5)


def test_reference_on_fake_tensors_keeps_symbolic_dims():
    from opforge._infer import output_specs

    (spec,) = output_specs(doubled, [opforge.TensorSpec(["batch", 6], "float32")], {})
    assert spec.shape == ("4*batch", 3) and spec.dtype == "float32"


@opforge.op(f"{DOMAIN}::HalveUntilSmall")
def halve_until_small(x: torch.Tensor) -> torch.Tensor:
    while bool((x.abs() > 1).any()):  # data-dependent: the reference cannot run on fake tensors
        x = x / 2
    return x


class HalveModel(torch.nn.Module):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return halve_until_small(x) + 1


def test_data_dependent_reference_asks_for_infer_first():
    from opforge._infer import InferError

    with pytest.raises(InferError) as info:
        _export(HalveModel(), (torch.randn(3, 4) * 5,), dynamic_shapes=({0: torch.export.Dim("batch")},))
    message = str(info.value)
    first_paragraph = message.split("\n")[0]
    assert first_paragraph.startswith("opforge:")
    assert f"{DOMAIN}::HalveUntilSmall" in first_paragraph and "@halve_until_small.infer" in first_paragraph
    assert "test_authoring.py" in first_paragraph and "while bool((x.abs() > 1).any()):" in first_paragraph
    assert "torch.export" not in message.split("(torch's own error")[0]  # no torch text before ours
    assert info.value.__cause__ is not None  # torch's exception is chained, not lost


# -- dynamo=False: TracerWarnings are never hidden -------------------------------------------------

class HalveLoop(torch.nn.Module):
    """The issue's model: a data-dependent while loop, which a TorchScript trace unrolls for one input."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        while x.abs().max() > 0.25:
            x = x / 2
        return x


class StaticReshape(torch.nn.Module):
    """Trace-friendly: int() of a size warns under the tracer but is right for every input of this shape."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        n = int(x.shape[1])
        return x.reshape(-1, n) * 2


def _trace_warnings(record) -> list[warnings.WarningMessage]:
    return [w for w in record if issubclass(w.category, opforge.TraceWarning)]


def test_while_loop_traced_with_dynamo_false_fails_export_and_names_the_line():
    x = torch.tensor([[1.0, -0.5], [0.3, 0.2]])
    with warnings.catch_warnings(record=True) as record:
        warnings.simplefilter("always")
        with pytest.raises(opforge.VerificationError) as info:
            opforge.export(HalveLoop(), (x,), dynamo=False)
    message = str(info.value)
    assert "generated input" in message and "ONNX Runtime vs eager" in message
    assert "test_authoring.py" in message and "while x.abs().max() > 0.25:" in message
    traced = _trace_warnings(record)
    assert len(traced) == 1  # reported once although the loop warned on every iteration
    assert traced[0].filename.endswith("test_authoring.py") and "@opforge.op" in str(traced[0].message)


def test_strict_makes_tracer_warnings_errors():
    with pytest.raises(opforge.TraceError, match=r"(?s)strict=True.*while x.abs\(\).max\(\) > 0.25.*@opforge.op"):
        opforge.export(HalveLoop(), (torch.tensor([[1.0, -0.5]]),), dynamo=False, strict=True)


def test_trace_friendly_code_that_warns_still_exports_and_says_so():
    x = torch.randn(3, 4)
    with warnings.catch_warnings(record=True) as record:
        warnings.simplefilter("always")
        proto = opforge.export(StaticReshape(), (x,), dynamo=False)
    (got,) = run_session(proto, (x,))
    np.testing.assert_allclose(got, StaticReshape()(x).numpy(), rtol=1e-4, atol=1e-5)
    (traced,) = _trace_warnings(record)
    assert "n = int(x.shape[1])" in str(traced.message)


# -- verify: generated inputs, custom nodes against their declared specs ---------------------------

@opforge.op(f"{DOMAIN}::WrongInfer")
def wrong_infer(x: torch.Tensor) -> torch.Tensor:
    return x * 3


@wrong_infer.infer
def _(x):
    return opforge.TensorSpec((x.shape[0] * 2, *x.shape[1:]), x.dtype)  # wrong: dim 0 doubled


@opforge.op(f"{DOMAIN}::Float64Kernel")
def float64_kernel(x: torch.Tensor) -> torch.Tensor:
    return x * 3


@float64_kernel.kernel("cpu")
def _(x):
    return x.astype(np.float64) * 3  # wrong: the op declares float32 outputs for float32 inputs


class CallOp(torch.nn.Module):
    def __init__(self, op) -> None:
        super().__init__()
        self.op = op

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.op(x) + 1


@pytest.mark.parametrize("dynamo", [True, False], ids=["dynamo", "torchscript"])
def test_verify_catches_a_wrong_infer(dynamo):
    with pytest.raises(opforge.VerificationError, match=r"node '[^']+' \(opforge.test.authoring::WrongInfer v1\) output 0 "
                                                        r"\('output'\).*first mismatch at dim 0, 4 != 8"):
        _export(CallOp(wrong_infer), (torch.randn(4, 3),), dynamic_shapes=({0: torch.export.Dim("batch")},),
                dynamo=dynamo)


@pytest.mark.parametrize("dynamo", [True, False], ids=["dynamo", "torchscript"])
def test_verify_catches_a_kernel_returning_the_wrong_dtype(dynamo):
    with pytest.raises(opforge.VerificationError, match=r"Float64Kernel v1\) output 0.*cpu kernel returns dtype "
                                                        r"float64, but the model declares float32"):
        _export(CallOp(float64_kernel), (torch.randn(4, 3),), dynamo=dynamo)


class Masked(torch.nn.Module):
    """Inputs that carry meaning: int64 indices, a bool mask and per-row lengths."""

    def forward(self, x: torch.Tensor, index: torch.Tensor, mask: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        steps = torch.arange(x.shape[1]).unsqueeze(0) < lengths.unsqueeze(1)
        return take_rows(x * steps, index) * mask


@pytest.mark.parametrize("dynamo", [True, False], ids=["dynamo", "torchscript"])
def test_verify_keeps_indices_masks_and_lengths_valid(dynamo):
    x = torch.randn(5, 4)
    index = torch.tensor([4, 0, 3])
    mask = torch.tensor([[True, False, True, True]] * 3)
    lengths = torch.tensor([1, 4, 2, 3, 0])
    batch = torch.export.Dim("batch")
    with warnings.catch_warnings(record=True) as record:
        warnings.simplefilter("always")
        proto = _export(Masked(), (x, index, mask, lengths), dynamo=dynamo,
                        dynamic_shapes=({0: batch}, None, None, {0: batch}))
    assert not [w for w in record if "could not vary" in str(w.message)]
    got = run_session(proto, (x, index, mask, lengths))[0]
    np.testing.assert_allclose(got, Masked()(x, index, mask, lengths).numpy(), rtol=1e-4, atol=1e-5)


class NeedsFourRows(torch.nn.Module):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x.reshape(2, 2, -1).sum(0)


def test_a_model_that_refuses_a_generated_size_is_could_not_vary_not_a_mismatch():
    with warnings.catch_warnings(record=True) as record:
        warnings.simplefilter("always")
        opforge.export(NeedsFourRows(), (torch.randn(4, 3),), dynamo=False, dynamic_axes={"x": {0: "batch"}})
    refused = [str(w.message) for w in record if "could not vary" in str(w.message)]
    assert len(refused) == 1 and "batch=6" in refused[0] and "eager PyTorch refused it" in refused[0]


def test_fake_tensor_output_specs_cover_unknown_and_static_dims():
    from opforge._infer import output_specs

    (spec,) = output_specs(doubled, [opforge.TensorSpec([None, 6], "float32")], {})
    assert spec.shape == (None, 3)  # derived from an unknown dim: unknown, never a stand-in size
    (spec,) = output_specs(doubled, [opforge.TensorSpec([4, 6], "float16")], {})
    assert spec.shape == (16, 3) and spec.dtype == "float16"
    (spec,) = output_specs(take_rows, [opforge.TensorSpec(["n", 3], "float32"), opforge.TensorSpec(["k"], "int64")], {})
    assert spec.shape == ("k", 3)


# -- the layers: a GraphSAGE segment mean and an NMS-style filter with int64 class ids ------

@opforge.op(f"{DOMAIN}::SegmentMean")
def segment_mean(x: torch.Tensor, segment_ids: torch.Tensor, num_segments: int = 4) -> torch.Tensor:
    total = torch.zeros(num_segments, x.shape[1], dtype=x.dtype).index_add(0, segment_ids, x)
    count = torch.zeros(num_segments, dtype=x.dtype).index_add(0, segment_ids, torch.ones_like(x[:, 0]))
    return total / count.clamp(min=1).unsqueeze(1)


@opforge.op(f"{DOMAIN}::KeepAbove")
def keep_above(scores: torch.Tensor, class_ids: torch.Tensor, threshold: float = 0.5) -> torch.Tensor:
    return class_ids[scores > threshold]  # data-dependent length


class GraphLayers(torch.nn.Module):
    def forward(self, x, segment_ids, scores, class_ids):
        return segment_mean(x, segment_ids) * 2, keep_above(scores, class_ids) + 1


@pytest.mark.parametrize("dynamo", [True, False], ids=["dynamo", "torchscript"])
def test_segment_reduce_and_int64_filter_need_no_infer_nor_dtypes(dynamo):
    args = (torch.randn(6, 3), torch.tensor([0, 1, 1, 3, 0, 2]), torch.tensor([0.9, 0.1, 0.7, 0.6, 0.2, 0.8]),
            torch.arange(6) * 10)
    if dynamo:
        n = torch.export.Dim("n")
        kwargs = {"dynamic_shapes": ({0: n}, {0: n}, {0: n}, {0: n})}
    else:
        kwargs = {"dynamic_axes": {name: {0: "n"} for name in ("x", "segment_ids", "scores", "class_ids")}}
    with warnings.catch_warnings(record=True) as record:
        warnings.simplefilter("always")
        proto = _export(GraphLayers(), args, dynamo=dynamo, **kwargs)
    assert not [w for w in record if "could not vary" in str(w.message)]
    session = opforge.InferenceSession(proto)
    for rows in (6, 9):
        gen = torch.Generator().manual_seed(rows)
        inputs = (torch.randn(rows, 3, generator=gen), torch.randint(0, 4, (rows,), generator=gen),
                  torch.rand(rows, generator=gen), torch.arange(rows) * 10)
        got = session.run(None, {i.name: a.numpy() for i, a in zip(proto.graph.input, inputs)})
        for g, e in zip(got, GraphLayers()(*inputs)):
            np.testing.assert_allclose(g, e.numpy(), rtol=1e-4, atol=1e-5)
