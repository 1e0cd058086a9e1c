"""F.linear_cross_entropy's chunked path (torch's own custom ops ``torch_nn::_linear_cross_entropy_batch_chunked``
and ``..._no_reduction``) exports to plain ONNX: ``opforge.export`` (verify=True: ORT against eager) and
``portable=True`` run by a plain onnxruntime session both match eager; the gradient buffers the scalar op
returns match eager too, and calls the translation cannot express are refused by name."""

from __future__ import annotations

import warnings

import numpy as np
import onnxruntime
import pytest
import torch
from call_module import Call

import opforge
import opforge.ops  # noqa: F401 - declares the contrib ops and the lowerings
from opforge.ops.lowerings import linear_cross_entropy as lce

pytestmark = pytest.mark.skipif(lce._CHUNKED is None, reason="this torch has no linear_cross_entropy chunked ops")

F = torch.nn.functional


def _options(chunk: int = 2, **kw: object) -> object:
    from torch.nn.modules.linear_cross_entropy_options import LinearCrossEntropyOptions

    return LinearCrossEntropyOptions(batch_chunk_size=chunk, chunking_method="auto", **kw)


def _gen(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


X = torch.randn(9, 5, generator=_gen(0))
W = torch.randn(6, 5, generator=_gen(1))
B = torch.randn(6, generator=_gen(2))
CW = torch.rand(6, generator=_gen(3)) + 0.1
T = torch.randint(0, 6, (9,), generator=_gen(4))
T_IGNORED = T.clone()
T_IGNORED[[1, 4]] = -100
T_IGNORED_IN_RANGE = T.clone()
T_IGNORED_IN_RANGE[[0, 7]] = 2


def _lce(reduction: str, *, bias: bool = False, class_weight: bool = False, ignore_index: int = -100):
    def fn(x: torch.Tensor, w: torch.Tensor, t: torch.Tensor, b: torch.Tensor, cw: torch.Tensor) -> torch.Tensor:
        return F.linear_cross_entropy(x, w, t, linear_bias=b if bias else None, weight=cw if class_weight else None,
                                      reduction=reduction, ignore_index=ignore_index, options=_options())

    return fn


CASES = {
    "mean": (_lce("mean"), T),
    "sum": (_lce("sum"), T),
    "none": (_lce("none"), T),
    "mean_bias_weight": (_lce("mean", bias=True, class_weight=True), T),
    "sum_bias_weight": (_lce("sum", bias=True, class_weight=True), T),
    "none_bias_weight": (_lce("none", bias=True, class_weight=True), T),
    "mean_ignored": (_lce("mean", class_weight=True), T_IGNORED),
    "none_ignored": (_lce("none", bias=True), T_IGNORED),
    "mean_ignore_in_range": (_lce("mean", class_weight=True, ignore_index=2), T_IGNORED_IN_RANGE),
    "none_ignore_in_range": (_lce("none", ignore_index=2), T_IGNORED_IN_RANGE),
    "mean_all_ignored_is_nan": (_lce("mean"), torch.full((9,), -100)),
}


def _eager(fn, args) -> list[np.ndarray]:
    with torch.no_grad():
        out = fn(*[a.clone() for a in args])
    return [t.numpy() for t in (out if isinstance(out, tuple) else (out,))]


def _run_plain(proto, args) -> list[np.ndarray]:
    session = onnxruntime.InferenceSession(proto.SerializeToString(), providers=["CPUExecutionProvider"])
    return session.run(None, {i.name: a.numpy() for i, a in zip(session.get_inputs(), args)})


def _close(got: list[np.ndarray], expected: list[np.ndarray]) -> None:
    assert len(got) == len(expected)
    for g, e in zip(got, expected):
        assert g.shape == e.shape and g.dtype == e.dtype
        np.testing.assert_allclose(g, e, rtol=1e-4, atol=1e-5, equal_nan=True)


def _export(module, args, **kw):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return opforge.export(module, args, **kw)


def _has_no_custom_nodes(proto) -> bool:
    from opforge._graph import all_nodes

    return all(n.domain in ("", "ai.onnx") for n in all_nodes(proto.graph.node))


@pytest.mark.parametrize("case", sorted(CASES))
def test_matches_eager_on_both_routes(case: str) -> None:
    fn, target = CASES[case]
    args = (X, W, target, B, CW)
    module = Call(fn)
    expected = _eager(fn, args)
    if case == "mean_all_ignored_is_nan":
        assert np.isnan(expected[0])
    _export(module, args)  # verify=True: ORT against eager on these inputs, raises on a mismatch
    proto = _export(module, args, portable=True, verify=False)
    assert _has_no_custom_nodes(proto)
    _close(_run_plain(proto, args), expected)


def test_opinfo_samples_match() -> None:
    """The harness's two samples of each variant (the 1-D input one included) on both routes."""
    from torch.testing._internal.common_methods_invocations import op_db

    seen = 0
    for info in op_db:
        if info.name != "nn.functional.linear_cross_entropy" or info.variant_test_name not in ("chunked",
                                                                                                 "chunked_none"):
            continue
        for sample in list(info.sample_inputs("cpu", torch.float32))[:2]:
            args = (sample.input, *[a for a in sample.args if isinstance(a, torch.Tensor)])
            kwargs = sample.kwargs

            def fn(x, w, t, _kwargs=kwargs):
                return F.linear_cross_entropy(x, w, t, **_kwargs)

            expected = _eager(fn, args)
            _export(Call(fn), args)
            _close(_run_plain(_export(Call(fn), args, portable=True, verify=False), args), expected)
            seen += 1
    assert seen == 4


class _Head(torch.nn.Module):
    """A classifier head whose parameters require grad: the export traces the scalar op with the
    compute_*_grad flags True (the gradient outputs are then unused by the graph)."""

    def __init__(self) -> None:
        super().__init__()
        self.linear = torch.nn.Linear(5, 6)
        self.register_buffer("class_weight", CW.clone())

    def forward(self, x: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        return F.linear_cross_entropy(x, self.linear.weight, t, linear_bias=self.linear.bias,
                                      weight=self.class_weight, reduction="mean", options=_options())


def test_module_with_trainable_parameters() -> None:
    torch.manual_seed(0)
    head = _Head()
    args = (X, T_IGNORED)
    _export(head, args)
    proto = _export(head, args, portable=True, verify=False)
    with torch.no_grad():
        expected = [head(*args).numpy()]
    _close(_run_plain(proto, args), expected)


@pytest.mark.parametrize("flags", [(False, False, False), (True, True, True), (True, False, True), (False, True, False)])
@pytest.mark.parametrize("reduction", ["mean", "sum"])
def test_gradient_outputs_match_eager(flags: tuple[bool, bool, bool], reduction: str) -> None:
    """All four outputs of the scalar op: the loss, and per flag the gradient eager precomputes or the
    rank-matching empty tensor it returns when the flag is False."""

    def fn(x, w, t, b, cw):
        return lce._CHUNKED(x, w, t, b, cw, reduction, -100, 0.0, 2, "compact", torch.float32, True, *flags)

    args = (X, W, T_IGNORED, B, CW)
    expected = _eager(fn, args)
    assert [e.shape for e in expected[1:]] == [
        X.shape if flags[0] else (0, 0), W.shape if flags[1] else (0, 0), B.shape if flags[2] else (0,)]
    _export(Call(fn), args)
    _close(_run_plain(_export(Call(fn), args, portable=True, verify=False), args), expected)


def test_label_smoothing_is_refused_by_name() -> None:
    """torch's fake implementation lets label_smoothing through tracing (eager refuses it at run time):
    the translation refuses it, naming the op and the fix."""

    def fn(x, w, t):
        return lce._CHUNKED(x, w, t, None, None, "mean", -100, 0.1, 2, "compact", torch.float32, True,
                            False, False, False)[0]

    with pytest.raises(Exception) as caught:
        _export(Call(fn), (X, W, T), verify=False)
    text = "".join(str(e) for e in _chain(caught.value))
    assert "_linear_cross_entropy_batch_chunked" in text and "label_smoothing" in text
    assert "F.cross_entropy" in text


def _chain(exc: BaseException):
    seen = set()
    while exc is not None and id(exc) not in seen:
        seen.add(id(exc))
        yield exc
        exc = exc.__cause__ or exc.__context__


@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
def test_float16_is_computed_at_acc_dtype_like_eager(reduction: str) -> None:
    """float16 inputs: eager accumulates in float32 (acc_dtype) and rounds the result to float16; so does the
    translation (float16 tolerance, abs 2.5e-3 / rel 1e-3)."""
    g = _gen(7)
    x, w = torch.randn(33, 16, generator=g).half(), torch.randn(40, 16, generator=g).half()
    b, t = torch.randn(40, generator=g).half(), torch.randint(0, 40, (33,), generator=g)

    def fn(x, w, t, b):
        return F.linear_cross_entropy(x, w, t, linear_bias=b, reduction=reduction, options=_options(8))

    args = (x, w, t, b)
    expected = _eager(fn, args)[0]
    got = _run_plain(_export(Call(fn), args, portable=True, verify=False), args)[0]
    assert got.dtype == np.float16 and got.shape == expected.shape
    np.testing.assert_allclose(got.astype(np.float32), expected.astype(np.float32), rtol=1e-3, atol=2.5e-3)
