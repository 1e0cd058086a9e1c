"""Graph breaks for ``opforge.export``: outline the function that ``torch.export`` cannot trace.

When ``torch.export`` stops at a data-dependent guard (``if boxes.numel() > 0``, ``len(rois)``,
``for i in range(n.item())``, ``if box_sum > 0``), the failing Python stack is still in the exception.
:func:`export_outlining` walks it from the innermost frame outwards, takes the first function that can
be outlined (its arguments are tensors, lists/tuples/str-keyed dicts of tensors and plain
scalars/strings; it returns tensors or lists/tuples/dicts of them) and declares it as an opaque
opforge op in the ``opforge.outlined`` domain:

- reference: the function itself (ONNX Runtime runs it through torch, like any op without a kernel);
- output specs: from running the model eagerly on the export's own inputs, recording each call.
  An output dim equal to an input dim is that dim (symbolic stays symbolic); a first dim equal to
  no input dim (or 0 or 1) is data dependent (unknown); other dims are constants. The node checks
  these assumptions at run time and fails clearly when a result breaks them;
- its code is swapped for a trampoline for the duration of the export only (every reference to the
  function sees it, ``from x import f`` included; restored in ``finally``), and export is retried.

Methods of submodules are outlined too: the module instance stays a constant of the node (the
outlined op calls the method on the live module, so its parameters and buffers are read there and
do not become ONNX inputs). One function is one op whatever the number of call sites; each call
is one node whose ``layout`` attribute says how to rebuild the call from the node's tensors.
Every outlined function is reported in the export summary with a paste-ready ``@opforge.op``.
"""

from __future__ import annotations

import dataclasses
import hashlib
import inspect
import json
import linecache
import os
import re
import traceback
import types
import typing
import weakref
from collections.abc import Callable
from typing import Any

import torch

from .. import _outlined
from .. import opdef as registry
from .._infer import find_infer_error, raise_infer_first
from ..opdef import OpDef, _tracing
from ..types import ALL_DTYPES, TensorSpec, dtype_name
from . import stand_ins, summary
from .export import ExportError

DOMAIN = _outlined.DOMAIN
MAX_BREAKS = 16  # outlined functions per export before opforge gives up (each costs one more trace)
_TORCH_DIR = os.path.dirname(torch.__file__)
_OPFORGE_DIR = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
_STDLIB_DIR = os.path.dirname(os.__file__)
_TRAMPOLINE_FILE = "<opforge graph break>"


class GraphBreakError(ExportError):
    """torch.export stopped at an untraceable construct and opforge did not (or could not) outline it."""


class _Unsupported(Exception):
    """An outlined function met a value it cannot carry (raised while recording; tried one frame further out)."""


# -- finding the break -------------------------------------------------------------------------


def _data_dependent_types() -> tuple[type, ...]:
    from torch._subclasses import fake_tensor
    from torch.fx.experimental import symbolic_shapes

    found = [symbolic_shapes.GuardOnDataDependentSymNode]
    for name in ("DataDependentOutputException", "DynamicOutputShapeException"):
        if hasattr(fake_tensor, name):
            found.append(getattr(fake_tensor, name))
    return tuple(found)


def break_in(exc: BaseException) -> BaseException | None:
    """The data-dependent error, with its Python traceback, behind ``exc`` (None if it is something else)."""
    wanted = _data_dependent_types()
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        if isinstance(current, wanted) and current.__traceback__ is not None:
            return current
        current = current.__cause__ or current.__context__
    return None


def _is_library(filename: str) -> bool:
    path = os.path.abspath(filename) if not filename.startswith("<") else filename
    return (filename.startswith("<") or path.startswith(_TORCH_DIR + os.sep) or path.startswith(_OPFORGE_DIR + os.sep)
            or (path.startswith(_STDLIB_DIR + os.sep) and "site-packages" not in path))


def user_frames(exc: BaseException) -> list[tuple[types.FrameType, int]]:
    """(frame, line) of the failing stack outside torch, opforge and the standard library, innermost first."""
    frames = [(f, line) for f, line in traceback.walk_tb(exc.__traceback__) if not _is_library(f.f_code.co_filename)]
    return frames[::-1]


def _qualname(code: types.CodeType) -> str:
    return getattr(code, "co_qualname", code.co_name)  # co_qualname: Python 3.11+


def _source(frame: types.FrameType, line: int) -> str:
    return linecache.getline(frame.f_code.co_filename, line).strip()


def _where(frame: types.FrameType, line: int) -> str:
    return f"{frame.f_code.co_filename}:{line}"


def _why(exc: BaseException) -> str:
    first = next((ln.strip() for ln in str(exc).splitlines() if ln.strip()), type(exc).__name__)
    return f"{type(exc).__name__}: {first[:200]}"


# -- which frames can be outlined ----------------------------------------------------------------


@dataclasses.dataclass
class _Candidate:
    function: types.FunctionType  # the live function object (its __code__ gets swapped)
    frame: types.FrameType
    line: int
    method: bool  # the first argument is a torch.nn.Module instance, kept as a constant


def _function_of(frame: types.FrameType) -> types.FunctionType | None:
    """The function object running ``frame``: via the first argument's class (methods), else the qualname."""
    code = frame.f_code

    def match(obj: Any) -> types.FunctionType | None:
        for _ in range(8):  # decorators: follow __wrapped__
            obj = getattr(obj, "__func__", obj)  # staticmethod / classmethod
            if isinstance(obj, types.FunctionType) and obj.__code__ is code:
                return obj
            obj = getattr(obj, "__wrapped__", None)
            if obj is None:
                return None
        return None

    if code.co_argcount:
        first = frame.f_locals.get(code.co_varnames[0])
        owner = first if isinstance(first, type) else type(first)
        for klass in getattr(owner, "__mro__", ()):
            found = match(klass.__dict__.get(code.co_name))
            if found is not None:
                return found
    if "<locals>" in _qualname(code):
        return None
    obj: Any = frame.f_globals
    for index, part in enumerate(_qualname(code).split(".")):
        obj = obj.get(part) if index == 0 else inspect.getattr_static(obj, part, None)
        if obj is None:
            return None
    return match(obj)


def _supported(value: Any) -> str:
    """"" when ``value`` can be an argument of an outlined function, else why not."""
    if isinstance(value, torch.Tensor) or value is None or isinstance(value, (bool, int, float, str)):
        return ""
    if isinstance(value, (list, tuple)):
        return next((why for why in map(_supported, value) if why), "")
    if isinstance(value, dict) and all(isinstance(k, str) for k in value):
        return _supported(list(value.values()))
    if isinstance(value, (torch.SymInt, torch.SymFloat, torch.SymBool)):
        return "a data-dependent (symbolic) number"
    return f"a {type(value).__qualname__}"


def _examine(frame: types.FrameType, line: int, root: Any) -> _Candidate | str:
    """A candidate for outlining, or why this frame is not one."""
    code = frame.f_code
    if code.co_name.startswith("<"):
        return f"{code.co_name} is not a function"
    if code.co_flags & (inspect.CO_GENERATOR | inspect.CO_COROUTINE | inspect.CO_ASYNC_GENERATOR):
        return "a generator or coroutine"
    function = _function_of(frame)
    if function is None:
        return "a nested function (defined inside another one): opforge cannot reach it to swap it"
    if function.__closure__:
        return "a closure (it reads variables of an enclosing function)"
    n_args = code.co_argcount + code.co_kwonlyargcount + bool(code.co_flags & inspect.CO_VARARGS) + \
        bool(code.co_flags & inspect.CO_VARKEYWORDS)
    names = code.co_varnames[:n_args]
    values = [frame.f_locals.get(n) for n in names]
    method = bool(names) and isinstance(values[0], torch.nn.Module)
    if method and values[0] is root and code.co_name == "forward":
        return "the model's own forward: outlining it would make the whole model one opaque node"
    for name, value in list(zip(names, values))[1 if method else 0:]:
        why = _supported(value)
        if why:
            return f"argument {name!r} is {why} (outlined functions take tensors, lists/tuples of them and scalars)"
    return _Candidate(function, frame, line, method)


# -- flattening calls into one node ---------------------------------------------------------------


def _flatten(value: Any, tensors: list[torch.Tensor]) -> Any:
    """A JSON-able description of ``value``; its tensors are appended to ``tensors``."""
    if isinstance(value, torch.Tensor):
        tensors.append(value)
        return ["t", len(tensors) - 1]
    if isinstance(value, (list, tuple)):
        return ["list" if isinstance(value, list) else "tuple", [_flatten(v, tensors) for v in value]]
    if isinstance(value, dict) and all(isinstance(k, str) for k in value):
        return ["dict", [[k, _flatten(v, tensors)] for k, v in value.items()]]
    if value is None or isinstance(value, (bool, int, float, str)):
        return ["c", value]
    if isinstance(value, torch.SymInt) and value.node.maybe_as_int() is not None:  # a symbol export pinned
        return ["c", value.node.maybe_as_int()]
    raise _Unsupported(_supported(value) or f"a {type(value).__qualname__}")


def _unflatten(node: Any, tensors: list[Any]) -> Any:
    kind, body = node
    if kind == "t":
        return tensors[body]
    if kind == "c":
        return body
    if kind == "dict":
        return {k: _unflatten(n, tensors) for k, n in body}
    items = [_unflatten(n, tensors) for n in body]
    return items if kind == "list" else tuple(items)


def _flatten_result(value: Any, tensors: list[torch.Tensor]) -> Any:
    if isinstance(value, torch.Tensor):
        return _flatten(value, tensors)
    if isinstance(value, (list, tuple)):
        return ["list" if isinstance(value, list) else "tuple", [_flatten_result(v, tensors) for v in value]]
    if isinstance(value, dict) and all(isinstance(k, str) for k in value):  # torchvision's detections
        return ["dict", [[k, _flatten_result(v, tensors)] for k, v in value.items()]]
    raise _Unsupported(f"it returns {type(value).__qualname__} (outlined functions return tensors or "
                       "tuples/lists/str-keyed dicts of tensors)")


def _dim_map(outputs: list[torch.Tensor], inputs: list[torch.Tensor]) -> list[list[Any]]:
    """Per output dim: ["in", input, axis] (equal to that input dim), ["c", value] or ["new"] (data dependent)."""
    result = []
    for out in outputs:
        dims = []
        for axis, size in enumerate(out.shape):
            same_axis = [i for i, t in enumerate(inputs) if t.dim() > axis and t.shape[axis] == size]
            anywhere = [(i, a) for i, t in enumerate(inputs) for a in range(t.dim()) if t.shape[a] == size]
            if axis == 0 and size <= 1:
                dims.append(["new"])  # 0 or 1 kept rows look like any unit dim: never trust the match
            elif same_axis:
                dims.append(["in", same_axis[0], axis])
            elif anywhere:
                dims.append(["in", anywhere[0][0], anywhere[0][1]])
            else:
                dims.append(["new"] if axis == 0 else ["c", int(size)])
        result.append(dims)
    return result


@dataclasses.dataclass
class _Call:
    layout: dict[str, Any]  # in (args, kwargs, self), out, dims, dtypes
    n_in: int
    n_out: int
    in_dtypes: list[str]


def _versions(args: tuple, kwargs: dict) -> list[int]:
    """Version counters of the tensor arguments (``self``'s parameters excluded): they move on in-place writes."""
    leaves = torch.utils._pytree.tree_leaves((args[1:] if args and isinstance(args[0], torch.nn.Module) else args,
                                              kwargs))
    return [t._version for t in leaves if isinstance(t, torch.Tensor)]


# -- one outlined function ------------------------------------------------------------------------


def _trampoline(*args, **kwargs):  # type: ignore[no-untyped-def]
    return __opforge_outlined__(*args, **kwargs)  # noqa: F821 - a global of the outlined function's module


class Outlined:
    """An outlined function: the op that stands for it, its recorded calls and its code swap."""

    def __init__(self, function: types.FunctionType) -> None:
        self.function = function
        code = function.__code__
        self.module = function.__module__ or "?"
        self.qualname = _qualname(code)
        self.where = f"{code.co_filename}:{code.co_firstlineno}"
        digest = hashlib.sha1(f"{self.module}:{self.qualname}".encode()).hexdigest()[:8]
        self.op_type = re.sub(r"\W", "_", self.qualname.replace(".", "_")) + "_" + digest
        self.global_name = f"__opforge_outlined_{digest}__"
        self.reference = self._copy(function)
        self.instances: list[weakref.ref] = []
        self.calls: list[_Call] = []
        self.recording = False
        self.cursor = 0
        self.opdef: OpDef | None = None
        self.break_line = ""  # where torch.export stopped, and why
        self._saved: tuple | None = None

    @staticmethod
    def _copy(function: types.FunctionType) -> types.FunctionType:
        copy = types.FunctionType(function.__code__, function.__globals__, function.__name__, function.__defaults__,
                                  function.__closure__)
        copy.__kwdefaults__ = function.__kwdefaults__
        copy.__qualname__ = function.__qualname__
        copy.__module__ = function.__module__
        return copy

    # the swap
    def install(self) -> None:
        function = self.function
        self._saved = (function.__code__, function.__defaults__, function.__kwdefaults__)
        original = function.__code__
        function.__globals__[self.global_name] = self
        function.__code__ = _trampoline.__code__.replace(
            co_names=(self.global_name,), co_name=original.co_name, co_filename=_TRAMPOLINE_FILE)
        function.__defaults__ = None  # the trampoline takes *args, **kwargs; the reference keeps them
        function.__kwdefaults__ = None

    def restore(self) -> None:
        if self._saved is None:
            return
        function = self.function
        function.__code__, function.__defaults__, function.__kwdefaults__ = self._saved
        function.__globals__.pop(self.global_name, None)
        self._saved = None

    # calls
    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        if not _tracing(args, kwargs):
            versions = _versions(args, kwargs) if self.recording else None
            out = self.reference(*args, **kwargs)
            if self.recording:
                try:
                    if _versions(args, kwargs) != versions:  # a node's inputs are copies: mutation would be lost
                        raise _Unsupported("it modifies a tensor argument in place")
                    self._record(args, kwargs, out)
                except _Unsupported as exc:
                    exc.outlined = self  # type: ignore[attr-defined]
                    raise
            return out
        return self._traced(args, kwargs)

    def _inputs(self, args: tuple, kwargs: dict, tensors: list[torch.Tensor]) -> dict[str, Any]:
        instance = None
        if args and isinstance(args[0], torch.nn.Module):
            instance = self._instance_index(args[0])
            args = args[1:]
        return {"self": instance, "args": [_flatten(a, tensors) for a in args],
                "kwargs": {k: _flatten(v, tensors) for k, v in sorted(kwargs.items())}}

    def _instance_index(self, module: torch.nn.Module) -> int:
        for index, ref in enumerate(self.instances):
            if ref() is module:
                return index
        self.instances.append(weakref.ref(module))
        return len(self.instances) - 1

    def _record(self, args: tuple, kwargs: dict, out: Any) -> None:
        tensors: list[torch.Tensor] = []
        layout = self._inputs(args, kwargs, tensors)
        results: list[torch.Tensor] = []
        layout["out"] = _flatten_result(out, results)
        layout["dims"] = _dim_map(results, tensors)
        layout["dtypes"] = [dtype_name(t.dtype) for t in results]
        self.calls.append(_Call(layout, len(tensors), len(results), [dtype_name(t.dtype) for t in tensors]))

    def _traced(self, args: tuple, kwargs: dict) -> Any:
        tensors: list[torch.Tensor] = []
        try:
            layout = self._inputs(args, kwargs, tensors)
        except _Unsupported as exc:
            raise GraphBreakError(f"opforge.export: the outlined function {self.module}.{self.qualname} was called "
                                  f"under export with {exc}; outlined functions take tensors, lists/tuples of "
                                  "tensors and scalars") from None
        call = self._match(layout)
        assert self.opdef is not None
        full = {**call.layout, **layout}
        values: list[Any] = list(tensors) + [None] * (len(self.opdef.inputs) - len(tensors))
        outs = self.opdef(*values, layout=json.dumps(full, sort_keys=True))
        outs = list(outs) if isinstance(outs, (tuple, list)) else [outs]
        return _unflatten(call.layout["out"], outs)

    def _match(self, layout: dict[str, Any]) -> _Call:
        """The recorded eager call this traced call is: the next one in order, else one of equal structure."""
        keys = ("self", "args", "kwargs")
        if self.cursor < len(self.calls):
            call = self.calls[self.cursor]
            self.cursor += 1
            if all(call.layout[k] == layout[k] for k in keys):
                return call
        for call in self.calls:
            if all(call.layout[k] == layout[k] for k in keys):
                return call
        raise GraphBreakError(f"opforge.export: the outlined function {self.module}.{self.qualname} was called under "
                              "export with arguments unlike any of its eager calls on the same inputs (different "
                              "structure or scalar values); declare it with @opforge.op and an @infer instead")

    def run_flat(self, tensors: list[Any], layout_text: str) -> tuple[torch.Tensor, ...]:
        """The op's reference: rebuild the call from the node's tensors, run the function, flatten its results."""
        layout = json.loads(layout_text)
        args = [_unflatten(a, tensors) for a in layout["args"]]
        kwargs = {k: _unflatten(v, tensors) for k, v in layout["kwargs"].items()}
        if layout["self"] is not None:
            module = self.instances[layout["self"]]() if layout["self"] < len(self.instances) else None
            if module is None:
                raise RuntimeError(f"{DOMAIN}::{self.op_type}: the module whose method {self.qualname} this node "
                                   "outlined no longer exists; export the model again")
            args.insert(0, module)
        results: list[torch.Tensor] = []
        _flatten_result(self.reference(*args, **kwargs), results)
        self._check_shapes(results, tensors, layout)
        assert self.opdef is not None
        pad = [torch.empty(0) for _ in range(len(self.opdef.outputs) - len(results))]
        return tuple(results + pad)

    def _check_shapes(self, results: list[torch.Tensor], tensors: list[Any], layout: dict[str, Any]) -> None:
        """The exported graph assumed each output's rank, its constant dims and the input dims it equals:
        a result that breaks that assumption is an error here, never a silently wrong graph downstream."""
        for index, (result, dims) in enumerate(zip(results, layout["dims"])):
            expected = [tensors[d[1]].shape[d[2]] if d[0] == "in" else d[1] if d[0] == "c" else None for d in dims]
            if result.dim() != len(expected) or any(e is not None and e != g for e, g in zip(expected, result.shape)):
                raise ValueError(
                    f"{DOMAIN}::{self.op_type}: {self.module}.{self.qualname} returned output {index} of shape "
                    f"{tuple(result.shape)}, but the export assumed {tuple('?' if e is None else e for e in expected)} "
                    "(guessed from the export's example inputs, where it matched an input's size). Make the function "
                    "an @opforge.op with an @infer that returns None for that dim (the export summary has the recipe)")

    # the op
    def declare(self) -> None:
        """(Re)declare the op with enough inputs and outputs for every recorded call."""
        n_in = max([c.n_in for c in self.calls] + [0])
        n_out = max([c.n_out for c in self.calls] + [1])
        if self.opdef is not None:  # models exported earlier in this process keep running
            if len(self.opdef.inputs) >= n_in and len(self.opdef.outputs) >= n_out:
                return
            n_in, n_out = max(n_in, len(self.opdef.inputs)), max(n_out, len(self.opdef.outputs))
        self.opdef = registry.register(_make_opdef(self, n_in, n_out))

    def infer(self, *specs: Any, layout: str) -> list[TensorSpec]:
        decoded = json.loads(layout)
        assert self.opdef is not None
        out = []
        for dims, dtype in zip(decoded["dims"], decoded["dtypes"]):
            shape = [specs[d[1]].shape[d[2]] if d[0] == "in" else d[1] if d[0] == "c" else None for d in dims]
            out.append(TensorSpec(shape, dtype))
        out += [TensorSpec([0], "float32")] * (len(self.opdef.outputs) - len(out))
        return out if len(out) > 1 else out[0]

    # reporting
    def recipe(self) -> str:
        """A paste-ready ``@opforge.op`` declaration for the first recorded call."""
        if not self.calls:
            return ""
        return recipe_for(self.reference, self.calls[0].layout, self.calls[0].in_dtypes, self.module, self.qualname)

    def entry(self) -> summary.SummaryEntry:
        calls = len(self.calls)
        detail = (f"defined at {self.where}; {self.break_line}; outlined as {DOMAIN}::{self.op_type} ({calls} call"
                  f"{'s' if calls != 1 else ''}, one node each; ONNX Runtime runs the Python function through torch)")
        return summary.SummaryEntry("graph break", f"{self.module}.{self.qualname}", detail, self.recipe())


def _make_opdef(outlined: Outlined, n_in: int, n_out: int) -> OpDef:
    optional = typing.Optional[torch.Tensor]  # noqa: UP045 - a runtime annotation object
    params = [inspect.Parameter(f"t{i}", inspect.Parameter.POSITIONAL_OR_KEYWORD, default=None, annotation=optional)
              for i in range(n_in)]
    params.append(inspect.Parameter("layout", inspect.Parameter.POSITIONAL_OR_KEYWORD, default="", annotation=str))
    returns = torch.Tensor if n_out == 1 else tuple.__class_getitem__((torch.Tensor,) * n_out)
    signature = inspect.Signature(params, return_annotation=returns)

    def reference(*args: Any, **kwargs: Any) -> Any:
        bound = signature.bind(*args, **kwargs)
        bound.apply_defaults()
        values = list(bound.arguments.values())
        out = outlined.run_flat(values[:-1], values[-1])
        return out if n_out > 1 else out[0]

    def infer(*args: Any, **kwargs: Any) -> Any:
        bound = signature.bind(*args, **kwargs)
        values = list(bound.arguments.values())
        return outlined.infer(*values[:n_in], layout=bound.arguments["layout"])

    for fn in (reference, infer):
        fn.__signature__ = signature  # type: ignore[attr-defined]
        fn.__annotations__ = {p.name: p.annotation for p in params} | {"return": returns}
    reference.__name__ = reference.__qualname__ = outlined.op_type
    reference.__module__ = DOMAIN  # not the function's module: list_ops(module) and conformance skip it
    reference.__doc__ = (f"{outlined.module}.{outlined.qualname} ({outlined.where}), outlined at a graph break by "
                         "opforge.export: the node runs that Python function through torch.")
    names = [f"t{i}" for i in range(n_in)] + (["output"] if n_out == 1 else [f"output_{i}" for i in range(n_out)])
    opdef = OpDef(f"{DOMAIN}::{outlined.op_type}", reference, dtypes={n: ALL_DTYPES for n in names})
    opdef.infer(infer)
    return opdef


# -- recipes and the opforge-first error ------------------------------------------------------------

_ANNOTATIONS = {bool: "bool", int: "int", float: "float", str: "str"}


def _identifier(text: str) -> str:
    name = re.sub(r"\W", "_", str(text)).strip("_") or "x"
    return name if not name[0].isdigit() else "_" + name


def _leaves(node: Any, expr: str) -> list[str]:
    kind, body = node
    if kind == "t":
        return [expr]
    items = body if kind == "dict" else list(enumerate(body))
    return [leaf for key, child in items for leaf in _leaves(child, f"{expr}[{key!r}]")]


def recipe_for(function: Callable, layout: dict[str, Any], in_dtypes: list[str], module: str, qualname: str) -> str:
    """``@opforge.op`` source for ``function``, from one recorded call: its arguments' kinds and dtypes,
    its results' dtypes and the output dims export assumed (for ``@infer``)."""
    try:
        params = list(inspect.signature(function).parameters.values())
    except (TypeError, ValueError):
        params = []
    method = layout.get("self") is not None
    params = params[1:] if method and params else params
    positional, keywords = layout.get("args", []), layout.get("kwargs", {})
    entries = []
    for index, param in enumerate(params):
        if param.kind in (param.VAR_POSITIONAL, param.VAR_KEYWORD):
            continue
        node = positional[index] if index < len(positional) else keywords.get(param.name)
        if node is None:
            node = ["c", None if param.default is param.empty else param.default]
        entries.append((param, node))
    tensorish = [i for i, (_, node) in enumerate(entries) if node[0] != "c"]
    inputs, attributes, call, notes = [], [], [], []
    spec_of: dict[int, str] = {}  # flat tensor index -> its spec in @infer
    dtypes: dict[str, str] = {}

    def tensor(name: str, flat: int) -> str:
        if flat < len(in_dtypes) and in_dtypes[flat] not in ("float32", "float64", "float16", "bfloat16"):
            dtypes[name] = in_dtypes[flat]
        spec_of[flat] = name
        return name

    for position, (param, (kind, body)) in enumerate(entries):
        name = param.name
        keyword = param.kind == param.KEYWORD_ONLY or name in keywords
        if kind == "t":
            inputs.append(f"{tensor(name, body)}: torch.Tensor")
            expr = name
        elif kind in ("list", "tuple") and body and all(n[0] == "t" for n in body) and position == tensorish[-1]:
            inputs.append(f"{name}: Sequence[torch.Tensor]")
            for i, n in enumerate(body):
                spec_of[n[1]] = f"{name}[{i}]"
            if in_dtypes and body[0][1] < len(in_dtypes) and in_dtypes[body[0][1]] not in ("float32", "float64"):
                dtypes[name] = in_dtypes[body[0][1]]
            expr = f"{kind}({name})"
        elif kind in ("list", "tuple", "dict") and all(n[0] == "t" for n in (body if kind != "dict" else
                                                                             [v for _, v in body])):
            items = list(enumerate(body)) if kind != "dict" else [(k, v) for k, v in body]
            names = [tensor(f"{name}_{_identifier(k)}", n[1]) for k, n in items]
            inputs.extend(f"{n}: torch.Tensor" for n in names)
            if kind == "dict":
                expr = "{" + ", ".join(f"{k!r}: {n}" for (k, _), n in zip(items, names)) + "}"
            else:
                expr = ("[" if kind == "list" else "(") + ", ".join(names) + \
                    ("]" if kind == "list" else ("," if len(names) == 1 else "") + ")")
        elif kind == "c" and body is None:
            inputs.append(f"{name}: torch.Tensor | None = None")
            expr = name
        elif kind == "c" and type(body) in _ANNOTATIONS:
            attributes.append(f"{name}: {_ANNOTATIONS[type(body)]} = {body!r}")
            expr = name
        elif kind == "list" and body and all(n[0] == "c" and type(n[1]) in (int, float, str) for n in body):
            value = [n[1] for n in body]
            attributes.append(f"{name}: list[{_ANNOTATIONS[type(value[0])]}] = {value!r}")
            expr = name
        else:
            inputs.append(f"{name}: torch.Tensor")
            notes.append(f"{name}: nested structure ({kind}); pass its tensors as separate inputs and rebuild it")
            expr = name
        call.append(f"{name}={expr}" if keyword else expr)
    outs = layout.get("dtypes") or ["float32"]
    out_names = ["output"] if len(outs) == 1 else [f"output_{i}" for i in range(len(outs))]
    dtypes.update({n: d for n, d in zip(out_names, outs) if d not in ("float32", "float64", "float16", "bfloat16")})
    returns = "torch.Tensor" if len(outs) == 1 else "tuple[" + ", ".join(["torch.Tensor"] * len(outs)) + "]"
    short = qualname.split(".")[-1]
    name = re.sub(r"\W", "", short.title().replace("_", "")) or "Outlined"
    snake = _identifier(short)
    target = f"{module}.{qualname}" if not method else f"module.{short}"
    declared = ", dtypes={" + ", ".join(f"{k!r}: [{v!r}]" for k, v in dtypes.items()) + "}" if dtypes else ""
    out_node = layout.get("out", ["t", 0])
    lines = [f'@opforge.op("mylab::{name}"{declared})',
             f"def {snake}({', '.join(inputs + attributes)}) -> {returns}:"]
    if out_node[0] == "t":
        lines.append(f"    return {target}({', '.join(call)})")
    else:  # the op returns the function's tensors flat, in order
        lines += [f"    result = {target}({', '.join(call)})", f"    return {', '.join(_leaves(out_node, 'result'))}"]
    if any("Sequence[" in text for text in inputs):
        lines.insert(0, "from collections.abc import Sequence")
    if method:
        lines[-1] += f"  # {short} is a method of {qualname.split('.')[-2]}: keep that module (or its tensors) here"
    specs = []
    for dims, dtype in zip(layout.get("dims", []), outs):
        shape = ", ".join("None" if d[0] == "new" else str(d[1]) if d[0] == "c" else
                          f"{spec_of.get(d[1], f'inputs[{d[1]}]')}.shape[{d[2]}]" for d in dims)
        specs.append(f"opforge.TensorSpec([{shape}], {dtype!r})")
    if specs:
        names = [p.split(":")[0] for p in inputs]
        lines += ["", f"@{snake}.infer  # None: a size that depends on the data",
                  f"def _({', '.join(names + ['**attributes'])}):",
                  f"    return {specs[0] if len(specs) == 1 else '(' + ', '.join(specs) + ')'}"]
    lines += [f"# then call {snake}(...) where the code called {short}(...)"]
    lines += [f"# note: {n}" for n in notes]
    return "\n".join(lines)


def _frame_recipe(frame: types.FrameType) -> str:
    code = frame.f_code
    names = code.co_varnames[:code.co_argcount + code.co_kwonlyargcount]
    args = []
    for name in names:
        value = frame.f_locals.get(name)
        if isinstance(value, torch.nn.Module):
            continue
        args.append(f"{name}: {'torch.Tensor' if isinstance(value, torch.Tensor) else _ANNOTATIONS.get(type(value), 'float')}")
    name = re.sub(r"\W", "", code.co_name.title().replace("_", "")) or "Step"
    return (f'@opforge.op("mylab::{name}")\n'
            f"def {code.co_name.strip('_') or 'step'}({', '.join(args)}) -> torch.Tensor:\n"
            f"    ...  # the code around line {frame.f_lineno} of {_qualname(code)}, unchanged\n\n"
            f"@{code.co_name.strip('_') or 'step'}.infer  # output specs: None for a data-dependent dim\n"
            "def _(*inputs, **attributes):\n"
            "    return opforge.TensorSpec([None], inputs[0].dtype)")


def _lead(failure: BaseException, reason: str, frames: list[tuple[types.FrameType, int]]) -> str:
    """The opforge paragraph (frame, line, why, recipe) that comes before torch's text."""
    if frames:
        frame, line = frames[0]
        where = f"{_qualname(frame.f_code)} ({_where(frame, line)}): `{_source(frame, line)}`"
        recipe = _frame_recipe(frame)
    else:
        where, recipe = "code outside any user frame", '@opforge.op("mylab::Step")\ndef step(x: torch.Tensor) -> torch.Tensor: ...'
    return (f"opforge.export: torch.export cannot trace {where} — it needs the concrete value of data known only "
            f"at run time ({_why(failure)}). {reason} Fix: move that code into a function declared with "
            "@opforge.op (one opaque node that runs your Python in ONNX Runtime), with @infer for its output "
            "shapes, e.g.\n\n" + "\n".join("    " + ln for ln in recipe.splitlines()) +
            "\n\n--- torch.export's error follows ---\n")


def _plain(text: str) -> str:
    """torch's text without terminal colour codes."""
    return re.sub(r"\x1b\[[0-9;]*m", "", text)


# -- the export loop -------------------------------------------------------------------------------

_OUTLINED: dict[tuple[str, str], Outlined] = {}  # (module, qualname) -> Outlined, reused across exports


def outlined_functions() -> list[Outlined]:
    """Every function outlined in this process (their ops stay registered so their models keep running)."""
    return list(_OUTLINED.values())


def _outlined_for(function: types.FunctionType) -> Outlined:
    key = (function.__module__ or "?", function.__qualname__)
    found = _OUTLINED.get(key)
    if found is None or found.function is not function or found.reference.__code__ is not function.__code__:
        found = _OUTLINED[key] = Outlined(function)
    found.calls, found.cursor = [], 0
    return found


class _Session:
    """The functions outlined during one export; their code swaps are undone on exit, errors included."""

    def __init__(self, model: Any) -> None:
        self.model = model
        self.active: list[Outlined] = []
        self.rejected: dict[Any, str] = {}  # code object -> why it could not be outlined

    def __enter__(self) -> _Session:
        return self

    def __exit__(self, *exc: Any) -> None:
        for outlined in reversed(self.active):
            outlined.restore()
            outlined.recording = False

    def outline(self, failure: BaseException, torch_error: BaseException) -> Outlined:
        frames = user_frames(failure)
        reasons = []
        for frame, line in frames:
            if frame.f_code in self.rejected:
                reasons.append(f"{_qualname(frame.f_code)}: {self.rejected[frame.f_code]}")
                continue
            found = _examine(frame, line, self.model)
            if isinstance(found, str):
                reasons.append(f"{_qualname(frame.f_code)}: {found}")
                continue
            if any(o.function is found.function for o in self.active):
                reasons.append(f"{_qualname(frame.f_code)}: already outlined")
                continue
            outlined = _outlined_for(found.function)
            outlined.break_line = (f"torch.export stopped at line {line} `{_source(frame, line)}` "
                                   f"({_why(failure)})" if frame is frames[0][0] else
                                   f"torch.export stopped in {_qualname(frames[0][0].f_code)} at "
                                   f"{_where(*frames[0])} `{_source(*frames[0])}` ({_why(failure)}), which it calls")
            outlined.install()
            self.active.append(outlined)
            return outlined
        reason = ("No function on the failing stack can be outlined as a graph break: " + "; ".join(reasons) + "."
                  if reasons else "The failing stack holds no frame of your code to outline.")
        raise GraphBreakError(_lead(failure, reason, frames) + _plain(str(torch_error))) from torch_error

    def record(self, args: tuple, kwargs: dict) -> tuple[Outlined, str] | None:
        """Run the model eagerly, recording every outlined call; (function, why) for one that cannot be carried."""
        for outlined in self.active:
            outlined.calls, outlined.cursor, outlined.recording = [], 0, True
        try:
            with torch.no_grad():
                self.model(*args, **kwargs)
        except _Unsupported as exc:
            culprit = getattr(exc, "outlined", None)
            if culprit is None:
                raise
            return culprit, str(exc)
        finally:
            for outlined in self.active:
                outlined.recording = False
        for outlined in self.active:
            if outlined.calls:
                outlined.declare()
        return None

    def drop(self, outlined: Outlined, why: str) -> None:
        outlined.restore()
        self.active.remove(outlined)
        self.rejected[outlined.function.__code__] = why

    def reset_cursors(self) -> None:
        for outlined in self.active:
            outlined.cursor = 0


def _probe(model: Any, args: tuple, kwargs: dict | None, dynamic_shapes: Any) -> Any:
    """torch.export.export exactly as torch.onnx.export's first strategy calls it (non-strict, with its
    flags, patches and dynamic-shape refinement): the ExportedProgram, or that strategy's exception.
    Stopped by a data-dependent check, or fixing a dim asked to be dynamic, it traces again with the
    stand-ins (exporters/stand_ins.py); a break that remains is the one to outline."""
    from .export import _input_names, check_exported_dims, requested_dynamic_dims

    requested = requested_dynamic_dims(model, args, dynamic_shapes)
    names = _input_names(model, args) if requested else []

    def once() -> Any:
        program = _probe_once(model, args, kwargs, dynamic_shapes)
        check_exported_dims(program, requested, names)  # a dim torch fixed (C++ reading sizes()): stand-ins next
        return program

    return stand_ins.retried(once)


def _probe_once(model: Any, args: tuple, kwargs: dict | None, dynamic_shapes: Any) -> Any:
    try:
        from torch.onnx._internal.exporter._capture_strategies import TorchExportNonStrictStrategy
    except ImportError:  # another torch: the same call by hand
        config = getattr(getattr(torch.fx.experimental, "_config", None), "patch", None)
        with config(backed_size_oblivious=True) if config is not None else _null():
            return torch.export.export(model, args, kwargs=kwargs, dynamic_shapes=dynamic_shapes, strict=False,
                                       prefer_deferred_runtime_asserts_over_guards=True)
    result = TorchExportNonStrictStrategy(verbose=False)(model, args, kwargs, dynamic_shapes=dynamic_shapes)
    if result.exported_program is None:
        raise result.exception or ExportError("torch.export returned no program")
    return result.exported_program


class _null:
    def __enter__(self) -> None:
        return None

    def __exit__(self, *exc: Any) -> None:
        return None


def export_outlining(run: Callable[[Any], Any], model: Any, args: tuple, kwargs: dict | None, dynamic_shapes: Any,
                     enabled: bool = True) -> Any:
    """``run(model)`` (torch.onnx.export), outlining functions at graph breaks and retrying when it breaks.

    With ``enabled``, the model is first captured as torch.onnx.export's first strategy does
    (``torch.export.export(strict=False)``) and ``run`` gets that ExportedProgram: a graph break then costs
    no strict-mode attempt. Any other failure hands the model to ``run`` itself (torch's other strategies,
    its own error). With ``enabled=False`` a graph break raises :class:`GraphBreakError` (opforge's
    paragraph, then torch's text, chained).
    """
    outlinable = isinstance(model, torch.nn.Module) and not isinstance(model, torch.jit.ScriptModule)
    if not enabled or not outlinable:
        try:
            return run(model)
        except Exception as exc:  # noqa: BLE001 - anything that is not a graph break is re-raised as is
            failure = break_in(exc)
            if failure is None or not outlinable:
                raise
            raise GraphBreakError(_lead(failure, "Graph breaks are off (graph_breaks=False), so opforge did not "
                                        "outline a function here.", user_frames(failure)) + _plain(str(exc))) from exc
    try:
        program = _probe(model, args, kwargs, dynamic_shapes)
    except Exception as exc:  # noqa: BLE001
        if find_infer_error(exc) is not None:  # an opforge op whose reference reads its data needs @infer
            raise_infer_first(exc)
            raise
        found = break_in(exc)
        if found is None:
            return run(model)
        failure, torch_error = found, exc
    else:
        return run(program)
    with _Session(model) as session:
        while True:
            session.outline(failure, torch_error)
            while (bad := session.record(args, kwargs or {})) is not None:
                # a function that cannot be carried gives way to the next frame out
                session.drop(*bad)
                session.outline(failure, torch_error)
            if len(session.active) > MAX_BREAKS:
                raise GraphBreakError(f"opforge.export: more than {MAX_BREAKS} graph breaks ("
                                      + ", ".join(o.qualname for o in session.active) + "); declare the blockers "
                                      "with @opforge.op") from torch_error
            session.reset_cursors()
            try:
                program = _probe(model, args, kwargs, dynamic_shapes)
            except Exception as exc:  # noqa: BLE001
                if find_infer_error(exc) is not None:
                    raise_infer_first(exc)
                    raise
                found = break_in(exc)
                if found is not None:
                    failure, torch_error = found, exc
                    continue
                program = None  # something else: torch's own strategies try, the outlined functions in place
            for outlined in session.active:
                summary.add(outlined.entry())
            return run(model if program is None else program)


def refuse_portable(entries: list[summary.SummaryEntry]) -> None:
    """``portable=True`` cannot carry outlined functions: raise naming each, with the way out."""
    breaks = [e for e in entries if e.kind == "graph break"]
    if breaks:
        from ..portable import PortableError

        raise PortableError(
            "opforge.export(portable=True): these functions were outlined at graph breaks and run Python, so a plain "
            "ONNX Runtime cannot run them: " + "; ".join(f"{e.name} ({e.detail.split(';')[0]})" for e in breaks)
            + ". Declare each with @opforge.op (the export summary prints a paste-ready declaration) and give it an "
            "@op.onnx_function body, or export with portable=False and run the file with opforge.InferenceSession."
        )


