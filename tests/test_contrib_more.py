"""The second batch of contrib ops: conformance, torch's tie semantics, and an unmodified model exporting them."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
import torch
import torch.nn.functional as F  # noqa: N812

import opforge
import opforge.ops  # noqa: F401 - declares the contrib ops
from opforge.conformance import check
from opforge.ops import _order_stats

NEW = ["Cdist", "CopySign", "CrossEntropyLoss", "IsIn", "KthValue", "Median", "NanMedian", "NextAfter"]
OPS = [o for o in opforge.list_ops("opforge.ops") if o.op_type in NEW]


def test_all_new_ops_are_declared() -> None:
    assert sorted(o.op_type for o in OPS) == NEW


@pytest.mark.parametrize("op", OPS, ids=lambda o: o.op_type)
def test_conformance(op: opforge.OpDef) -> None:
    report = check(op)
    assert report.ok, str(report)
    summary = report.summary()
    for name in ("numerics.kernel", "numerics.onnxruntime", "numerics.reference_evaluator", "torch", "export.dynamo"):
        assert summary[name] == "pass", f"{op.name}: {name} is {summary[name]}"
    if op.function_body is not None:
        assert summary["numerics.portable"] == "pass", op.name


def test_tie_indices_follow_torch() -> None:
    """kthvalue's numpy kernel replays torch's quickselect. Many tie-heavy rows of every length."""
    g = torch.Generator().manual_seed(1)
    for n in range(1, 48):
        x = torch.randint(0, 3, (8, n), generator=g).float()
        x[torch.rand(x.shape, generator=g) < 0.15] = float("nan")
        for k in {1, (n + 1) // 2, n}:
            v, i = torch.kthvalue(x, k, 1)
            got_v, got_i = _order_stats.kthvalue(x.numpy(), k, 1, False, "test")
            np.testing.assert_array_equal(got_i, i.numpy())
            np.testing.assert_array_equal(got_v, v.numpy())


def test_kthvalue_rejects_bad_k() -> None:
    with pytest.raises(IndexError, match="KthValue.*k=5"):
        opforge.ops.kthvalue.kthvalue.kernels["cpu"](np.zeros((2, 4), np.float32), k=5, dim=1, keepdim=False)


class _Stats(torch.nn.Module):
    """An unmodified model calling torch functions stock torch.onnx fails on or gets wrong."""

    def forward(self, x: torch.Tensor, labels: torch.Tensor, probs: torch.Tensor) -> tuple[torch.Tensor, ...]:
        med, where = torch.median(x, dim=1)
        nanmed = torch.nanmedian(torch.where(x > 1.0, torch.nan, x), dim=1, keepdim=True)[0]
        kth, kth_at = torch.kthvalue(x.round(), 3, dim=1)
        smooth = F.cross_entropy(x, labels, label_smoothing=0.1, ignore_index=2)
        soft = F.cross_entropy(x, probs, label_smoothing=0.2)
        member = torch.isin(labels, labels[:2])
        dist = torch.cdist(x[:, :4], x[:, 2:])
        signed = torch.copysign(x, -x.roll(1, 1))
        step = torch.nextafter(x, torch.zeros_like(x))
        return med, where, nanmed, kth, kth_at, smooth, soft, member, dist, signed, step


def _inputs(n: int) -> tuple[torch.Tensor, ...]:
    g = torch.Generator().manual_seed(n)
    return (torch.randn(n, 6, generator=g), torch.randint(0, 6, (n,), generator=g),
            torch.randn(n, 6, generator=g).softmax(-1))


def test_unmodified_model_exports_and_matches_eager_on_new_sizes() -> None:
    model = _Stats().eval()
    batch = torch.export.Dim("batch", min=2, max=1024)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        proto = opforge.export(model, _inputs(4), dynamic_shapes=tuple({0: batch} for _ in range(3)))
    used = {n.op_type for n in proto.graph.node if n.domain == "opforge.contrib"}
    assert used == set(NEW), used
    session = opforge.InferenceSession(proto)
    names = [i.name for i in session.get_inputs()]
    for n in (2, 9):
        args = _inputs(n)
        got = session.run(None, {name: t.numpy() for name, t in zip(names, args, strict=True)})
        expected = model(*args)
        for index, (e, g) in enumerate(zip(expected, got, strict=True)):
            opforge.assert_close(e.numpy(), g, f"output {index} at batch {n}")


def test_stock_export_drops_label_smoothing() -> None:
    """Why CrossEntropyLoss exists: stock torch.onnx ignores label_smoothing, with no error."""
    import onnxruntime

    class Smooth(torch.nn.Module):
        def forward(self, x: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
            return F.cross_entropy(x, t, label_smoothing=0.3)

    x, t = torch.randn(5, 4), torch.randint(0, 4, (5,))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        program = torch.onnx.export(Smooth(), (x, t), dynamo=True, verbose=False)
    stock = onnxruntime.InferenceSession(program.model_proto.SerializeToString())
    got = stock.run(None, {"x": x.numpy(), "t": t.numpy()})[0]
    np.testing.assert_allclose(got, F.cross_entropy(x, t).numpy(), rtol=1e-5)  # the unsmoothed loss
    assert not np.allclose(got, Smooth()(x, t).numpy(), rtol=1e-4, atol=1e-5)


def test_plain_cross_entropy_stays_native() -> None:
    """Without label_smoothing stock's SoftmaxCrossEntropyLoss is right: no Python kernel for it."""

    class Loss(torch.nn.Module):
        def forward(self, x: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
            return F.cross_entropy(x, t, ignore_index=1)

    x, t = torch.randn(6, 5), torch.tensor([0, 1, 2, 3, 4, 1])
    proto = opforge.export(Loss(), (x, t), dynamic_shapes=({0: "n"}, {0: "n"}))
    assert [n.op_type for n in proto.graph.node if n.domain == "opforge.contrib"] == []
    assert any(n.op_type == "SoftmaxCrossEntropyLoss" for n in proto.graph.node)
    x2, t2 = torch.randn(9, 5), torch.tensor([4, 3, 2, 1, 0, 0, 1, 2, 3])
    (got,) = opforge.InferenceSession(proto).run(None, {"x": x2.numpy(), "t": t2.numpy()})
    opforge.assert_close(Loss()(x2, t2).numpy(), got, "cross_entropy at n=9")
