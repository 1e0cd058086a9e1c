"""``histogram`` / ``histogramdd`` in plain ONNX (float32): ``portable=True`` run by a plain onnxruntime session
gives eager's bin edges and counts bit for bit (summed weights within float32 tolerance: eager's summation
order is its own) (data-dependent ranges, given ranges, weights, density, given
edge tensors); what the lowering does not reproduce exactly (float64) still exports through the generic
fallback, which ``portable=True`` refuses by name."""

from __future__ import annotations

import warnings

import numpy as np
import onnxruntime
import pytest
import torch
from call_module import Call

import opforge
import opforge.ops  # noqa: F401 - declares the contrib ops and the lowerings
from opforge.exporters import aten_fallback
from opforge.portable import PortableError


def _gen(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def _export(fn, args, **kw):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return opforge.export(Call(fn), args, **kw)


def _session(proto):
    return onnxruntime.InferenceSession(proto.SerializeToString(), providers=["CPUExecutionProvider"])


def _run(session, args):
    return session.run(None, {i.name: a.numpy() for i, a in zip(session.get_inputs(), args)})


def _flat(out):
    items = []
    for item in (out if isinstance(out, (tuple, list)) else (out,)):
        items += _flat(item) if isinstance(item, (tuple, list)) else [item]
    return items


def _same(fn, args, got, exact=True):
    expected = [t.numpy() for t in _flat(fn(*args))]
    assert len(got) == len(expected)
    for e, g in zip(expected, got):
        assert e.shape == g.shape and e.dtype == g.dtype
        if exact:
            np.testing.assert_array_equal(g, e)  # bit for bit (NaN where eager has NaN)
        else:  # summed weights: eager's summation order is its own (threads, vectors)
            np.testing.assert_allclose(g, e, rtol=1e-4, atol=1e-5)


def _plain_only(proto):
    from opforge._graph import all_nodes

    return all(n.domain in ("", "ai.onnx") for n in all_nodes(proto.graph.node))


X = torch.randn(7, 9, generator=_gen(0))
P2 = torch.randn(40, 2, generator=_gen(1))
P3 = torch.rand(5, 6, 3, generator=_gen(2))
W40 = torch.rand(40, generator=_gen(3))
EDGES = torch.tensor([-2.0, -0.5, 0.0, 0.25, 1.5])

CASES = {
    "bins_default": (lambda x: torch.histogram(x), (X,)),
    "bins_7": (lambda x: torch.histogram(x, 7), (X,)),
    "range_outside_data": (lambda x: torch.histogram(x, 5, range=(-1.0, 0.5)), (X,)),
    "range_equal_bounds": (lambda x: torch.histogram(x, 3, range=(0.25, 0.25)), (X,)),
    "weight_density": (lambda x, w: torch.histogram(x, 6, weight=w, density=True), (X, torch.rand(7, 9, generator=_gen(8)))),
    "constant_input": (lambda x: torch.histogram(x * 0 + 2.0, 4), (X,)),
    "edges_tensor": (lambda x, e: torch.histogram(x, e), (X, EDGES)),
    "edges_tensor_density": (lambda x, e: torch.histogram(x, e, density=True), (X, EDGES)),
    "dd_bins": (lambda p: torch.histogramdd(p, [3, 5]), (P2,)),
    "dd_range_weight_density": (lambda p, w: torch.histogramdd(p, [4, 2], range=[-1.0, 1.0, 0.0, 2.0], weight=w,
                                                               density=True), (P2, W40)),
    "dd_3d_int_bins": (lambda p: torch.histogramdd(p, 4), (P3,)),
    "dd_edges_tensors": (lambda p, e1, e2: torch.histogramdd(p, [e1, e2]), (P2, EDGES, torch.tensor([-1.0, 0.0, 2.0]))),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_portable_is_bit_exact(case):
    fn, args = CASES[case]
    _export(fn, args)  # verify=True on the opforge route
    proto = _export(fn, args, portable=True, verify=False)
    assert _plain_only(proto)
    _same(fn, args, _run(_session(proto), args), exact="weight" not in case)


@pytest.mark.parametrize("bins", [1, 2, 14, 15, 31, 100, 118])
def test_edges_and_counts_bit_exact_over_many_ranges(bins):
    """One export, many inputs: the data-dependent edges (eager's linspace, one rounding per edge) and
    the counts match eager bit for bit for every input, on both sides of the halfway index."""
    fn = lambda x: torch.histogram(x, bins)  # noqa: E731
    session = _session(_export(fn, (X,), portable=True, verify=False))
    rng = np.random.default_rng(bins)
    for _ in range(150):
        scale = rng.choice([1e-3, 1.0, 37.0, 1e4])
        x = torch.from_numpy((rng.standard_normal(X.shape) * scale + rng.standard_normal() * scale)
                             .astype(np.float32))
        _same(fn, (x,), _run(session, (x,)))


def test_float64_falls_back_and_portable_names_it():
    fn = lambda x: torch.histogram(x, 5)  # noqa: E731
    args = (X.double(),)
    proto = _export(fn, args)
    assert "aten__histogram__bin_ct" in aten_fallback.fallback_nodes(proto)
    with pytest.raises(PortableError, match="torch.ops.aten.histogram.bin_ct"):
        _export(fn, args, portable=True)


def test_non_finite_data_range_gives_non_finite_edges_and_no_counts():
    """Eager raises on a NaN or infinite min / max (no range given); an ONNX graph cannot raise, so the edges
    come out non-finite and nothing is counted, never a plausible histogram."""
    fn = lambda x: torch.histogram(x, 4)  # noqa: E731
    session = _session(_export(fn, (torch.randn(6),), portable=True, verify=False))
    for bad in (float("nan"), float("inf"), float("-inf")):
        x = torch.tensor([0.0, 1.0, bad, 2.0, 3.0, 4.0])
        with pytest.raises(RuntimeError, match="not finite"):
            fn(x)
        hist, edges = _run(session, (x,))
        assert not np.isfinite(edges).all() and not hist.any()
