"""GPU kernels: ``op.call_kernel`` (torch, zero copy), ``kernel_device="cuda"`` in ONNX Runtime,
the CPU fallback of an op with no cuda kernel, and the conformance suite's gpu check.

Tests marked ``gpu`` need cupy and a CUDA device (tests/conftest.py skips them with the reason
"no CUDA device" elsewhere); the rest run everywhere: the CPU path of ``call_kernel`` and, with a
stand-in cupy made of numpy, the bridge's device hand-off (copies and waits counted).
"""

from __future__ import annotations

import functools
import sys
import types
import warnings
from collections.abc import Sequence

import ml_dtypes
import numpy as np
import onnx
import pytest
import torch
from onnx import TensorProto, helper

import opforge
from opforge.kernels import cuda_unavailable_reason, gpu, resolve

DOMAIN = "opforge.test.gpu"
SEEN: dict[str, object] = {}  # what the kernels last saw, for the zero-copy and defaults checks


# -- test ops ----------------------------------------------------------------------------------------

@opforge.op(f"{DOMAIN}::ScaleShift")
def scale_shift(x: torch.Tensor, bias: torch.Tensor | None = None, alpha: float = 2.0,
                mode: str = "mul") -> torch.Tensor:
    """alpha * x (+ bias); mode "add" gives x + alpha (+ bias)."""
    y = x * alpha if mode == "mul" else x + alpha
    return y if bias is None else y + bias


@scale_shift.kernel("cpu")
def _(x: np.ndarray, bias: np.ndarray | None, *, alpha: float, mode: str) -> np.ndarray:
    y = x * x.dtype.type(alpha) if mode == "mul" else x + x.dtype.type(alpha)
    if bias is not None:
        y = y + bias
    SEEN.update(x=x, bias=bias, attrs={"alpha": alpha, "mode": mode}, out=y)
    return y


@scale_shift.kernel("cuda")
def _(x, bias, *, alpha, mode):  # noqa: ANN001, ANN202 - cupy arrays (or the numpy stand-in)
    y = x * x.dtype.type(alpha) if mode == "mul" else x + x.dtype.type(alpha)
    if bias is not None:
        y = y + bias
    SEEN.update(cuda_x=x, cuda_bias=bias, cuda_out=y, cuda_calls=int(SEEN.get("cuda_calls", 0)) + 1)
    return y


@opforge.op(f"{DOMAIN}::SumMean", outputs=["total", "mean"])
def sum_mean(xs: Sequence[torch.Tensor], scale: float = 1.0) -> tuple[torch.Tensor, torch.Tensor]:
    """scale * (sum of xs) and that total divided by len(xs): a variadic input, two outputs."""
    total = xs[0] * scale
    for x in xs[1:]:
        total = total + x * scale
    return total, total / len(xs)


def _sum_mean(xs: list, scale: float) -> tuple:
    total = xs[0] * xs[0].dtype.type(scale)
    for x in xs[1:]:
        total = total + x * x.dtype.type(scale)
    return total, total / total.dtype.type(len(xs))


@sum_mean.kernel("cpu")
def _(xs: list[np.ndarray], *, scale: float) -> tuple[np.ndarray, np.ndarray]:
    SEEN.update(xs=xs)
    return _sum_mean(xs, scale)


@sum_mean.kernel("cuda")
def _(xs, *, scale):  # noqa: ANN001, ANN202
    SEEN.update(cuda_xs=xs)
    return _sum_mean(xs, scale)


@opforge.op(f"{DOMAIN}::SoftClip")
def soft_clip(x: torch.Tensor, limit: float = 1.0) -> torch.Tensor:
    """x / (1 + |x| / limit): smooth clipping to (-limit, limit)."""
    return x / (1 + x.abs() / limit)


@soft_clip.kernel("cpu")
def _(x: np.ndarray, *, limit: float) -> np.ndarray:
    return (x / (1 + np.abs(x) / limit)).astype(x.dtype)


@functools.cache
def _soft_clip_kernel():  # noqa: ANN202
    import cupy

    # computes in float32 for every T (float16 included), as a hot kernel of a real op might
    return cupy.ElementwiseKernel("T x, float32 limit", "T y",
                                  "float v = (float)x; y = (T)(v / (1.0f + fabsf(v) / limit));",
                                  "opforge_test_soft_clip")


@soft_clip.kernel("cuda")
def _(x, *, limit):  # noqa: ANN001, ANN202
    return _soft_clip_kernel()(x, np.float32(limit))


@opforge.op(f"{DOMAIN}::CpuOnly")
def cpu_only(x: torch.Tensor) -> torch.Tensor:
    """x + 1, with a cpu kernel only: kernel_device="cuda" falls back to it."""
    return x + 1


@cpu_only.kernel("cpu")
def _(x: np.ndarray) -> np.ndarray:
    return x + x.dtype.type(1)


@opforge.op(f"{DOMAIN}::WrongCount", outputs=["a", "b"])
def wrong_count(x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    return x, x


@wrong_count.kernel("cpu")
def _(x: np.ndarray) -> np.ndarray:
    return x


@opforge.op(f"{DOMAIN}::TorchOnly")
def torch_only(x: torch.Tensor) -> torch.Tensor:
    return x * 3


# -- helpers -----------------------------------------------------------------------------------------

def _model(nodes: list[onnx.NodeProto], inputs: dict[str, tuple[int, list]], outputs: dict[str, int]
           ) -> onnx.ModelProto:
    graph = helper.make_graph(
        nodes, "gpu_test",
        [helper.make_tensor_value_info(n, t, s) for n, (t, s) in inputs.items()],
        [helper.make_tensor_value_info(n, t, None) for n, t in outputs.items()])
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 18), helper.make_opsetid(DOMAIN, 1)])


def _chain_model() -> onnx.ModelProto:
    """ScaleShift (no bias, alpha=1.5) -> SumMean([y, x], scale=0.5): optional, variadic, two outputs."""
    return _model(
        [helper.make_node("ScaleShift", ["x", ""], ["y"], domain=DOMAIN, alpha=1.5),
         helper.make_node("SumMean", ["y", "x"], ["total", "mean"], domain=DOMAIN, scale=0.5)],
        {"x": (TensorProto.FLOAT, [3, 4])}, {"total": TensorProto.FLOAT, "mean": TensorProto.FLOAT})


def _chain_expected(x: np.ndarray) -> list[np.ndarray]:
    y = x * np.float32(1.5)
    total = y * np.float32(0.5) + x * np.float32(0.5)
    return [total, total / np.float32(2)]


def _ptr(array: np.ndarray) -> int:
    return array.__array_interface__["data"][0]


@pytest.fixture(autouse=True)
def _fresh() -> None:
    SEEN.clear()
    for op in (cpu_only, torch_only):
        gpu._WARNED.discard((op.name, op.version, False))
        gpu._WARNED.discard((op.name, op.version, True))


# -- call_kernel on the CPU: numpy views of the tensors, results wrapped without a copy ---------------

def test_call_kernel_cpu_zero_copy_with_defaults_and_absent_optional() -> None:
    x = torch.randn(3, 4)
    y = scale_shift.call_kernel(x, device="cpu")
    assert isinstance(y, torch.Tensor) and y.dtype == torch.float32 and y.device.type == "cpu"
    assert SEEN["attrs"] == {"alpha": 2.0, "mode": "mul"}  # defaults filled in
    assert SEEN["bias"] is None
    assert _ptr(SEEN["x"]) == x.data_ptr()  # the kernel read the tensor's own memory
    assert y.data_ptr() == _ptr(SEEN["out"])  # the result wraps the kernel's array
    opforge.assert_close(x.numpy() * 2, y.numpy(), "ScaleShift cpu")


def test_call_kernel_cpu_positional_and_keyword_arguments() -> None:
    x, bias = torch.randn(2, 5), torch.randn(5)
    y = scale_shift.call_kernel(x, bias, 0.5, mode="add", device="cpu")
    assert SEEN["attrs"] == {"alpha": 0.5, "mode": "add"}
    assert _ptr(SEEN["bias"]) == bias.data_ptr()
    opforge.assert_close(x.numpy() + 0.5 + bias.numpy(), y.numpy(), "ScaleShift cpu, add")
    z = scale_shift.call_kernel(x=x, bias=None, alpha=3.0, device="cpu")
    opforge.assert_close(x.numpy() * 3, z.numpy(), "ScaleShift cpu, keywords")


def test_call_kernel_cpu_variadic_and_two_outputs() -> None:
    xs = [torch.randn(4) for _ in range(3)]
    total, mean = sum_mean.call_kernel(xs, scale=0.5, device="cpu")
    assert [_ptr(a) for a in SEEN["xs"]] == [t.data_ptr() for t in xs]
    expected = sum(t.numpy() * 0.5 for t in xs)
    opforge.assert_close(expected, total.numpy(), "SumMean total")
    opforge.assert_close(expected / 3, mean.numpy(), "SumMean mean")


def test_call_kernel_cpu_grad_strided_and_bfloat16_tensors() -> None:
    x = torch.randn(4, 6, requires_grad=True)
    y = scale_shift.call_kernel(x.t(), device="cpu")  # a transposed view needing grad: no copy either
    assert _ptr(SEEN["x"]) == x.data_ptr() and not SEEN["x"].flags.c_contiguous
    assert not y.requires_grad
    opforge.assert_close(x.detach().numpy().T * 2, y.numpy(), "ScaleShift on a transposed view")
    b = torch.tensor([1.5, -2.0, 3.25], dtype=torch.bfloat16)
    yb = scale_shift.call_kernel(b, device="cpu")
    assert SEEN["x"].dtype == ml_dtypes.bfloat16 and _ptr(SEEN["x"]) == b.data_ptr()
    assert yb.dtype == torch.bfloat16 and yb.tolist() == [3.0, -4.0, 6.5]


def test_call_kernel_errors_name_the_op_and_the_fix() -> None:
    with pytest.raises(opforge.MissingKernelError, match=r"TorchOnly v1 has no cpu kernel.*kernel\('cpu'\)"):
        torch_only.call_kernel(torch.ones(2), device="cpu")
    with pytest.raises(ValueError, match=r"WrongCount: the cpu kernel returned 1 output\(s\), the op declares 2"):
        wrong_count.call_kernel(torch.ones(2), device="cpu")
    with pytest.raises(TypeError, match=r"ScaleShift.call_kernel: input 'x' is a list"):
        scale_shift.call_kernel([1.0, 2.0], device="cpu")
    with pytest.raises(TypeError, match=r"input 'x' is required"):
        scale_shift.call_kernel(None, device="cpu")
    with pytest.raises(TypeError, match=r"input 'xs' is variadic; pass a list"):
        sum_mean.call_kernel(torch.ones(2), device="cpu")
    with pytest.raises(ValueError, match=r"device must be 'cpu' or 'cuda', got 'tpu'"):
        scale_shift.call_kernel(torch.ones(2), device="tpu")
    with pytest.raises(TypeError, match=r"ScaleShift"):
        scale_shift.call_kernel(torch.ones(2), beta=1.0, device="cpu")  # no such attribute
    with pytest.raises(opforge.MissingKernelError, match=r"CpuOnly v1 has no cuda kernel.*kernel\('cuda'\)"):
        cpu_only.call_kernel(torch.ones(2))  # device defaults to "cuda"


@pytest.mark.skipif(cuda_unavailable_reason() is None, reason="this checks the error without a CUDA device")
def test_cuda_paths_without_a_device_say_why() -> None:
    reason = cuda_unavailable_reason()
    assert reason is not None and ("no CUDA device" in reason or "cupy is not installed" in reason)
    with pytest.raises(RuntimeError, match="kernel_device='cuda' needs cupy and a CUDA device"):
        scale_shift.call_kernel(torch.ones(2))
    with pytest.raises(RuntimeError, match="needs cupy and a CUDA device"):
        opforge.InferenceSession(_chain_model(), kernel_device="cuda")


# -- the fallback of an op with no cuda kernel --------------------------------------------------------

def test_resolve_cuda_falls_back_to_the_cpu_with_one_warning() -> None:
    x = np.arange(4, dtype=np.float32)
    with pytest.warns(gpu.CudaFallbackWarning, match=r"CpuOnly v1 has no cuda kernel.*cpu kernel on the CPU"):
        kernel = resolve(cpu_only, "cuda")
    np.testing.assert_array_equal(kernel(x), x + 1)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        resolve(cpu_only, "cuda")  # once per op and process
    with pytest.warns(gpu.CudaFallbackWarning, match=r"TorchOnly v1 .*torch reference on the CPU"):
        np.testing.assert_array_equal(resolve(torch_only, "cuda")(x), x * 3)


def test_cuda_provider_fallback_warning_says_the_torch_reference_runs_on_the_gpu() -> None:
    # on ONNX Runtime's CUDA execution provider an op without a cuda kernel runs its torch reference on
    # the GPU (DeviceNodeKernel); the warning must not claim the CPU
    x = np.arange(4, dtype=np.float32)
    with pytest.warns(gpu.CudaFallbackWarning, match=r"CpuOnly v1 has no cuda kernel; kernel_device='cuda' runs its "
                      r"torch reference on the GPU instead") as record:
        kernel = resolve(cpu_only, "cuda", cuda_provider=True)
    assert not any("on the CPU instead" in str(w.message) for w in record)
    np.testing.assert_array_equal(kernel(x), x + 1)  # what the node's CPU twin runs
    # the session's planner passes the provider on (no CUDA needed to plan a node)
    from opforge.kernels.session import _Planner

    model = _model([helper.make_node("TorchOnly", ["x"], ["y"], domain=DOMAIN)],
                   {"x": (TensorProto.FLOAT, [4])}, {"y": TensorProto.FLOAT})
    planner = _Planner(model, False, "cuda", cuda_provider=True)
    planner.collect_types(onnx.shape_inference.infer_shapes(model).graph)
    with pytest.warns(gpu.CudaFallbackWarning, match=r"TorchOnly v1 .*torch reference on the GPU instead") as record:
        assert planner.plan(model.graph.node[0]) is not None
    assert not any("on the CPU instead" in str(w.message) for w in record)


# -- the ONNX Runtime hand-off, with a numpy stand-in for cupy ----------------------------------------

class _Counters:
    h2d = d2h = syncs = 0


class _DeviceArray(np.ndarray):
    """A numpy array posing as a cupy one; it counts the copies to the host."""

    def get(self, stream: object = None, out: np.ndarray | None = None, blocking: bool = True) -> np.ndarray:
        assert out is not None and not blocking, "to_host must queue copies into pinned buffers"
        _Counters.d2h += 1
        out[...] = np.asarray(self)
        return out


class _Stream:
    def synchronize(self) -> None:
        _Counters.syncs += 1


def _stand_in_asarray(array: np.ndarray) -> _DeviceArray:
    _Counters.h2d += 1
    return np.array(array, copy=True).view(_DeviceArray)


@pytest.fixture
def stand_in_cupy(monkeypatch: pytest.MonkeyPatch) -> type[_Counters]:
    cupy = types.ModuleType("cupy")
    cupy.ndarray = _DeviceArray  # type: ignore[attr-defined]
    cupy.asarray = _stand_in_asarray  # type: ignore[attr-defined]
    stream = _Stream()
    cupy.cuda = types.SimpleNamespace(runtime=types.SimpleNamespace(getDeviceCount=lambda: 1),  # type: ignore[attr-defined]
                                      get_current_stream=lambda: stream)
    cupyx = types.ModuleType("cupyx")
    cupyx.empty_pinned = lambda shape, dtype: np.empty(shape, dtype)  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "cupy", cupy)
    monkeypatch.setitem(sys.modules, "cupyx", cupyx)
    cuda_unavailable_reason.cache_clear()
    _Counters.h2d = _Counters.d2h = _Counters.syncs = 0
    yield _Counters
    cuda_unavailable_reason.cache_clear()


def test_session_cuda_copies_each_tensor_once_and_waits_once_per_node(stand_in_cupy: type[_Counters]) -> None:
    x = np.random.default_rng(0).standard_normal((3, 4)).astype(np.float32)
    session = opforge.InferenceSession(_chain_model(), kernel_device="cuda")
    outs = session.run(None, {"x": x})
    for expected, actual, name in zip(_chain_expected(x), outs, ("total", "mean")):
        opforge.assert_close(expected, actual, f"SumMean {name} through the cuda kernels")
    assert SEEN["cuda_calls"] == 1 and SEEN["cuda_bias"] is None
    assert isinstance(SEEN["cuda_x"], _DeviceArray) and all(isinstance(a, _DeviceArray) for a in SEEN["cuda_xs"])
    assert "xs" not in SEEN and "x" not in SEEN  # the cpu kernels never ran
    # ScaleShift: 1 input, 1 output; SumMean: 2 inputs, 2 outputs; one wait per node
    assert (stand_in_cupy.h2d, stand_in_cupy.d2h, stand_in_cupy.syncs) == (3, 3, 2)


def test_session_cuda_falls_back_for_an_op_without_cuda_kernel(stand_in_cupy: type[_Counters]) -> None:
    model = _model([helper.make_node("ScaleShift", ["x"], ["y"], domain=DOMAIN),
                    helper.make_node("CpuOnly", ["y"], ["z"], domain=DOMAIN)],
                   {"x": (TensorProto.FLOAT, [5])}, {"z": TensorProto.FLOAT})
    with pytest.warns(gpu.CudaFallbackWarning, match="CpuOnly"):
        session = opforge.InferenceSession(model, kernel_device="cuda")
    x = np.arange(5, dtype=np.float32)
    (z,) = session.run(None, {"x": x})
    np.testing.assert_array_equal(z, x * 2 + 1)
    assert (stand_in_cupy.h2d, stand_in_cupy.d2h, stand_in_cupy.syncs) == (1, 1, 1)  # CpuOnly stayed on the host


def test_cuda_kernel_that_returns_no_array_is_reported(stand_in_cupy: type[_Counters]) -> None:
    with pytest.raises(TypeError, match=r"ScaleShift: output 0 of the cuda kernel is a str"):
        gpu.to_host(scale_shift, ["oops"])


# -- on a CUDA device -----------------------------------------------------------------------------------

@pytest.mark.gpu
def test_call_kernel_cuda_shares_memory_both_ways() -> None:
    x, bias = torch.randn(1000, device="cuda"), torch.randn(1000, device="cuda")
    y = scale_shift.call_kernel(x, bias, alpha=3.0)
    assert SEEN["cuda_x"].data.ptr == x.data_ptr() and SEEN["cuda_bias"].data.ptr == bias.data_ptr()
    assert y.device == x.device and y.data_ptr() == SEEN["cuda_out"].data.ptr
    expected = scale_shift.call_kernel(x.cpu(), bias.cpu(), alpha=3.0, device="cpu")
    opforge.assert_close(expected.numpy(), y.cpu().numpy(), "ScaleShift cuda vs cpu")


@pytest.mark.gpu
def test_call_kernel_cuda_variadic_two_outputs() -> None:
    xs = [torch.randn(64, device="cuda") for _ in range(3)]
    total, mean = sum_mean.call_kernel(xs, scale=0.25)
    assert [a.data.ptr for a in SEEN["cuda_xs"]] == [t.data_ptr() for t in xs]
    assert total.is_cuda and mean.is_cuda
    cpu_total, cpu_mean = sum_mean.call_kernel([t.cpu() for t in xs], scale=0.25, device="cpu")
    opforge.assert_close(cpu_total.numpy(), total.cpu().numpy(), "SumMean total cuda vs cpu")
    opforge.assert_close(cpu_mean.numpy(), mean.cpu().numpy(), "SumMean mean cuda vs cpu")


@pytest.mark.gpu
def test_call_kernel_cuda_elementwise_kernel_on_a_side_stream_and_bfloat16() -> None:
    x = torch.randn(4096, device="cuda") * 4
    stream = torch.cuda.Stream()
    stream.wait_stream(torch.cuda.current_stream())
    with torch.cuda.stream(stream):
        y = soft_clip.call_kernel(x, limit=2.0)
    stream.synchronize()
    expected = soft_clip.call_kernel(x.cpu(), limit=2.0, device="cpu")
    opforge.assert_close(expected.numpy(), y.cpu().numpy(), "SoftClip ElementwiseKernel vs cpu")
    yb = soft_clip.call_kernel(x.to(torch.bfloat16), limit=2.0)  # cupy has no bfloat16: runs in float32
    assert yb.dtype == torch.bfloat16
    opforge.assert_close(expected.numpy().astype(ml_dtypes.bfloat16),
                         yb.view(torch.int16).cpu().numpy().view(ml_dtypes.bfloat16), "SoftClip bfloat16")


@pytest.mark.gpu
def test_call_kernel_cuda_rejects_cpu_tensors() -> None:
    with pytest.raises(ValueError, match=r"input 'x' is on cpu; move it with .cuda\(\)"):
        scale_shift.call_kernel(torch.ones(3))


@pytest.mark.gpu
def test_session_cuda_matches_cpu_and_runs_the_cupy_kernels() -> None:
    x = np.random.default_rng(1).standard_normal((3, 4)).astype(np.float32)
    model = _chain_model()
    cpu = opforge.InferenceSession(model).run(None, {"x": x})
    SEEN.clear()
    cuda = opforge.InferenceSession(model, kernel_device="cuda").run(None, {"x": x})
    assert SEEN["cuda_calls"] == 1 and type(SEEN["cuda_x"]).__module__.startswith("cupy")
    for a, b, name in zip(cpu, cuda, ("total", "mean")):
        opforge.assert_close(a, b, f"{name}: kernel_device='cuda' vs 'cpu'")
    clip = _model([helper.make_node("SoftClip", ["x"], ["y"], domain=DOMAIN, limit=0.5)],
                  {"x": (TensorProto.FLOAT16, [2, 8])}, {"y": TensorProto.FLOAT16})
    x16 = (x.reshape(2, 6)[:, :1] * np.ones((1, 8), np.float32)).astype(np.float16)
    (y16,) = opforge.InferenceSession(clip, kernel_device="cuda").run(None, {"x": x16})
    assert y16.dtype == np.float16
    opforge.assert_close(soft_clip.call_kernel(torch.from_numpy(x16), limit=0.5, device="cpu").numpy(), y16,
                         "SoftClip float16 in ONNX Runtime")


@pytest.mark.gpu
def test_session_cuda_falls_back_once_for_an_op_without_cuda_kernel() -> None:
    # float64: a variant of its own (the bridge caches variants, and the float32 one may exist already)
    model = _model([helper.make_node("CpuOnly", ["x"], ["y"], domain=DOMAIN)],
                   {"x": (TensorProto.DOUBLE, [3])}, {"y": TensorProto.DOUBLE})
    with pytest.warns(gpu.CudaFallbackWarning, match="CpuOnly"):
        session = opforge.InferenceSession(model, kernel_device="cuda")
    np.testing.assert_array_equal(session.run(None, {"x": np.zeros(3)})[0], np.ones(3))


@pytest.mark.gpu
def test_session_cuda_with_the_cuda_execution_provider() -> None:
    import onnxruntime

    if "CUDAExecutionProvider" not in onnxruntime.get_available_providers():
        pytest.skip("onnxruntime-gpu's CUDAExecutionProvider is not installed (CPU onnxruntime here)")
    x = np.random.default_rng(2).standard_normal((3, 4)).astype(np.float32)
    nodes = [helper.make_node("Relu", ["x"], ["r"]),
             helper.make_node("ScaleShift", ["r", ""], ["y"], domain=DOMAIN, alpha=1.5),
             helper.make_node("SumMean", ["y", "r"], ["total", "mean"], domain=DOMAIN, scale=0.5)]
    model = _model(nodes, {"x": (TensorProto.FLOAT, [3, 4])}, {"total": TensorProto.FLOAT, "mean": TensorProto.FLOAT})
    session = opforge.InferenceSession(model, providers=["CUDAExecutionProvider", "CPUExecutionProvider"],
                                       kernel_device="cuda")
    assert session.get_providers()[0] == "CUDAExecutionProvider"
    outs = session.run(None, {"x": x})
    for expected, actual in zip(_chain_expected(np.maximum(x, 0)), outs):
        opforge.assert_close(expected, actual, "CUDA provider + opforge cuda kernels")


def _contrib_cuda_ops() -> list[opforge.OpDef]:
    try:
        opforge.load_ops("opforge.ops")
    except Exception:  # noqa: BLE001 - the contrib library failing to import is test_ops' business
        return []
    return [o for o in opforge.list_ops("opforge.ops") if "cuda" in o.kernels]


@pytest.mark.gpu
@pytest.mark.parametrize("op", _contrib_cuda_ops(), ids=lambda o: o.op_type)
def test_contrib_op_cuda_kernel_conforms(op: opforge.OpDef) -> None:
    report = opforge.conformance.check(op, device="cuda", checks=("numerics.kernel", "numerics.onnxruntime", "gpu"))
    assert report.ok, str(report)
    assert report.summary().get("gpu") == "pass", str(report)
