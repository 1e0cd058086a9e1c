"""OpDef: the one source of truth that ``@opforge.op`` builds.

``schemas/``, ``exporters/`` and ``kernels/`` each read an OpDef and register it with their
world (onnx, torch, ONNX Runtime); nothing here knows how they do it.
"""

from __future__ import annotations

import dataclasses
import functools
import importlib
import importlib.util
import inspect
import sys
import threading
import typing
from collections.abc import Callable, Iterable, Iterator
from typing import Any, Literal

from . import _validate
from .types import Sample

InputKind = Literal["tensor", "optional", "variadic"]
KERNEL_DEVICES = ("cpu", "cuda")


@dataclasses.dataclass(frozen=True)
class InputDef:
    name: str
    kind: InputKind
    dtypes: tuple[str, ...]

    @property
    def optional(self) -> bool:
        return self.kind == "optional"

    @property
    def variadic(self) -> bool:
        return self.kind == "variadic"


@dataclasses.dataclass(frozen=True)
class AttributeDef:
    name: str
    kind: str  # float | int | bool | str | ints | floats | strs
    default: Any
    required: bool


@dataclasses.dataclass(frozen=True)
class OutputDef:
    name: str
    dtypes: tuple[str, ...]


class OpDef:
    """A custom operator declared with :func:`op`. Calling it runs the torch reference.

    Attach more with its methods, each usable as a decorator or as a plain call:
    :meth:`kernel`, :meth:`infer`, :meth:`samples`, :meth:`onnx_function`.
    """

    def __init__(
        self,
        name: str,
        fn: Callable,
        *,
        version: int = 1,
        dtypes: dict[str, Any] | None = None,
        outputs: list[str] | None = None,
        doc: str | None = None,
        serves: Iterable[str] = (),
        order_free: bool = False,
    ) -> None:
        self.domain, self.op_type = _validate.parse_name(name)
        if not isinstance(version, int) or isinstance(version, bool) or version < 1:
            raise _validate.error(name, f"version must be a positive int, got {version!r}")
        self.name = name
        self.version = version
        self.reference = fn
        self.doc = inspect.cleandoc(doc or fn.__doc__ or f"{name} (opforge custom op)")
        self.serves = tuple(serves)
        self.order_free = order_free
        self.signature = inspect.signature(fn)
        # self.inputs is in ONNX order (the schema's: a variadic input last); kernels, infer and the
        # reference take their inputs in the Python signature's order: python_order[k] is the ONNX
        # index of Python input k (see python_inputs)
        self.python_order: tuple[int, ...]
        self.inputs, self.attributes, self.outputs, self.python_order = self._parse(fn, dtypes, outputs)
        self.kernels: dict[str, Callable] = {}
        self.infer_fn: Callable | None = None
        self.samples_fn: Callable | None = None
        self.function_body: Any = None  # an onnxscript function (see onnx_function)
        self.torch_op: Any = None  # set by exporters.register
        self.module = fn.__module__
        functools.update_wrapper(self, fn)

    # -- declaration -------------------------------------------------------------------------

    def _parse(self, fn: Callable, dtypes: dict[str, Any] | None, output_names: list[str] | None):
        qualname = self.name
        try:
            hints = typing.get_type_hints(fn)
        except Exception as exc:  # unresolved forward references
            raise _validate.error(qualname, f"cannot resolve the annotations of {fn.__name__}: {exc}") from exc
        inputs: list[tuple[str, str]] = []
        attributes: list[AttributeDef] = []
        for param in self.signature.parameters.values():
            role, kind = _validate.classify_parameter(qualname, param, hints.get(param.name, param.empty))
            if role == "input":
                if param.default is not param.empty and not (kind == "optional" and param.default is None):
                    raise _validate.error(qualname, f"input {param.name!r} may not have a default other than None "
                                          "(only optional inputs, torch.Tensor | None = None)")
                if kind == "variadic" and any(k == "variadic" for _, k in inputs):
                    raise _validate.error(qualname, f"input {param.name!r}: only one variadic input is allowed "
                                          "(ONNX has room for one, last); pass the others as separate inputs")
                inputs.append((param.name, kind))
            else:
                required = param.default is param.empty
                default = None if required else _validate.check_default(qualname, param.name, kind, param.default)
                attributes.append(AttributeDef(param.name, kind, default, required))
        if "return" not in hints:
            raise _validate.error(qualname, "the reference has no return annotation; annotate it -> torch.Tensor "
                                  "or -> tuple[torch.Tensor, torch.Tensor]")
        n_out = _validate.parse_output_count(qualname, hints["return"])
        if output_names is None:
            output_names = ["output"] if n_out == 1 else [f"output_{i}" for i in range(n_out)]
        if len(output_names) != n_out:
            raise _validate.error(qualname, f"outputs names {len(output_names)} output(s) but the return annotation "
                                  f"has {n_out}")
        names = {n for n, _ in inputs} | set(output_names)
        if len(names) != len(inputs) + n_out:
            raise _validate.error(qualname, "input and output names must be distinct")
        declared = _validate.parse_dtypes(qualname, names, dtypes)
        # ONNX allows a variadic input only last; Python wants defaulted (optional) inputs after it.
        # The schema takes the inputs in Python order with the variadic one moved last.
        onnx_inputs = sorted(inputs, key=lambda item: item[1] == "variadic")
        input_defs = [InputDef(n, k, declared.get(n, _validate.default_dtypes("input"))) for n, k in onnx_inputs]  # type: ignore[arg-type]
        output_defs = [OutputDef(n, declared.get(n, _validate.default_dtypes("output"))) for n in output_names]
        python_order = tuple(onnx_inputs.index(item) for item in inputs)
        return input_defs, attributes, output_defs, python_order

    @property
    def qualname(self) -> str:
        return f"{self.name}@{self.version}"

    @property
    def input_names(self) -> list[str]:
        return [i.name for i in self.inputs]

    @property
    def python_input_names(self) -> list[str]:
        """Input names in the reference's (Python) order, the order kernels and ``infer`` take them."""
        return [self.inputs[index].name for index in self.python_order]

    @property
    def attribute_names(self) -> list[str]:
        return [a.name for a in self.attributes]

    def kernel(self, device: str, fn: Callable | None = None, /) -> Callable:
        """Attach a kernel: ``"cpu"`` takes numpy arrays, ``"cuda"`` takes cupy arrays.

        .. code-block:: text

            kernel(x0, x1, ..., *, attr0, attr1, ...) -> array | tuple[array, ...]

        Inputs arrive positionally, in the reference's parameter order (``None`` for an absent
        optional input, a list for a variadic one); attributes as keywords, always all of them
        (defaults filled in).
        A kernel that also declares an ``out`` keyword gets ONNX Runtime's output buffer(s)
        there when ``@infer`` fixes the output shape (one array, a tuple for several outputs),
        writes into them and returns them; it gets ``out=None`` otherwise and returns arrays.
        """
        if device not in KERNEL_DEVICES:
            raise _validate.error(self.name, f"kernel device must be one of {KERNEL_DEVICES}, got {device!r}")

        def attach(kernel_fn: Callable) -> Callable:
            _validate.check_attached(self.name, f"{device} kernel", kernel_fn, self.python_input_names,
                                     self.attribute_names)
            self.kernels[device] = kernel_fn
            return kernel_fn

        return attach if fn is None else attach(fn)

    def infer(self, fn: Callable | None = None, /) -> Callable:
        """Attach the output-spec function; it serves torch fake tensors and ONNX shape inference.

        .. code-block:: text

            infer(spec0, spec1, ..., *, attr0, ...) -> TensorSpec | tuple[TensorSpec, ...]

        A dim of an input spec is an int, a str / SymInt (symbolic) or None (unknown). Return
        None for a data-dependent output dim.
        """

        def attach(infer_fn: Callable) -> Callable:
            _validate.check_attached(self.name, "infer", infer_fn, self.python_input_names, self.attribute_names)
            self.infer_fn = infer_fn
            return infer_fn

        return attach if fn is None else attach(fn)

    def samples(self, fn: Callable | None = None, /) -> Callable:
        """Attach the conformance sample generator: ``fn(rng: np.random.Generator) -> Iterable[Sample]``."""

        def attach(samples_fn: Callable) -> Callable:
            self.samples_fn = samples_fn
            return samples_fn

        return attach if fn is None else attach(fn)

    def onnx_function(self, fn: Any = None, /) -> Any:
        """Attach a portable body: an ``onnxscript.script()`` function of standard ONNX ops.

        Its parameters mirror the op's inputs then attributes; ``opforge.export(..., portable=True)``
        replaces each node of this op by the body so plain ONNX Runtime runs the model.
        """

        def attach(body: Any) -> Any:
            if not hasattr(body, "to_function_proto"):
                import onnxscript

                body = onnxscript.script(default_opset=_default_opset())(body)
            self.function_body = body
            return body

        return attach if fn is None else attach(fn)

    # -- use ---------------------------------------------------------------------------------

    def python_inputs(self, onnx_values: list[Any]) -> list[Any]:
        """Per-input values in ONNX order -> positional arguments for a kernel, ``infer`` or the reference."""
        return [onnx_values[index] for index in self.python_order]

    def bind(self, args: tuple, kwargs: dict) -> tuple[list[Any], dict[str, Any]]:
        """Split a call into (inputs in ONNX order, attributes with defaults filled in)."""
        try:
            bound = self.signature.bind(*args, **kwargs)
        except TypeError as exc:
            raise TypeError(f"{self.name}: {exc}; signature is {self.signature}") from None
        bound.apply_defaults()
        inputs = [bound.arguments[i.name] for i in self.inputs]
        attrs = {a.name: bound.arguments[a.name] for a in self.attributes}
        return inputs, attrs

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        if self.torch_op is not None and _tracing(args, kwargs):
            bound = self.signature.bind(*args, **kwargs)
            bound.apply_defaults()
            return self.torch_op(*bound.args)
        return self.reference(*args, **kwargs)

    def call_kernel(self, *args: Any, device: str = "cuda", **attrs: Any) -> Any:
        """Run the op's ``device`` kernel on torch tensors, sharing their memory (no copy).

        ``device="cuda"`` hands CUDA tensors to the cupy kernel through DLPack and returns its
        cupy results as CUDA tensors the same way, on torch's current stream; ``device="cpu"``
        hands CPU tensors to the numpy kernel as numpy views and wraps its results with
        ``torch.from_numpy``. Arguments are those of the op: tensors (``None`` for an absent
        optional input, a list for a variadic one), then attributes, whose defaults are filled in.
        Returns a tensor, or a tuple of tensors for an op with several outputs.

        For example::

            >>> # xdoctest: +REQUIRES(env:OPFORGE_GPU)
            >>> y = iter_shrink.call_kernel(x.cuda(), threshold=0.3)
        """
        if _KERNEL_CALLER is None:
            raise RuntimeError(f"{self.name}.call_kernel needs opforge's kernels: import opforge (or opforge.kernels)")
        return _KERNEL_CALLER(self, args, attrs, device)

    def example_samples(self, seed: int = 0) -> Iterator[Sample]:
        import numpy as np

        if self.samples_fn is None:
            return iter(())
        return iter(self.samples_fn(np.random.default_rng(seed)))

    def describe(self) -> str:
        ins = ", ".join(f"{i.name}{'?' if i.optional else ''}{'...' if i.variadic else ''}" for i in self.inputs)
        attrs = ", ".join(f"{a.name}: {a.kind}" + ("" if a.required else f" = {a.default!r}") for a in self.attributes)
        outs = ", ".join(o.name for o in self.outputs)
        return f"{self.name} v{self.version}({ins}{'; ' if attrs else ''}{attrs}) -> ({outs})"

    def __repr__(self) -> str:
        return f"<opforge.OpDef {self.describe()}>"


# The runtime that serves OpDef.call_kernel, set by opforge.kernels when it is imported: the OpDef
# stays ignorant of runtimes (kernels imports opdef, never the reverse).
_KERNEL_CALLER: Callable[[OpDef, tuple, dict, str], Any] | None = None


def set_kernel_caller(caller: Callable[[OpDef, tuple, dict, str], Any]) -> None:
    global _KERNEL_CALLER
    _KERNEL_CALLER = caller


def _default_opset() -> Any:
    from onnxscript import opset18

    return opset18


def _tracing(args: tuple, kwargs: dict) -> bool:
    """True under torch.export / dynamo / jit tracing, where the op must stay one opaque node."""
    import torch

    if torch.jit.is_tracing() or torch.compiler.is_compiling() or torch.compiler.is_exporting():
        return True
    from torch._subclasses.fake_tensor import FakeTensor

    values = list(args) + list(kwargs.values())
    for value in values:
        items = value if isinstance(value, (list, tuple)) else (value,)
        for item in items:
            if isinstance(item, FakeTensor) or (isinstance(item, torch.Tensor) and type(item) is not torch.Tensor
                                                and not isinstance(item, torch.nn.Parameter)):
                return True
    return torch._C._get_dispatch_mode(torch._C._TorchDispatchModeKey.PROXY) is not None or \
        torch._C._get_dispatch_mode(torch._C._TorchDispatchModeKey.FAKE) is not None


# -- the registry --------------------------------------------------------------------------------

_LOCK = threading.RLock()
_REGISTRY: dict[tuple[str, str, int], OpDef] = {}
_LISTENERS: list[Callable[[OpDef, OpDef | None], None]] = []
_GENERATION = [0]  # bumped on every (re)definition; the kernels bridge keys its caches on it
_RESOLVERS: list[Callable[[str, str], OpDef | None]] = []


def add_resolver(resolver: Callable[[str, str], OpDef | None]) -> None:
    """``resolver(domain, op_type)`` may declare an op that :func:`lookup` does not find (e.g. the
    ``opforge.aten`` fallback ops of a model loaded in a fresh process); it returns the OpDef or None."""
    with _LOCK:
        if resolver not in _RESOLVERS:
            _RESOLVERS.append(resolver)


def on_register(listener: Callable[[OpDef, OpDef | None], None]) -> None:
    """Call ``listener(new, old)`` for each op defined from now on (and replay existing ones)."""
    with _LOCK:
        _LISTENERS.append(listener)
        for opdef in list(_REGISTRY.values()):
            listener(opdef, None)


def register(opdef: OpDef) -> OpDef:
    with _LOCK:
        key = (opdef.domain, opdef.op_type, opdef.version)
        old = _REGISTRY.get(key)
        _REGISTRY[key] = opdef
        _GENERATION[0] += 1
        for listener in _LISTENERS:
            listener(opdef, old)
    return opdef


def lookup(domain: str, op_type: str, version: int | None = None) -> OpDef | None:
    """The op registered for (domain, op_type) whose since-version is the highest <= version."""
    with _LOCK:
        candidates = [v for (d, t, v) in _REGISTRY if d == domain and t == op_type]
        if version is not None:
            candidates = [v for v in candidates if v <= version]
        if candidates or not _RESOLVERS:
            return _REGISTRY[(domain, op_type, max(candidates))] if candidates else None
        resolvers = list(_RESOLVERS)
    for resolver in resolvers:  # outside the lock: a resolver registers ops
        found = resolver(domain, op_type)
        if found is not None and (version is None or found.version <= version):
            return found
    return None


def domains() -> set[str]:
    with _LOCK:
        return {d for d, _, _ in _REGISTRY}


def list_ops(module: str | None = None) -> list[OpDef]:
    """Every registered opforge op (optionally only those declared in ``module`` or below it)."""
    with _LOCK:
        ops = sorted(_REGISTRY.values(), key=lambda o: (o.domain, o.op_type, o.version))
    if module is not None:
        ops = [o for o in ops if o.module == module or o.module.startswith(module + ".")]
    return ops


def load_ops(module: str) -> list[OpDef]:
    """Import ``module`` (``"pkg.ops"``) so its ``@opforge.op`` declarations register; return its ops."""
    try:
        importlib.import_module(module)
    except ModuleNotFoundError as exc:
        raise ModuleNotFoundError(f"opforge.load_ops({module!r}): {exc}. Is the package installed "
                                  f"(pip install -e .) and on sys.path?") from exc
    found = list_ops(module)
    if not found:
        # a package whose ops live in submodules that it does not import itself
        pkg = sys.modules[module]
        for sub in getattr(pkg, "__all__", []) if hasattr(pkg, "__path__") else []:
            # only names of submodules not imported yet ('json' lists functions in __all__)
            if getattr(pkg, sub, None) is None and importlib.util.find_spec(f"{module}.{sub}") is not None:
                importlib.import_module(f"{module}.{sub}")
        found = list_ops(module)
    return found


def unregister(prefix: str) -> None:
    """Drop every op whose domain starts with ``prefix`` (tests reserve a domain and tear it down)."""
    with _LOCK:
        for key in [k for k in _REGISTRY if k[0].startswith(prefix)]:
            del _REGISTRY[key]
        _GENERATION[0] += 1


def generation() -> int:
    return _GENERATION[0]
