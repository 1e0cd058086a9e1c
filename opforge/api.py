"""The public decorator and ``export``: they connect OpDef to schemas, exporters and kernels."""

from __future__ import annotations

import os
import warnings
from collections.abc import Callable, Iterable
from typing import Any

import numpy as np
import onnx

from . import exporters, schemas
from . import opdef as registry
from ._verify import verify_export
from .exporters import summary, trace_warnings
from .kernels import InferenceSession
from .opdef import OpDef
from .types import dtype_name

registry.on_register(exporters.register)
registry.on_register(schemas.register)
registry.add_resolver(exporters.aten_fallback.resolve)  # opforge.aten::<op> nodes of a loaded model


def op(
    name: str,
    *,
    version: int = 1,
    dtypes: dict[str, Any] | None = None,
    outputs: list[str] | None = None,
    doc: str | None = None,
    serves: Iterable[str] = (),
    order_free: bool = False,
) -> Callable[[Callable], OpDef]:
    """Declare a custom ONNX operator from its torch reference.

    One definition registers the ONNX schema, a ``torch.library`` op with its dynamo and
    TorchScript exporters, and the ONNX Runtime bridge. Attach a numpy kernel, a cupy kernel,
    output specs, samples and a portable ONNX body with the returned :class:`OpDef`'s methods.

    Args:
        name (str): ``"domain::OpType"``; the domain may hold dots.
        version (int): the op's since-version; versions of one op live side by side.
        dtypes (dict[str, list]): allowed dtypes per input or output name (default: every
            tensor dtype, as for a torch op; narrow it where the op needs to).
        outputs (list[str]): output names (default ``output`` or ``output_0``, ``output_1``...).
        doc (str): schema doc (default: the reference's docstring).
        serves (Iterable[str]): torch functions this op stands in for (documentation).
        order_free (bool): outputs are compared order-free by the conformance suite.

    Supported parameter annotations: ``torch.Tensor`` (input), ``torch.Tensor | None``
    (optional input), ``list[torch.Tensor]`` (variadic input, anywhere; ONNX gets it last), ``float``, ``int``,
    ``bool``, ``str``, ``list[int]``, ``list[float]``, ``list[str]`` (attributes; a default
    makes them optional). Return ``torch.Tensor`` or ``tuple[torch.Tensor, ...]``.

    Examples::

        >>> @opforge.op("mylab::ScaledSwish")
        ... def scaled_swish(x: torch.Tensor, beta: float = 1.0) -> torch.Tensor:
        ...     return x * torch.sigmoid(beta * x)
        >>> @scaled_swish.kernel("cpu")
        ... def _(x, *, beta):
        ...     return x / (1 + np.exp(-beta * x))
    """

    def decorate(fn: Callable) -> OpDef:
        opdef = OpDef(name, fn, version=version, dtypes=dtypes, outputs=outputs, doc=doc, serves=serves,
                      order_free=order_free)
        return registry.register(opdef)

    return decorate


class ExportSummaryWarning(UserWarning):
    """``opforge.export`` did more than translate (fallback nodes, graph breaks): what, where, and the fix."""


class VerificationError(AssertionError):
    """ONNX Runtime's outputs differ from eager PyTorch on the export's own inputs."""


TOLERANCES = {  # (rtol, atol), ONNX Runtime's test conventions
    "float32": (1e-4, 1e-5),
    "float64": (1e-5, 1e-5),
    "float16": (1e-3, 2.5e-3),
    "bfloat16": (1e-2, 1e-2),
}


def assert_close(expected: np.ndarray, actual: np.ndarray, what: str) -> None:
    """Compare with ONNX Runtime's per-dtype tolerances; integers and bools exactly; NaN == NaN."""
    expected, actual = np.asarray(expected), np.asarray(actual)
    if expected.shape != actual.shape:
        raise VerificationError(f"{what}: shape {actual.shape} != expected {expected.shape}")
    name = dtype_name(expected.dtype)
    if name in TOLERANCES:
        rtol, atol = TOLERANCES[name]
        e, a = expected.astype(np.float64), actual.astype(np.float64)
        ok = np.isclose(a, e, rtol=rtol, atol=atol, equal_nan=True)
        if not ok.all():
            finite = np.isfinite(e) & np.isfinite(a)
            diff = float(np.max(np.abs(a - e)[finite])) if finite.any() else float("nan")
            raise VerificationError(f"{what}: {int((~ok).sum())} of {ok.size} elements differ "
                                    f"(max abs diff {diff:.3g}, rtol {rtol}, atol {atol})")
    elif not np.array_equal(expected, actual):
        raise VerificationError(f"{what}: values differ ({int((expected != actual).sum())} elements)")


def _to_numpy(value: Any) -> np.ndarray:
    from .kernels.registry import _from_torch

    return _from_torch(value)


def export(
    model: Any,
    args: tuple,
    f: str | os.PathLike | None = None,
    *,
    kwargs: dict | None = None,
    dynamic_shapes: Any = None,
    portable: bool = False,
    inline: bool | None = None,
    verify: bool = True,
    graph_breaks: bool = True,
    **torch_onnx_kwargs: Any,
) -> onnx.ModelProto:
    """Export ``model`` to ONNX with every opforge op, validate it and (``verify``) check it runs.

    Wraps ``torch.onnx.export`` (dynamo by default; ``dynamo=False`` for TorchScript), adds the
    translations of all registered opforge ops, sets opset imports, runs the ONNX checker with
    custom domains and shape inference, fails when a dim asked to be dynamic came out static, and
    with ``verify`` compares ``opforge.InferenceSession`` against eager PyTorch on ``args`` and on
    generated inputs, and checks each opforge node against its declared shape and dtype (see
    ``opforge._verify``). With ``dynamo=False`` every torch TracerWarning is reported once at its
    line as a :class:`TraceWarning`; ``strict=True`` makes them a :class:`TraceError`.
    Every op with an ``@op.onnx_function`` body travels with the model as a model-local function
    (``ModelProto.functions``, domain and name those of the op). With ``portable=True`` every opforge
    node must have one (the error names those that do not), so the file runs on a plain
    ``onnxruntime.InferenceSession``; ``inline`` expands the functions in place (``None``: the
    default measured fastest, see docs/control-flow.md).
    ``graph_breaks``: when torch.export stops at a data-dependent branch, outline the innermost function
    that can be outlined as an opaque op and retry (reported in the export summary; see
    docs/control-flow.md, "Graph breaks"); ``False`` raises an error that names the frame instead.
    """
    args = tuple(args) if isinstance(args, (tuple, list)) else (args,)
    with summary.collecting() as notes, trace_warnings.collecting() as traced:
        proto = exporters.to_onnx(model, args, kwargs=kwargs, dynamic_shapes=dynamic_shapes,
                                  graph_breaks=graph_breaks, **torch_onnx_kwargs)
    if notes:  # never silent: what opforge did beyond plain translation is said and kept in the file
        onnx.helper.set_model_props(proto, {**{p.key: p.value for p in proto.metadata_props},
                                            summary.METADATA_KEY: summary.to_metadata(notes)})
        warnings.warn(ExportSummaryWarning(summary.format_text(notes)), stacklevel=2)
    from .portable import PortableError, attach_functions, make_portable

    if portable:  # fallback nodes and outlined functions run by torch: no ONNX body to carry
        exporters.graph_breaks.refuse_portable(notes)
        if exporters.aten_fallback.portable_error(proto):
            raise PortableError(exporters.aten_fallback.portable_error(proto))
    proto = make_portable(proto, inline=inline) if portable else attach_functions(proto, strict=False)
    if verify:  # on the example and generated inputs, custom nodes against their declared specs
        verify_export(model, args, kwargs, proto, lambda p: _session_for(p, portable), assert_close,
                      VerificationError, traced, [n.name for n in notes])
    if f is not None:
        onnx.save(proto, os.fspath(f))
    return proto


def _session_for(proto: onnx.ModelProto, portable: bool) -> Any:
    if portable:
        import onnxruntime

        return onnxruntime.InferenceSession(proto.SerializeToString(), providers=["CPUExecutionProvider"])
    return InferenceSession(proto)
