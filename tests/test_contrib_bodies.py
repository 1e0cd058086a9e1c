"""Portable bodies whose answer must be exact, not merely within tolerance: NextAfter's body on a plain
onnxruntime session gives torch.nextafter's bits (normal, subnormal, binade edges, inf, NaN)."""

from __future__ import annotations

import numpy as np
import onnx
import onnxruntime
import pytest
import torch
from onnx import helper

import opforge
import opforge.ops  # noqa: F401 - declares the contrib ops
from opforge.portable import attach_functions


def _run_body(op_type: str, *inputs: np.ndarray) -> list[np.ndarray]:
    op = next(o for o in opforge.list_ops("opforge.ops") if o.op_type == op_type)
    names = [f"in{i}" for i in range(len(inputs))]
    node = helper.make_node(op.op_type, names, [o.name for o in op.outputs], domain=op.domain)
    graph = helper.make_graph([node], op_type, [helper.make_tensor_value_info(
        n, helper.np_dtype_to_tensor_dtype(x.dtype), x.shape) for n, x in zip(names, inputs, strict=True)],
        [helper.make_value_info(o.name, onnx.TypeProto()) for o in op.outputs])
    model = attach_functions(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 18),
                                                                     helper.make_opsetid(op.domain, 1)]))
    session = onnxruntime.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    return session.run(None, dict(zip(names, inputs, strict=True)))


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_nextafter_body_is_bit_exact(dtype: type) -> None:
    rng = np.random.default_rng(0)
    info = np.finfo(dtype)
    special = np.array([0, -0.0, 1, -1, 2, 0.5, 3, info.tiny, -info.tiny, info.tiny / 2, info.smallest_subnormal,
                        info.max, -info.max, np.inf, -np.inf, np.nan, 1e-30, 7e10], dtype)
    x = np.concatenate([(rng.standard_normal(500) * np.exp(rng.uniform(-60, 60, 500))).astype(dtype),
                        special, special, special])
    y = np.concatenate([(rng.standard_normal(500) * 1e3).astype(dtype), np.zeros_like(special),
                        np.full_like(special, np.inf), np.full_like(special, -np.inf)])
    got = _run_body("NextAfter", x, y)[0]
    expected = torch.nextafter(torch.from_numpy(x), torch.from_numpy(y)).numpy()
    bits = np.int64 if dtype == np.float64 else np.int32
    same = (got.view(bits) == expected.view(bits)) | (np.isnan(got) & np.isnan(expected))
    assert same.all(), (x[~same], y[~same], got[~same], expected[~same])


class _SpecialFunctions(torch.nn.Module):
    """torch.special functions stock torch.onnx cannot export (or exports wrongly), in one model."""

    def forward(self, x: torch.Tensor, a: torch.Tensor) -> tuple[torch.Tensor, ...]:
        pos = x.abs() + 0.1
        sp = torch.special
        q, r = torch.linalg.qr(a)
        return (torch.polygamma(2, pos), sp.erfcx(x * 4), sp.log_ndtr(x * 10), sp.bessel_j0(x * 8),
                sp.bessel_y1(pos), sp.modified_bessel_k1(pos), sp.i1e(x * 9), sp.chebyshev_polynomial_t(x, 5),
                sp.legendre_polynomial_p(x, 3), sp.zeta(pos + 1, pos), sp.spherical_bessel_j0(x * 3),
                torch.nextafter(x, pos), q, r)


def test_special_functions_export_portable_and_run_on_plain_onnxruntime() -> None:
    model = _SpecialFunctions().eval()
    batch = torch.export.Dim("batch", min=2, max=1024)
    g = torch.Generator().manual_seed(0)
    proto = opforge.export(model, (torch.randn(3, 6, generator=g), torch.randn(3, 5, 4, generator=g)),
                           dynamic_shapes=({0: batch}, {0: batch}), portable=True)
    assert not [n for n in proto.graph.node if n.domain not in ("", "opforge.contrib", "ai.onnx")]
    session = onnxruntime.InferenceSession(proto.SerializeToString(), providers=["CPUExecutionProvider"])
    for n in (2, 7):
        args = (torch.randn(n, 6, generator=g), torch.randn(n, 5, 4, generator=g))
        got = session.run(None, {i.name: t.numpy() for i, t in zip(session.get_inputs(), args, strict=True)})
        with torch.no_grad():
            expected = model(*args)
        for index, (e, o) in enumerate(zip(expected, got, strict=True)):
            opforge.assert_close(e.numpy(), o, f"batch {n}: output {index}")


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_frexp_lowering_is_bit_exact_on_plain_onnxruntime(dtype: torch.dtype) -> None:
    class _Frexp(torch.nn.Module):
        def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
            return torch.frexp(x)

    info = torch.finfo(dtype)
    g = torch.Generator().manual_seed(0)
    x = torch.cat([torch.randn(300, dtype=dtype, generator=g) * torch.exp(torch.empty(300, dtype=dtype).uniform_(
        -80, 80, generator=g)), torch.tensor([0.0, -0.0, float("inf"), float("-inf"), float("nan"), 3.0, -0.5, 1.0,
                                             info.max, info.tiny, info.tiny / 4, info.tiny * info.eps], dtype=dtype)])
    proto = opforge.export(_Frexp(), (x,), portable=True)
    session = onnxruntime.InferenceSession(proto.SerializeToString(), providers=["CPUExecutionProvider"])
    mantissa, exponent = session.run(None, {session.get_inputs()[0].name: x.numpy()})
    expected_m, expected_e = (t.numpy() for t in torch.frexp(x))
    bits = np.int64 if dtype == torch.float64 else np.int32
    same = (mantissa.view(bits) == expected_m.view(bits)) | (np.isnan(mantissa) & np.isnan(expected_m))
    assert same.all(), (x.numpy()[~same], mantissa[~same], expected_m[~same])
    assert exponent.dtype == np.int32 and (exponent == expected_e).all()
