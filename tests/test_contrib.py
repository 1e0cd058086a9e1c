"""The contrib op library: conformance of every op, and unmodified models exporting through the aten lowerings."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
import torch

import opforge
import opforge.ops  # noqa: F401 - declares the contrib ops (until opforge/__init__ imports them)
from opforge.conformance import check
from opforge.ops import _aten

CONTRIB = opforge.list_ops("opforge.ops")


def test_library_is_complete() -> None:
    assert len(CONTRIB) >= 15, [o.name for o in CONTRIB]
    for op in CONTRIB:
        assert op.domain == "opforge.contrib"
        assert "cpu" in op.kernels and "cuda" in op.kernels, f"{op.name} lacks a cpu or cuda kernel"
        assert op.infer_fn is not None and op.samples_fn is not None, op.name
        assert op.serves, f"{op.name} names no torch function it serves"
    lowered = set(_aten.LOWERINGS.values())
    assert {"SearchSorted", "CumMax", "CumMin", "LinalgSolve", "ScatterReduce"} <= {o.op_type for o in lowered}


@pytest.mark.parametrize("op", CONTRIB, ids=lambda o: o.op_type)
def test_conformance(op: opforge.OpDef) -> None:
    report = check(op)
    assert report.ok, str(report)
    summary = report.summary()
    for name in ("numerics.kernel", "numerics.onnxruntime", "torch", "export.dynamo"):
        assert summary[name] == "pass", f"{op.name}: {name} is {summary[name]}"
    if op.function_body is not None:
        assert summary["numerics.portable"] == "pass", op.name


class _Everyday(torch.nn.Module):
    """An unmodified model that calls torch functions stock torch.onnx fails on or gets wrong."""

    def forward(self, x: torch.Tensor, index: torch.Tensor, src: torch.Tensor) -> tuple[torch.Tensor, ...]:
        edges = torch.sort(x, dim=1)[0]
        buckets = torch.searchsorted(edges, src, right=True)
        pooled = x.scatter_reduce(1, index, src, reduce="mean", include_self=False)
        running, where = torch.cummax(src, dim=1)
        a = x[:, :3, None] * torch.eye(3) + 4 * torch.eye(3)
        solved = torch.linalg.solve(a, src[:, :3])
        return buckets, pooled, running, where, solved


def _inputs(n: int) -> tuple[torch.Tensor, ...]:
    g = torch.Generator().manual_seed(n)
    return torch.randn(n, 6, generator=g), torch.randint(0, 6, (n, 9), generator=g), torch.randn(n, 9, generator=g)


def test_unmodified_model_exports_and_matches_eager_on_new_sizes() -> None:
    model = _Everyday().eval()
    batch = torch.export.Dim("batch", min=2, max=1024)
    proto = opforge.export(model, _inputs(3), dynamic_shapes=tuple({0: batch} for _ in range(3)))
    used = {n.op_type for n in proto.graph.node if n.domain == "opforge.contrib"}
    assert used == {"SearchSorted", "ScatterReduce", "CumMax", "LinalgSolve"}
    session = opforge.InferenceSession(proto)
    names = [i.name for i in session.get_inputs()]
    for n in (2, 7):
        args = _inputs(n)
        got = session.run(None, {name: t.numpy() for name, t in zip(names, args, strict=True)})
        expected = model(*args)
        for index, (e, g) in enumerate(zip(expected, got, strict=True)):
            opforge.assert_close(e.numpy(), g, f"output {index} at batch {n}")


def test_stock_export_gets_scatter_mean_wrong() -> None:
    """Why the lowering exists: stock torch.onnx exports reduce='mean' as an overwrite, with no error."""
    import onnxruntime

    model = _ScatterMean().eval()
    args = _inputs(3)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        program = torch.onnx.export(model, (args[0], args[1], args[2]), dynamo=True, verbose=False)
    session = onnxruntime.InferenceSession(program.model_proto.SerializeToString(),
                                           providers=["CPUExecutionProvider"])
    got = session.run(None, {i.name: t.numpy() for i, t in zip(session.get_inputs(), args, strict=True)})[0]
    assert not np.allclose(got, model(*args).numpy(), atol=1e-4), "stock export fixed scatter_reduce mean"


class _ScatterMean(torch.nn.Module):
    def forward(self, x: torch.Tensor, index: torch.Tensor, src: torch.Tensor) -> torch.Tensor:
        return x.scatter_reduce(1, index, src, reduce="mean")


class _ScatterAmax(torch.nn.Module):
    def forward(self, x: torch.Tensor, index: torch.Tensor, src: torch.Tensor) -> torch.Tensor:
        return x.scatter_reduce(1, index, src, reduce="amax", include_self=False)


def test_scatter_reductions_stock_gets_right_stay_native() -> None:
    """Only reduce='mean' needs the Python kernel; amax (like sum/prod/amin) stays a ScatterElements node."""
    model = _ScatterAmax().eval()
    batch = torch.export.Dim("batch", min=2, max=1024)  # one symbol: index and src provably match
    proto = opforge.export(model, _inputs(3), dynamic_shapes=tuple({0: batch} for _ in range(3)))
    assert not [n for n in proto.graph.node if n.domain == "opforge.contrib"]
    assert any(n.op_type == "ScatterElements" for n in proto.graph.node)
    session = opforge.InferenceSession(proto)
    args = _inputs(5)
    got = session.run(None, {i.name: t.numpy() for i, t in zip(session.get_inputs(), args, strict=True)})[0]
    opforge.assert_close(model(*args).numpy(), got, "scatter amax at batch 5")


def test_erfinv_kernel_is_double_precision_near_one() -> None:
    """Giles' polynomial alone is single precision: 0.04 off at 1 - 1e-12 in float64 (ORT tolerance 1e-5)."""
    x = np.array([0.5, -0.999, 0.9999, 1 - 1e-12, -1 + 1e-15, 1 - 2**-53, 1.0, -1.0])
    got = opforge.ops.erfinv.erfinv.kernels["cpu"](x)
    np.testing.assert_allclose(got, torch.erfinv(torch.from_numpy(x)).numpy(), rtol=1e-7, atol=0)
