"""The generic fallback: a torch op with no ONNX translation becomes an ``opforge.aten`` node run by torch.

When torch.onnx cannot translate an aten/prims op (``DispatchError: No ONNX function found``, or a
stock translation that raises), :func:`export_with_fallback` declares that op as an ordinary
:class:`~opforge.opdef.OpDef` in the domain ``opforge.aten``, built from the op's own
``torch._C.FunctionSchema``, and retries the export with it in the translation table. The OpDef has
no cpu kernel, so ONNX Runtime (through ``opforge.InferenceSession``) runs its torch reference: that
very torch op, on zero-copy views of ONNX Runtime's buffers.

Stock translations and torch.onnx's own decompositions always come first: an op is added only after
torch.onnx failed on it. Every fallback is recorded in the export summary with a paste-ready
``@opforge.op`` that makes it permanent.

Node names are ``opforge.aten::<namespace>__<op>__<overload>`` (``aten__polygamma__default``). A
process that loads such a model resolves the node on demand (:func:`resolve`, hooked into the OpDef
registry's lookup) after checking the name strictly: one regex, the ``aten``/``prims`` namespaces only,
and an existing, non-mutating overload of ``torch.ops``.

Argument mapping (schema type -> OpDef):

* ``Tensor`` / ``Tensor?`` / ``Tensor[]`` -> input / optional input / variadic input (one at most);
* ``int``, ``SymInt``, ``float``, ``bool``, ``str``, ``int[]``, ``float[]`` -> typed attributes;
* ``Scalar``, ``ScalarType``, ``bool[]``, ``MemoryFormat``, ``Layout`` and optional (``X?``) scalars ->
  a string attribute holding the value as JSON (``null`` for None; dtypes by name), decoded and
  checked against the schema type at run time; ``Device`` and ``Generator`` arguments must be None
  or the CPU (the node runs on the CPU);
* a scalar argument that is a graph value (a ``.item()``) is folded into the attribute when it is a
  constant, otherwise the op is refused with an error that says why;
* a ``Tensor[]`` return (``_histogramdd_bin_edges``) -> one output per element: the list's length comes
  from the exported program's fake value of the call, and is part of the node's name
  (``aten___histogramdd_bin_edges__default__2``), one OpDef per length (at most ``MAX_LIST_OUTPUTS``);
* ``Tensor?[]`` inputs, ``Tensor[]`` returns of unknown or zero length, ``Tensor[]`` returned beside other
  values, mutating (``out=``, in-place) overloads are refused.
"""

from __future__ import annotations

import collections.abc
import dataclasses
import inspect
import json
import keyword
import re
import threading
from collections.abc import Callable
from typing import Any

import torch

from .. import opdef as registry
from ..opdef import OpDef
from ..types import ALL_DTYPES, TensorSpec, dtype_name, torch_dtype
from . import data_dependent_shapes, dynamo, summary

DOMAIN = "opforge.aten"
NAMESPACES = ("aten", "prims")
# <namespace>__<op name>__<overload>; torch overload names start with a letter ("default", "Tensor", ...)
_OP_TYPE = re.compile(r"^(?P<ns>aten|prims)__(?P<name>[A-Za-z_][A-Za-z0-9_]{0,99})__(?P<overload>[A-Za-z][A-Za-z0-9_]{0,59})$")
# "<op type>__<n>": the n-output form of an op that returns Tensor[] (an overload name starts with a letter, so a
# digits-only last part never is one)
_LIST_COUNT = re.compile(r"^(?P<base>.+?)__(?P<count>[1-9][0-9]{0,2})$")
MAX_LIST_OUTPUTS = 256
_DTYPES = tuple(d for d in ALL_DTYPES if not d.startswith("complex"))
_TYPED = {"int": "int", "SymInt": "int", "float": "float", "bool": "bool", "str": "str",
          "List[int]": "ints", "List[SymInt]": "ints", "List[float]": "floats"}
# schema types carried as JSON in a string attribute; "X?" of any of these and of the _TYPED ones too
_JSON = {"int", "SymInt", "float", "bool", "str", "number", "ScalarType", "MemoryFormat", "Layout", "Device",
         "Generator", "List[int]", "List[SymInt]", "List[float]", "List[bool]"}
_MEMORY_FORMATS = ("contiguous_format", "preserve_format", "channels_last", "channels_last_3d")
_LAYOUTS = ("strided",)

_LOCK = threading.RLock()
_OPDEFS: dict[str, OpDef] = {}  # op_type -> its OpDef (one per aten overload, reused)


class FallbackError(RuntimeError):
    """A torch op cannot run as an ``opforge.aten`` node (its signature or this call cannot be expressed)."""


class FallbackNameError(ValueError):
    """A model names an ``opforge.aten`` op that is malformed, unknown to torch or not allowed."""


@dataclasses.dataclass(frozen=True)
class _Param:
    """One schema argument as the OpDef sees it."""

    name: str  # Python/ONNX name (the schema name, renamed when it is a keyword or reserved)
    arg: str  # the schema's argument name
    role: str  # tensor | optional | variadic | attr | json
    schema_type: str  # the schema's type, e.g. "Optional[number]"
    kind: str = ""  # the attribute kind for role attr / json
    default: Any = inspect.Parameter.empty
    kwarg_only: bool = False


def op_type_of(overload: Any, count: int | None = None) -> str:
    """``aten.polygamma.default`` -> ``"aten__polygamma__default"`` (the node's op_type in ``opforge.aten``);
    ``count``: the length of the Tensor[] an op returns, appended as ``__<count>``."""
    namespace, _, name = overload._schema.name.partition("::")
    return f"{namespace}__{name}__{overload._overloadname}" + ("" if count is None else f"__{count}")


def returns_list(overload: Any) -> bool:
    """Whether ``overload`` returns one ``Tensor[]`` (its fallback node has one output per element)."""
    returns = overload._schema.returns
    return len(returns) == 1 and str(returns[0].real_type) == "List[Tensor]"


def _parse(op_type: str) -> tuple[Any, int | None]:
    """(OpOverload, Tensor[] length or None) named by ``op_type``, after strict checks; FallbackNameError
    otherwise."""
    if not isinstance(op_type, str) or len(op_type) > 200:
        raise FallbackNameError(f"{DOMAIN}: op type {str(op_type)[:80]!r} is not a valid fallback op name")
    counted = _LIST_COUNT.match(op_type)
    if counted is None:
        overload = _overload_for(op_type)
        if returns_list(overload):
            raise FallbackNameError(f"{DOMAIN}: op type {op_type!r} returns Tensor[]; its node name must end in "
                                    "'__<number of outputs>'")
        return overload, None
    count = int(counted["count"])
    overload = _overload_for(counted["base"])
    if not returns_list(overload) or count > MAX_LIST_OUTPUTS:
        raise FallbackNameError(f"{DOMAIN}: op type {op_type!r}: only an op that returns Tensor[] takes an output "
                                f"count suffix (1 to {MAX_LIST_OUTPUTS})")
    return overload, count


def _overload_for(op_type: str) -> Any:
    """The OpOverload named by ``op_type`` (no count suffix), after strict checks; FallbackNameError otherwise."""
    if not isinstance(op_type, str) or len(op_type) > 200:
        raise FallbackNameError(f"{DOMAIN}: op type {str(op_type)[:80]!r} is not a valid fallback op name")
    match = _OP_TYPE.match(op_type)
    if match is None:
        raise FallbackNameError(
            f"{DOMAIN}: op type {op_type!r} is not a valid fallback op name; expected "
            "'<aten|prims>__<op>__<overload>' such as 'aten__polygamma__default'")
    namespace = torch.ops.aten if match["ns"] == "aten" else torch.ops.prims
    name, overload_name = match["name"], match["overload"]
    if name.startswith("__") and not name.endswith("__") or name in dir(type(namespace)):
        raise FallbackNameError(f"{DOMAIN}: op type {op_type!r} does not name a torch operator")
    try:
        packet = getattr(namespace, name)
    except (AttributeError, RuntimeError):
        packet = None
    if not isinstance(packet, torch._ops.OpOverloadPacket) or overload_name not in packet.overloads():
        raise FallbackNameError(f"{DOMAIN}: op type {op_type!r} names no operator torch.ops.{match['ns']}.{name}."
                                f"{overload_name} in torch {torch.__version__}")
    overload = getattr(packet, overload_name)
    if overload._schema.is_mutable:
        raise FallbackNameError(f"{DOMAIN}: op type {op_type!r} names a mutating torch operator; only "
                                "functional operators may run as fallback nodes")
    return overload


# -- declaring an OpDef from a FunctionSchema ------------------------------------------------------


def _param_name(arg: str, taken: set[str]) -> str:
    name = arg
    if keyword.iskeyword(name) or name in registry_reserved() or not name.isidentifier():
        name = f"{name}_"
    while name in taken:
        name += "_"
    taken.add(name)
    return name


def registry_reserved() -> set[str]:
    from .._validate import RESERVED_ATTRIBUTE_NAMES

    return RESERVED_ATTRIBUTE_NAMES


def _params(overload: Any, count: int | None = None) -> list[_Param]:
    """Classify each schema argument; FallbackError names the first one that cannot be expressed.
    ``count``: the length of the Tensor[] the op returns (None: the op must return tensors only)."""
    where = f"torch.ops.{overload._schema.name.replace('::', '.')}.{overload._overloadname}"
    params: list[_Param] = []
    taken: set[str] = set()
    for arg in overload._schema.arguments:
        schema_type = str(arg.real_type)
        inner = schema_type[len("Optional["):-1] if schema_type.startswith("Optional[") else None
        default = arg.default_value if arg.has_default_value() else inspect.Parameter.empty
        name = _param_name(arg.name, taken)
        common = {"name": name, "arg": arg.name, "schema_type": schema_type, "kwarg_only": arg.kwarg_only}
        if schema_type == "Tensor":
            params.append(_Param(role="tensor", **common))
        elif schema_type == "Optional[Tensor]":
            params.append(_Param(role="optional", **common))
        elif schema_type == "List[Tensor]":
            if any(p.role == "variadic" for p in params):
                raise FallbackError(f"{where}: two Tensor[] arguments; an ONNX op has one variadic input at most")
            params.append(_Param(role="variadic", **common))
        elif schema_type in _TYPED:
            kind = _TYPED[schema_type]
            if default is not inspect.Parameter.empty and kind in ("ints", "floats") and not isinstance(default, list):
                default = [default] * (arg.N or 1)  # "int[2] stride=1" broadcasts
            params.append(_Param(role="attr", kind=kind, default=default, **common))
        elif schema_type in _JSON or (inner in _JSON or inner in _TYPED):
            encoded = inspect.Parameter.empty if default is inspect.Parameter.empty else _encode(default)
            params.append(_Param(role="json", kind="str", default=encoded, **common))
        else:
            raise FallbackError(f"{where}: argument {arg.name!r} has type {schema_type}, which an ONNX node cannot "
                                "carry (opforge.aten supports Tensor, Tensor?, one Tensor[], and scalar, list and "
                                "dtype arguments)")
    if returns_list(overload):
        if count is None or not 1 <= count <= MAX_LIST_OUTPUTS:
            raise FallbackError(f"{where}: it returns Tensor[] and the exported program does not give this call's "
                                f"list length (1 to {MAX_LIST_OUTPUTS} supported), so the ONNX node's outputs "
                                "cannot be declared. Fix: declare an @opforge.op that returns a fixed tuple")
        return params
    for ret in overload._schema.returns:
        if str(ret.real_type) != "Tensor":
            raise FallbackError(f"{where}: it returns {ret.real_type}; opforge.aten supports ops that return "
                                "a fixed number of tensors")
    return params


def _encode(value: Any) -> str:
    """A scalar argument as the JSON text of its attribute."""
    if isinstance(value, torch.dtype):
        return json.dumps({"dtype": dtype_name(value)})
    if isinstance(value, torch.memory_format):
        return json.dumps({"memory_format": str(value).removeprefix("torch.")})
    if isinstance(value, torch.layout):
        return json.dumps({"layout": str(value).removeprefix("torch.")})
    if isinstance(value, torch.device):
        if value.type != "cpu":
            raise FallbackError(f"device {value} (fallback nodes run on the CPU)")
        return "null"
    if isinstance(value, torch.Generator):
        raise FallbackError("a torch.Generator argument (random ops cannot run as fallback nodes)")
    if isinstance(value, (list, tuple)):
        return json.dumps([json.loads(_encode(v)) for v in value])
    if value is None or isinstance(value, (bool, int, float, str)):
        if isinstance(value, float) and value != value:
            return json.dumps({"float": "nan"})
        if isinstance(value, float) and value in (float("inf"), float("-inf")):
            return json.dumps({"float": "inf" if value > 0 else "-inf"})
        return json.dumps(value)
    raise FallbackError(f"a value of type {type(value).__name__}")


def _decode(op: str, param: _Param, text: str) -> Any:
    """The JSON text of an attribute back to the argument, checked against the schema type."""
    try:
        value = json.loads(text)
    except (TypeError, ValueError):
        raise ValueError(f"{op}: attribute {param.name!r} must be JSON, got {str(text)[:80]!r}") from None
    return _check_json(op, param, param.schema_type, value)


def _check_json(op: str, param: _Param, schema_type: str, value: Any) -> Any:
    def bad() -> ValueError:
        return ValueError(f"{op}: attribute {param.name!r} holds {json.dumps(value)[:80]}, which is not a "
                          f"{schema_type}")

    if schema_type.startswith("Optional["):
        return None if value is None else _check_json(op, param, schema_type[len("Optional["):-1], value)
    if schema_type.startswith("List["):
        if not isinstance(value, list) or len(value) > 4096:
            raise bad()
        return [_check_json(op, param, schema_type[len("List["):-1], v) for v in value]
    if isinstance(value, dict):
        if len(value) != 1:
            raise bad()
        (tag, inner), = value.items()
        if tag == "float" and inner in ("nan", "inf", "-inf") and schema_type in ("float", "number"):
            return float(inner)
        if tag == "dtype" and schema_type == "ScalarType" and inner in _DTYPES:
            return torch_dtype(inner)
        if tag == "memory_format" and schema_type == "MemoryFormat" and inner in _MEMORY_FORMATS:
            return getattr(torch, inner)
        if tag == "layout" and schema_type == "Layout" and inner in _LAYOUTS:
            return getattr(torch, inner)
        raise bad()
    checks = {
        "int": lambda v: isinstance(v, int) and not isinstance(v, bool),
        "SymInt": lambda v: isinstance(v, int) and not isinstance(v, bool),
        "float": lambda v: isinstance(v, (int, float)) and not isinstance(v, bool),
        "number": lambda v: isinstance(v, (int, float)),
        "bool": lambda v: isinstance(v, bool),
        "str": lambda v: isinstance(v, str),
    }
    if schema_type in checks and checks[schema_type](value):
        return float(value) if schema_type == "float" else value
    raise bad()  # Device / Generator are only ever None (null), handled above


def _annotation(param: _Param) -> Any:
    return {
        "tensor": torch.Tensor,
        "optional": torch.Tensor | None,
        "variadic": collections.abc.Sequence[torch.Tensor],
        "attr": {"int": int, "float": float, "bool": bool, "str": str, "ints": list[int],
                 "floats": list[float]}.get(param.kind),
        "json": str,
    }[param.role]


def _python_order(params: list[_Param]) -> list[_Param]:
    """Inputs first (the variadic one last, as ONNX wants), then required attributes, then defaulted ones."""
    inputs = [p for p in params if p.role in ("tensor", "optional")] + [p for p in params if p.role == "variadic"]
    attrs = [p for p in params if p.role in ("attr", "json")]
    return inputs + [p for p in attrs if p.default is inspect.Parameter.empty] + \
        [p for p in attrs if p.default is not inspect.Parameter.empty]


def call_overload(overload: Any, params: list[_Param], values: dict[str, Any], where: str) -> Any:
    """Call ``overload`` with ``values`` (by Python name; JSON attributes still encoded)."""
    positional: list[Any] = []
    keywords: dict[str, Any] = {}
    for param in params:
        value = values[param.name]
        if param.role == "json":
            value = _decode(where, param, value)
        elif param.role == "variadic":
            value = list(value)
        if param.kwarg_only:
            keywords[param.arg] = value
        else:
            positional.append(value)
    return overload(*positional, **keywords)


def _declare(overload: Any, count: int | None = None) -> OpDef:
    op_type = op_type_of(overload, count)
    params = _params(overload, count)
    order = _python_order(params)
    where = f"{DOMAIN}::{op_type}"
    schema_text = str(overload._schema)

    def reference(*args: Any, **kwargs: Any) -> Any:
        bound = signature.bind(*args, **kwargs)
        bound.apply_defaults()
        result = call_overload(overload, params, dict(bound.arguments), where)
        if count is None:
            return result
        if len(result) != count:  # the node was declared for another call's length
            raise ValueError(f"{where}: torch returned {len(result)} tensors; this node declares {count} outputs "
                             "(the list length the model was exported with). Export the model again for these "
                             "inputs")
        return result[0] if count == 1 else tuple(result)

    signature = inspect.Signature([
        inspect.Parameter(p.name, inspect.Parameter.POSITIONAL_OR_KEYWORD, annotation=_annotation(p),
                          default=p.default if p.role in ("attr", "json") else inspect.Parameter.empty)
        for p in order
    ])
    n_out = count if count is not None else len(overload._schema.returns)
    returns = torch.Tensor if n_out == 1 else tuple.__class_getitem__((torch.Tensor,) * n_out)
    reference.__signature__ = signature  # type: ignore[attr-defined]
    reference.__annotations__ = {p.name: _annotation(p) for p in order} | {"return": returns}
    reference.__name__ = reference.__qualname__ = op_type
    reference.__module__ = __name__
    inputs = {p.name for p in order if p.role in ("tensor", "optional", "variadic")}
    out_names = [r.name for r in overload._schema.returns] if count is None else [""] * n_out
    if n_out == 1 or not all(n.isidentifier() for n in out_names) or len(set(out_names)) != n_out or \
            inputs & set(out_names):
        out_names = ["output"] if n_out == 1 else [f"output_{i}" for i in range(n_out)]
    dtypes = {name: _DTYPES for name in inputs | set(out_names)}
    doc = (f"torch.ops.{overload._schema.name.replace('::', '.')}.{overload._overloadname}, run by torch "
           f"(declared by opforge.export's fallback: no ONNX translation exists). Schema: {schema_text}")
    opdef = OpDef(f"{DOMAIN}::{op_type}", reference, dtypes=dtypes, outputs=out_names, doc=doc,
                  serves=[f"torch.ops.{overload._schema.name.replace('::', '.')}.{overload._overloadname}"])
    opdef.infer(_make_infer(opdef))
    opdef.fallback_overload = overload  # type: ignore[attr-defined]
    opdef.fallback_count = count  # type: ignore[attr-defined]
    opdef.fallback_params = order  # type: ignore[attr-defined]
    opdef.fallback_schema_params = params  # type: ignore[attr-defined]
    return opdef


def _make_infer(opdef: OpDef) -> Callable:
    """Output specs by running the torch op on fake tensors; data-dependent dims come out unknown (None)."""

    def infer(*specs: Any, **attrs: Any) -> Any:
        from .._infer import _PLACEHOLDERS_B, run_on_stand_ins

        def call(args: list[Any]) -> Any:
            return opdef.reference(*args, **attrs)

        with data_dependent_shapes.data_dependent_fakes():  # the same fakes as the export's trace
            outs, symbols = run_on_stand_ins(call, list(specs), shape_env=True)
            # a dim computed from a symbolic one (pdist's n * (n - 1) / 2) is not a stand-in: a second run with
            # other stand-ins tells it from a static size, and it stays unknown rather than fixed to 31351321
            other = run_on_stand_ins(call, list(specs), _PLACEHOLDERS_B, shape_env=True)[0] if symbols else outs
        result = [TensorSpec([symbols[d][1] if d in symbols else d if d == twin else None
                              for d, twin in zip(dims, other_dims, strict=True)], dtype)
                  for (dtype, dims), (_, other_dims) in zip(outs, other, strict=True)]
        return result[0] if len(result) == 1 else tuple(result)

    infer.__name__ = f"infer_{opdef.op_type}"
    return infer


def declare(overload: Any, count: int | None = None) -> OpDef:
    """The ``opforge.aten`` OpDef of a torch OpOverload, declared once and reused (FallbackError if impossible);
    ``count``: for an op that returns Tensor[], the list's length (one OpDef per length)."""
    op_type = op_type_of(overload, count)
    with _LOCK:
        opdef = _OPDEFS.get(op_type)
        if opdef is None or registry.lookup(DOMAIN, op_type) is not opdef:
            opdef = registry.register(_declare(overload, count))
            _OPDEFS[op_type] = opdef
        return opdef


def resolve(domain: str, op_type: str) -> OpDef | None:
    """Registry resolver: declare ``opforge.aten::<op_type>`` on first use (a model loaded in a fresh process)."""
    if domain != DOMAIN:
        return None
    overload, count = _parse(op_type)
    try:
        return declare(overload, count)
    except FallbackError as exc:
        raise FallbackNameError(f"{DOMAIN}: op type {op_type!r} cannot run as a fallback node: {exc}") from None


# -- translation -----------------------------------------------------------------------------------


def _bind(overload: Any, args: tuple, kwargs: dict) -> dict[str, Any]:
    """An fx call's arguments by schema name, defaults filled in."""
    return dynamo.bind_call(overload, args, kwargs, FallbackError)


def _constant(where: str, param: _Param, value: Any) -> Any:
    """A scalar argument as a Python value: graph values are folded when constant, refused otherwise."""
    if isinstance(value, (list, tuple)):
        return [_constant(where, param, v) for v in value]
    if isinstance(value, str) and param.schema_type != "str" and "str" not in param.schema_type:
        # torch.onnx hands memory formats, layouts and devices over as their str()
        name = value.removeprefix("torch.")
        if ("MemoryFormat" in param.schema_type and name in _MEMORY_FORMATS) or \
                ("Layout" in param.schema_type and name in _LAYOUTS):
            return getattr(torch, name)
        if "Device" in param.schema_type and name == "cpu":
            return None
    if value is None or isinstance(value, (bool, int, float, str, torch.dtype, torch.device, torch.layout,
                                           torch.memory_format)):
        return value
    const = getattr(value, "const_value", None)
    if const is not None:
        return const.numpy().item()
    raise FallbackError(
        f"{where}: argument {param.arg!r} ({param.schema_type}) is computed by the graph (e.g. from .item() or a "
        "tensor shape) and an ONNX attribute must be a constant. Fix: make it a Python constant in the model, or "
        "declare an @opforge.op that takes it as a tensor")


def make_translation(opdef: OpDef) -> Callable:
    """The dynamo translation of the overload behind ``opdef``: one ``opforge.aten`` node."""
    overload = opdef.fallback_overload  # type: ignore[attr-defined]
    params: list[_Param] = opdef.fallback_params  # type: ignore[attr-defined]
    node = dynamo.make_translation(opdef)
    where = f"{overload} (as {opdef.name})"
    count = getattr(opdef, "fallback_count", None)

    def translate(*args: Any, **kwargs: Any) -> Any:
        if kwargs.get("dtype") == -1:  # torch.onnx passes a None dtype as -1
            kwargs["dtype"] = None
        bound = _bind(overload, args, kwargs)
        values: dict[str, Any] = {}
        for param in params:
            value = bound[param.arg]
            if param.role in ("attr", "json"):
                value = _constant(where, param, value)
                if param.role == "json":
                    try:
                        value = _encode(value)
                    except FallbackError as exc:
                        raise FallbackError(f"{where}: argument {param.arg!r}: {exc}") from None
                elif param.kind in ("ints", "floats") and not isinstance(value, list):
                    value = [value]
            elif param.role == "variadic":
                value = tuple(value)
            values[param.name] = value
        out = node(**values)
        if count is not None:  # the fx node's value is a list: torch.onnx indexes a sequence
            return (out,) if count == 1 else tuple(out)
        return out

    translate.__name__ = f"fallback_{opdef.op_type}"
    translate.__doc__ = str(overload._schema)
    return translate


def recipe(opdef: OpDef) -> str:
    """A paste-ready ``@opforge.op`` declaration that makes a fallback permanent."""
    overload = opdef.fallback_overload  # type: ignore[attr-defined]
    params: list[_Param] = opdef.fallback_params  # type: ignore[attr-defined]
    base = overload._schema.name.partition("::")[2].strip("_") or "op"
    op_name = "".join(part.capitalize() for part in base.split("_"))
    annotations = {"tensor": "torch.Tensor", "optional": "torch.Tensor | None",
                   "variadic": "Sequence[torch.Tensor]", "int": "int", "float": "float", "bool": "bool",
                   "str": "str", "ints": "list[int]", "floats": "list[float]"}
    signature = []
    for p in params:
        text = f"{p.name}: {annotations[p.role if p.role not in ('attr', 'json') else p.kind]}"
        if p.default is not inspect.Parameter.empty:
            text += f" = {p.default!r}"
        signature.append(text)
    n_out = len(opdef.outputs)
    returns = "torch.Tensor" if n_out == 1 else f"tuple[{', '.join(['torch.Tensor'] * n_out)}]"
    schema_order = opdef.fallback_schema_params  # type: ignore[attr-defined]
    call = ", ".join(f"{p.arg}={p.name}" if p.kwarg_only else p.name for p in schema_order)
    json_params = [f"{p.name} ({p.schema_type})" for p in params if p.role == "json"]
    target = f"torch.ops.{overload._schema.name.replace('::', '.')}.{overload._overloadname}({call})"
    if getattr(opdef, "fallback_count", None) is not None:
        target = f"tuple({target})"
    lines = [f'@opforge.op("mylab::{op_name}")',
             f"def {base}({', '.join(signature)}) -> {returns}:",
             f"    return {target}"]
    if json_params:
        lines.insert(0, f"# {', '.join(json_params)}: JSON text here; give them plain types (int, float, ...)")
    lines.append(f"# then attach @{base}.onnx_function (portable) or @{base}.kernel('cpu')")
    return "\n".join(lines)


# -- the export loop -------------------------------------------------------------------------------


def _failing_nodes(exc: BaseException) -> list[tuple[Any, Any, bool]]:
    """(fx node, torch.onnx registry, dispatch failed) for each node torch.onnx failed to translate."""
    from torch.onnx._internal.exporter import _errors

    found = []
    seen: set[int] = set()
    stack: list[BaseException | None] = [exc]
    while stack:
        error = stack.pop()
        if error is None or id(error) in seen:
            continue
        seen.add(id(error))
        tb = error.__traceback__
        while tb is not None:
            frame = tb.tb_frame
            if frame.f_code.co_name == "_handle_call_function_node_with_lowering":
                node, onnx_registry = frame.f_locals.get("node"), frame.f_locals.get("registry")
                if node is not None:
                    found.append((node, onnx_registry, isinstance(error, _errors.DispatchError)))
            tb = tb.tb_next
        stack.extend([error.__cause__, error.__context__])
    return found


def _candidates(exc: BaseException, table: dict) -> list[Any]:
    """The aten/prims overloads to fall back on: each failing node's op, and every other op of that graph
    torch.onnx has no translation for (so one retry usually covers them all)."""
    targets: list[Any] = []
    for node, onnx_registry, dispatch_failed in _failing_nodes(exc):
        graph_targets = [node.target]
        if dispatch_failed and onnx_registry is not None:
            graph_targets += [n.target for n in node.graph.nodes if n.op == "call_function"
                              and isinstance(n.target, torch._ops.OpOverload)
                              and not onnx_registry.is_registered(n.target)]
        for target in graph_targets:
            if isinstance(target, torch._ops.OpOverload) and target.namespace in NAMESPACES \
                    and target not in table and target not in targets:
                targets.append(target)
    return targets


def _unexpressible(exc: BaseException) -> FallbackError | None:
    seen: set[int] = set()
    while exc is not None and id(exc) not in seen:
        if isinstance(exc, FallbackError):
            return exc
        seen.add(id(exc))
        exc = exc.__cause__ or exc.__context__  # type: ignore[assignment]
    return None


_NODE_IN_ERROR = re.compile(r"node name: ([^)\s]+)\)|Node \(([^)\s]+)\)")


def _invalid_node_targets(proto: Any, exc: BaseException, table: dict) -> list[Any]:
    """The aten/prims ops whose stock translation produced the nodes an ONNX checker error names
    (torch.onnx records the fx node's op in each node's ``pkg.torch.onnx.class_hierarchy``)."""
    from .._graph import all_nodes

    names = {a or b for a, b in _NODE_IN_ERROR.findall(str(exc))}
    targets = []
    for node in all_nodes(proto.graph.node):
        if node.name not in names:
            continue
        hierarchy = next((m.value for m in node.metadata_props if m.key == "pkg.torch.onnx.class_hierarchy"), "")
        match = re.search(r"'(aten|prims)\.(\w+)\.(\w+)'\]$", hierarchy)
        if not match:
            continue
        try:
            target = _overload_for(f"{match[1]}__{match[2]}__{match[3]}")
        except FallbackNameError:
            continue
        if target not in table and target not in targets:
            targets.append(target)
    return targets


def _report(target: Any, opdef: OpDef) -> None:
    summary.add(summary.SummaryEntry(
        "fallback", f"{target}",
        f"no working ONNX translation; runs as {opdef.name} by torch inside opforge.InferenceSession "
        "(needs torch at inference time; not portable)", recipe(opdef), portable=False))


# torch decomposes these into their ``_ex`` form plus an error check wrapped in ``with_effects``, which
# torch.onnx cannot translate (KeyError on _linalg_check_errors). A translation of the op itself keeps it
# whole (torch.onnx does not decompose an op that has one), and it runs as one fallback node.
KEEP_WHOLE = ("linalg_lu_factor", "linalg_ldl_factor")


def _kept_whole(target: Any) -> Callable:
    def translate(*args: Any, **kwargs: Any) -> Any:
        opdef = declare(target)
        _report(target, opdef)  # only when the model really holds the op
        return make_translation(opdef)(*args, **kwargs)

    return translate


def _list_length(target: Any) -> int:
    """The length of the Tensor[] that the fx call being translated returns, from its fake value."""
    from . import fx_context

    node = fx_context.current_node()
    value = None if node is None else node.meta.get("val")
    if not isinstance(value, (list, tuple)) or not all(isinstance(v, torch.Tensor) for v in value):
        raise FallbackError(f"{target}: it returns Tensor[] and the exported program gives no fake value for this "
                            "call, so the list length (the node's number of outputs) is unknown. Fix: declare an "
                            "@opforge.op that returns a fixed tuple of tensors")
    return len(value)


def _list_returning(target: Any) -> Callable:
    """The translation of an op that returns Tensor[]: per call, the fallback node of that list's length."""

    def translate(*args: Any, **kwargs: Any) -> Any:
        opdef = declare(target, _list_length(target))
        _report(target, opdef)
        return make_translation(opdef)(*args, **kwargs)

    translate.__name__ = f"fallback_{op_type_of(target)}"
    translate.__doc__ = str(target._schema)
    return translate


def fall_back(overload: Any, bound: dict[str, Any]) -> Any:
    """Emit one call of ``overload`` (arguments by schema name) as its fallback node and report it: for a
    translation that handles only some argument combinations exactly and leaves the others to torch."""
    if returns_list(overload):
        return _list_returning(overload)(**bound)
    return _kept_whole(overload)(**bound)


def keep_whole_translations() -> dict[Any, Callable]:
    """Translations that keep the ops of KEEP_WHOLE whole, as fallback nodes."""
    return {getattr(torch.ops.aten, name).default: _kept_whole(getattr(torch.ops.aten, name).default)
            for name in KEEP_WHOLE}


def export_with_fallback(export: Callable[[dict], Any], table: dict, *, validate: Callable[[Any], None] | None = None,
                         max_rounds: int = 8) -> Any:
    """Run ``export(table)``; when torch.onnx fails to translate aten/prims ops, add fallback translations for
    them to ``table`` and run it again (at most ``max_rounds`` retries). ``validate(program)`` may raise on a
    model that does not validate: the ops whose stock translation made the nodes its error names fall back
    too. Each fallback is recorded in the export summary. An op that cannot run as a fallback node raises
    FallbackError saying why."""
    for _ in range(max_rounds + 1):
        try:
            program = export(table)
        except Exception as exc:
            refused = _unexpressible(exc)
            if refused is not None:
                raise FallbackError(f"opforge.export: {refused}") from exc
            targets = _candidates(exc, table)
            if not targets:
                raise
        else:
            if validate is None or program is None:
                return program
            try:
                validate(program)
                return program
            except Exception as exc:  # noqa: BLE001 - any checker / inference error names its node
                targets = _invalid_node_targets(program.model_proto, exc, table)
                if not targets:
                    return program  # the caller's own validation reports it
        problems = []
        for target in targets:
            if returns_list(target):
                try:
                    _params(target, 1)  # its arguments, checked now; the length is read per call
                except FallbackError as err:
                    problems.append(str(err))
                    continue
                table[target] = _list_returning(target)
                continue
            try:
                opdef = declare(target)
            except FallbackError as err:
                problems.append(str(err))
                continue
            table[target] = make_translation(opdef)
            _report(target, opdef)
        if problems and len(problems) == len(targets):
            raise FallbackError("opforge.export: no ONNX translation and no fallback: " + "; ".join(problems))
    return export(table)


def fallback_nodes(proto: Any) -> list[str]:
    """The ``opforge.aten`` op types a model uses (sorted, unique)."""
    from .._graph import all_nodes

    return sorted({n.op_type for n in all_nodes(proto.graph.node) if n.domain == DOMAIN})


def portable_error(proto: Any) -> str | None:
    """Why ``portable=True`` cannot hold for ``proto`` because of fallback nodes (None when it has none)."""
    ops = fallback_nodes(proto)
    if not ops:
        return None
    from .._graph import all_nodes

    others = sorted({f"{n.domain}::{n.op_type}" for n in all_nodes(proto.graph.node)
                     if n.domain not in ("", "ai.onnx", DOMAIN) and not n.domain.startswith("com.microsoft")})
    with_body = [name for name in others if _has_body(name)]
    without = [name for name in others if name not in with_body]
    text = (f"opforge.export(portable=True): {len(ops)} torch op(s) have no ONNX translation and fell back to "
            f"opforge.aten nodes run by torch, which have no ONNX function body: "
            + ", ".join(_torch_name(t) for t in ops) + ".")
    if with_body:
        text += f" The other custom ops have bodies: {', '.join(with_body)}."
    if without:
        text += f" Without a body too: {', '.join(without)}."
    text += (" Fix: export with portable=False and run the file with opforge.InferenceSession, or declare each "
             "op with @opforge.op and an @op.onnx_function body (the export summary has paste-ready declarations).")
    return text


def _torch_name(op_type: str) -> str:
    counted = _LIST_COUNT.match(op_type)
    match = _OP_TYPE.match(counted["base"] if counted else op_type)
    return f"torch.ops.{match['ns']}.{match['name']}.{match['overload']}" if match else repr(op_type)


def _has_body(qualified: str) -> bool:
    domain, _, op_type = qualified.partition("::")
    opdef = registry.lookup(domain, op_type)
    return opdef is not None and opdef.function_body is not None


__all__ = ["DOMAIN", "FallbackError", "FallbackNameError", "declare", "export_with_fallback", "fall_back",
           "fallback_nodes", "make_translation", "op_type_of", "portable_error", "recipe",
           "resolve", "returns_list"]
