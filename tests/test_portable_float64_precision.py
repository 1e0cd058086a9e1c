"""Portable bodies that compute in float64 keep float64's precision: their constants are float64 tensors
(an onnxscript float literal is a float32 constant, which left LGamma 2.5e-4 and Digamma 3e-5 relative off
torch in float64), and Igamma / Igammac agree with torch's float64 kernel far below the conformance
tolerance across large a, both tails and the domain edges."""

from __future__ import annotations

import numpy as np
import onnxruntime as ort
import pytest
import torch
from onnx import helper

import opforge
import opforge.ops  # noqa: F401 - declares the contrib ops
from opforge.portable import attach_functions
from opforge.types import onnx_dtype

CONTRIB = {o.op_type: o for o in opforge.list_ops("opforge.ops")}


def _portable(op: opforge.OpDef, *arrays: np.ndarray, **attrs: object) -> np.ndarray:
    names = [f"in{i}" for i in range(len(arrays))]
    node = helper.make_node(op.op_type, names, ["out"], domain=op.domain, **attrs)
    graph = helper.make_graph([node], "g", [helper.make_tensor_value_info(n, onnx_dtype(a.dtype), a.shape)
                                            for n, a in zip(names, arrays, strict=True)],
                              [helper.make_tensor_value_info("out", onnx_dtype(arrays[0].dtype), None)])
    model = attach_functions(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 18),
                                                                     helper.make_opsetid(op.domain, 1)]))
    session = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    return session.run(None, dict(zip(names, arrays, strict=True)))[0]


def _relative_error(got: np.ndarray, expected: np.ndarray, floor: float) -> float:
    assert np.array_equal(np.isnan(got), np.isnan(expected))
    keep = np.abs(expected) > floor
    return float(np.max(np.abs(got[keep] - expected[keep]) / np.abs(expected[keep])))


@pytest.mark.parametrize(("op_type", "attrs", "limit"), [("LGamma", {}, 1e-11), ("Digamma", {}, 1e-9),
                                                         ("Polygamma", {"n": 1}, 1e-9)])
def test_float64_bodies_keep_float64_precision(op_type: str, attrs: dict, limit: float) -> None:
    rng = np.random.default_rng(0)
    x = np.concatenate([rng.uniform(-20, 50, 3000), 10 ** rng.uniform(-6, 6, 3000)])
    op = CONTRIB[op_type]
    expected = op.reference(torch.from_numpy(x), **attrs).numpy()
    assert _relative_error(_portable(op, x, **attrs), expected, 1e-3) < limit


@pytest.mark.parametrize("op_type", ["Igamma", "Igammac"])
def test_incomplete_gamma_body_matches_torch_in_float64(op_type: str) -> None:
    rng = np.random.default_rng(1)
    a = 10 ** rng.uniform(-3, 5, 4000)
    spread = np.where(rng.random(4000) < 0.5, 0.05, 1.0)  # half of them near x = a, where both methods are slowest
    x = a * np.exp(rng.normal(0, 1, 4000) * spread)
    edges_a = np.array([0, 0, 2, np.inf, np.inf, 3, -1, 1, np.nan, 1e-3])
    edges_x = np.array([0, 2, 0, 4, np.inf, np.inf, 1, -1, 1, 1e-9])
    a, x = np.concatenate([a, edges_a]), np.concatenate([x, edges_x])
    op = CONTRIB[op_type]
    expected = op.reference(torch.from_numpy(a), torch.from_numpy(x)).numpy()
    got = _portable(op, a, x)
    assert _relative_error(got, expected, 1e-30) < 1e-8
    np.testing.assert_array_equal(got[-10:-1], expected[-10:-1])  # the domain edges exactly
