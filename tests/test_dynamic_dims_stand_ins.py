"""torch functions whose C++ code reads ``sizes()`` fix a dynamic dim at trace time: torch.export refuses
the dynamic batch (torch.onnx then exports a graph that rejects every other size). opforge.export sees
the fixed dim and traces again with Python stand-ins that keep sizes symbolic (torch.kron,
torch.take_along_dim, the spectral matrix norm, torch.gradient, linalg.multi_dot): the ONNX model takes any batch and matches eager bit
for bit. A model that fixes the dim itself still gets the DynamicDimError that names the input."""

from __future__ import annotations

import numpy as np
import onnxruntime as ort
import pytest
import torch

import opforge
import opforge.ops  # noqa: F401 - registers the stand-ins (opforge/ops/lowerings/)
from opforge.exporters import DynamicDimError, stand_ins

BATCH = torch.export.Dim("batch", min=2, max=1024)


class Kron(torch.nn.Module):
    def forward(self, x, y):
        return torch.kron(x, y)


class KronRanks(torch.nn.Module):
    def forward(self, x, y):
        return x.kron(y)


class TakeAlongDim(torch.nn.Module):
    def forward(self, x, i):
        return torch.take_along_dim(x, i, 1)


class TakeAlongDynamicDim(torch.nn.Module):
    def forward(self, x, i):
        return x.take_along_dim(i, 0)


class SpectralNorm(torch.nn.Module):
    def forward(self, a):
        return torch.linalg.matrix_norm(a, 2)


class SmallestSingularValue(torch.nn.Module):
    def forward(self, a):
        return torch.linalg.matrix_norm(a, -2, dim=(0, 2), keepdim=True)


class NormOrd2(torch.nn.Module):
    def forward(self, a):
        return torch.linalg.norm(a, 2, dim=(-2, -1))


class Gradient(torch.nn.Module):
    def forward(self, x):
        return torch.gradient(x, spacing=0.5, dim=1, edge_order=2)[0]


class GradientAlongBatch(torch.nn.Module):
    def forward(self, x):
        return torch.gradient(x, dim=0)[0]


class GradientCoordinates(torch.nn.Module):
    def forward(self, x, t):
        return torch.gradient(x, spacing=(t,), dim=1, edge_order=2)[0]


CASES = {
    "kron": (Kron(), lambda n: (torch.randn(n, 2), torch.randn(n, 3)), ({0: BATCH}, {0: BATCH})),
    "kron_ranks": (KronRanks(), lambda n: (torch.randn(n, 2, 3), torch.randn(4, 5)), ({0: BATCH}, None)),
    # negative indices count from the end, as in eager
    "take_along_dim": (TakeAlongDim(), lambda n: (torch.randn(n, 6), torch.randint(-6, 6, (n, 4))),
                       ({0: BATCH}, {0: BATCH})),
    "take_along_dynamic_dim": (TakeAlongDynamicDim(), lambda n: (torch.randn(n, 6), torch.randint(-2, 2, (2, 1))),
                               ({0: BATCH}, None)),
    "matrix_norm_2": (SpectralNorm(), lambda n: (torch.randn(n, 3, 3),), ({0: BATCH},)),
    "matrix_norm_-2_keepdim": (SmallestSingularValue(), lambda n: (torch.randn(4, n, 3),), ({1: BATCH},)),
    "norm_2": (NormOrd2(), lambda n: (torch.randn(n, 4, 3),), ({0: BATCH},)),
    "gradient": (Gradient(), lambda n: (torch.randn(n, 6),), ({0: BATCH},)),
    "gradient_along_batch": (GradientAlongBatch(), lambda n: (torch.randn(n, 4),), ({0: BATCH},)),
    "gradient_coordinates": (GradientCoordinates(), lambda n: (torch.randn(n, 6), torch.sort(torch.rand(6) * 5)[0]),
                             ({0: BATCH}, None)),
}


def _feed(session, args):
    return {i.name: a.numpy() for i, a in zip(session.get_inputs(), args, strict=True)}


@pytest.mark.parametrize("name", list(CASES))
def test_torch_export_alone_fixes_the_dim(name: str) -> None:
    model, make, dynamic = CASES[name]
    with pytest.raises(Exception, match="specialized it to be a constant"):
        torch.export.export(model, make(3), dynamic_shapes=dynamic)


@pytest.mark.parametrize("name", list(CASES))
def test_export_keeps_the_dim_dynamic_and_matches_eager_bit_for_bit(name: str) -> None:
    model, make, dynamic = CASES[name]
    session = opforge.InferenceSession(opforge.export(model, make(3), dynamic_shapes=dynamic))
    for n in (2, 5):
        args = make(n)
        got = session.run(None, _feed(session, args))[0]
        expected = model(*args).numpy()
        assert got.shape == expected.shape and np.array_equal(got, expected), (name, n)


@pytest.mark.parametrize("name", ["kron", "take_along_dim", "matrix_norm_2"])
def test_portable_export_runs_on_plain_onnx_runtime(name: str) -> None:
    model, make, dynamic = CASES[name]
    proto = opforge.export(model, make(3), dynamic_shapes=dynamic, portable=True)
    session = ort.InferenceSession(proto.SerializeToString(), providers=["CPUExecutionProvider"])
    args = make(6)
    opforge.assert_close(model(*args).numpy(), session.run(None, _feed(session, args))[0], name)


class MultiDot(torch.nn.Module):
    def forward(self, a, b):
        return torch.linalg.multi_dot([a, b.mT, a])


def test_multi_dot_picks_eagers_order_per_size() -> None:
    """(A B) C below batch 4, A (B C) from 4 on (eager's cost comparison, made in the graph): the products
    are ONNX MatMuls, so the comparison is at float32 tolerance."""
    model, dynamic = MultiDot(), ({0: BATCH}, {0: BATCH})
    with pytest.raises(Exception, match="specialized it to be a constant"):
        torch.export.export(model, (torch.randn(3, 3), torch.randn(3, 3)), dynamic_shapes=dynamic)
    session = opforge.InferenceSession(opforge.export(model, (torch.randn(3, 3), torch.randn(3, 3)),
                                                      dynamic_shapes=dynamic))
    for n in (2, 3, 4, 40):
        args = (torch.randn(n, 3), torch.randn(n, 3))
        opforge.assert_close(model(*args).numpy(), session.run(None, _feed(session, args))[0], f"multi_dot {n}")


def test_a_model_that_fixes_the_dim_itself_is_still_refused() -> None:
    class Unrolled(torch.nn.Module):
        def forward(self, x):
            return torch.stack([x[i] * i for i in range(x.shape[0])])

    with pytest.raises(DynamicDimError, match=r"input 'x' dim 0 \('batch'\) was asked to be dynamic"):
        opforge.export(Unrolled(), (torch.randn(3, 2),), dynamic_shapes=({0: BATCH},))


def test_stand_ins_equal_torch_eagerly_on_every_branch() -> None:
    """Called eagerly under the stand-in mode: the same values as torch's own functions, bit for bit."""
    for function in (torch.kron, torch.take_along_dim, torch.linalg.matrix_norm, torch.linalg.norm, torch.gradient,
                     torch.linalg.multi_dot):
        assert function in stand_ins.STAND_INS, function
    g = torch.Generator().manual_seed(0)
    x, a = torch.randn(4, 6, generator=g), torch.randn(2, 4, 3, 5, generator=g)
    calls = [
        lambda: torch.kron(torch.randn(2, 3, generator=g), torch.randn(4, generator=g)),
        lambda: torch.kron(torch.tensor(2.0), torch.randn(3, generator=g)),
        lambda: torch.kron(torch.arange(4).reshape(2, 2), torch.ones(2, 2, dtype=torch.int64)),
        lambda: torch.take_along_dim(x, torch.tensor([[7, -1, 0]]), 1),  # wraps, as eager does
        lambda: torch.take_along_dim(x, torch.tensor([3, 23, 0])),  # dim=None: the flattened input
        lambda: torch.take_along_dim(x, torch.tensor([[1], [0]]), 0),
        lambda: torch.linalg.matrix_norm(a, 2),
        lambda: torch.linalg.matrix_norm(a, -2, dim=(3, 1), keepdim=True),
        lambda: torch.linalg.matrix_norm(a, 2, dtype=torch.float64),
        lambda: torch.linalg.norm(a[0, 0], -2),
        lambda: torch.linalg.norm(a, 2, dim=(0, -1), keepdim=True),
        lambda: torch.linalg.norm(a, 2, dim=1),  # a vector norm: torch's own function
        lambda: torch.gradient(a),
        lambda: torch.linalg.multi_dot([x[:, :3], torch.randn(3, 5, generator=g), torch.randn(5, 2, generator=g)]),
        lambda: torch.linalg.multi_dot([x[0, :3], torch.randn(3, 8, generator=g), torch.randn(8, generator=g)]),
        lambda: torch.linalg.multi_dot([torch.randn(5, 3, generator=g), torch.randn(3, 5, generator=g), x[:, :5].T]),
        lambda: torch.gradient(a, spacing=0.3, dim=(1, 3), edge_order=2),
        lambda: torch.gradient(a, spacing=[0.5, 2.0], dim=[0, 2]),
        lambda: torch.gradient(a, spacing=(torch.sort(torch.rand(4, generator=g))[0],), dim=1, edge_order=2),
    ]
    for index, call in enumerate(calls):
        state = g.get_state()
        expected = call()
        g.set_state(state)
        with stand_ins.active():
            got = call()
        for got_one, expected_one in zip(got, expected, strict=True) if isinstance(got, tuple) else [(got, expected)]:
            assert got_one.dtype == expected_one.dtype and got_one.shape == expected_one.shape, index
            assert torch.equal(got_one, expected_one), index
