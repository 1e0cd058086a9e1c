"""What the Igamma and Igammac contrib ops share: the float64 body and the samples."""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
from onnxscript import opset18 as op
from onnxscript import script

from ..types import Sample
from ._common import BODY_LIB
from ._special_lib import regularized_gamma

FLOATS = ["float32", "float64", "float16"]


@script(BODY_LIB, default_opset=op)
def regularized_pair(a, x):  # noqa: ANN001, ANN201
    """(P(a, x), Q(a, x)) in float64 for a, x of any float dtype, broadcast against each other."""
    av = op.Cast(a, to=11)
    xv = op.Cast(x, to=11)
    shape = op.Shape(av + xv)
    p, q = regularized_gamma(op.Expand(av, shape), op.Expand(xv, shape))
    return p, q


def samples(rng: np.random.Generator) -> Iterator[Sample]:
    """Both branches (series, continued fraction), large a near x = a, the domain edges, broadcasting, 0-d,
    empty, float64 and float16."""
    f32 = np.float32
    yield Sample(rng.uniform(0.1, 10, (4, 8)).astype(f32), rng.uniform(0, 15, (4, 8)).astype(f32)).named("uniform")
    a = np.array([30, 150, 150, 500, 1e3, 1e4, 1e4, 2.5e4, 0.5, 1e-3, 1e-3, 5], f32)
    x = np.array([31, 140, 170, 480, 1e3, 9.9e3, 1.01e4, 2.5e4, 60, 0.5, 3, 1e-8], f32)
    yield Sample(a, x).named("large_a_and_tails")
    yield Sample(np.array([-1, 1, 0, 0, 2, 0, np.inf, np.inf, 3, np.nan, 2, 1], f32),
                 np.array([1, -1, 0, 2, 0, np.inf, 4, np.inf, np.inf, 1, np.nan, 1], f32)).named("domain_edges")
    yield Sample(rng.uniform(0.5, 20, (3, 1)), rng.uniform(0, 30, (1, 5))).named("broadcast_float64")
    yield Sample(np.array(2.5, f32), np.array(1.5, f32)).named("0d")
    yield Sample(np.zeros((0, 3), f32), np.ones((0, 3), f32)).named("empty")
    yield Sample(rng.uniform(0.5, 8, 9).astype(np.float16), rng.uniform(0, 10, 9).astype(np.float16)).named("float16")
