"""Portable bodies of the contrib ops: unmodified models export with ``portable=True`` and run on a plain
``onnxruntime.InferenceSession`` (no opforge, no onnxruntime-extensions), matching eager PyTorch.

Per-sample conformance of each body (``numerics.portable``) runs in tests/test_contrib.py's
``test_conformance``; this file checks that the bodies run inside exported models on new sizes.
"""

from __future__ import annotations

import onnxruntime
import torch
import torch.nn.functional as F  # noqa: N812

import opforge
import opforge.ops  # noqa: F401 - declares the contrib ops and their lowerings
from opforge.conformance import check

WITH_BODY = ("SearchSorted", "ScatterReduce", "CrossEntropyLoss", "CumProd", "CumMax", "CumMin", "I0", "Erfinv", "LGamma", "Digamma")


def _plain_session(proto: object) -> onnxruntime.InferenceSession:
    return onnxruntime.InferenceSession(proto.SerializeToString(), providers=["CPUExecutionProvider"])


def _contrib_nodes(proto: object) -> set[str]:
    return {n.op_type for n in proto.graph.node if n.domain == "opforge.contrib"}


def _run_and_compare(model: torch.nn.Module, proto: object, args: tuple[torch.Tensor, ...], label: str) -> None:
    session = _plain_session(proto)
    got = session.run(None, {i.name: t.numpy() for i, t in zip(session.get_inputs(), args, strict=True)})
    with torch.no_grad():
        expected = model(*args)
    expected = expected if isinstance(expected, tuple) else (expected,)
    assert len(got) == len(expected)
    for index, (e, g) in enumerate(zip(expected, got, strict=True)):
        opforge.assert_close(e.numpy(), g, f"{label}: output {index}")


class _Losses(torch.nn.Module):
    """Scatter mean and label-smoothed cross entropy: stock torch.onnx exports both silently wrong."""

    def forward(self, x: torch.Tensor, index: torch.Tensor, target: torch.Tensor) -> tuple[torch.Tensor, ...]:
        pooled = x.scatter_reduce(1, index, x[:, :4] * 2, reduce="mean", include_self=False)
        loss = F.cross_entropy(pooled, target, label_smoothing=0.1, ignore_index=2)
        per_item = F.cross_entropy(x, target, weight=torch.linspace(0.5, 2.0, 6), label_smoothing=0.2,
                                   reduction="none")
        return pooled, loss, per_item


def _loss_inputs(n: int) -> tuple[torch.Tensor, ...]:
    g = torch.Generator().manual_seed(n)
    return torch.randn(n, 6, generator=g), torch.randint(0, 6, (n, 4), generator=g), torch.randint(0, 6, (n,),
                                                                                                    generator=g)


def test_losses_export_portable_and_run_on_plain_onnxruntime() -> None:
    model = _Losses().eval()
    batch = torch.export.Dim("batch", min=2, max=1024)
    proto = opforge.export(model, _loss_inputs(3), dynamic_shapes=tuple({0: batch} for _ in range(3)),
                           portable=True)
    assert _contrib_nodes(proto) == {"ScatterReduce", "CrossEntropyLoss"}
    assert {(f.domain, f.name) for f in proto.functions} >= {("opforge.contrib", "ScatterReduce"),
                                                            ("opforge.contrib", "CrossEntropyLoss")}
    for n in (2, 9):
        _run_and_compare(model, proto, _loss_inputs(n), f"losses at batch {n}")


class _Scans(torch.nn.Module):
    """Running product/max/min along a dim, searches in sorted rows and the special functions, on a dynamic batch."""

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, ...]:
        high, where_high = torch.cummax(x, dim=1)
        low, where_low = torch.cummin(x, dim=0)
        product = torch.cumprod(x * 0.5 + 1, dim=-1)
        special = torch.i0(x) + torch.lgamma(x) + torch.digamma(x.abs() + 0.1) + torch.erfinv(torch.tanh(x))
        rows = torch.searchsorted(torch.sort(x, dim=1)[0], x[:, :4], right=True)
        buckets = torch.bucketize(x, torch.linspace(-1.0, 1.0, 5))
        return high, where_high, low, where_low, product, special, rows, buckets


def _scan_inputs(n: int) -> torch.Tensor:
    x = torch.randn(n, 7, generator=torch.Generator().manual_seed(n))
    x[:, 3] = x[:, 1]  # ties: torch picks the last index
    return x.round(decimals=1)


def test_scans_and_special_functions_export_portable() -> None:
    model = _Scans().eval()
    proto = opforge.export(model, (_scan_inputs(3),), dynamic_shapes=({0: torch.export.Dim("batch", max=1024)},),
                           portable=True)
    assert _contrib_nodes(proto) == {"CumMax", "CumMin", "CumProd", "I0", "LGamma", "Digamma", "Erfinv",
                                     "SearchSorted"}
    for n in (2, 11):
        _run_and_compare(model, proto, (_scan_inputs(n),), f"scans at batch {n}")


def test_bodies_pass_portable_conformance_on_every_sample() -> None:
    for op in opforge.list_ops("opforge.ops"):
        if op.op_type in WITH_BODY:
            assert op.function_body is not None, op.name
            report = check(op, checks=("numerics.portable",))
            assert report.ok, str(report)
            assert report.summary()["numerics.portable"] == "pass", op.name
