"""Plain-ONNX lowerings of aten ops that used to export only as opforge.aten fallback nodes (issue 11,
item 4): each case exports with ``portable=True`` and a plain onnxruntime session matches eager PyTorch
(values, shape, dtype); argument combinations a lowering does not handle exactly still export through
the fallback, which ``portable=True`` refuses by name."""

from __future__ import annotations

import warnings
from collections.abc import Callable

import numpy as np
import onnxruntime
import pytest
import torch
from call_module import Call

import opforge
import opforge.ops  # noqa: F401 - declares the contrib ops and the lowerings
from opforge.portable import PortableError

F = torch.nn.functional
pytestmark = pytest.mark.filterwarnings("ignore:The reduce argument of torch.scatter:UserWarning")



def _gen(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def _randn(*shape: int, seed: int = 0) -> torch.Tensor:
    return torch.randn(*shape, generator=_gen(seed))


_TIES = torch.randint(0, 3, (4, 9), generator=_gen(1)).float()
_INDEX = torch.randint(0, 10, (5, 5), generator=_gen(2))
_QKV = (_randn(4, 3, 8), _randn(4, 6, 8, seed=1), _randn(4, 6, 8, seed=2))
_MASK = torch.rand(3, 6, generator=_gen(5)) > 0.4
_MASK[1] = False  # a query that may attend to nothing: eager gives 0

CASES: dict[str, tuple[Callable, tuple]] = {
    "all_dim_0d": (lambda x: torch.all(x, dim=0, keepdim=True), (torch.tensor(0.5),)),
    "any_dim_0d": (lambda x: torch.any(x, dim=0), (torch.tensor(0.0),)),
    "any_dim_empty": (lambda x: torch.any(x, dim=1), (torch.zeros(3, 0),)),
    "all_dim_empty": (lambda x: torch.all(x, dim=1), (torch.zeros(3, 0),)),
    "any_dims": (lambda x: torch.any(x > 0.5, dim=(0, 2), keepdim=True), (torch.rand(3, 4, 2, generator=_gen(3)),)),
    "squeeze_multiple": (lambda x: torch.squeeze(x, (1, 2)), (_randn(5, 1, 5, 1),)),
    "put_accumulate": (lambda x, i, s: torch.put(x, i, s, accumulate=True),
                       (_randn(3, 3), torch.tensor([0, -1, 4, 0]), _randn(4, seed=1))),
    "put": (lambda x, i, s: torch.put(x, i, s), (_randn(3, 3), torch.tensor([0, -1, 4]), _randn(3, seed=1))),
    "scatter_reduce_add_larger_src": (lambda x, i, s: torch.scatter(x, 0, i, s, reduce="add"),
                                      (_randn(10, 5), _INDEX, _randn(6, 7, seed=1))),
    "scatter_value_reduce_multiply": (lambda x, i: torch.scatter(x, 1, i, 2.5, reduce="multiply"),
                                      (_randn(10, 5), _INDEX % 5)),
    "nonzero_static_padded": (lambda x: torch.nonzero_static(x, size=4), (torch.tensor([[0.0, 1], [2, 0]]),)),
    "nonzero_static_cut": (lambda x: torch.nonzero_static(x, size=1, fill_value=-5),
                           (torch.tensor([[0.0, 1], [2, 0]]),)),
    "nonzero_static_0d": (lambda x: torch.nonzero_static(x, size=2), (torch.tensor(1.0),)),
    "pdist_p0": (lambda x: F.pdist(x, 0), (_randn(5, 3).round(),)),
    "pdist_p1": (lambda x: F.pdist(x, 1), (_randn(5, 3),)),
    "pdist_p2": (F.pdist, (_randn(6, 4),)),
    "pdist_p3_5": (lambda x: F.pdist(x, 3.5), (_randn(5, 3),)),
    "pdist_inf": (lambda x: F.pdist(x, float("inf")), (_randn(5, 3),)),
    "pdist_one_row": (F.pdist, (_randn(1, 5),)),
    "sdpa_3d_causal": (lambda q, k, v: F.scaled_dot_product_attention(q, k, v, is_causal=True), _QKV),
    "sdpa_3d_scale": (lambda q, k, v: F.scaled_dot_product_attention(q, k, v, scale=0.3), _QKV),
    "sdpa_3d_float_mask": (lambda q, k, v, m: F.scaled_dot_product_attention(q, k, v, attn_mask=m),
                           (*_QKV, _randn(4, 3, 6, seed=4))),
    "sdpa_3d_bool_mask_empty_row": (lambda q, k, v, m: F.scaled_dot_product_attention(q, k, v, attn_mask=m),
                                    (*_QKV, _MASK)),
    "sdpa_4d_bool_mask_empty_row": (lambda q, k, v, m: F.scaled_dot_product_attention(q, k, v, attn_mask=m),
                                    (*(t[None] for t in _QKV), _MASK)),
}

_NAN = float("nan")
_MODE_NAN = torch.randint(0, 4, (40, 12), generator=_gen(6)).float()
_MODE_NAN[_MODE_NAN == 3] = _NAN
CASES.update({
    "mode_ties_and_last_index": (lambda x: torch.mode(x, 1),
                                 (torch.tensor([[1.0, 2, 2, 1, 3, 1, 2], [5, 4, 4, 5, 5, 4, 0], [3, 3, 3, 3, 3, 3, 3]]),)),
    "mode_nan_where_insertion_sort_leaves_it": (
        lambda x: torch.mode(x, 1), (torch.tensor([[_NAN, 1, _NAN, 2, 1], [_NAN, _NAN, 1, 2, 2], [_NAN, 0, 0, _NAN, _NAN]]),)),
    "mode_nan_random": (lambda x: torch.mode(x, 1), (_MODE_NAN,)),
    "mode_signed_zero_keepdim": (lambda x: torch.mode(x, -1, True), (torch.tensor([[-0.0, 0.0, 1, 1]]),)),
    "mode_0d": (lambda x: torch.mode(x, 0), (torch.tensor(2.5),)),
    "mode_dim0_16_ties": (lambda x: torch.mode(x, 0), (torch.randint(0, 4, (16, 7, 3), generator=_gen(7)).float(),)),
    "mode_int64": (lambda x: torch.mode(x, 1), (torch.randint(-3, 3, (6, 9), generator=_gen(8)),)),
})

_POOL_NAN = torch.randint(0, 3, (2, 3, 7, 5), generator=_gen(10)).float()
_POOL_NAN[_POOL_NAN == 2] = _NAN
CASES.update({
    "unfold_empty_batch": (lambda x: F.unfold(x, 2, 1, 0, 1), (torch.zeros(0, 1, 5, 5),)),
    "unfold_all_arguments": (lambda x: F.unfold(x, (2, 3), (2, 1), (1, 2), (2, 1)), (_randn(2, 3, 7, 6),)),
    "unfold_unbatched": (lambda x: F.unfold(x, 3, padding=1), (_randn(2, 5, 4),)),
    "adaptive_max_pool2d_uneven": (lambda x: F.adaptive_max_pool2d(x, (3, 4), return_indices=True),
                                   (_randn(2, 3, 7, 5),)),
    "adaptive_max_pool2d_upsampling": (lambda x: F.adaptive_max_pool2d(x, (5, 6), return_indices=True),
                                       (_randn(2, 3, 3, 4),)),
    "adaptive_max_pool2d_nan_last": (lambda x: F.adaptive_max_pool2d(x, (3, 2), return_indices=True), (_POOL_NAN,)),
    "adaptive_max_pool2d_ties_first": (lambda x: F.adaptive_max_pool2d(x, (3, 2), return_indices=True),
                                       (torch.randint(0, 2, (2, 3, 7, 5), generator=_gen(11)).float(),)),
    "adaptive_max_pool1d": (lambda x: F.adaptive_max_pool1d(x, 3, True), (_randn(3, 4, 7),)),
    "adaptive_avg_pool3d_empty_batch": (lambda x: F.adaptive_avg_pool3d(x, (5, 7, 4)), (torch.zeros(0, 2, 8, 8, 8),)),
    "adaptive_avg_pool3d_uneven": (lambda x: F.adaptive_avg_pool3d(x, (3, 2, 5)), (_randn(2, 2, 7, 5, 9),)),
})

_KTH = torch.randint(0, 4, (30, 40), generator=_gen(12)).float()
_KTH[torch.rand(_KTH.shape, generator=_gen(13)) < 0.2] = _NAN
CASES.update({  # KthValue's body replays torch's quickselect: the same index among ties and NaNs
    **{f"kthvalue_ties_nan_k{k}": (lambda x, k=k: torch.kthvalue(x, k, 1), (_KTH,)) for k in (1, 7, 20, 33, 40)},
    "kthvalue_dim0_keepdim": (lambda x: torch.kthvalue(x, 3, 0, True),
                              (torch.randint(0, 3, (9, 4, 5), generator=_gen(14)).float(),)),
    "kthvalue_int64": (lambda x: torch.kthvalue(x, 5, 1), (torch.randint(-2, 2, (6, 33), generator=_gen(15)),)),
    "kthvalue_0d": (lambda x: torch.kthvalue(x, 1, 0), (torch.tensor(2.5),)),
})

_SEGMENT_DATA = torch.tensor([1.0, _NAN, 3.0, 4.0, -1.0, 2.0])
_LENGTHS = torch.tensor([2, 0, 3, 1])
CASES.update({
    **{f"segment_reduce_{r}": (lambda d, n, r=r: torch.segment_reduce(d, r, lengths=n), (_SEGMENT_DATA, _LENGTHS))
       for r in ("max", "min", "sum", "prod", "mean")},
    **{f"segment_reduce_{r}_initial": (lambda d, n, r=r: torch.segment_reduce(d, r, lengths=n, initial=5.0),
                                       (_SEGMENT_DATA, _LENGTHS)) for r in ("max", "min", "sum", "prod", "mean")},
    "segment_reduce_offsets_not_from_0": (lambda d, o: torch.segment_reduce(d, "sum", offsets=o),
                                          (_randn(7), torch.tensor([1, 3, 3, 5]))),
    "segment_reduce_2d_mean": (lambda d, n: torch.segment_reduce(d, "mean", lengths=n), (_randn(6, 3), _LENGTHS)),
    "resize_as_same_size": (lambda x, y: x.clone().resize_as_(y), (_randn(5, 5, 5), _randn(5, 5, 5, seed=1))),
    "resize_as_0d": (lambda x, y: x.clone().resize_as_(y), (torch.tensor(1.5), torch.tensor(2.0))),
    "resize_shrinks": (lambda x: x.clone().resize_(2, 2), (_randn(2, 3),)),
    "resize_reshapes": (lambda x: x.clone().resize_(3, 2), (_randn(2, 3),)),
})

_SAMPLES = torch.rand(2, 3, 2, generator=_gen(16))
_FMP_NAN = torch.randint(0, 3, (2, 3, 9, 9), generator=_gen(17)).float()
_FMP_NAN[_FMP_NAN == 2] = _NAN


def _fractional(kernel: object, size: tuple[int, int]) -> Callable:
    return lambda x, r: F.fractional_max_pool2d(x, kernel, output_size=size, return_indices=True, _random_samples=r)


CASES.update({
    "fractional_max_pool2d": (_fractional(3, (4, 5)), (_randn(2, 3, 11, 13), _SAMPLES)),
    "fractional_max_pool2d_rect_kernel": (_fractional((2, 3), (5, 3)), (_randn(2, 3, 9, 8), _SAMPLES)),
    "fractional_max_pool2d_nan_last": (_fractional(3, (3, 3)), (_FMP_NAN, _SAMPLES)),
    "fractional_max_pool2d_ties_first": (_fractional(3, (3, 4)),
                                         (torch.randint(0, 2, (2, 3, 9, 9), generator=_gen(18)).float(), _SAMPLES)),
    "fractional_max_pool2d_one_output_row": (_fractional(3, (1, 2)), (_randn(2, 3, 9, 9), _SAMPLES)),
    "fractional_max_pool2d_unbatched": (_fractional(3, (4, 4)), (_randn(3, 9, 9), _SAMPLES[:1])),
})


def _eager(fn: Callable, args: tuple) -> list[np.ndarray]:
    with torch.no_grad():
        out = fn(*args)
    return [t.numpy() for t in (out if isinstance(out, (tuple, list)) else (out,))]


def _portable(fn: Callable, args: tuple) -> list[np.ndarray]:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        proto = opforge.export(Call(fn), args, portable=True)
    local = {(f.domain, f.name) for f in proto.functions}
    assert all(n.domain in ("", "ai.onnx") or (n.domain, n.op_type) in local for n in proto.graph.node), \
        "a node without an ONNX body is left"
    session = onnxruntime.InferenceSession(proto.SerializeToString(), providers=["CPUExecutionProvider"])
    names = [i.name for i in session.get_inputs()]
    return session.run(None, {n: t.numpy() for n, t in zip(names, args, strict=True)})


@pytest.mark.parametrize("name", sorted(CASES))
def test_portable_matches_eager(name: str) -> None:
    fn, args = CASES[name]
    expected, got = _eager(fn, args), _portable(fn, args)
    assert len(got) == len(expected)
    for e, g in zip(expected, got, strict=True):
        assert g.shape == e.shape and g.dtype == e.dtype, (g.shape, g.dtype, e.shape, e.dtype)
        np.testing.assert_allclose(g, e, rtol=1e-4, atol=1e-5)  # NaN where eager has NaN


FALLBACK_CASES: dict[str, tuple[Callable, tuple, str]] = {
    "scatter_reduce_0d_self": (lambda x, i, s: torch.scatter(x, 0, i, s, reduce="add"),
                               (torch.tensor(1.0), torch.tensor(0), torch.tensor(2.0)), "aten.scatter.reduce"),
    "mode_17": (lambda x: torch.mode(x, 1), (torch.randint(0, 3, (2, 17), generator=_gen(9)).float(),),
                "aten.mode.default"),
    "sdpa_5d": (F.scaled_dot_product_attention, tuple(t[None, None] for t in _QKV),
                "aten.scaled_dot_product_attention.default"),
}


@pytest.mark.parametrize("name", sorted(FALLBACK_CASES))
def test_unhandled_case_falls_back(name: str) -> None:
    """A combination a lowering does not handle exactly runs as a fallback node that matches eager, and
    portable export refuses it by name instead of emitting something different."""
    fn, args, torch_name = FALLBACK_CASES[name]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        proto = opforge.export(Call(fn), args)  # verify=True: opforge.InferenceSession matches eager
        assert any(n.domain == "opforge.aten" for n in proto.graph.node)
        with pytest.raises(PortableError, match=torch_name.replace(".", r"\.")):
            opforge.export(Call(fn), args, portable=True)


def test_growing_resize_is_refused_when_portable() -> None:
    """Eager leaves the new elements uninitialised: no plain-ONNX answer, so portable refuses by name."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with pytest.raises(PortableError, match=r"aten\.resize\.default"):
            opforge.export(Call(lambda x: x.clone().resize_(3, 3)), (_randn(2, 3),), portable=True, verify=False)
