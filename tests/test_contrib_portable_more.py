"""Portable bodies of the order-statistic and linear-algebra contrib ops (Median, NanMedian, Cholesky,
LinalgSolve, LinalgInv): every conformance sample passes ``numerics.portable``, and an unmodified model
exported with ``portable=True`` runs on a plain ``onnxruntime.InferenceSession`` at new batch sizes,
matching eager PyTorch.
"""

from __future__ import annotations

import numpy as np
import onnxruntime
import pytest
import torch

import opforge
import opforge.ops  # noqa: F401 - declares the contrib ops and their lowerings
from opforge.conformance import check

WITH_BODY = ("Median", "NanMedian", "Cholesky", "LinalgSolve", "LinalgInv")


@pytest.mark.parametrize("op_type", WITH_BODY)
def test_body_passes_portable_conformance_on_every_sample(op_type: str) -> None:
    op = next(o for o in opforge.list_ops("opforge.ops") if o.op_type == op_type)
    assert op.function_body is not None, op.name
    report = check(op, checks=("numerics.portable",))
    assert report.ok, str(report)
    statuses = {r.sample: r.status for r in report.results}
    assert statuses and set(statuses.values()) == {"pass"}, statuses


class _OrderAndLinalg(torch.nn.Module):
    """Medians with ties and NaN, and Cholesky / solve (both sides) / inverse of a batch of SPD matrices."""

    def forward(self, x: torch.Tensor, a: torch.Tensor, b: torch.Tensor) -> tuple[torch.Tensor, ...]:
        mid, where = torch.median(x, dim=1)
        low, where_low = torch.nanmedian(x, dim=0, keepdim=True)
        spd = a @ a.transpose(-1, -2) + 4 * torch.eye(a.shape[-1])
        lower = torch.linalg.cholesky(spd)
        upper = torch.linalg.cholesky(spd, upper=True)
        x_left = torch.linalg.solve(spd, b)
        x_right = torch.linalg.solve(a + 4 * torch.eye(a.shape[-1]), b.transpose(-1, -2), left=False)
        inverse = torch.linalg.inv(a + 4 * torch.eye(a.shape[-1]))
        return mid, where, low, where_low, lower, upper, x_left, x_right, inverse, torch.median(x)


def _inputs(n: int) -> tuple[torch.Tensor, ...]:
    g = torch.Generator().manual_seed(n)
    x = torch.randn(n, 9, generator=g).round(decimals=1)
    x[:, 4] = x[:, 1]  # ties: the index is the median's position in a stable sort
    x[::3, 2] = float("nan")  # median: NaN at the first NaN; nanmedian skips it
    return x, torch.randn(n, 4, 4, generator=g), torch.randn(n, 4, 2, generator=g)


def test_medians_and_linalg_export_portable_and_run_on_plain_onnxruntime() -> None:
    model = _OrderAndLinalg().eval()
    batch = torch.export.Dim("batch", min=2, max=1024)
    proto = opforge.export(model, _inputs(3), dynamic_shapes=tuple({0: batch} for _ in range(3)), portable=True)
    assert {n.op_type for n in proto.graph.node if n.domain == "opforge.contrib"} == set(WITH_BODY)
    assert {(f.domain, f.name) for f in proto.functions} >= {("opforge.contrib", t) for t in WITH_BODY}
    session = onnxruntime.InferenceSession(proto.SerializeToString(), providers=["CPUExecutionProvider"])
    for n in (2, 7):
        args = _inputs(n)
        got = session.run(None, {i.name: t.numpy() for i, t in zip(session.get_inputs(), args, strict=True)})
        with torch.no_grad():
            expected = model(*args)
        assert len(got) == len(expected)
        assert np.isnan(got[0][0]) and got[1][0] == 2  # a NaN row: NaN at its index
        for index, (e, g) in enumerate(zip(expected, got, strict=True)):
            opforge.assert_close(e.numpy(), g, f"batch {n}: output {index}")
