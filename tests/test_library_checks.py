"""Torch library functions whose own code checks tensor values (torch.cov, torch.corrcoef,
F.gaussian_nll_loss): ``opforge.export`` traces them as their stand-ins (opforge/exporters/stand_ins.py), the
results match eager on OpInfo's samples, invalid values still raise in ONNX Runtime, and the stand-ins
never leak out of the export (other threads, later eager calls, failed exports)."""

from __future__ import annotations

import threading

import numpy as np
import onnxruntime
import pytest
import torch
import torch.nn.functional as F  # noqa: N812
from call_module import Call

import opforge
import opforge.ops  # noqa: F401 - declares the contrib ops and their stand-ins
from opforge.exporters import stand_ins
from opforge.portable import make_portable

RTOL, ATOL = 1e-4, 1e-5
# OpInfo sample indices (tools/coverage_opinfo.py's float32 samples): cov's 1-D / (1, M) / (N, M) inputs with
# no weights, fweights, aweights or both and corrections 0, 1, 2; corrcoef's 0-d and matrix results;
# gaussian_nll_loss's var forms ((1), 0-d, one dim short, (N, 1)), broadcast targets, full, eps, the three
# reductions. (Every sample of cov and corrcoef and every third of gaussian_nll_loss's 324 was checked the
# same way by hand; this is the fast guard.)
OPINFO = {"cov": [0, 8, 13, 20, 25, 39],
          "corrcoef": [0, 2],
          "nn.functional.gaussian_nll_loss": [7, 28, 56, 133, 175, 224, 287, 323]}


def _plain(proto: object) -> onnxruntime.InferenceSession:
    return onnxruntime.InferenceSession(proto.SerializeToString(), providers=["CPUExecutionProvider"])


def _feed(session: object, inputs: tuple[torch.Tensor, ...]) -> dict:
    return {i.name: t.numpy() for i, t in zip(session.get_inputs(), inputs)}


def _assert_matches(got: np.ndarray, expected: torch.Tensor) -> None:
    assert got.shape == tuple(expected.shape), (got.shape, tuple(expected.shape))
    np.testing.assert_allclose(got, expected.numpy(), rtol=RTOL, atol=ATOL, equal_nan=True)


class _Sample(torch.nn.Module):
    """An OpInfo sample as a module: its tensors are the inputs, everything else a constant."""

    def __init__(self, fn: object, sample: object) -> None:
        super().__init__()
        self.fn = fn
        self.leaves, self.spec = torch.utils._pytree.tree_flatten((sample.input, tuple(sample.args),
                                                                    dict(sample.kwargs)))
        self.slots = [i for i, leaf in enumerate(self.leaves) if isinstance(leaf, torch.Tensor)]
        self.inputs = tuple(self.leaves[i].detach().clone() for i in self.slots)

    def forward(self, *tensors: torch.Tensor) -> torch.Tensor:
        filled = list(self.leaves)
        for slot, tensor in zip(self.slots, tensors):
            filled[slot] = tensor
        first, args, kwargs = torch.utils._pytree.tree_unflatten(filled, self.spec)
        return self.fn(first, *args, **kwargs)


@pytest.fixture(scope="module")
def opinfo() -> dict:
    from torch.testing._internal.common_methods_invocations import op_db

    found = {op.name: op for op in op_db if op.name in OPINFO and not op.variant_test_name}
    return {name: (op, list(op.sample_inputs("cpu", torch.float32))) for name, op in found.items()}


@pytest.mark.parametrize(("name", "index"), [(n, i) for n, indices in OPINFO.items() for i in indices])
def test_opinfo_sample_matches_eager_on_both_routes(opinfo: dict, name: str, index: int) -> None:
    op, samples = opinfo[name]
    module = _Sample(op.op, samples[index])
    expected = module(*module.inputs)
    proto = opforge.export(module, module.inputs)  # verify=True: ORT against eager
    types = {n.op_type for n in proto.graph.node if n.domain == "opforge.contrib"}
    assert types == ({"GaussianNllLoss"} if "gaussian" in name else {"Cov"}), types
    session = opforge.InferenceSession(proto)
    _assert_matches(session.run(None, _feed(session, module.inputs))[0], expected)
    portable = _plain(make_portable(proto))  # what export(portable=True) does after the same trace
    _assert_matches(portable.run(None, _feed(portable, module.inputs))[0], expected)


# -- invalid values raise in ONNX Runtime ------------------------------------------------------------


def _weighted_cov(x: torch.Tensor, fweights: torch.Tensor, aweights: torch.Tensor) -> torch.Tensor:
    return torch.cov(x, fweights=fweights, aweights=aweights)


def _cov_inputs() -> tuple[torch.Tensor, ...]:
    g = torch.Generator().manual_seed(0)
    return torch.randn(3, 5, generator=g), torch.tensor([1, 2, 0, 1, 3]), torch.rand(5, generator=g) + 0.1


@pytest.mark.parametrize(("change", "message"), [
    (lambda f, a: (-f, a), "fweights cannot be negative"),
    (lambda f, a: (f, -a), "aweights cannot be negative"),
    (lambda f, a: (f * 0, a), "weights sum to zero"),
])
def test_invalid_cov_weights_raise_torchs_error_in_onnx_runtime(change: object, message: str) -> None:
    x, fweights, aweights = _cov_inputs()
    model = Call(_weighted_cov)
    proto = opforge.export(model, (x, fweights, aweights))
    session = opforge.InferenceSession(proto)
    bad = (x, *change(fweights, aweights))
    with pytest.raises(RuntimeError, match=message) as caught:
        model(*bad)  # torch's own error, the one ONNX Runtime must give too
    with pytest.raises(RuntimeError, match=message) as raised:
        session.run(None, _feed(session, bad))
    assert "opforge.contrib::Cov" in str(raised.value), str(raised.value)
    assert str(caught.value).split("\n")[0] in str(raised.value)
    # the session survives and still computes valid inputs
    _assert_matches(session.run(None, _feed(session, (x, fweights, aweights)))[0], model(x, fweights, aweights))
    # the portable body cannot raise: NaN where torch raises, never a plausible number
    portable = _plain(make_portable(proto))
    assert np.isnan(portable.run(None, _feed(portable, bad))[0]).all()


def test_negative_variance_raises_torchs_error_in_onnx_runtime() -> None:
    model = Call(lambda x, t, v: F.gaussian_nll_loss(x, t, v, reduction="sum"))
    x, t, v = torch.randn(4, 3), torch.randn(4, 3), torch.rand(4, 3) + 0.5
    proto = opforge.export(model, (x, t, v))
    session = opforge.InferenceSession(proto)
    with pytest.raises(ValueError, match="var has negative entry"):
        model(x, t, -v)
    with pytest.raises(ValueError, match="opforge.contrib::GaussianNllLoss: var has negative entry"):
        session.run(None, _feed(session, (x, t, -v)))
    _assert_matches(session.run(None, _feed(session, (x, t, v)))[0], model(x, t, v))
    portable = _plain(make_portable(proto))
    assert np.isnan(portable.run(None, _feed(portable, (x, t, -v)))[0])


@pytest.mark.parametrize(("fn", "message"), [
    (lambda x, t, v: F.gaussian_nll_loss(x, t, v, reduction="average"), "reduction='average' is not valid"),
    (lambda x, t, v: F.gaussian_nll_loss(x, t, v[:, :2]), r"var of shape \(4, 2\) is of incorrect size"),
])
def test_invalid_arguments_are_refused_at_export_naming_the_function(fn: object, message: str) -> None:
    args = (torch.randn(4, 3), torch.randn(4, 3), torch.rand(4, 3) + 0.5)
    with pytest.raises(Exception, match=message) as raised:  # torch.onnx may wrap it in its TorchExportError
        opforge.export(Call(fn), args)
    chain, error = [], raised.value
    while error is not None:
        chain.append(error)
        error = error.__cause__ or error.__context__
    assert any(isinstance(e, ValueError) and str(e).startswith("F.gaussian_nll_loss: ") for e in chain), chain
    assert torch._C._len_torch_function_stack() == 0  # the stand-in mode left on error too


# -- beyond OpInfo: dynamic sizes, a model around the calls ----------------------------------------------


def test_dynamic_observations_and_a_model_around_cov_and_corrcoef() -> None:
    class Stats(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.proj = torch.nn.Linear(4, 3)

        def forward(self, x: torch.Tensor, w: torch.Tensor) -> tuple[torch.Tensor, ...]:
            h = self.proj(x).t()  # (3 variables, n observations)
            return h.cov(aweights=w), torch.corrcoef(h) * 2, F.gaussian_nll_loss(h, h.flip(0), w.expand(3, -1))

    model = Stats().eval()
    n = torch.export.Dim("n", min=2, max=64)
    g = torch.Generator().manual_seed(1)
    proto = opforge.export(model, (torch.randn(8, 4, generator=g), torch.rand(8, generator=g) + 0.1),
                           dynamic_shapes=({0: n}, {0: n}))
    session = opforge.InferenceSession(proto)
    for rows in (5, 17):
        inputs = (torch.randn(rows, 4, generator=g), torch.rand(rows, generator=g) + 0.1)
        with torch.no_grad():
            expected = model(*inputs)
        for got, want in zip(session.run(None, _feed(session, inputs)), expected, strict=True):
            _assert_matches(got, want)


# -- the stand-ins stay inside the export ----------------------------------------------------------------


def test_stand_ins_are_only_active_on_the_exporting_thread() -> None:
    calls = []
    spy_target = torch.cov
    original = stand_ins.STAND_INS[spy_target]
    stand_ins.STAND_INS[spy_target] = lambda *a, **k: calls.append(threading.get_ident()) or original(*a, **k)
    try:
        inside, done = threading.Event(), threading.Event()
        seen_elsewhere = []

        def other_thread() -> None:
            inside.wait(10)
            x = torch.randn(3, 4)
            seen_elsewhere.append(torch.equal(torch.cov(x), torch.cov(x)))  # torch's own function
            done.set()

        worker = threading.Thread(target=other_thread)
        worker.start()
        with stand_ins.active():
            inside.set()
            assert done.wait(10)
            torch.cov(torch.randn(3, 4))  # this thread: the stand-in (eager here, so the op runs torch.cov)
        worker.join(10)
        assert seen_elsewhere == [True]
        assert calls == [threading.get_ident()], calls
    finally:
        stand_ins.STAND_INS[spy_target] = original
    assert torch._C._len_torch_function_stack() == 0


def test_models_that_export_without_stand_ins_never_see_them(monkeypatch: pytest.MonkeyPatch) -> None:
    entered = []
    real = stand_ins.active

    def counting() -> object:
        entered.append(1)
        return real()

    monkeypatch.setattr(stand_ins, "active", counting)
    opforge.export(Call(torch.sin), (torch.randn(3, 4),))
    assert entered == []
    opforge.export(Call(lambda x: torch.cov(x, correction=0)), (torch.randn(3, 4),))
    assert entered, "a data-dependent stop in torch.cov must retry with the stand-ins"


def test_stand_ins_decline_calls_their_ops_do_not_compute_exactly() -> None:
    # float var: torch checks it in Python, no stand-in needed; integer input: Cov takes floats only
    args = (torch.randn(4, 3), torch.randn(4, 3))
    proto = opforge.export(Call(lambda x, t: F.gaussian_nll_loss(x, t, 0.5)), args)
    assert not [n for n in proto.graph.node if n.domain == "opforge.contrib"]
    cov_stand_in = stand_ins.STAND_INS[torch.cov]
    assert cov_stand_in(torch.ones(3, 4, dtype=torch.int64)) is NotImplemented
    assert cov_stand_in(torch.randn(3, 4), aweights=torch.rand(4, dtype=torch.float64)) is NotImplemented


def test_registering_a_second_stand_in_for_a_function_is_refused() -> None:
    with pytest.raises(ValueError, match="already has a stand-in"):
        stand_ins.stands_in(torch.cov)(lambda *a, **k: NotImplemented)
    with pytest.raises(TypeError, match="name at least one torch function"):
        stand_ins.stands_in()
