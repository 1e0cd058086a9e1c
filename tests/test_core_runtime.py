"""The seed example end to end, and the ONNX Runtime bridge's promises."""

from __future__ import annotations

import gc
import threading
from collections.abc import Sequence

import ml_dtypes
import numpy as np
import onnx
import onnxruntime
import pytest
import torch
from onnx import TensorProto, helper
from onnx.reference import ReferenceEvaluator
from onnx_models import one_node_model

import opforge

DOMAIN = "opforge.test.core"


@opforge.op(f"{DOMAIN}::ScaledSwish", version=1, dtypes={"x": ["float32", "float64", "float16", "bfloat16"]})
def scaled_swish(x: torch.Tensor, beta: float = 1.0) -> torch.Tensor:
    """x * sigmoid(beta * x)"""
    return x * torch.sigmoid(beta * x)


@scaled_swish.kernel("cpu")
def _(x, *, beta):
    return x / (1 + np.exp(-beta * x))


@scaled_swish.infer
def _(x, *, beta):
    return opforge.TensorSpec(x.shape, x.dtype)


class SimpleNet(torch.nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.fc = torch.nn.Linear(10, 2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return scaled_swish(self.fc(x), beta=1.702)


@opforge.op(f"{DOMAIN}::Echo")
def echo(x: torch.Tensor, value: float = 0.0) -> torch.Tensor:
    """Returns x filled with ``value``: shows exactly which float arrived."""
    return torch.full_like(x, value)


@echo.kernel("cpu")
def _(x, *, value):
    return np.full(x.shape, value, dtype=x.dtype)


@opforge.op(f"{DOMAIN}::AddAll")
def add_all(x: torch.Tensor, bias: torch.Tensor | None, rest: Sequence[torch.Tensor]) -> torch.Tensor:
    out = x.clone()
    if bias is not None:
        out = out + bias
    for r in rest:
        out = out + r
    return out


@add_all.kernel("cpu")
def _(x, bias, rest):
    out = x.copy()
    if bias is not None:
        out = out + bias
    for r in rest:
        out = out + r
    return out


@opforge.op(f"{DOMAIN}::TopIndex", outputs=["values", "index"], dtypes={"index": ["int64"]})
def top_index(x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    values, index = torch.max(x, dim=-1)
    return values, index


@top_index.infer
def _(x):
    return opforge.TensorSpec(x.shape[:-1], x.dtype), opforge.TensorSpec(x.shape[:-1], "int64")


@opforge.op(f"{DOMAIN}::Fragile")
def fragile(x: torch.Tensor, limit: float = 10.0) -> torch.Tensor:
    return x


@fragile.kernel("cpu")
def _(x, *, limit):
    if np.abs(x).max(initial=0) > limit:
        raise ValueError(f"Fragile: |x| exceeds {limit}")
    return x * 1


def one_node(op_type: str, inputs: list[tuple[str, int, list]], outputs: list[tuple[str, int]], **attrs):
    return one_node_model(DOMAIN, op_type, inputs, [(n, t, None) for n, t in outputs], **attrs)


@pytest.mark.parametrize("dynamo", [True, False], ids=["dynamo", "torchscript"])
def test_seed_example(tmp_path, dynamo):
    torch.manual_seed(0)
    model = SimpleNet().eval()
    path = tmp_path / "model.onnx"
    proto = opforge.export(model, (torch.randn(1, 10),), path, dynamic_shapes=({0: torch.export.Dim("batch")},),
                           dynamo=dynamo)
    nodes = [n for n in proto.graph.node if n.domain == DOMAIN]
    assert [(n.op_type, n.attribute[0].name, n.attribute[0].f) for n in nodes] == [
        ("ScaledSwish", "beta", pytest.approx(1.702))]
    assert any(o.domain == DOMAIN and o.version == 1 for o in proto.opset_import)
    onnx.checker.check_model(onnx.load(path), full_check=True, check_custom_domain=True)
    # the output's shape comes from @infer through ONNX shape inference, batch dim symbolic
    out_dims = proto.graph.output[0].type.tensor_type.shape.dim
    assert out_dims[1].dim_value == 2 and not out_dims[0].HasField("dim_value")
    session = opforge.InferenceSession(str(path))
    for batch in (7, 1, 33):
        x = np.random.default_rng(batch).standard_normal((batch, 10)).astype(np.float32)
        (got,) = session.run(None, {session.get_inputs()[0].name: x})
        opforge.assert_close(model(torch.from_numpy(x)).detach().numpy(), got, f"batch {batch}")


def test_checker_rejects_bad_custom_nodes():
    model = one_node("ScaledSwish", [("x", TensorProto.INT64, [3])], [("y", TensorProto.INT64)])
    model.graph.output[0].type.tensor_type.shape.dim.add().dim_value = 3
    with pytest.raises((onnx.checker.ValidationError, onnx.shape_inference.InferenceError), match="T_x.*int64"):
        onnx.checker.check_model(model, full_check=True, check_custom_domain=True)
    model = one_node("ScaledSwish", [("x", TensorProto.FLOAT, [3])], [("y", TensorProto.FLOAT)], gamma=1.0)
    model.graph.output[0].type.tensor_type.shape.dim.add().dim_value = 3
    with pytest.raises((onnx.checker.ValidationError, onnx.shape_inference.InferenceError), match="gamma"):
        onnx.checker.check_model(model, full_check=True, check_custom_domain=True)


def test_shape_inference_from_infer():
    model = one_node("TopIndex", [("x", TensorProto.FLOAT16, ["batch", "n", 5])],
                     [("v", TensorProto.UNDEFINED), ("i", TensorProto.UNDEFINED)])
    del model.graph.output[:]
    model.graph.output.extend([helper.make_value_info("v", onnx.TypeProto()), helper.make_value_info("i", onnx.TypeProto())])
    inferred = onnx.shape_inference.infer_shapes(model, strict_mode=True)
    types = {v.name: v.type.tensor_type for v in inferred.graph.output}
    assert types["v"].elem_type == TensorProto.FLOAT16 and types["i"].elem_type == TensorProto.INT64
    assert [d.dim_param for d in types["v"].shape.dim] == ["batch", "n"]


def test_float_attribute_arrives_exactly():
    value = 0.123456789012345
    model = one_node("Echo", [("x", TensorProto.DOUBLE, [2])], [("y", TensorProto.DOUBLE)], value=value)
    # an ONNX float attribute is float32 on disk; the bridge must not round it further (stock keeps 6 digits)
    stored = onnx.helper.get_attribute_value(model.graph.node[0].attribute[0])
    (got,) = opforge.InferenceSession(model).run(None, {"x": np.zeros(2)})
    assert got[0] == stored
    # all of float32's digits: the stock path would deliver 0.123457
    assert abs(got[0] - value) < 1e-8 and abs(got[0] - 0.123457) > 1e-7
    # and through the dynamo export, where the value starts as a Python float
    assert stored == float(np.float32(value))


def test_optional_and_variadic_inputs():
    rng = np.random.default_rng(0)
    a, b, c, d = (rng.standard_normal(3).astype(np.float32) for _ in range(4))
    cases = [(["a", "b", "c", "d"], a + b + c + d), (["a", "", "c"], a + c), (["a", "b"], a + b), (["a", ""], a),
             (["a", "", "c", "d", "c"], a + c + d + c)]
    for names, expected in cases:
        present = [n for n in names if n]
        node = helper.make_node("AddAll", names, ["y"], domain=DOMAIN)
        graph = helper.make_graph([node], "g", [helper.make_tensor_value_info(n, TensorProto.FLOAT, [3])
                                                for n in dict.fromkeys(present)],
                                  [helper.make_tensor_value_info("y", TensorProto.FLOAT, None)])
        model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 18), helper.make_opsetid(DOMAIN, 1)])
        feeds = {"a": a, "b": b, "c": c, "d": d}
        (got,) = opforge.InferenceSession(model).run(None, {n: feeds[n] for n in dict.fromkeys(present)})
        opforge.assert_close(expected, got, f"AddAll{names}")


def test_optional_and_variadic_through_export():
    class Net(torch.nn.Module):
        def forward(self, x, y):
            return add_all(x, None, [y, y]) + add_all(x, y, [])

    x, y = torch.randn(4, 3), torch.randn(4, 3)
    proto = opforge.export(Net(), (x, y), dynamic_shapes=({0: "n"}, {0: "n"}))
    ops = [n for n in proto.graph.node if n.op_type == "AddAll"]
    assert sorted(list(n.input) for n in ops) == [["x", "", "y", "y"], ["x", "y"]]
    session = opforge.InferenceSession(proto)
    x2, y2 = np.ones((6, 3), np.float32), np.full((6, 3), 2.0, np.float32)
    opforge.assert_close(Net()(torch.from_numpy(x2), torch.from_numpy(y2)).numpy(),
                         session.run(None, {"x": x2, "y": y2})[0], "AddAll export")


@pytest.mark.parametrize("dtype", ["float16", "bfloat16", "float64"])
def test_16_bit_floats_and_doubles(dtype):
    np_dtype = opforge.types.numpy_dtype(dtype)
    onnx_type = opforge.types.onnx_dtype(dtype)
    model = one_node("ScaledSwish", [("x", onnx_type, [2, 3])], [("y", onnx_type)], beta=0.5)
    if dtype == "bfloat16":
        # ONNX Runtime's Python API cannot feed or return bfloat16 arrays: cast inside the graph
        node = model.graph.node[0]
        node.input[0], node.output[0] = "x16", "y16"
        model.graph.node.insert(0, helper.make_node("Cast", ["x"], ["x16"], to=onnx_type))
        model.graph.node.append(helper.make_node("Cast", ["y16"], ["y"], to=TensorProto.FLOAT))
        model.graph.input[0].type.tensor_type.elem_type = TensorProto.FLOAT
        model.graph.output[0].type.tensor_type.elem_type = TensorProto.FLOAT
    x = np.linspace(-3, 3, 6).reshape(2, 3).astype(np_dtype)
    seen = {}
    original = scaled_swish.kernels["cpu"]

    def spy(x, *, beta):
        seen["dtype"] = x.dtype
        return original(x, beta=beta)

    scaled_swish.kernels["cpu"] = spy
    try:
        feed = x.astype(np.float32) if dtype == "bfloat16" else x
        (got,) = opforge.InferenceSession(model).run(None, {"x": feed})
    finally:
        scaled_swish.kernels["cpu"] = original
    assert seen["dtype"] == np_dtype  # the kernel sees its own dtype
    expected = original(x, beta=0.5).astype(np_dtype)
    if dtype == "bfloat16":
        np.testing.assert_array_equal(got, expected.astype(np.float32))  # bf16 -> f32 is exact
    else:
        assert got.dtype == np_dtype
        opforge.assert_close(expected, got, dtype)


def test_two_outputs_of_different_dtypes():
    model = one_node("TopIndex", [("x", TensorProto.FLOAT, ["n", 4])], [("v", TensorProto.FLOAT), ("i", TensorProto.INT64)])
    x = np.array([[1, 5, 2, 0], [9, 1, 1, 3], [0, 0, 7, 1]], np.float32)
    values, index = opforge.InferenceSession(model).run(None, {"x": x})
    assert index.dtype == np.int64 and values.dtype == np.float32
    np.testing.assert_array_equal(index, [1, 0, 2])
    np.testing.assert_array_equal(values, [5, 9, 7])


def test_zero_d_and_empty_tensors():
    for shape in ([], [0], [3, 0, 2]):
        model = one_node("ScaledSwish", [("x", TensorProto.FLOAT, shape)], [("y", TensorProto.FLOAT)])
        x = np.full(shape, 0.5, np.float32)
        (got,) = opforge.InferenceSession(model).run(None, {"x": x})
        assert got.shape == tuple(shape)
        opforge.assert_close(scaled_swish(torch.from_numpy(np.asarray(x))).numpy(), got, f"shape {shape}")


def test_kernel_exception_reaches_caller_and_session_survives():
    model = one_node("Fragile", [("x", TensorProto.FLOAT, [3])], [("y", TensorProto.FLOAT)], limit=2.0)
    relu = helper.make_node("Relu", ["y"], ["z"])  # a node after the failing one must not run on garbage
    model.graph.node.append(relu)
    model.graph.output[0].name = "z"
    session = opforge.InferenceSession(model)
    for _ in range(3):
        with pytest.raises(ValueError, match="exceeds 2.0") as info:
            session.run(None, {"x": np.array([0, 5, 1], np.float32)})
        frames = [f.name for f in info.traceback]
        assert "_" in frames  # the kernel's own frame is in the traceback
        assert "opforge.test.core::Fragile" in "".join(getattr(info.value, "__notes__", []))
        (ok,) = session.run(None, {"x": np.array([-1, 1, 0.5], np.float32)})
        np.testing.assert_array_equal(ok, [0, 1, 0.5])
    # with the caller's own RunOptions the flag is reset for the next run
    options = onnxruntime.RunOptions()
    with pytest.raises(ValueError):
        session.run(None, {"x": np.array([9, 9, 9], np.float32)}, options)
    (ok,) = session.run(None, {"x": np.array([1, 1, 1], np.float32)}, options)
    np.testing.assert_array_equal(ok, [1, 1, 1])
    # the OrtValue entry point is guarded the same way
    bad = onnxruntime.OrtValue.ortvalue_from_numpy(np.array([7, 0, 0], np.float32))
    with pytest.raises(ValueError, match="exceeds 2.0"):
        session.run_with_ort_values(None, {"x": bad})
    good = onnxruntime.OrtValue.ortvalue_from_numpy(np.array([1, 0, 1], np.float32))
    np.testing.assert_array_equal(session.run_with_ort_values(None, {"x": good})[0].numpy(), [1, 0, 1])


def test_kernel_returning_wrong_dtype_or_count_is_a_clear_error():
    @opforge.op(f"{DOMAIN}::BadKernel")
    def bad(x: torch.Tensor) -> torch.Tensor:
        return x

    @bad.kernel("cpu")
    def _(x):
        return np.array(["a"] * x.size)

    model = one_node("BadKernel", [("x", TensorProto.FLOAT, [2])], [("y", TensorProto.FLOAT)])
    with pytest.raises(TypeError, match="output 0 .* declares float32"):
        opforge.InferenceSession(model).run(None, {"x": np.zeros(2, np.float32)})

    @bad.kernel("cpu")
    def _(x):
        return x, x

    with pytest.raises(ValueError, match="returned 2 output"):
        opforge.InferenceSession(model).run(None, {"x": np.zeros(2, np.float32)})


def test_threads_share_one_session():
    model = one_node("ScaledSwish", [("x", TensorProto.FLOAT, ["n"])], [("y", TensorProto.FLOAT)], beta=2.0)
    session = opforge.InferenceSession(model)
    errors: list[str] = []

    def worker(seed: int) -> None:
        rng = np.random.default_rng(seed)
        for i in range(500):
            x = rng.standard_normal(1 + (i % 17)).astype(np.float32)
            (got,) = session.run(None, {"x": x})
            expected = x / (1 + np.exp(-2.0 * x))
            if got.shape != x.shape or not np.allclose(got, expected, rtol=1e-4, atol=1e-5):
                errors.append(f"thread {seed} run {i}")

    threads = [threading.Thread(target=worker, args=(seed,)) for seed in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []


def test_sessions_before_and_after_new_ops():
    x = np.linspace(-1, 1, 5).astype(np.float32)
    before = opforge.InferenceSession(one_node("ScaledSwish", [("x", TensorProto.FLOAT, [5])], [("y", TensorProto.FLOAT)]))
    created = []
    for k in range(3):  # new ops (and new bridge variants) defined while `before` is alive
        @opforge.op(f"{DOMAIN}::Later{k}")
        def later(x: torch.Tensor, k: float = float(k)) -> torch.Tensor:
            return x + k

        model = one_node(f"Later{k}", [("x", TensorProto.FLOAT, [5])], [("y", TensorProto.FLOAT)])
        created.append((k, opforge.InferenceSession(model)))
        gc.collect()
        opforge.assert_close(scaled_swish(torch.from_numpy(x)).numpy(), before.run(None, {"x": x})[0], "before")
    for k, session in created:
        opforge.assert_close(x + k, session.run(None, {"x": x})[0], f"after {k}")


def test_torch_reference_is_the_kernel_when_none_is_given():
    model = one_node("TopIndex", [("x", TensorProto.FLOAT, [2, 3])], [("v", TensorProto.FLOAT), ("i", TensorProto.INT64)])
    assert "cpu" not in top_index.kernels
    values, index = opforge.InferenceSession(model).run(None, {"x": np.array([[1, 3, 2], [4, 0, 0]], np.float32)})
    np.testing.assert_array_equal(values, [3, 4])
    np.testing.assert_array_equal(index, [1, 0])


def test_missing_op_fails_at_load_naming_it():
    node = helper.make_node("NoSuchOp", ["x"], ["y"], domain="opforge.test.unknown")
    graph = helper.make_graph([node], "g", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, None)])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 18),
                                                    helper.make_opsetid("opforge.test.unknown", 1)])
    with pytest.raises(opforge.MissingKernelError, match="opforge.test.unknown::NoSuchOp.*load_ops"):
        opforge.InferenceSession(model)


def test_reference_evaluator_runs_opforge_ops():
    model = one_node("AddAll", [("a", TensorProto.FLOAT, [2]), ("b", TensorProto.FLOAT, [2])],
                     [("y", TensorProto.FLOAT)])
    model.graph.node[0].input[:] = ["a", "", "b", "b"]
    evaluator = ReferenceEvaluator(model, new_ops=opforge.reference_ops())
    (got,) = evaluator.run(None, {"a": np.ones(2, np.float32), "b": np.full(2, 3, np.float32)})
    np.testing.assert_array_equal(got, [7, 7])


def test_bfloat16_dtype_roundtrip_helpers():
    assert opforge.types.dtype_name(ml_dtypes.bfloat16) == "bfloat16"
    assert opforge.types.dtype_name(torch.bfloat16) == "bfloat16"
    assert opforge.types.dtype_name(TensorProto.DOUBLE) == "float64"
    with pytest.raises(TypeError, match="unsupported dtype"):
        opforge.types.dtype_name("float8")


def test_kernel_output_shape_that_contradicts_infer_is_a_clear_error():
    @opforge.op(f"{DOMAIN}::WrongShape")
    def wrong_shape(x: torch.Tensor) -> torch.Tensor:
        return x * 2

    @wrong_shape.infer
    def _(x):
        return opforge.TensorSpec(x.shape, x.dtype)

    @wrong_shape.kernel("cpu")
    def _(x):
        return (x * 2).reshape(-1)  # flattens: rank 1 where @infer promised rank 2

    model = one_node("WrongShape", [("x", TensorProto.FLOAT, ["n", 3])], [("y", TensorProto.FLOAT)])
    session = opforge.InferenceSession(model)
    with pytest.raises(ValueError, match=r"output 0 \('output'\) of the kernel has shape \(6,\), but the model "
                                         r"expects \('\?', 3\)"):
        session.run(None, {"x": np.ones((2, 3), np.float32)})


def test_bfloat16_inputs_and_outputs_are_ml_dtypes_arrays():
    """onnxruntime's Python API refuses bfloat16 tensors; opforge.InferenceSession.run takes and returns them
    (0-d and empty ones too) as ml_dtypes.bfloat16 arrays, bit for bit."""
    bf16 = ml_dtypes.bfloat16
    nodes = [helper.make_node("Cast", ["x"], ["y"], to=TensorProto.BFLOAT16),
             helper.make_node("Cast", ["b"], ["c"], to=TensorProto.FLOAT)]
    graph = helper.make_graph(nodes, "casts", [helper.make_tensor_value_info("x", TensorProto.FLOAT, None),
                                               helper.make_tensor_value_info("b", TensorProto.BFLOAT16, None)],
                              [helper.make_tensor_value_info("y", TensorProto.BFLOAT16, None),
                               helper.make_tensor_value_info("c", TensorProto.FLOAT, None)])
    session = opforge.InferenceSession(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 18)]))
    for x, b in [(np.array([[1.5, 3.14159, -0.0]], np.float32), np.array([2.5, -1, np.inf], bf16)),
                 (np.array(7.0, np.float32), np.array(0.1, bf16)),
                 (np.zeros((0, 2), np.float32), np.zeros((3, 0), bf16))]:
        y, c = session.run(None, {"x": x, "b": b})
        assert y.dtype == bf16 and y.shape == x.shape and c.dtype == np.float32 and c.shape == b.shape
        np.testing.assert_array_equal(y.view(np.uint16), x.astype(bf16).view(np.uint16))
        np.testing.assert_array_equal(c, b.astype(np.float32))
    (only_c,) = session.run(["c"], {"x": np.ones(1, np.float32), "b": np.ones(2, bf16)})
    np.testing.assert_array_equal(only_c, np.ones(2, np.float32))


def test_bfloat16_output_of_an_exported_model():
    class ToBFloat16(torch.nn.Module):
        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return (x * 3).bfloat16()

    x = torch.tensor([0.1, 2.5, -7.25])
    session = opforge.InferenceSession(opforge.export(ToBFloat16(), (x,)))
    (y,) = session.run(None, {"x": x.numpy()})
    np.testing.assert_array_equal(y.view(np.uint16), ToBFloat16()(x).view(torch.int16).numpy().view(np.uint16))
