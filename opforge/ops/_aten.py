"""The aten -> contrib mapping: torch ops that stock torch.onnx cannot export (or exports wrongly)
lowered onto the contrib ops of this package.

Each op module declares its lowering with :func:`lowers`; ``opforge.export`` picks every lowering
up from the dynamo translation table (:func:`opforge.exporters.dynamo.add_translation`). An aten
op named there is also kept out of torch.onnx's decomposition pass, which skips every op that has
a translation.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from ..exporters import dynamo
from ..opdef import OpDef

# aten OpOverload -> the contrib op it lowers onto (for docs and the survey)
LOWERINGS: dict[Any, OpDef] = {}
# aten OpOverload -> why opforge replaces (or supplies) its translation with plain ONNX (for docs)
OVERRIDES: dict[Any, str] = {}


def bind(overload: Any, args: tuple, kwargs: dict) -> dict[str, Any]:
    """The arguments of an fx call of ``overload`` by schema name, defaults filled in."""
    return dynamo.bind_call(overload, args, kwargs)


def emit(opdef: OpDef, *inputs: Any, **attrs: Any) -> Any:
    """Emit one node of ``opdef`` into the graph being translated (inputs in order, then attributes)."""
    from onnxscript.values import Opset

    kinds = {a.name: a.kind for a in opdef.attributes}
    onnx_attrs = {name: dynamo.onnx_attribute(kinds[name], value) for name, value in attrs.items()}
    items = list(inputs)
    while items and items[-1] is None:
        items.pop()
    return getattr(Opset(opdef.domain, opdef.version), opdef.op_type)(*items, **onnx_attrs)


def _register(overload: Any, name: str, fn: Callable[[dict[str, Any]], Any],
              when: Callable[[dict[str, Any]], bool] | None = None) -> None:
    """Make ``fn(bound_args)`` the dynamo translation of ``overload`` (under ``name``, for tracebacks);
    calls that ``when(bound_args)`` refuses become the generic fallback node."""

    def translate(*args: Any, **kwargs: Any) -> Any:
        bound = bind(overload, args, kwargs)
        if when is not None and not when(bound):
            return fall_back(overload, bound)
        return fn(bound)

    translate.__name__ = name
    translate.__doc__ = f"{overload._schema}"
    dynamo.add_translation(overload, translate)


def lowers(overload: Any, opdef: OpDef, *, when: Callable[[dict[str, Any]], bool] | None = None
           ) -> Callable[[Callable[[dict[str, Any]], Any]], Callable]:
    """Register ``fn(bound_args) -> ONNX value(s)`` as the translation of the aten ``overload``.

    ``when(bound_args)``: the calls ``fn`` handles; any other call of ``overload`` becomes the generic
    fallback node (run by torch, reported in the export summary), never a wrong translation. (A translation
    that raised would fail the export: the fallback only replaces ops that have no translation.)"""

    def attach(fn: Callable[[dict[str, Any]], Any]) -> Callable:
        _register(overload, f"aten_{overload.__name__.replace('.', '_')}_to_{opdef.op_type}", fn, when)
        LOWERINGS[overload] = opdef
        return fn

    return attach


def overrides(overload: Any, reason: str) -> Callable[[Callable[[dict[str, Any]], Any]], Callable]:
    """Register ``fn(bound_args) -> ONNX value(s)`` built from standard ONNX ops as the translation of
    the aten ``overload``, in place of stock torch.onnx's (wrong or missing) one; ``reason`` says why."""

    def attach(fn: Callable[[dict[str, Any]], Any]) -> Callable:
        _register(overload, f"aten_{overload.__name__.replace('.', '_')}_fixed", fn)
        OVERRIDES[overload] = reason
        return fn

    return attach


def fall_back(overload: Any, a: dict[str, Any]) -> Any:
    """The generic ``opforge.aten`` fallback node for a call (``a``: its bound arguments) that a plain-ONNX
    translation of ``overload`` does not handle exactly; it is reported in the export summary like any
    other fallback, and ``portable=True`` refuses it."""
    from ..exporters import aten_fallback

    return aten_fallback.fall_back(overload, a)


def std_opset() -> Any:
    """The standard ONNX opset the lowerings use for glue nodes (Cast, Transpose, ...)."""
    from onnxscript import opset18

    return opset18
