"""{{ cookiecutter.onnx_domain }}::{{ cookiecutter.op_name }}: an example op; replace its body with your layer.

Everything about the op lives here: the torch reference (the decorated function), the kernels that
ONNX Runtime runs, output shape/type inference, a pure-ONNX body and the conformance samples.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import numpy as np
import opforge
import torch
from onnxscript import opset18 as op

FLOATS = ["float32", "float64", "float16"]


@opforge.op({{ (cookiecutter.onnx_domain ~ "::" ~ cookiecutter.op_name) | tojson }}, version=1, dtypes={"x": FLOATS, "output": FLOATS})
def {{ cookiecutter.__op_module }}(x: torch.Tensor, limit: float = 1.0) -> torch.Tensor:
    """Smooth clipping: ``limit * tanh(x / limit)`` is close to ``x`` near 0 and bounded by ``limit``."""
    return limit * torch.tanh(x / limit)


def _compute(xp: Any, x: Any, limit: float) -> Any:
    # one body for numpy and cupy: both follow the array API used here
    return (limit * xp.tanh(x / limit)).astype(x.dtype)


@{{ cookiecutter.__op_module }}.kernel("cpu")
def _(x: np.ndarray, *, limit: float) -> np.ndarray:
    return _compute(np, x, limit)
{%- if cookiecutter.with_cuda %}


@{{ cookiecutter.__op_module }}.kernel("cuda")
def _(x: Any, *, limit: float) -> Any:
    import cupy

    return _compute(cupy, x, limit)
{%- endif %}


@{{ cookiecutter.__op_module }}.infer
def _(x: opforge.TensorSpec, *, limit: float) -> opforge.TensorSpec:
    return opforge.TensorSpec(x.shape, x.dtype)


@{{ cookiecutter.__op_module }}.onnx_function
def _(x, limit: float = 1.0):  # onnxscript compiles this body to an ONNX function
    scale = op.CastLike(op.Constant(value_float=limit), x)
    return op.Mul(scale, op.Tanh(op.Div(x, scale)))


@{{ cookiecutter.__op_module }}.samples
def _(rng: np.random.Generator) -> Iterator[opforge.Sample]:
    # the conformance suite also derives float64/float16, resized-batch and empty variants of these
    yield opforge.Sample(rng.standard_normal((4, 8)).astype(np.float32)).named("default_limit")
    yield opforge.Sample((rng.standard_normal((2, 3, 5)) * 4).astype(np.float32), limit=2.5).named("limit_2.5")
