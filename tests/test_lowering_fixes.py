"""opforge.ops.lowerings: aten ops that stock torch.onnx translates wrongly (silently) or fails on at edge
cases now export to plain ONNX that matches eager PyTorch on a plain onnxruntime session; for the silently
wrong ones, the test also shows stock's answer differs."""

from __future__ import annotations

import warnings

import numpy as np
import onnxruntime
import pytest
import torch
from call_module import Call

import opforge
import opforge.ops  # noqa: F401 - declares the contrib ops and the lowerings

F = torch.nn.functional
_W, _B = torch.tensor([0.5, -1.0, 2.0]), torch.tensor([0.1, 0.0, -0.3])



def _run(proto: object, args: tuple) -> list[np.ndarray]:
    session = onnxruntime.InferenceSession(proto.SerializeToString(), providers=["CPUExecutionProvider"])
    names = [i.name for i in session.get_inputs()]
    return session.run(None, {n: t.numpy() for n, t in zip(names, args, strict=True)})


def _eager(model: torch.nn.Module, args: tuple) -> list[np.ndarray]:
    with torch.no_grad():
        out = model(*args)
    return [t.numpy() for t in (out if isinstance(out, tuple) else (out,))]


def _matches(expected: list[np.ndarray], got: list[np.ndarray]) -> bool:
    try:
        for e, g in zip(expected, got, strict=True):
            opforge.assert_close(e, g, "output")
    except (opforge.VerificationError, ValueError):
        return False
    return True


def _stock(model: torch.nn.Module, args: tuple) -> list[np.ndarray] | None:
    """Stock torch.onnx + onnxruntime outputs, or None when stock fails outright."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            program = torch.onnx.export(model, args, dynamo=True, verbose=False)
        return _run(program.model_proto, args)
    except Exception:  # noqa: BLE001 - any stock failure counts as "not silently wrong"
        return None


_X4 = torch.linspace(-3, 5, 4 * 3 * 5 * 6).reshape(4, 3, 5, 6).sin() * 4 + 2

SILENTLY_WRONG = {
    "batch_norm_training_with_running_stats": (
        lambda x: F.batch_norm(x, torch.zeros(3), torch.ones(3), _W, _B, training=True), (_X4,)),
    "native_batch_norm_training": (
        lambda x: torch.native_batch_norm(x, _W, _B, torch.zeros(3), torch.ones(3), True, 0.1, 1e-5), (_X4,)),
    "avg_pool2d_divisor_override": (lambda x: F.avg_pool2d(x, 3, 2, 1, ceil_mode=True, divisor_override=4), (_X4,)),
    "avg_pool3d_divisor_override": (lambda x: F.avg_pool3d(x, 2, divisor_override=3), (_X4[:1],)),
    "logsigmoid_tails": (F.logsigmoid, (torch.linspace(-40, 40, 161),)),
    "multilabel_soft_margin_loss": (lambda x, y: F.multilabel_soft_margin_loss(x, y),
                                    (torch.tensor([[-30.0, -20.0, -9.0, 1.0, 25.0]]), torch.tensor([[0.0, 1.0, 0.5, 0.0, 1.0]]))),
    "stft_float32": (lambda x: torch.view_as_real(torch.stft(x, 10, return_complex=True)),
                     ((torch.arange(100.0) * 0.37).sin() * 9,)),
    "nonzero_0d_true": (torch.nonzero, (torch.tensor(1.5),)),
    "nonzero_0d_false": (torch.nonzero, (torch.tensor(0.0),)),
}

EDGE_CASES = {
    "native_batch_norm_eval_save_stats_empty": (
        lambda x: torch.native_batch_norm(x, _W, _B, torch.ones(3), torch.full((3,), 2.0), False, 0.1, 1e-5), (_X4,)),
    "batch_norm_no_stats_1d": (lambda x: F.batch_norm(x, None, None, _W, _B, training=True), (_X4[:, :, 0, 0],)),
    "avg_pool2d_unbatched_ceil": (
        lambda x: F.avg_pool2d(x, (2, 3), (1, 2), (1, 0), ceil_mode=True, divisor_override=2), (_X4[0],)),
    "avg_pool3d_ceil_drops_window_in_padding": (
        lambda x: F.avg_pool3d(x, 2, 2, 1, ceil_mode=True, divisor_override=3), (torch.randn(1, 2, 5, 4, 5),)),
    "avg_pool2d_plain": (lambda x: F.avg_pool2d(x, 3, 2, 1, ceil_mode=True, count_include_pad=False), (_X4,)),
    "nonzero_2d": (torch.nonzero, (torch.tensor([[0.0, 1.0], [2.0, 0.0]]),)),
    "amin_0d": (torch.amin, (torch.tensor(2.5),)),
    "amax_0d_dim0_keepdim": (lambda x: torch.amax(x, 0, keepdim=True), (torch.tensor(-1.0),)),
    "aminmax_0d": (torch.aminmax, (torch.tensor(3.0),)),
    "aminmax_dim": (lambda x: torch.aminmax(x, dim=1, keepdim=True), (_X4,)),
    "masked_var_int_count": (lambda x, m: torch.masked._ops.var(x, 1, mask=m), (_X4[0, 0], _X4[0, 0] > 2)),
    "masked_std_int_count": (lambda x, m: torch.masked._ops.std(x, 1, mask=m), (_X4[0, 0], _X4[0, 0] > 2)),
    "divide_int_by_float_0d": (torch.divide, (torch.tensor([3, 4]), torch.tensor(2.0, dtype=torch.float64))),
    "pad_circular_empty_batch": (lambda x: F.pad(x, (1, 2), mode="circular"), (torch.zeros(0, 3, 3),)),
    "pad_circular_negative": (lambda x: F.pad(x, (1, 2, 2, -1), mode="circular"), (_X4,)),
    "pad_replicate_crop_to_nothing": (lambda x: F.pad(x, (-6, 5, 0, 0), mode="replicate"), (_X4,)),
    "masked_select_broadcast": (torch.masked_select, (_X4[0, :, :1], _X4[:2] > 2)),
    "pad_replicate_3d": (lambda x: F.pad(x, (1, 2, 3, 0, 1, 1), mode="replicate"), (_X4[None],)),
    "diagonal_scatter_wide_offset": (lambda x, s: torch.diagonal_scatter(x, s, 2), (_X4[0, 0], _X4[1, 0, 0, :4])),
    "diagonal_scatter_negative_offset_dims": (lambda x, s: torch.diagonal_scatter(x, s, -1, 2, 0),
                                              (_X4[0], _X4[1, 0, :, :3])),
    "unique_consecutive_counts_inverse_nan": (
        lambda x: torch.unique_consecutive(x, return_inverse=True, return_counts=True),
        (torch.tensor([[1.0, 1.0, 2.0], [float("nan"), float("nan"), 1.0]]),)),
    "unique_consecutive_dim": (lambda x: torch.unique_consecutive(x, return_inverse=True, return_counts=True, dim=1),
                               (torch.tensor([[1.0, 1.0, 2.0, 2.0], [1.0, 1.0, 3.0, 3.0]]),)),
    "unique_consecutive_0d": (lambda x: torch.unique_consecutive(x, return_counts=True), (torch.tensor(2.0),)),
    "unique_consecutive_empty": (lambda x: torch.unique_consecutive(x, return_inverse=True), (torch.zeros(0, 3),)),
    "diagonal_scatter_empty_diagonal": (lambda x, s: torch.diagonal_scatter(x, s, 7), (_X4[0, 0], _X4[0, 0, 0, :0])),
    "as_strided_scatter_offset": (lambda x, s: torch.as_strided_scatter(x, s, (2, 2), (1, 2), 1),
                                  (_X4[0, 0, :3, :3].contiguous(), _X4[1, 0, :2, :2])),
    "as_strided_scatter_0d_view": (lambda x, s: torch.as_strided_scatter(x, s, (), (), 4),
                                   (_X4[0, 0, 0].contiguous(), torch.tensor(-7.0))),
    "as_strided_scatter_empty_view": (lambda x, s: torch.as_strided_scatter(x, s, (0, 3), (3, 1)),
                                      (_X4[0, 0, 0].contiguous(), torch.zeros(0, 3))),
    **{f"grid_sampler_3d_{mode}_{padding}_{corners}": (
        lambda x, g, m=m, p=p, c=corners: torch.grid_sampler_3d(x, g, m, p, c),
        (_X4[None, :2, :, :3], torch.linspace(-1.3, 1.2, 2 * 4 * 2 * 3).reshape(1, 2, 4, 2, 3).cos() * 1.2))
       for m, mode in enumerate(("trilinear", "nearest")) for p, padding in enumerate(("zeros", "border", "reflection"))
       for corners in (False, True)},
}

# aliases and edge cases of ops opforge lowers onto contrib ops (checked through both runtimes)
CONTRIB_CASES = {
    "special_log_ndtr_lower_tail": (torch.special.log_ndtr, (torch.linspace(-40, 6, 24),)),
    "special_erfcx_large": (torch.special.erfcx, (torch.linspace(-3, 60, 24),)),
    **{f"polygamma_n{n}": (lambda x, n=n: torch.polygamma(n, x), (torch.linspace(-3.3, 20, 24),)) for n in (0, 1, 3)},
    "special_modified_bessel_i0": (torch.special.modified_bessel_i0, (_X4[0],)),
    "deprecated_cholesky_upper": (lambda a: torch.cholesky(a, upper=True), (torch.eye(3) * 2 + 0.1,)),
    "linalg_solve_ex": (lambda a, b: torch.linalg.solve_ex(a, b, left=False), (torch.eye(3) * 2 + 0.1, _X4[0, 0, :2, :3])),
    "linalg_tensorinv": (lambda a: torch.linalg.tensorinv(a, ind=2), ((torch.eye(6) * 2 + 0.1).reshape(2, 3, 6),)),
    **{f"index_reduce_{r}_0d": (lambda s, i, src, r=r: s.index_reduce(0, i, src, r, include_self=r != "mean"),
                                (torch.tensor(1.5), torch.tensor([0]), torch.tensor(-2.0)))
       for r in ("mean", "prod", "amin", "amax")},
}


@pytest.mark.parametrize("name", sorted(SILENTLY_WRONG) + sorted(EDGE_CASES))
def test_lowering_matches_eager_on_plain_onnxruntime(name: str) -> None:
    fn, args = {**SILENTLY_WRONG, **EDGE_CASES}[name]
    model = Call(fn)
    proto = opforge.export(model, args, portable=True)  # verify=True compares too
    assert not [n.op_type for n in proto.graph.node if n.domain not in ("", "ai.onnx")], "plain ONNX expected"
    expected = _eager(model, args)
    got = _run(proto, args)
    assert len(got) == len(expected)
    for e, g in zip(expected, got, strict=True):
        opforge.assert_close(e, g, name)


@pytest.mark.parametrize("name", sorted(CONTRIB_CASES))
def test_contrib_lowering_matches_eager_both_routes(name: str) -> None:
    fn, args = CONTRIB_CASES[name]
    model = Call(fn)
    expected = _eager(model, args)
    proto = opforge.export(model, args)  # verify=True: opforge.InferenceSession against eager
    assert any(n.domain == "opforge.contrib" for n in proto.graph.node), "expected a contrib node"
    got = opforge.InferenceSession(proto).run(None, {i.name: t.numpy() for i, t in zip(proto.graph.input, args)})
    for e, g in zip(expected, got, strict=True):
        opforge.assert_close(e, g, name)
    portable = opforge.export(model, args, portable=True)
    for e, g in zip(expected, _run(portable, args), strict=True):
        opforge.assert_close(e, g, f"{name} (portable)")


STOCK_WRONG = {**SILENTLY_WRONG, **{k: CONTRIB_CASES[k] for k in ("special_log_ndtr_lower_tail",
                                                                  "special_erfcx_large")}}


@pytest.mark.parametrize("name", sorted(STOCK_WRONG))
def test_stock_export_was_silently_wrong(name: str) -> None:
    """Why the override exists: stock exports without error and answers differently from eager."""
    fn, args = STOCK_WRONG[name]
    model = Call(fn)
    stock = _stock(model, args)
    assert stock is not None, f"{name}: stock export failed instead of answering wrongly"
    assert not _matches(_eager(model, args), stock), f"{name}: stock torch.onnx got it right; drop the override?"


def test_batch_norm_module_in_training_updates_running_stats() -> None:
    class _Train(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.bn = torch.nn.BatchNorm2d(3, momentum=0.3)

        def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, ...]:
            return self.bn(x), self.bn.running_mean * 1, self.bn.running_var * 1

    model = _Train().train()
    proto = opforge.export(model, (_X4,), verify=False)
    expected = [t.detach().numpy() for t in _Train().train()(_X4)]
    got = _run(proto, (_X4,))
    for e, g in zip(expected, got, strict=True):
        opforge.assert_close(e, g, "train-mode BatchNorm2d")

