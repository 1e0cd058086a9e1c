"""The native runtime (opforge ops as ONNX Runtime custom ops): one test per defect of the old
Python-op bridge (issue 10, numbered as there), plus threads, options reuse, soak and scale."""

from __future__ import annotations

import gc
import statistics
import threading
import time
from collections.abc import Sequence

import numpy as np
import onnx
import onnxruntime
import pytest
import torch
from onnx import TensorProto, helper
from onnx_models import one_node_model

import opforge
from opforge.kernels import native
from opforge.kernels import session as native_session
from opforge.kernels.gpu import DeviceBuffer

DOMAIN = "opforge.test.native"
SEEN: dict[str, object] = {}


@opforge.op(f"{DOMAIN}::Scale")
def scale(x: torch.Tensor, alpha: float = 2.0, negate: bool = False, steps: int = 1,
          weights: list[float] = [1.0, 2.0], names: list[str] = ["a"]) -> torch.Tensor:  # noqa: B006
    y = x * alpha
    return -y if negate else y


@scale.kernel("cpu")
def _(x, *, alpha, negate, steps, weights, names):
    SEEN.update(x=x, alpha=alpha, negate=negate, steps=steps, weights=list(weights), names=list(names))
    weights.append(99.0)  # a kernel that edits its list attribute must not change the next call's
    names.append("edited")
    y = x * x.dtype.type(alpha)
    return -y if negate else y


@opforge.op(f"{DOMAIN}::Fail")
def fail(x: torch.Tensor, limit: float = 10.0) -> torch.Tensor:
    return x


@fail.kernel("cpu")
def _(x, *, limit):
    if x.size and np.abs(x).max() > limit:
        raise ValueError(f"Fail: |x| exceeds {limit}")
    return x + 0


@opforge.op(f"{DOMAIN}::Cast", dtypes={"output": ["int32", "float32", "complex64"]})
def cast(x: torch.Tensor, value: float = 0.0, power: int = 1, whole: bool = False) -> torch.Tensor:
    return x


@cast.kernel("cpu")
def _(x, *, value, power, whole):  # int64 or float64: never the declared dtype
    return np.full(x.shape, value, dtype=np.int64 if whole else np.float64) ** power


@opforge.op(f"{DOMAIN}::Double")
def double(x: torch.Tensor) -> torch.Tensor:
    return x * 2


@double.kernel("cpu")
def _(x, *, out):
    SEEN["out"] = out
    if out is None:
        return x * 2
    np.multiply(x, 2, out=out)
    return out


@double.infer
def _(x):
    return opforge.TensorSpec(x.shape, x.dtype)


@opforge.op(f"{DOMAIN}::Sum")
def total(xs: Sequence[torch.Tensor]) -> torch.Tensor:
    out = xs[0].clone()
    for x in xs[1:]:
        out = out + x
    return out


@total.kernel("cpu")
def _(xs):
    return np.sum(xs, axis=0)


def model_of(op_type: str, inputs: list[tuple[str, int, list]], outputs: list[tuple[str, int, list | None]],
             node_inputs: list[str] | None = None, **attrs) -> onnx.ModelProto:
    return one_node_model(DOMAIN, op_type, inputs, outputs, node_inputs, name=f"the_{op_type}", **attrs)


def scale_model(**attrs) -> onnx.ModelProto:
    return model_of("Scale", [("x", TensorProto.FLOAT, ["n"])], [("y", TensorProto.FLOAT, ["n"])], **attrs)


def fail_model() -> onnx.ModelProto:
    return model_of("Fail", [("x", TensorProto.FLOAT, ["n"])], [("y", TensorProto.FLOAT, ["n"])], limit=1.0)


def quiet() -> onnxruntime.SessionOptions:
    options = onnxruntime.SessionOptions()
    options.log_severity_level = 4  # ONNX Runtime logs each kernel failure; the exception says it all
    return options


def rss_bytes() -> int:
    with open("/proc/self/statm") as statm:
        return int(statm.read().split()[1]) * 4096


X = np.array([0.5, -1.0, 0.25], np.float32)


# 1 ---------------------------------------------------------------------------------------------------

def test_1_unsupported_output_type_fails_that_session_only():
    published = len(native._NAMES)
    model = model_of("Cast", [("x", TensorProto.FLOAT, [3])], [("y", TensorProto.COMPLEX64, [3])])
    with pytest.raises(TypeError, match=r"node 'the_Cast'.*output 0 \('output'\) is complex64.*cannot carry"):
        opforge.InferenceSession(model)
    assert len(native._NAMES) == published  # nothing was published
    (y,) = opforge.InferenceSession(scale_model()).run(None, {"x": X})  # later sessions are fine
    np.testing.assert_array_equal(y, X * 2)


# 2 ---------------------------------------------------------------------------------------------------

def test_2_models_cannot_name_internal_ops():
    trusted = opforge.InferenceSession(scale_model())
    internal = trusted.native_ops[0]
    node = helper.make_node(internal, ["x"], ["y"], domain=native.DOMAIN, negate=1)
    graph = helper.make_graph([node], "g", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [3])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, [3])])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 18), helper.make_opsetid(native.DOMAIN, 1)])
    body = helper.make_function(native.DOMAIN, internal, ["x"], ["y"], [helper.make_node("Identity", ["x"], ["y"])],
                                [helper.make_opsetid("", 18)])
    model.functions.append(body)
    with pytest.raises(ValueError, match="opforge-internal"):
        opforge.InferenceSession(model)
    # a plain onnxruntime session that registers the library cannot reach them either
    del model.functions[:]
    options = quiet()
    options.register_custom_ops_library(native.library_path())
    with pytest.raises(Exception, match="runs only in the sessions opforge.InferenceSession creates"):
        onnxruntime.InferenceSession(model.SerializeToString(), options, providers=["CPUExecutionProvider"])


# 3 ---------------------------------------------------------------------------------------------------

@pytest.mark.parametrize(("attribute", "given", "expected"), [
    (helper.make_attribute("negate", "false"), "STRING", "bool"),
    (helper.make_attribute("steps", 2.5), "FLOAT", "int"),
    (helper.make_attribute("alpha", helper.make_tensor("t", TensorProto.FLOAT, [1], [1.0])), "TENSOR", "float"),
    (helper.make_attribute("weights", [1, 2]), "INTS", "floats"),
])
def test_3_attribute_types_are_checked_at_creation(attribute, given, expected):
    model = scale_model()
    model.graph.node[0].attribute.append(attribute)
    with pytest.raises(TypeError, match=rf"node 'the_Scale' .*attribute '{attribute.name}' must be {expected} "
                                        rf"\(ONNX .*\), the model gives {given}"):
        opforge.InferenceSession(model)


def test_3_attributes_arrive_exactly_natively():
    model = scale_model(alpha=0.123456789, negate=1, steps=-(2**40) - 3, weights=[0.1, 1e-30], names=["é", ""])
    opforge.InferenceSession(model).run(None, {"x": X})
    assert SEEN["alpha"] == float(np.float32(0.123456789)) and SEEN["negate"] is True
    assert SEEN["steps"] == -(2**40) - 3 and SEEN["names"] == ["é", ""]
    assert SEEN["weights"] == [float(np.float32(0.1)), float(np.float32(1e-30))]


# 4 ---------------------------------------------------------------------------------------------------

def test_4_list_attributes_are_fresh_each_call_and_session():
    for _ in range(2):
        session = opforge.InferenceSession(scale_model())
        for _ in range(3):
            session.run(None, {"x": X})
            assert SEEN["weights"] == [1.0, 2.0] and SEEN["names"] == ["a"]
    assert scale.attributes[3].default == [1.0, 2.0]


# 5 ---------------------------------------------------------------------------------------------------

@pytest.mark.parametrize(("out_type", "value", "power", "ok"), [
    (TensorProto.INT32, 2.0**33, 1, False), (TensorProto.FLOAT, 1e20, 2, False),  # 1e40 overflows float32
    (TensorProto.INT32, 7.0, 1, True), (TensorProto.FLOAT, 0.1, 1, True),
])
def test_5_output_casts_must_keep_the_values(out_type, value, power, ok):
    model = model_of("Cast", [("x", TensorProto.FLOAT, [2])], [("y", out_type, [2])], value=value, power=power,
                     whole=int(out_type == TensorProto.INT32))
    session = opforge.InferenceSession(model, quiet())
    if ok:
        (y,) = session.run(None, {"x": np.zeros(2, np.float32)})
        assert y.dtype == onnx.helper.tensor_dtype_to_np_dtype(out_type)
        np.testing.assert_array_equal(y, np.full(2, np.float32(value)).astype(y.dtype))
    else:
        with pytest.raises(TypeError, match="casting changes its values"):
            session.run(None, {"x": np.zeros(2, np.float32)})


# 6 ---------------------------------------------------------------------------------------------------

def test_6_every_run_entry_point_raises_the_kernel_exception():
    session = opforge.InferenceSession(fail_model(), quiet())
    bad = np.array([0, 5, 0], np.float32)
    with pytest.raises(ValueError, match="exceeds 1.0"):
        session.run(None, {"x": bad})
    with pytest.raises(ValueError, match="exceeds 1.0"):
        session.run_with_ort_values(None, {"x": onnxruntime.OrtValue.ortvalue_from_numpy(bad)})
    binding = session.io_binding()
    binding.bind_cpu_input("x", bad)
    binding.bind_output("y")
    with pytest.raises(ValueError, match="exceeds 1.0"):
        session.run_with_iobinding(binding)
    done = threading.Event()
    got: dict[str, object] = {}

    def callback(outputs, user_data, err):
        got.update(outputs=outputs, err=err, user_data=user_data)
        done.set()

    session.run_async(None, {"x": bad}, callback, "token")
    assert done.wait(30)
    assert got["err"] and got["user_data"] == "token"
    assert isinstance(got["err"], native_session.KernelErrorMessage)
    assert isinstance(got["err"].exception, ValueError) and "exceeds 1.0" in str(got["err"].exception)
    # and the session goes on
    np.testing.assert_array_equal(session.run(None, {"x": X * 0})[0], X * 0)


# 7 ---------------------------------------------------------------------------------------------------

def test_7_one_run_options_shared_by_threads():
    session = opforge.InferenceSession(fail_model(), quiet())
    options = onnxruntime.RunOptions()
    errors: list[str] = []

    def failing() -> None:
        for _ in range(200):
            try:
                session.run(None, {"x": np.full(3, 5, np.float32)}, options)
                errors.append("a failing run passed")
            except ValueError:
                pass

    def good() -> None:
        for _ in range(400):
            try:
                np.testing.assert_array_equal(session.run(None, {"x": X * 0}, options)[0], X * 0)
            except Exception as exc:  # noqa: BLE001
                errors.append(repr(exc))

    threads = [threading.Thread(target=failing), threading.Thread(target=good)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []


# 8 ---------------------------------------------------------------------------------------------------

def test_8_session_options_untouched_and_reusable():
    options = onnxruntime.SessionOptions()
    options.execution_mode = onnxruntime.ExecutionMode.ORT_PARALLEL
    options.intra_op_num_threads = 1
    options.log_severity_level = 3
    for _ in range(3):
        session = opforge.InferenceSession(scale_model(), options)
        np.testing.assert_array_equal(session.run(None, {"x": X})[0], X * 2)
        assert session.get_session_options().execution_mode == onnxruntime.ExecutionMode.ORT_PARALLEL
    assert options.execution_mode == onnxruntime.ExecutionMode.ORT_PARALLEL
    # still a plain onnxruntime options object: no custom op library was registered on it
    node = helper.make_node("Relu", ["x"], ["y"])
    graph = helper.make_graph([node], "g", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [3])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, [3])])
    plain = onnxruntime.InferenceSession(helper.make_model(graph).SerializeToString(), options,
                                         providers=["CPUExecutionProvider"])
    np.testing.assert_array_equal(plain.run(None, {"x": X})[0], np.maximum(X, 0))


def test_parallel_execution_with_four_threads():
    options = quiet()
    options.execution_mode = onnxruntime.ExecutionMode.ORT_PARALLEL
    options.intra_op_num_threads = 2
    options.inter_op_num_threads = 2
    model = scale_model()
    model.graph.node.append(helper.make_node("Double", ["x"], ["z"], domain=DOMAIN))
    model.graph.output.append(helper.make_tensor_value_info("z", TensorProto.FLOAT, ["n"]))
    session = opforge.InferenceSession(model, options)
    errors: list[str] = []

    def worker(seed: int) -> None:
        rng = np.random.default_rng(seed)
        for _ in range(100):
            x = rng.standard_normal(1 + seed).astype(np.float32)
            y, z = session.run(None, {"x": x})
            if not (np.array_equal(y, x * 2) and np.array_equal(z, x * 2)):
                errors.append(f"thread {seed}")

    threads = [threading.Thread(target=worker, args=(seed,)) for seed in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []


# 9 ---------------------------------------------------------------------------------------------------

def test_9_registered_ops_bounded_by_ops_in_use_not_sessions():
    rng = np.random.default_rng(0)
    xs = [rng.standard_normal(4).astype(np.float32) for _ in range(20)]
    wide = model_of("Sum", [(f"x{i}", TensorProto.FLOAT, [4]) for i in range(20)], [("y", TensorProto.FLOAT, [4])])
    opforge.InferenceSession(wide)
    published = len(native.published())
    for _ in range(30):
        session = opforge.InferenceSession(wide)
        np.testing.assert_allclose(session.run(None, {f"x{i}": x for i, x in enumerate(xs)})[0], np.sum(xs, axis=0),
                                   rtol=1e-5)
    assert len(native.published()) == published


# 10 --------------------------------------------------------------------------------------------------

def test_10_node_arity_is_checked():
    extra = model_of("Scale", [("x", TensorProto.FLOAT, [3]), ("z", TensorProto.FLOAT, [3])],
                     [("y", TensorProto.FLOAT, [3])])
    with pytest.raises(ValueError, match=r"node 'the_Scale' .*has 2 inputs, the op declares 1 \(x\)"):
        opforge.InferenceSession(extra)
    more = model_of("Scale", [("x", TensorProto.FLOAT, [3])], [("y", TensorProto.FLOAT, [3]),
                                                               ("w", TensorProto.FLOAT, [3])])
    with pytest.raises(ValueError, match=r"node 'the_Scale' .*has 2 output\(s\), the op declares 1 \(output\)"):
        opforge.InferenceSession(more)


# 11 --------------------------------------------------------------------------------------------------

def test_11_device_buffers_wrap_onnx_runtime_pointers_without_copies():
    # numpy stands in for device memory: the interface must describe exactly ORT's buffer
    host = np.arange(6, dtype=np.float16).reshape(2, 3)
    buffer = DeviceBuffer(host.ctypes.data, host.shape, host.dtype, True)
    interface = buffer.__cuda_array_interface__
    assert interface["data"] == (host.ctypes.data, True) and interface["shape"] == (2, 3)
    assert np.dtype(interface["typestr"]) == np.float16 and interface["version"] == 3
    view = np.asarray(type("Host", (), {"__array_interface__": {**interface, "data": interface["data"]}})())
    assert view.ctypes.data == host.ctypes.data and np.array_equal(view, host)
    with pytest.raises(TypeError, match="bfloat16"):
        DeviceBuffer(0, (1,), opforge.types.numpy_dtype("bfloat16"), True)


@pytest.mark.gpu
def test_11_cuda_provider_runs_kernels_on_device_memory():
    if "CUDAExecutionProvider" not in onnxruntime.get_available_providers():
        pytest.skip("onnxruntime-gpu's CUDAExecutionProvider is not installed")
    import cupy

    seen = {}

    @opforge.op(f"{DOMAIN}::DeviceDouble")
    def device_double(x: torch.Tensor) -> torch.Tensor:
        return x * 2

    @device_double.kernel("cpu")
    def _(x):
        raise AssertionError("the CPU kernel must not run on the CUDA provider")

    @device_double.kernel("cuda")
    def _(x):
        seen.update(kind=type(x), stream=cupy.cuda.get_current_stream().ptr)
        return x * 2

    model = model_of("DeviceDouble", [("x", TensorProto.FLOAT, [1000])], [("y", TensorProto.FLOAT, [1000])])
    session = opforge.InferenceSession(model, kernel_device="cuda")
    assert session.get_providers()[0] == "CUDAExecutionProvider"
    x = np.arange(1000, dtype=np.float32)
    np.testing.assert_array_equal(session.run(None, {"x": x})[0], x * 2)
    assert seen["kind"] is cupy.ndarray


# 12 --------------------------------------------------------------------------------------------------

def test_12_inputs_are_zero_copy_views_and_out_kernels_write_into_onnx_runtime():
    x = np.arange(1000, dtype=np.float32)
    session = opforge.InferenceSession(scale_model())
    session.run(None, {"x": x})
    assert SEEN["x"].ctypes.data == x.ctypes.data and not SEEN["x"].flags.writeable
    model = model_of("Double", [("x", TensorProto.FLOAT, ["n"])], [("y", TensorProto.FLOAT, ["n"])])
    session = opforge.InferenceSession(model)
    binding = session.io_binding()
    binding.bind_cpu_input("x", x)
    binding.bind_output("y")
    session.run_with_iobinding(binding)
    (y,) = binding.copy_outputs_to_cpu()
    np.testing.assert_array_equal(y, x * 2)
    out = SEEN["out"]
    assert isinstance(out, np.ndarray) and out.shape == (1000,) and out.flags.writeable
    assert binding.get_outputs()[0].data_ptr() == out.ctypes.data  # the kernel wrote into ORT's output


def test_static_graph_inputs_skip_the_size_check_because_onnx_runtime_checks_feeds():
    """A node fed by a graph input of static shape reads it without asking its size (ONNX Runtime validates
    every feed against the declared dims first, on every run entry point); a wrong size never reaches it."""
    model = model_of("Scale", [("x", TensorProto.FLOAT, [4])], [("y", TensorProto.FLOAT, [4])])
    session = opforge.InferenceSession(model)
    (plan,) = session.plans.values()
    assert plan.fed == frozenset({0})
    np.testing.assert_array_equal(session.run(None, {"x": np.arange(4, dtype=np.float32)})[0],
                                  np.arange(4, dtype=np.float32) * 2)
    wrong = np.arange(1000, dtype=np.float32)
    with pytest.raises(Exception, match="[Ii]nvalid dimensions|[Ss]hape"):
        session.run(None, {"x": wrong})
    with pytest.raises(Exception, match="[Ii]nvalid dimensions|[Ss]hape"):
        session.run_with_ort_values(["y"], {"x": onnxruntime.OrtValue.ortvalue_from_numpy(wrong)})
    binding = session.io_binding()
    binding.bind_cpu_input("x", wrong)
    binding.bind_output("y")
    with pytest.raises(Exception, match="[Ii]nvalid dimensions|[Ss]hape"):
        session.run_with_iobinding(binding)
    # an intermediate value keeps the check: its static shape is only what inference claimed
    inner = onnx.helper.make_graph(
        [onnx.helper.make_node("Identity", ["x"], ["t"]),
         onnx.helper.make_node("Scale", ["t"], ["y"], domain=DOMAIN)], "g",
        [onnx.helper.make_tensor_value_info("x", TensorProto.FLOAT, [4])],
        [onnx.helper.make_tensor_value_info("y", TensorProto.FLOAT, [4])])
    chained = onnx.helper.make_model(inner, opset_imports=[onnx.helper.make_opsetid("", 18),
                                                           onnx.helper.make_opsetid(DOMAIN, 1)])
    (plan,) = opforge.InferenceSession(chained).plans.values()
    assert plan.fed == frozenset()


def test_float16_runs_natively():
    model = scale_model(alpha=0.5)
    model.graph.input[0].type.tensor_type.elem_type = TensorProto.FLOAT16
    model.graph.output[0].type.tensor_type.elem_type = TensorProto.FLOAT16
    x = np.linspace(-2, 2, 7).astype(np.float16)
    (y,) = opforge.InferenceSession(model).run(None, {"x": x})
    assert SEEN["x"].dtype == np.float16 and y.dtype == np.float16
    np.testing.assert_array_equal(y, x * np.float16(0.5))


# soak and scale ----------------------------------------------------------------------------------------

def test_soak_twenty_thousand_runs_ten_percent_failing():
    session = opforge.InferenceSession(fail_model(), quiet())
    good, bad = np.zeros(64, np.float32), np.full(64, 5, np.float32)

    def burst(count: int) -> int:
        failures = 0
        for i in range(count):
            try:
                session.run(None, {"x": bad if i % 10 == 0 else good})
            except ValueError:
                failures += 1
        return failures

    burst(2_000)  # warm-up: allocators and caches settle
    gc.collect()
    parked = len(native._ERRORS)
    before = rss_bytes()
    assert burst(20_000) == 2_000
    gc.collect()
    growth = (rss_bytes() - before) / before
    assert growth < 0.05, f"RSS grew {growth:.1%} over 20,000 runs"
    assert len(native._ERRORS) == parked  # every parked exception was claimed


def test_two_hundred_sessions_of_fifty_ops():
    ops = []
    for k in range(50):
        @opforge.op(f"{DOMAIN}.many::Add{k}")
        def add_k(x: torch.Tensor, k: float = float(k)) -> torch.Tensor:
            return x + k

        @add_k.kernel("cpu")
        def _(x, *, k):
            return x + x.dtype.type(k)

        @add_k.infer  # (cheaper at session creation than deriving shapes from the reference)
        def _(x, *, k):
            return opforge.TensorSpec(x.shape, x.dtype)

        ops.append(add_k)
    nodes = [helper.make_node(f"Add{k}", [f"v{k}"], [f"v{k + 1}"], domain=f"{DOMAIN}.many") for k in range(50)]
    graph = helper.make_graph(nodes, "chain", [helper.make_tensor_value_info("v0", TensorProto.FLOAT, [3])],
                              [helper.make_tensor_value_info("v50", TensorProto.FLOAT, [3])])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 18),
                                                    helper.make_opsetid(f"{DOMAIN}.many", 1)]).SerializeToString()
    times, sizes = [], []
    published = None
    for index in range(200):
        start = time.perf_counter()
        session = opforge.InferenceSession(model)
        times.append(time.perf_counter() - start)
        if index == 0:
            np.testing.assert_allclose(session.run(None, {"v0": X})[0], X + sum(range(50)), rtol=1e-5)
            published = len(native.published())
        del session
        if index in (20, 199):
            gc.collect()
            sizes.append(rss_bytes())
    assert len(native.published()) == published
    early, late = statistics.median(times[5:45]), statistics.median(times[-40:])
    assert late < 3 * early, f"session creation grew from {early * 1e3:.1f} ms to {late * 1e3:.1f} ms"
    assert (sizes[1] - sizes[0]) / sizes[0] < 0.05, f"RSS grew from {sizes[0]} to {sizes[1]} bytes"


def test_11_device_kernel_path_with_a_stand_in_cupy(monkeypatch):
    """The CUDA provider's kernel path on the CPU: host buffers stand in for device memory, a numpy
    "cupy" wraps them through ``__cuda_array_interface__``; no copy on the way in, the result lands
    in ONNX Runtime's output, the kernel runs inside the provider's stream."""
    import sys
    import types

    from opforge.kernels.gpu import DeviceNodeKernel

    events: list[str] = []

    def asarray(value):
        interface = getattr(value, "__cuda_array_interface__", None)
        if interface is None:
            return np.asarray(value)
        keys = ("shape", "typestr", "data", "strides", "version")
        return np.asarray(type("Host", (), {"__array_interface__": {k: interface[k] for k in keys}})())

    class Stream:
        def __init__(self, pointer: int = 0) -> None:
            self.pointer = pointer

        def __enter__(self):
            events.append(f"stream {self.pointer}")
            return self

        def __exit__(self, *exc):
            events.append("stream exit")

    cupy = types.ModuleType("cupy")
    cupy.asarray = asarray  # type: ignore[attr-defined]
    cupy.cuda = types.SimpleNamespace(ExternalStream=Stream, Stream=types.SimpleNamespace(null=Stream(0)))  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "cupy", cupy)

    @opforge.op(f"{DOMAIN}::Triple")
    def triple(x: torch.Tensor) -> torch.Tensor:
        return x * 3

    @triple.kernel("cpu")
    def _(x):
        return x * 3

    @triple.kernel("cuda")
    def _(x):
        SEEN["device_x"] = x
        events.append("kernel")
        return x * 3

    model = model_of("Triple", [("x", TensorProto.FLOAT, [4])], [("y", TensorProto.FLOAT, [4])])
    session = opforge.InferenceSession(model)
    (plan,) = session.plans.values()
    handle, host = next((h, k) for h, k in native._KERNELS.items() if k.plan is plan)
    native._KERNELS[handle] = DeviceNodeKernel(host.api, plan, host.attrs, host.in_dtypes, host.out_dtypes)
    x = np.arange(4, dtype=np.float32)
    (y,) = session.run(None, {"x": x})
    np.testing.assert_array_equal(y, x * 3)
    assert SEEN["device_x"].ctypes.data == x.ctypes.data  # the kernel saw the caller's buffer itself
    assert events == ["stream 0", "kernel", "stream exit"]


def test_out_kernels_get_none_when_infer_cannot_fix_the_shape_and_tuples_for_several_outputs():
    @opforge.op(f"{DOMAIN}::Positive")
    def positive(x: torch.Tensor) -> torch.Tensor:
        return x[x > 0]

    @positive.kernel("cpu")
    def _(x, *, out):
        SEEN["positive_out"] = out
        return x[x > 0]

    @positive.infer
    def _(x):
        return opforge.TensorSpec([None], x.dtype)  # data-dependent

    @opforge.op(f"{DOMAIN}::Split2", outputs=["low", "high"])
    def split2(x: torch.Tensor, at: float = 0.0) -> tuple[torch.Tensor, torch.Tensor]:
        return torch.minimum(x, torch.tensor(at)), torch.maximum(x, torch.tensor(at))

    @split2.kernel("cpu")
    def _(x, *, at, out):
        low, high = out
        np.minimum(x, np.float32(at), out=low)
        np.maximum(x, np.float32(at), out=high)
        SEEN["split_out"] = out
        return out

    @split2.infer
    def _(x, *, at):
        return opforge.TensorSpec(x.shape, x.dtype), opforge.TensorSpec(x.shape, x.dtype)

    x = np.array([1.0, -2.0, 3.0], np.float32)
    model = model_of("Positive", [("x", TensorProto.FLOAT, ["n"])], [("y", TensorProto.FLOAT, None)])
    np.testing.assert_array_equal(opforge.InferenceSession(model).run(None, {"x": x})[0], [1.0, 3.0])
    assert SEEN["positive_out"] is None
    model = model_of("Split2", [("x", TensorProto.FLOAT, ["n"])], [("lo", TensorProto.FLOAT, ["n"]),
                                                                   ("hi", TensorProto.FLOAT, ["n"])], at=0.5)
    low, high = opforge.InferenceSession(model).run(None, {"x": x})
    np.testing.assert_array_equal(low, np.minimum(x, 0.5))
    np.testing.assert_array_equal(high, np.maximum(x, 0.5))
    assert isinstance(SEEN["split_out"], tuple) and len(SEEN["split_out"]) == 2
    # static input shapes take the lean path: the same buffers, the same None where @infer cannot fix a shape
    model = model_of("Split2", [("x", TensorProto.FLOAT, [3])], [("lo", TensorProto.FLOAT, [3]),
                                                                 ("hi", TensorProto.FLOAT, [3])], at=0.5)
    session = opforge.InferenceSession(model)
    assert [k for k in native._KERNELS.values() if k.plan.opdef is split2][-1].lean is not None
    for _ in range(2):
        low, high = session.run(None, {"x": x})
        np.testing.assert_array_equal(low, np.minimum(x, 0.5))
        np.testing.assert_array_equal(high, np.maximum(x, 0.5))
    assert isinstance(SEEN["split_out"], tuple) and [o.shape for o in SEEN["split_out"]] == [(3,), (3,)]
    model = model_of("Positive", [("x", TensorProto.FLOAT, [3])], [("y", TensorProto.FLOAT, None)])
    np.testing.assert_array_equal(opforge.InferenceSession(model).run(None, {"x": x})[0], [1.0, 3.0])
    assert SEEN["positive_out"] is None
    # outside ONNX Runtime (call_kernel on CPU tensors) an out kernel gets out=None
    assert positive.call_kernel(torch.from_numpy(x), device="cpu").tolist() == [1.0, 3.0]


def test_lean_path_static_node_keeps_every_check():
    """One input of static shape (the lean path): results, shape and dtype checks, out= and errors."""
    behaviour = {"mode": "ok"}

    @opforge.op(f"{DOMAIN}::LeanTwice")
    def lean_twice(x: torch.Tensor) -> torch.Tensor:
        """y = 2x"""
        return x * 2

    @lean_twice.kernel("cpu")
    def _(x):
        mode = behaviour["mode"]
        if mode == "shape":
            return np.concatenate([x, x]) * 2  # 8 elements where the model fixes 4
        if mode == "float64":
            return x.astype(np.float64) * 2  # exact in float32: accepted
        if mode == "overflow":
            return np.full(x.shape, 1e40)  # inf in float32: refused
        return x * 2

    model = model_of("LeanTwice", [("x", TensorProto.FLOAT, [4])], [("y", TensorProto.FLOAT, [4])])
    session = opforge.InferenceSession(model)
    (kernel,) = [k for k in native._KERNELS.values() if k.plan.opdef is lean_twice]
    assert kernel.lean is not None  # the node takes the lean path
    x = np.arange(4, dtype=np.float32)
    for _ in range(3):  # the kept views serve later runs
        np.testing.assert_array_equal(session.run(None, {"x": x})[0], x * 2)
    behaviour["mode"] = "float64"
    np.testing.assert_array_equal(session.run(None, {"x": x + 1})[0], (x + 1) * 2)
    behaviour["mode"] = "shape"
    with pytest.raises(ValueError, match=r"LeanTwice: output 0 .* has shape \(8,\), but the model expects \(4,\)"):
        session.run(None, {"x": x})
    behaviour["mode"] = "overflow"
    with pytest.raises(TypeError, match=r"LeanTwice: output 0 .* casting changes its values"):
        session.run(None, {"x": x})
    behaviour["mode"] = "ok"
    with pytest.raises(Exception, match=r"[Ii]nvalid dimensions|[Ss]hape"):  # ONNX Runtime checks the feed
        session.run(None, {"x": np.ones(5, np.float32)})
    np.testing.assert_array_equal(session.run(None, {"x": x})[0], x * 2)  # the session survives


def test_lean_out_path_for_several_static_inputs():
    """Several inputs of static shape and an ``out`` kernel (binary elementwise ops): results written into
    ONNX Runtime's buffer on every run entry point, a returned array accepted, an intermediate input still
    size-checked, errors reported, and an empty input handed to the general path."""
    behaviour = {"mode": "out"}

    @opforge.op(f"{DOMAIN}::LeanAdd")
    def lean_add(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
        """y = a + b (same shapes)"""
        return a + b

    @lean_add.kernel("cpu")
    def _(a, b, *, out=None):
        if behaviour["mode"] == "fail":
            raise ValueError("LeanAdd: b must be positive")
        if behaviour["mode"] == "returns" or out is None:
            return a + b
        np.add(a, b, out=out)
        return out

    @lean_add.infer
    def _(a: opforge.TensorSpec, b: opforge.TensorSpec) -> opforge.TensorSpec:
        return opforge.TensorSpec(a.shape, a.dtype)

    model = model_of("LeanAdd", [("a", TensorProto.FLOAT, [2, 3]), ("b", TensorProto.FLOAT, [2, 3])],
                     [("y", TensorProto.FLOAT, [2, 3])])
    session = opforge.InferenceSession(model)
    (kernel,) = [k for k in native._KERNELS.values() if k.plan.opdef is lean_add]
    assert kernel.lean is not None
    a, b = np.arange(6, dtype=np.float32).reshape(2, 3), np.full((2, 3), 0.5, np.float32)
    for _ in range(3):  # the kept views serve later runs
        np.testing.assert_array_equal(session.run(None, {"a": a, "b": b})[0], a + b)
    values = {"a": onnxruntime.OrtValue.ortvalue_from_numpy(a), "b": onnxruntime.OrtValue.ortvalue_from_numpy(b * 3)}
    np.testing.assert_array_equal(session.run_with_ort_values(["y"], values)[0].numpy(), a + b * 3)
    binding = session.io_binding()
    binding.bind_cpu_input("a", a)
    binding.bind_cpu_input("b", a)
    binding.bind_output("y")
    session.run_with_iobinding(binding)
    np.testing.assert_array_equal(binding.copy_outputs_to_cpu()[0], a + a)
    behaviour["mode"] = "returns"
    np.testing.assert_array_equal(session.run(None, {"a": a, "b": b})[0], a + b)
    behaviour["mode"] = "fail"
    with pytest.raises(Exception, match="LeanAdd: b must be positive"):
        session.run(None, {"a": a, "b": b})
    behaviour["mode"] = "out"
    np.testing.assert_array_equal(session.run(None, {"a": a, "b": b})[0], a + b)  # the session survives

    # an intermediate input: its static shape is only what inference claimed, so its size is checked
    chained = helper.make_model(helper.make_graph(
        [helper.make_node("Identity", ["a"], ["t"]), helper.make_node("LeanAdd", ["t", "b"], ["y"], domain=DOMAIN)],
        "g", [helper.make_tensor_value_info("a", TensorProto.FLOAT, [2, 3]),
              helper.make_tensor_value_info("b", TensorProto.FLOAT, [2, 3])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [2, 3])]),
        opset_imports=[helper.make_opsetid("", 18), helper.make_opsetid(DOMAIN, 1)])
    session = opforge.InferenceSession(chained)
    assert next(iter(session.plans.values())).fed == frozenset({1})
    np.testing.assert_array_equal(session.run(None, {"a": a, "b": b})[0], a + b)

    empty = model_of("LeanAdd", [("a", TensorProto.FLOAT, [0, 3]), ("b", TensorProto.FLOAT, [0, 3])],
                     [("y", TensorProto.FLOAT, [0, 3])])
    none = np.zeros((0, 3), np.float32)
    assert opforge.InferenceSession(empty).run(None, {"a": none, "b": none})[0].shape == (0, 3)


def test_lean_path_for_a_returning_kernel_with_several_static_inputs():
    """Several static inputs and a kernel that returns its one output (a loss): the result is copied into
    ONNX Runtime's buffer; another shape or dtype goes through the general checks."""
    behaviour = {"mode": "ok"}

    @opforge.op(f"{DOMAIN}::LeanDiff")
    def lean_diff(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
        """y = a - b (same shapes)"""
        return a - b

    @lean_diff.kernel("cpu")
    def _(a, b):
        if behaviour["mode"] == "shape":
            return np.concatenate([a - b, a - b])
        if behaviour["mode"] == "float64":
            return (a - b).astype(np.float64)  # exact in float32: accepted
        return a - b

    @lean_diff.infer
    def _(a: opforge.TensorSpec, b: opforge.TensorSpec) -> opforge.TensorSpec:
        return opforge.TensorSpec(a.shape, a.dtype)

    model = model_of("LeanDiff", [("a", TensorProto.FLOAT, [2, 3]), ("b", TensorProto.FLOAT, [2, 3])],
                     [("y", TensorProto.FLOAT, [2, 3])])
    session = opforge.InferenceSession(model)
    assert [k for k in native._KERNELS.values() if k.plan.opdef is lean_diff][-1].lean is not None
    a, b = np.arange(6, dtype=np.float32).reshape(2, 3), np.full((2, 3), 0.5, np.float32)
    for _ in range(3):
        np.testing.assert_array_equal(session.run(None, {"a": a, "b": b})[0], a - b)
    behaviour["mode"] = "float64"
    np.testing.assert_array_equal(session.run(None, {"a": a, "b": b})[0], a - b)
    behaviour["mode"] = "shape"
    with pytest.raises(ValueError, match=r"LeanDiff: output 0 .* has shape \(4, 3\), but the model expects \(2, 3\)"):
        session.run(None, {"a": a, "b": b})
