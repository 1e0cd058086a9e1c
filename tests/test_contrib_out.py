"""Contrib CPU kernels that write into ONNX Runtime's output buffers (``out``): on every sample they give
bit for bit what the kernel gives without ``out`` (the op's torch reference), they write into the
buffers they are handed, ONNX Runtime passes them its buffers, and errors still name the op."""

from __future__ import annotations

import numpy as np
import pytest
import torch

import opforge
import opforge.ops  # noqa: F401 - declares the contrib ops
from opforge.kernels.registry import runners, takes_out
from opforge.ops import _torch

CONTRIB = {o.op_type: o for o in opforge.list_ops("opforge.ops")}
# the ops whose eager time is under a few ms, where copying the result into ONNX Runtime's buffer showed
WRITES_OUT = ["CumMax", "CumMin", "CumProd", "FMax", "FMin", "Hypot", "Erfinv", "NextAfter", "CopySign",
              "Cholesky", "LinalgSolve", "LinalgInv", "LinalgQR", "ScatterReduce", "LGamma", "LogNdtr",
              "ChebyshevPolynomialT", "Cdist", "Median", "NanMedian",
              "I1", "I1e", "SphericalBesselJ0", "GaussianNllLoss"]


def _bits(a: np.ndarray) -> np.ndarray:
    """The array's bytes, NaN payloads and signed zeros included."""
    a = np.ascontiguousarray(a)
    return a.reshape(-1).view(np.uint8)


def _attrs(op: opforge.OpDef, sample: opforge.Sample) -> dict:
    return {a.name: sample.kwargs.get(a.name, a.default) for a in op.attributes}


def _usable(op: opforge.OpDef) -> list[opforge.Sample]:
    return [s for s in op.samples_fn(np.random.default_rng(0)) if s.skip_reason is None and s.xfail_reason is None]


@pytest.mark.parametrize("op_type", WRITES_OUT)
def test_kernel_declares_out_and_runtime_passes_buffers(op_type: str) -> None:
    op = CONTRIB[op_type]
    assert takes_out(op.kernels["cpu"]), f"{op.name}: the cpu kernel does not declare out"
    assert op.infer_fn is not None, f"{op.name}: without @infer ONNX Runtime's buffers are never passed"
    assert any("out=" in line for line in runners(op)[0]), runners(op)


@pytest.mark.parametrize("op_type", WRITES_OUT)
def test_out_kernel_is_bit_exact_with_the_returning_kernel_on_every_sample(op_type: str) -> None:
    op = CONTRIB[op_type]
    kernel = op.kernels["cpu"]
    samples = _usable(op)
    assert samples, op.name
    for sample in samples:
        attrs = _attrs(op, sample)
        try:
            expected = kernel(*sample.args, **attrs)
        except Exception as exc:  # noqa: BLE001 - an error sample: the out route must raise the same
            with pytest.raises(type(exc)) as raised:
                kernel(*sample.args, **attrs, out=np.empty(0, np.float32))
            assert str(raised.value).startswith(op.name), raised.value
            continue
        many = isinstance(expected, tuple)
        expected = expected if many else (expected,)
        # buffers as ONNX Runtime hands them: fresh, filled with garbage
        buffers = tuple(np.full_like(e, 7) if e.size else np.empty_like(e) for e in expected)
        got = kernel(*sample.args, **attrs, out=buffers if many else buffers[0])
        assert got is (buffers if many else buffers[0]), f"{op.name} {sample.name}: out is not returned"
        for e, b in zip(expected, buffers, strict=True):
            assert b.dtype == e.dtype and b.shape == e.shape, (op.name, sample.name)
            assert np.array_equal(_bits(b), _bits(e)), f"{op.name} {sample.name}: out differs from the reference"


@pytest.mark.parametrize("op_type", ["FMax", "FMin"])
@pytest.mark.parametrize("dtype", [np.float32, np.float64, np.float16, np.int32, np.int64, np.uint8])
def test_fmax_fmin_numpy_route_matches_torch_bits(op_type: str, dtype: type) -> None:
    """numpy runs fmax/fmin where it is faster; ties of signed zeros and NaN take torch's side."""
    op = CONTRIB[op_type]
    torch_fn = torch.fmax if op_type == "FMax" else torch.fmin
    values = np.array([0.0, -0.0, np.nan, np.inf, -np.inf, 1.0, -1.0, 3.0])
    if np.issubdtype(dtype, np.integer):
        values = np.array([0, 1, 2, 3, 100, -5 % 256, 7, 0])
    x = np.repeat(values, len(values)).astype(dtype).reshape(8, 8)
    y = np.tile(values, len(values)).astype(dtype).reshape(8, 8)
    for a, b in [(x, y), (y, x), (x[:1], y), (x[:, :1], y[:1]), (x[0, 0], y[1, 2])]:
        expected = torch_fn(torch.from_numpy(np.asarray(a)), torch.from_numpy(np.asarray(b))).numpy()
        got = op.kernels["cpu"](np.asarray(a), np.asarray(b))
        assert isinstance(got, np.ndarray) and got.shape == expected.shape and got.dtype == expected.dtype
        assert np.array_equal(_bits(got), _bits(expected))
        out = np.empty_like(expected)
        assert op.kernels["cpu"](np.asarray(a), np.asarray(b), out=out) is out
        assert np.array_equal(_bits(out), _bits(expected))


def test_bfloat16_goes_through_torch_into_the_buffer() -> None:
    import ml_dtypes

    x = np.array([0.0, -0.0, np.nan, 1.5, -2.25], ml_dtypes.bfloat16)
    y = np.array([-0.0, 0.0, 3.0, np.nan, 4.0], ml_dtypes.bfloat16)
    out = np.empty_like(x)
    CONTRIB["FMax"].kernels["cpu"](x, y, out=out)
    expected = torch.fmax(_torch.from_numpy(x), _torch.from_numpy(y))
    assert np.array_equal(_bits(out), _bits(_torch.to_numpy(expected)))


def test_errors_through_out_still_name_the_op() -> None:
    not_spd = -np.eye(3, dtype=np.float32)[None]
    with pytest.raises(Exception, match=r"^opforge\.contrib::Cholesky: .*positive-definite"):
        CONTRIB["Cholesky"].kernels["cpu"](not_spd, upper=False, out=np.empty_like(not_spd))
    a = np.ones((2, 3), np.float32)
    with pytest.raises(RuntimeError, match=r"^opforge\.contrib::FMax: .*size"):
        CONTRIB["FMax"].kernels["cpu"](a, np.ones((4,), np.float32))
    with pytest.warns(UserWarning), pytest.raises(RuntimeError, match=r"^opforge\.contrib::Hypot: "):
        CONTRIB["Hypot"].kernels["cpu"](a, a, out=np.empty((5,), np.float32)[::2])


def test_session_writes_the_reference_into_onnx_runtime_buffers() -> None:
    """End to end through opforge.InferenceSession, where the kernel gets ONNX Runtime's buffers."""
    from onnx import TensorProto, helper

    rng = np.random.default_rng(1)
    x = rng.standard_normal((6, 40)).astype(np.float32)
    x[2, 5] = np.nan
    node = helper.make_node("CumMax", ["x"], ["values", "indices"], domain="opforge.contrib", dim=1)
    graph = helper.make_graph([node], "g", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [6, 40])],
                              [helper.make_tensor_value_info("values", TensorProto.FLOAT, None),
                               helper.make_tensor_value_info("indices", TensorProto.INT64, None)])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 18),
                                                    helper.make_opsetid("opforge.contrib", 1)])
    session = opforge.InferenceSession(model)
    for _ in range(3):  # the second run onwards reuses ONNX Runtime's buffers
        values, indices = session.run(None, {"x": x})
        ev, ei = torch.cummax(torch.from_numpy(x), 1)
        assert np.array_equal(_bits(values), _bits(ev.numpy())) and np.array_equal(indices, ei.numpy())


def test_a_buffer_of_another_shape_is_an_error_not_a_silent_restride() -> None:
    """torch would restride a wrong-shaped buffer of the right size; ONNX Runtime reads it by @infer's shape."""
    a = np.ones((2, 3), np.float32)
    with pytest.warns(UserWarning), pytest.raises(ValueError, match=r"^opforge\.contrib::Hypot: .*@infer"):
        CONTRIB["Hypot"].kernels["cpu"](a, a, out=np.empty((3, 2), np.float32))


def test_contrib_benchmark_runs_with_its_floor_columns() -> None:
    """benchmarks/contrib.py (in a subprocess: it declares its floor ops) prints a row with every column."""
    import pathlib
    import subprocess
    import sys

    script = pathlib.Path(__file__).parent.parent / "benchmarks" / "contrib.py"
    done = subprocess.run([sys.executable, str(script), "--repeat", "1", "--only", "CumMax"], capture_output=True,
                          text=True, timeout=300, check=False)
    assert done.returncode == 0, done.stderr[-2000:]
    row = next(line for line in done.stdout.splitlines() if line.startswith("CumMax"))
    assert len(row.split()) == 10, row  # op, inputs, eager, kernel/eager, ORT ms, ratio, fixed, floor, portable x2
