"""The dynamo translation: an fx call of an opforge torch op -> one custom-domain ONNX node."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from onnxscript.values import Opset

from ..opdef import OpDef

_TRANSLATIONS: dict[Any, Callable] = {}  # torch OpOverload -> translation function


def onnx_attribute(kind: str, value: Any) -> Any:
    if kind == "bool":
        return int(bool(value))
    if kind == "float":
        return float(value)
    if kind == "floats":
        return [float(v) for v in value]
    return list(value) if kind in ("ints", "strs") else value


def make_translation(opdef: OpDef) -> Callable:
    opset = Opset(opdef.domain, opdef.version)

    def translate(*args: Any, **kwargs: Any) -> Any:
        inputs, attrs = opdef.bind(args, kwargs)
        onnx_inputs: list[Any] = []
        onnx_kwargs: dict[str, Any] = {}
        for spec, value in zip(opdef.inputs, inputs):
            if spec.variadic:
                # by keyword: torch's builder binds a positional variadic to *all* positional args
                onnx_kwargs[spec.name] = tuple(value)
            else:
                onnx_inputs.append(value)
        if not onnx_kwargs:
            while onnx_inputs and onnx_inputs[-1] is None:  # trailing absent optionals are left off
                onnx_inputs.pop()
        onnx_kwargs.update({a.name: onnx_attribute(a.kind, attrs[a.name]) for a in opdef.attributes})
        node = getattr(opset, opdef.op_type)
        return node(*onnx_inputs, **onnx_kwargs)

    translate.__name__ = f"translate_{opdef.domain.replace('.', '_')}_{opdef.op_type}_v{opdef.version}"
    translate.__doc__ = f"{opdef.describe()}"
    return translate


def register(opdef: OpDef, old: OpDef | None = None) -> None:
    if old is not None and old.torch_op is not None:
        _TRANSLATIONS.pop(old.torch_op, None)
    _TRANSLATIONS[opdef.torch_op] = make_translation(opdef)


def add_translation(target: Any, fn: Callable) -> None:
    """Map an extra torch op (e.g. an aten op a contrib op fixes) to an ONNX translation."""
    _TRANSLATIONS[target] = fn


def bind_call(overload: Any, args: tuple, kwargs: dict, error: type[Exception] = TypeError) -> dict[str, Any]:
    """The arguments of an fx call of ``overload`` by schema name, defaults filled in (``error`` when one
    is missing)."""
    bound: dict[str, Any] = {}
    positional = list(args)
    for arg in overload._schema.arguments:
        if not arg.kwarg_only and positional:
            bound[arg.name] = positional.pop(0)
        elif arg.name in kwargs:
            bound[arg.name] = kwargs[arg.name]
        elif arg.has_default_value():
            bound[arg.name] = arg.default_value
        else:
            raise error(f"{overload}: argument {arg.name!r} is missing from the call")
    return bound


def translation_table() -> dict[Any, Callable]:
    return dict(_TRANSLATIONS)


__all__ = ["add_translation", "bind_call", "make_translation", "register", "translation_table"]
