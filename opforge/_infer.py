"""Output specs of an op from its input specs: ``@infer`` if given, else the torch reference on fake tensors.

Without ``@infer`` the reference runs under torch's fake tensors with a symbolic size per symbolic
or unknown input dim, so an output dim such as ``2 * batch`` stays symbolic (``"2*batch"``) instead
of being baked in. A reference that reads its data (``.item()``, ``if`` on a tensor, a
data-dependent loop) cannot run there: then, and only then, the op needs ``@infer``, and the error
says so first, naming the op and the line of the reference.
"""

from __future__ import annotations

import traceback
from typing import Any

from .opdef import OpDef
from .types import SymDim, TensorSpec, torch_dtype

# Stand-ins for symbolic sizes (torch evaluates size guards against them): distinct primes that real
# shapes rarely hit, so a branch on a size takes its general path. Two sets: the fast path runs the
# reference with each and keeps what both agree on.
_PLACEHOLDERS = (7919, 7927, 7933, 7937, 7949, 7951, 7963, 7993, 8009, 8011, 8017, 8039)
_PLACEHOLDERS_B = (8053, 8059, 8069, 8081, 8087, 8089, 8093, 8101, 8111, 8117, 8123, 8147)
_CACHE: dict[Any, list[TensorSpec]] = {}
_CACHE_SIZE = 1024


class InferError(RuntimeError):
    """Output specs could not be derived; the message asks for ``@op.infer``."""


def normalise(opdef: OpDef, result: Any) -> list[TensorSpec]:
    specs = list(result) if isinstance(result, (tuple, list)) else [result]
    if len(specs) != len(opdef.outputs) or not all(isinstance(s, TensorSpec) for s in specs):
        raise InferError(f"{opdef.name}: @infer must return {len(opdef.outputs)} TensorSpec(s) "
                         f"({', '.join(o.name for o in opdef.outputs)}), got {result!r}")
    return specs


def output_specs(opdef: OpDef, inputs: list[Any], attrs: dict[str, Any]) -> list[TensorSpec]:
    """``inputs`` holds a TensorSpec per input in ONNX order (None when absent, a list for a variadic one)."""
    if opdef.infer_fn is not None:
        return normalise(opdef, opdef.infer_fn(*opdef.python_inputs(inputs), **attrs))
    return _from_reference(opdef, inputs, attrs)


def reference_line(opdef: OpDef, exc: BaseException) -> str:
    """``file:line: code`` of the deepest frame of the op's reference in ``exc``'s traceback ("" if none)."""
    code = getattr(opdef.reference, "__code__", None)
    if code is None:
        return ""
    found = ""
    for frame in traceback.extract_tb(exc.__traceback__):
        if frame.filename == code.co_filename and frame.name == code.co_name:
            found = f"{frame.filename}:{frame.lineno}: {(frame.line or '').strip()}"
    return found


def needs_infer_message(opdef: OpDef, exc: BaseException, when: str) -> str:
    """One paragraph, opforge's own: which op, which line of its reference, and the fix (``@infer``)."""
    where = reference_line(opdef, exc)
    names = opdef.python_input_names
    first = names[0] if names else None
    return (
        f"opforge: {when} needs the output shapes of {opdef.name}, and its torch reference "
        f"{opdef.reference.__name__!r} cannot run on fake tensors"
        + (f" at {where}" if where else "")
        + f" ({type(exc).__name__}): its outputs or its control flow depend on the data. Declare the output "
        f"specs with @{opdef.reference.__name__}.infer (return None for a data-dependent dim), e.g.\n"
        f"    @{opdef.reference.__name__}.infer\n"
        f"    def _({', '.join(names)}{', **attrs' if opdef.attributes else ''}):\n"
        f"        return opforge.TensorSpec({first + '.shape' if first else '[...]'}, "
        f"{first + '.dtype' if first else 'dtype'})\n"
        "(torch's own error follows as the cause.)"
    )


def find_infer_error(exc: BaseException) -> InferError | None:
    """The InferError somewhere in ``exc``'s cause/context chain (torch wraps it in its own errors)."""
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        if isinstance(current, InferError):
            return current
        seen.add(id(current))
        current = current.__cause__ or current.__context__
    return None


def raise_infer_first(exc: BaseException) -> None:
    """Re-raise an export failure caused by a missing ``@infer`` with opforge's paragraph first and
    torch's exception as the cause; return when ``exc`` has another cause."""
    found = find_infer_error(exc)
    if found is not None and found is not exc:
        raise InferError(str(found)) from exc


def _render(expr: Any, names: dict[Any, str]) -> Any:
    """A sympy size expression -> int, a symbolic name ("batch", "2*batch") or None (data-dependent)."""
    import sympy

    expr = sympy.sympify(expr)
    if expr.is_Integer:
        return int(expr)
    if not expr.free_symbols <= set(names) or any(names[s] is None for s in expr.free_symbols):
        return None  # an unbacked (data-dependent) size, or one built from an unknown input dim
    if expr in names:
        return SymDim(names[expr])
    return SymDim(str(expr.subs({s: sympy.Symbol(names[s]) for s in expr.free_symbols})).replace(" ", ""))


def _key(opdef: OpDef, inputs: list[Any], attrs: dict[str, Any]) -> Any:
    def freeze(value: Any) -> Any:
        return tuple(freeze(v) for v in value) if isinstance(value, (list, tuple)) else value

    key = (opdef, freeze(inputs), tuple((k, freeze(v)) for k, v in sorted(attrs.items())))
    try:
        hash(key)
    except TypeError:
        return None
    return key


def _from_reference(opdef: OpDef, inputs: list[Any], attrs: dict[str, Any]) -> list[TensorSpec]:
    key = _key(opdef, inputs, attrs)
    if key is not None and key in _CACHE:
        return list(_CACHE[key])
    specs = _fast(opdef, inputs, attrs)
    if specs is None:
        specs = _symbolic(opdef, inputs, attrs)
    if key is not None:
        if len(_CACHE) >= _CACHE_SIZE:
            _CACHE.pop(next(iter(_CACHE)))
        _CACHE[key] = specs
    return list(specs)


def _fast(opdef: OpDef, inputs: list[Any], attrs: dict[str, Any]) -> list[TensorSpec] | None:
    """Plain fake tensors, symbolic dims replaced by two sets of stand-ins: the specs when both runs agree
    on every output dim (a static size, or the stand-in of one symbol), None otherwise (the symbolic path
    then derives ``2*batch`` and the like, or reports a data-dependent reference)."""
    runs = []
    for stand_ins in (_PLACEHOLDERS, _PLACEHOLDERS_B):
        try:
            runs.append(_run_with_stand_ins(opdef, inputs, attrs, stand_ins))
        except Exception:  # noqa: BLE001 - the symbolic path reports it, with the line
            return None
        if not runs[0][1]:  # no symbolic dim: one run says it all
            return [TensorSpec(dims, dtype) for dtype, dims in runs[0][0]]
    (outs_a, symbols_a), (outs_b, symbols_b) = runs
    specs = []
    for (dtype, dims_a), (_, dims_b) in zip(outs_a, outs_b):
        dims: list[Any] = []
        for a, b in zip(dims_a, dims_b):
            if a == b and a not in symbols_a:
                dims.append(a)
            elif a in symbols_a and b in symbols_b and symbols_a[a] == symbols_b[b]:
                dims.append(symbols_a[a][1])  # an input's symbolic dim passed through (None: unknown)
            else:
                return None
        specs.append(TensorSpec(dims, dtype))
    return specs


def run_on_stand_ins(call: Any, inputs: list[Any], stand_ins: tuple[int, ...] = _PLACEHOLDERS, *,
                     shape_env: bool = False) -> tuple[list[tuple[Any, list[int | None]]], dict[int, tuple[int, Any]]]:
    """``call(args)`` under fake tensors built from ``inputs`` (a TensorSpec, a list of them or None each),
    every symbolic or unknown dim replaced by the next stand-in size (one per symbol name).

    Returns each output's (dtype, dims) and, per stand-in used, (its position, the dim it stands for: a
    symbolic name, or None for an unknown dim). ``shape_env``: give the fake mode a ShapeEnv, so a
    data-dependent output size comes out as None instead of raising. InferError for an unknown rank.
    """
    import torch
    from torch._subclasses.fake_tensor import FakeTensorMode
    from torch.fx.experimental.symbolic_shapes import ShapeEnv

    symbols: dict[int, tuple[int, Any]] = {}
    by_name: dict[str, int] = {}
    free = iter(stand_ins)

    def fake(spec: TensorSpec) -> torch.Tensor:
        if spec.shape is None:
            raise InferError("unknown rank")
        dims: list[int] = []
        for d in spec.shape:
            if isinstance(d, int):
                dims.append(d)
            elif d is not None and str(d) in by_name:
                dims.append(by_name[str(d)])
            else:
                stand_in = next(free)
                symbols[stand_in] = (len(symbols), d)
                if d is not None:
                    by_name[str(d)] = stand_in
                dims.append(stand_in)
        return torch.empty(dims, dtype=torch_dtype(spec.dtype))

    with FakeTensorMode(shape_env=ShapeEnv() if shape_env else None, allow_non_fake_inputs=False):
        args = [None if s is None else [fake(t) for t in s] if isinstance(s, list) else fake(s) for s in inputs]
        out = call(args)
    outs = out if isinstance(out, (tuple, list)) else (out,)
    return [(t.dtype, [int(d) if isinstance(d, int) else None for d in t.shape]) for t in outs], symbols


def _run_with_stand_ins(opdef: OpDef, inputs: list[Any], attrs: dict[str, Any],
                        stand_ins: tuple[int, ...]) -> tuple[list[tuple[Any, list[int]]], dict[int, Any]]:
    outs, symbols = run_on_stand_ins(lambda args: opdef.reference(*opdef.python_inputs(args), **attrs), inputs,
                                     stand_ins)
    return outs, {k: (position, None if d is None else SymDim(str(d))) for k, (position, d) in symbols.items()}


def _symbolic(opdef: OpDef, inputs: list[Any], attrs: dict[str, Any]) -> list[TensorSpec]:
    try:
        return _symbolic_run(opdef, inputs, attrs, unify_unknown=False)
    except InferError:
        # Unknown dims (a TorchScript trace's dynamic axes) are independent symbols; a reference that
        # needs two of them equal (index_add: as many indices as rows) runs when they are one.
        unknown = sum(1 for s in inputs for t in (s if isinstance(s, list) else [s])
                      if t is not None and t.shape is not None for d in t.shape if d is None)
        if unknown < 2:
            raise
        try:
            return _symbolic_run(opdef, inputs, attrs, unify_unknown=True)
        except InferError:
            pass
        raise


def _symbolic_run(opdef: OpDef, inputs: list[Any], attrs: dict[str, Any], *, unify_unknown: bool) -> list[TensorSpec]:
    import torch
    from torch._dynamo.source import ConstantSource
    from torch._subclasses.fake_tensor import FakeTensorMode
    from torch.fx.experimental.symbolic_shapes import DimDynamic, ShapeEnv

    shape_env = ShapeEnv()
    by_name: dict[str, Any] = {}  # symbolic name -> SymInt: equal names stay equal
    names: dict[Any, str | None] = {}  # sympy symbol -> name (None for an unknown dim)
    hints = iter(_PLACEHOLDERS)

    def size(d: Any, key: str) -> Any:
        if isinstance(d, int):
            return d
        name = None if d is None else str(d)
        shared = name if name is not None else "\0unknown" if unify_unknown else None
        if shared is not None and shared in by_name:
            return by_name[shared]
        symint = shape_env.create_unspecified_symint_and_symbol(next(hints), ConstantSource(key), DimDynamic.DYNAMIC)
        names[symint.node.expr] = name
        if shared is not None:
            by_name[shared] = symint
        return symint

    def fake(spec: TensorSpec, key: str) -> torch.Tensor:
        if spec.shape is None:
            raise InferError(f"{opdef.name}: an input has unknown rank, so its output specs cannot be derived from "
                             f"the torch reference; add @{opdef.reference.__name__}.infer")
        return torch.empty([size(d, f"{key}_{axis}") for axis, d in enumerate(spec.shape)],
                           dtype=torch_dtype(spec.dtype))

    try:
        with FakeTensorMode(shape_env=shape_env, allow_non_fake_inputs=False):
            args = [None if s is None else [fake(t, f"in{k}_{j}") for j, t in enumerate(s)] if isinstance(s, list)
                    else fake(s, f"in{k}") for k, s in enumerate(inputs)]
            out = opdef.reference(*opdef.python_inputs(args), **attrs)
    except InferError:
        raise
    except StopIteration:
        raise InferError(f"{opdef.name}: too many symbolic dims to derive output specs; add "
                         f"@{opdef.reference.__name__}.infer") from None
    except Exception as exc:
        raise InferError(needs_infer_message(opdef, exc, "shape inference")) from exc
    outs = out if isinstance(out, (tuple, list)) else (out,)
    specs = []
    for t in outs:
        dims = [d if isinstance(d, int) else _render(d.node.expr, names) for d in t.shape]
        specs.append(TensorSpec(dims, t.dtype))
    return specs
