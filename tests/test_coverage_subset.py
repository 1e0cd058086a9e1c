"""A fast slice of the OpInfo coverage harness (tools/coverage_opinfo.py), chosen across the failure classes.

Each op runs its first usable OpInfo sample through ``opforge.export`` + ``opforge.InferenceSession``
and the portable route, and is compared with eager PyTorch exactly as the full harness does. The
stock route is left to the harness (its results are cached there; they do not change with opforge):
here every op must match on the opforge route, so an op stock handles that opforge broke would fail.
"""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import pytest

_PATH = Path(__file__).resolve().parents[1] / "tools" / "coverage_opinfo.py"
_SPEC = importlib.util.spec_from_file_location("coverage_opinfo", _PATH)
coverage = importlib.util.module_from_spec(_SPEC)
sys.modules["coverage_opinfo"] = coverage
_SPEC.loader.exec_module(coverage)

# op key -> what the portable route gives: "match", or "fallback" (an opforge.aten node has no body)
SUBSET = {
    # stock translates these: opforge must not break them (regressions)
    "sin": "match", "add": "match", "matmul": "match", "softmax": "match", "cumsum": "match", "where": "match",
    "gather": "match", "nn.functional.layer_norm": "match",
    # stock fails; opforge's contrib ops lower them, with portable bodies
    "erfinv": "match", "lgamma": "match", "digamma": "match", "cummax": "match", "median": "match",
    "hypot": "match", "i0": "match", "polygamma.polygamma_n_2": "match", "special.bessel_j0": "match",
    "special.chebyshev_polynomial_t": "match", "masked_select": "match",
    # Jacobi bodies (Svdvals, LinalgPinv); linalg.svd's first samples are 0x0: U, S, Vh are constants
    "linalg.svdvals": "match", "linalg.pinv": "match", "linalg.svd": "match",
    # stock fails; opforge lowers them to plain ONNX (opforge/ops/lowerings/), some with Loops
    "nonzero_static": "match", "put": "match", "mode": "match", "nn.functional.adaptive_max_pool2d": "match",
    "_segment_reduce.lengths": "match", "resize_as_": "match", "linalg.slogdet": "match",
    # nothing translates these: the generic fallback runs them by torch (eigen / singular vectors read)
    "svd_lowrank": "fallback", "linalg.eigh": "fallback",
    # fixed this stop: stock silently wrong (log-sigmoid tails, float32 STFT), torch's value checks (stand-ins),
    # data-dependent shapes (fallback with a dynamic dim), closed-form special functions
    "nn.functional.multilabel_soft_margin_loss": "match", "stft": "match", "cov": "match", "special.airy_ai": "match",
    "igamma": "match", "igammac": "match",
    "nn.functional.ctc_loss": "fallback",
}


@pytest.fixture(scope="module")
def ops():
    return coverage.load_ops()


@pytest.mark.parametrize("key", list(SUBSET))
def test_opinfo_op_exports_and_matches_eager(ops, key):
    record = coverage.test_op(ops[key], 1, ("opforge", "portable"))
    assert "skip" not in record, record
    assert record["opforge"] == ["match", ""], record
    status, detail = record["portable"]
    if SUBSET[key] == "match":
        assert status == "match", record
    else:
        assert status == "export" and "fallback node" in detail, record


def test_summary_counts_regressions_and_silent_errors():
    results = {
        "a": {"stock": ["match", ""], "opforge": ["match", ""], "portable": ["match", ""]},
        "b": {"stock": ["export", "x"], "opforge": ["match", ""], "portable": ["export", "fallback node(s)"]},
        "c": {"stock": ["match", ""], "opforge": ["wrong", "output 0"], "portable": ["wrong", "output 0"]},
        "d": {"stock": ["untraceable", "y"], "opforge": ["untraceable", "y"], "portable": ["untraceable", "y"]},
        "e": {"skip": "random"},
    }
    summary = coverage.summarise(results)
    assert summary["tested"] == 4 and summary["skipped"] == {"random": 1}
    assert summary["fixes"] == ["b"] and summary["regressions"] == ["c"] and summary["untraceable"] == ["d"]
    assert summary["wrong"]["opforge"] == ["c"]
    assert summary["table"]["opforge"] == {"match": 2, "export": 1, "run": 0, "wrong": 1}
    text = coverage.markdown(results, summary, {"versions": {"torch": "x"}, "samples": 2, "command": "c",
                                                "seconds": 60})
    assert "| `c` |" in text and "Regressions** (stock matches, opforge does not): 1" in text
