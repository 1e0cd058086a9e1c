"""The contrib ops' cuda kernels, run without a GPU: numpy stands in for cupy (and cupyx), so each kernel's
own logic (broadcasting, dtypes, edge cases, the torch hand-off through DLPack) runs on every sample and
is compared with the CPU kernel, as the conformance suite compares them on a GPU. What numpy cannot stand
in for (device streams, compiled CUDA kernels) is left to the `gpu`-marked tests."""

from __future__ import annotations

import sys
import types

import numpy as np
import pytest

import opforge
import opforge.ops  # noqa: F401 - declares the contrib ops
from opforge.conformance.compare import compare_outputs

CONTRIB = [op for op in opforge.list_ops("opforge.ops") if "cuda" in op.kernels]


def _numpy_cupy() -> tuple[types.ModuleType, types.ModuleType]:
    """A ``cupy`` made of numpy (with cupy's own names for host copies and DLPack) and its ``cupyx``."""
    cupy = types.ModuleType("cupy")
    cupy.__dict__.update({name: getattr(np, name) for name in dir(np) if not name.startswith("__")})
    cupy.asnumpy = np.asarray
    cupy.from_dlpack = np.from_dlpack
    cupyx = types.ModuleType("cupyx")
    cupyx.scatter_add = np.add.at
    cupyx.scatter_max = np.maximum.at
    cupyx.scatter_min = np.minimum.at
    return cupy, cupyx


@pytest.fixture
def numpy_as_cupy(monkeypatch: pytest.MonkeyPatch) -> None:
    cupy, cupyx = _numpy_cupy()
    monkeypatch.setitem(sys.modules, "cupy", cupy)
    monkeypatch.setitem(sys.modules, "cupyx", cupyx)


def _outputs(result: object) -> list[np.ndarray]:
    return [np.asarray(r) for r in (result if isinstance(result, tuple) else (result,))]


@pytest.mark.parametrize("op", CONTRIB, ids=[op.op_type for op in CONTRIB])
def test_cuda_kernel_logic_matches_the_cpu_kernel(op: opforge.OpDef, numpy_as_cupy: None) -> None:
    checked = 0
    for sample in op.samples_fn(np.random.default_rng(0)):
        if sample.skip_reason is not None or sample.xfail_reason is not None:
            continue
        attrs = {a.name: sample.kwargs.get(a.name, a.default) for a in op.attributes}
        arrays = [np.ascontiguousarray(a) if isinstance(a, np.ndarray) else a for a in sample.args]
        try:
            expected = _outputs(op.kernels["cpu"](*arrays, **attrs))
        except Exception as cpu_error:  # noqa: BLE001 - an error sample: the cuda kernel must refuse it too
            with pytest.raises(Exception) as raised:  # noqa: B017 - any error, compared below
                op.kernels["cuda"](*arrays, **attrs)
            assert type(raised.value) is type(cpu_error) or isinstance(raised.value, (ValueError, RuntimeError))
            continue
        got = _outputs(op.kernels["cuda"](*arrays, **attrs))
        comparison = compare_outputs(expected, got, order_free=op.order_free, rtol=sample.rtol, atol=sample.atol)
        assert comparison.ok, f"{op.name} {sample.name}: {comparison.reason}"
        assert [g.dtype for g in got] == [e.dtype for e in expected], f"{op.name} {sample.name}"
        checked += 1
    assert checked, f"{op.name}: no sample ran"
