"""The generic fallback for ops that return ``Tensor[]`` (``aten._histogramdd_bin_edges``): one ONNX output per
element, the length taken from the exported program's fake value and carried in the node's name
(``..__default__<n>``); everything that still cannot be expressed is refused by name. float32 histogramdd has a
plain-ONNX lowering (tests/test_histogram_portable.py), so these cases use float64, which falls back."""

from __future__ import annotations

import subprocess
import sys
import warnings

import numpy as np
import pytest
import torch
from call_module import Call, run_session
from onnx import TensorProto, helper

import opforge
from opforge.exporters import aten_fallback
from opforge.portable import PortableError

_EDGES = torch.ops.aten._histogramdd_bin_edges.default


def _gen(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def _export(fn, args, **kwargs):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return opforge.export(Call(fn), args, **kwargs)



def _close(fn, args, got):
    expected = fn(*args)
    expected = list(expected) if isinstance(expected, (tuple, list)) else [expected]
    assert len(got) == len(expected)
    for e, g in zip(expected, got):
        assert tuple(e.shape) == g.shape
        opforge.assert_close(e.numpy(), g, "Tensor[] fallback vs eager")


def _hist(bins, **kw):
    def fn(x, *w):
        result = torch.histogramdd(x, bins, weight=w[0] if w else None, **kw)
        return (result.hist, *result.bin_edges)

    return fn


CASES = {
    "bins_5d": (_hist([1, 1, 1, 1, 1]), (torch.randn(5, 5, generator=_gen(0), dtype=torch.float64),)),
    "bins_2d_density": (_hist([3, 4], density=True), (torch.randn(20, 2, generator=_gen(1), dtype=torch.float64),)),
    "one_dim_range_weight": (_hist([4], range=[-1.0, 1.0]),
                             (torch.randn(12, 1, generator=_gen(2), dtype=torch.float64),
                              torch.rand(12, generator=_gen(3), dtype=torch.float64))),
    "int_bins_3d": (_hist(3), (torch.rand(4, 7, 3, generator=_gen(4), dtype=torch.float64),)),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_histogramdd_exports_and_matches_eager(case):
    fn, args = CASES[case]
    proto = _export(fn, args)  # verify=True: ORT against eager
    dims = args[0].shape[-1]
    assert f"aten___histogramdd_bin_edges__default__{dims}" in aten_fallback.fallback_nodes(proto)
    _close(fn, args, run_session(proto, args))


def test_opinfo_samples_match():
    """OpInfo's float32 samples (the lowering's route now) and the same in float64 (the fallback's)."""
    from torch.testing._internal.common_methods_invocations import op_db

    info = next(o for o in op_db if o.name == "histogramdd" and not o.variant_test_name)
    samples = [*list(info.sample_inputs("cpu", torch.float32))[:3], *list(info.sample_inputs("cpu", torch.float64))[:3]]
    for sample in samples:
        bins = sample.args[0]
        tensors = [sample.input] + (list(bins) if isinstance(bins, (list, tuple)) and bins
                                    and isinstance(bins[0], torch.Tensor) else [])

        def fn(x, *edges, _bins=bins, _kw=sample.kwargs):
            result = torch.histogramdd(x, list(edges) if edges else _bins, **_kw)
            return (result.hist, *result.bin_edges)

        _close(fn, tensors, run_session(_export(fn, tuple(tensors)), tensors))


def test_two_list_lengths_in_one_model():
    """Two calls with different list lengths: one node (and one OpDef) per length."""

    def fn(x, y):
        a = torch.histogramdd(x, [2, 3])
        b = torch.histogramdd(y, [2, 2, 2])
        return (a.hist, *a.bin_edges, b.hist, *b.bin_edges)

    args = (torch.randn(10, 2, generator=_gen(5), dtype=torch.float64),
            torch.randn(10, 3, generator=_gen(6), dtype=torch.float64))
    proto = _export(fn, args)
    nodes = aten_fallback.fallback_nodes(proto)
    assert {"aten___histogramdd_bin_edges__default__2", "aten___histogramdd_bin_edges__default__3"} <= set(nodes)
    _close(fn, args, run_session(proto, args))


def test_portable_names_the_list_op():
    fn, args = CASES["bins_5d"]
    with pytest.raises(PortableError) as info:
        _export(fn, args, portable=True)
    assert "torch.ops.aten._histogramdd_bin_edges.default" in str(info.value)


def test_saved_model_loads_in_a_fresh_process(tmp_path):
    fn, args = CASES["bins_2d_density"]
    path = tmp_path / "hist.onnx"
    _export(fn, args, f=path)
    np.save(tmp_path / "x.npy", args[0].numpy())
    expected = fn(*args)
    np.save(tmp_path / "edge1.npy", expected[2].numpy())
    script = (
        "import numpy as np, opforge\n"
        f"d = {str(tmp_path)!r}\n"
        "s = opforge.InferenceSession(d + '/hist.onnx')\n"
        "got = s.run(None, {s.get_inputs()[0].name: np.load(d + '/x.npy')})\n"
        "assert len(got) == 3, len(got)\n"
        "opforge.assert_close(np.load(d + '/edge1.npy'), got[2], 'fresh process')\n"
    )
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]


def _model(op_type, outputs):
    node = helper.make_node(op_type, ["x"], [f"y{i}" for i in range(outputs)], domain="opforge.aten",
                            bins=[2] * outputs)
    graph = helper.make_graph([node], "g", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [6, outputs])],
                              [helper.make_tensor_value_info(f"y{i}", TensorProto.FLOAT, None) for i in range(outputs)])
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 18), helper.make_opsetid("opforge.aten", 1)])


def test_a_model_naming_the_list_op_with_its_length_runs():
    x = np.random.default_rng(0).standard_normal((6, 2)).astype(np.float32)
    got = opforge.InferenceSession(_model("aten___histogramdd_bin_edges__default__2", 2)).run(None, {"x": x})
    expected = _EDGES(torch.from_numpy(x), [2, 2])
    for e, g in zip(expected, got):
        np.testing.assert_allclose(g, e.numpy(), rtol=1e-6)


def test_a_length_other_than_the_declared_one_fails_atrun_session():
    x = np.random.default_rng(0).standard_normal((6, 3)).astype(np.float32)
    node = helper.make_node("aten___histogramdd_bin_edges__default__2", ["x"], ["y0", "y1"], domain="opforge.aten",
                            bins=[2, 2, 2])
    graph = helper.make_graph([node], "g", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [6, 3])],
                              [helper.make_tensor_value_info(f"y{i}", TensorProto.FLOAT, None) for i in range(2)])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 18), helper.make_opsetid("opforge.aten", 1)])
    with pytest.raises(Exception, match="returned 3 tensors; this node declares 2 outputs"):
        opforge.InferenceSession(model).run(None, {"x": x})


@pytest.mark.parametrize("op_type", [
    "aten___histogramdd_bin_edges__default",  # a Tensor[] op without its length
    "aten___histogramdd_bin_edges__default__0",  # zero outputs
    "aten___histogramdd_bin_edges__default__999",  # past MAX_LIST_OUTPUTS
    "aten___histogramdd_bin_edges__default__02",  # not a canonical count
    "aten__polygamma__default__3",  # a count on an op that returns a tensor
    "os__system__default__2",  # not an allowed namespace
])
def test_malformed_list_names_are_refused(op_type):
    before = {(o.domain, o.op_type) for o in opforge.list_ops()}
    with pytest.raises(aten_fallback.FallbackNameError):
        opforge.InferenceSession(_model(op_type, 2))
    assert {(o.domain, o.op_type) for o in opforge.list_ops()} == before


def test_unknown_list_length_is_refused_clearly():
    """Outside a translation with a fake value (no fx node), the length is unknown: refused, naming the op."""
    with pytest.raises(aten_fallback.FallbackError, match="_histogramdd_bin_edges.*list length"):
        aten_fallback._list_returning(_EDGES)(torch.zeros(3, 2), [2, 2])
    with pytest.raises(aten_fallback.FallbackError, match="returns Tensor\\[\\]"):
        aten_fallback.declare(_EDGES)
