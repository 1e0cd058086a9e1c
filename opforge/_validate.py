"""Decoration-time checks: parse the torch reference's signature and check attached functions.

Every error names the op, the parameter and the fix, in one voice (see ``error``).
"""

from __future__ import annotations

import collections.abc
import inspect
import re
import types
import typing
from collections.abc import Callable
from typing import Any

from .types import ALL_DTYPES, dtype_name

_NAME = re.compile(r"^(?P<domain>[A-Za-z_][A-Za-z0-9_]*(?:\.[A-Za-z_][A-Za-z0-9_]*)*)::(?P<op>[A-Za-z_][A-Za-z0-9_]*)$")
RESERVED_DOMAINS = {"", "ai.onnx", "ai.onnx.ml", "ai.onnx.preview.training", "aten", "prim", "onnx"}
ATTRIBUTE_TYPES: dict[Any, str] = {
    float: "float",
    int: "int",
    bool: "bool",
    str: "str",
    list[int]: "ints",
    list[float]: "floats",
    list[str]: "strs",
}
RESERVED_ATTRIBUTE_NAMES = {"domain", "op_type", "name", "_opforge"}


class DeclarationError(TypeError):
    """An ``@opforge.op`` declaration or an attached function is malformed."""


def error(qualname: str, message: str) -> DeclarationError:
    return DeclarationError(f"opforge.op({qualname!r}): {message}")


def parse_name(name: str) -> tuple[str, str]:
    match = _NAME.match(name)
    if match is None:
        raise DeclarationError(
            f"opforge.op({name!r}): expected a name of the form 'domain::OpType' (domain may hold dots, "
            "e.g. 'mylab::IterShrink' or 'com.acme.vision::Warp')"
        )
    domain, op_type = match["domain"], match["op"]
    if domain in RESERVED_DOMAINS or domain.startswith("ai.onnx"):
        raise DeclarationError(
            f"opforge.op({name!r}): the domain {domain!r} belongs to ONNX/torch; choose your own, e.g. 'mylab::{op_type}'"
        )
    return domain, op_type


def _is_tensor(tp: Any) -> bool:
    return getattr(tp, "__name__", None) == "Tensor" and getattr(tp, "__module__", "").startswith("torch")


def _strip_optional(tp: Any) -> tuple[Any, bool]:
    origin = typing.get_origin(tp)
    if origin in (typing.Union, types.UnionType):
        args = [a for a in typing.get_args(tp) if a is not type(None)]
        if len(args) == 1 and len(typing.get_args(tp)) == 2:
            return args[0], True
    return tp, False


def _sequence_of(tp: Any) -> Any | None:
    origin = typing.get_origin(tp)
    if origin in (list, collections.abc.Sequence, typing.Sequence):  # noqa: UP006
        (arg,) = typing.get_args(tp) or (None,)
        return arg
    return None


def classify_parameter(qualname: str, param: inspect.Parameter, tp: Any) -> tuple[str, Any]:
    """Return ("input", kind) with kind in tensor/optional/variadic, or ("attribute", type name)."""
    if tp is inspect.Parameter.empty:
        raise error(qualname, f"parameter {param.name!r} has no type annotation; annotate it as torch.Tensor, "
                    "torch.Tensor | None, Sequence[torch.Tensor], float, int, bool, str, list[int], "
                    "list[float] or list[str]")
    if param.kind in (inspect.Parameter.VAR_POSITIONAL, inspect.Parameter.VAR_KEYWORD):
        raise error(qualname, f"parameter {param.name!r}: *args/**kwargs are not supported; "
                    "use Sequence[torch.Tensor] for a variadic input")
    if param.name in RESERVED_ATTRIBUTE_NAMES:
        raise error(qualname, f"parameter name {param.name!r} is reserved; rename it")
    if _is_tensor(tp):
        return "input", "tensor"
    inner, optional = _strip_optional(tp)
    if optional and _is_tensor(inner):
        return "input", "optional"
    element = _sequence_of(tp)
    if element is not None and _is_tensor(element):
        return "input", "variadic"
    if optional:
        raise error(qualname, f"parameter {param.name!r}: only tensors may be optional (torch.Tensor | None); "
                    f"give the attribute a default instead of {tp!r}")
    if element is not None and element in (int, float, str):
        return "attribute", ATTRIBUTE_TYPES[list[element]]
    if tp in ATTRIBUTE_TYPES:
        return "attribute", ATTRIBUTE_TYPES[tp]
    raise error(qualname, f"parameter {param.name!r} has unsupported type {tp!r}; expected torch.Tensor, "
                "torch.Tensor | None, Sequence[torch.Tensor], float, int, bool, str, list[int], list[float] or list[str]")


def check_default(qualname: str, name: str, kind: str, default: Any) -> Any:
    """Check (and normalise) an attribute default against its declared kind."""
    ok = {
        "float": lambda v: isinstance(v, (int, float)) and not isinstance(v, bool),
        "int": lambda v: isinstance(v, int) and not isinstance(v, bool),
        "bool": lambda v: isinstance(v, bool),
        "str": lambda v: isinstance(v, str),
        "ints": lambda v: isinstance(v, (list, tuple)) and all(isinstance(e, int) and not isinstance(e, bool) for e in v),
        "floats": lambda v: isinstance(v, (list, tuple)) and all(isinstance(e, (int, float)) for e in v),
        "strs": lambda v: isinstance(v, (list, tuple)) and all(isinstance(e, str) for e in v),
    }[kind]
    if not ok(default):
        raise error(qualname, f"attribute {name!r} is declared {kind} but its default is {default!r}")
    if kind == "float":
        return float(default)
    if kind == "floats":
        return [float(e) for e in default]
    if kind in ("ints", "strs"):
        return list(default)
    return default


def parse_output_count(qualname: str, annotation: Any) -> int:
    if _is_tensor(annotation):
        return 1
    if typing.get_origin(annotation) is tuple:
        args = typing.get_args(annotation)
        if args and Ellipsis not in args and all(_is_tensor(a) for a in args):
            return len(args)
    raise error(qualname, f"return annotation must be torch.Tensor or tuple[torch.Tensor, ...] with a fixed "
                f"number of tensors, got {annotation!r}")


def parse_dtypes(qualname: str, names: set[str], dtypes: dict[str, Any] | None) -> dict[str, tuple[str, ...]]:
    parsed: dict[str, tuple[str, ...]] = {}
    for key, allowed in (dtypes or {}).items():
        if key not in names:
            raise error(qualname, f"dtypes names {key!r}, which is neither an input nor an output "
                        f"(known: {', '.join(sorted(names))})")
        if isinstance(allowed, str):
            allowed = [allowed]
        try:
            parsed[key] = tuple(dtype_name(d) for d in allowed)
        except TypeError as exc:
            raise error(qualname, f"dtypes[{key!r}]: {exc}") from None
    return parsed


def default_dtypes(role: str) -> tuple[str, ...]:
    """Like a torch op, an input or output takes every tensor dtype unless ``dtypes=`` narrows it."""
    return ALL_DTYPES


def check_attached(qualname: str, role: str, fn: Callable, inputs: list[str], attributes: list[str]) -> None:
    """Check that ``fn`` (a kernel or infer function) takes the reference's inputs then its attributes.

    Expected: ``fn(<inputs positionally, in order>, *, <attributes as keywords>)``; ``**kwargs``
    may stand in for the attributes.
    """
    try:
        signature = inspect.signature(fn)
    except (TypeError, ValueError):
        return  # builtins and C functions: nothing to check
    params = list(signature.parameters.values())
    positional = [p for p in params if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)]
    has_var_positional = any(p.kind == p.VAR_POSITIONAL for p in params)
    has_var_keyword = any(p.kind == p.VAR_KEYWORD for p in params)
    keyword = {p.name for p in params if p.kind in (p.KEYWORD_ONLY, p.POSITIONAL_OR_KEYWORD)}
    expected = f"{role}({', '.join(inputs)}{', *, ' if attributes else ''}{', '.join(attributes)})"
    if not has_var_positional and len(positional) < len(inputs):
        raise error(qualname, f"the {role} function {fn.__name__!r} takes {len(positional)} positional "
                    f"parameter(s) but the op has {len(inputs)} input(s); expected {expected}")
    missing = [a for a in attributes if a not in keyword]
    if missing and not has_var_keyword:
        raise error(qualname, f"the {role} function {fn.__name__!r} does not accept attribute(s) "
                    f"{', '.join(missing)}; expected {expected}")
    extra = [p.name for p in positional[len(inputs):] if p.default is p.empty and p.name not in attributes]
    if extra:
        raise error(qualname, f"the {role} function {fn.__name__!r} has parameter(s) {', '.join(extra)} that the op "
                    f"does not declare; expected {expected}")
