"""OpDef -> a ``torch.library`` op: schema, eager kernel (the reference) and fake kernel (``@infer``)."""

from __future__ import annotations

import json
from typing import Any

import torch

from .._infer import InferError, needs_infer_message, normalise
from ..opdef import OpDef
from ..types import TensorSpec, torch_dtype

_SCHEMA_TYPES = {"float": "float", "int": "int", "bool": "bool", "str": "str",
                 "ints": "int[]", "floats": "float[]", "strs": "str[]"}
_LIBRARIES: dict[tuple[str, str, int], torch.library.Library] = {}


def torch_namespace(domain: str) -> str:
    """ONNX domains may hold dots; torch namespaces may not."""
    return domain.replace(".", "_")


def overload_name(opdef: OpDef) -> str:
    return f"v{opdef.version}"


def _default(kind: str, value: Any) -> str:
    if kind in ("str", "strs"):
        return json.dumps(value)
    if kind == "bool":
        return "True" if value else "False"
    if kind == "floats":
        return "[" + ", ".join(repr(float(v)) for v in value) + "]"
    return repr(value)


def torch_schema(opdef: OpDef) -> str:
    """``"(Tensor x, float beta=1.0) -> Tensor"``, in the reference's parameter order."""
    inputs = {i.name: i for i in opdef.inputs}
    attrs = {a.name: a for a in opdef.attributes}
    params: list[str] = []
    defaults_allowed = True  # torch schemas allow defaults only on a trailing run of parameters
    for name in reversed(opdef.signature.parameters):
        if name in inputs:
            kind = inputs[name].kind
            text = {"tensor": "Tensor", "optional": "Tensor?", "variadic": "Tensor[]"}[kind] + f" {name}"
            default = "None" if kind == "optional" else None
        else:
            a = attrs[name]
            text = f"{_SCHEMA_TYPES[a.kind]} {name}"
            # torch schemas cannot spell a str[] default; OpDef.__call__ always passes every argument
            default = None if a.required or a.kind == "strs" else _default(a.kind, a.default)
        defaults_allowed = defaults_allowed and default is not None
        params.insert(0, text + (f"={default}" if defaults_allowed else ""))
    outs = "Tensor" if len(opdef.outputs) == 1 else "(" + ", ".join("Tensor" for _ in opdef.outputs) + ")"
    return f"({', '.join(params)}) -> {outs}"


def _spec_of(value: Any) -> Any:
    if value is None:
        return None
    if isinstance(value, (list, tuple)):
        return [_spec_of(v) for v in value]
    return TensorSpec(tuple(value.shape), value.dtype)


def _make_fake(opdef: OpDef):
    def fake(*args: Any, **kwargs: Any) -> Any:
        inputs, attrs = opdef.bind(args, kwargs)
        if opdef.infer_fn is None:
            try:
                return opdef.reference(*args, **kwargs)
            except Exception as exc:
                raise InferError(needs_infer_message(opdef, exc, "torch export")) from exc
        specs = normalise(opdef, opdef.infer_fn(*opdef.python_inputs([_spec_of(v) for v in inputs]), **attrs))
        ctx = None
        outs = []
        for spec in specs:
            if spec.shape is None:
                raise InferError(f"{opdef.name}: @infer returned an unknown rank; torch export needs the rank")
            dims = []
            for d in spec.shape:
                if isinstance(d, (int, torch.SymInt)):
                    dims.append(d)
                else:  # None or a free symbolic name: a new data-dependent size
                    ctx = ctx or torch.library.get_ctx()
                    dims.append(ctx.new_dynamic_size())
            device = next((v.device for v in _flat(inputs) if isinstance(v, torch.Tensor)), torch.device("cpu"))
            outs.append(torch.empty(dims, dtype=torch_dtype(spec.dtype), device=device))
        return outs[0] if len(outs) == 1 else tuple(outs)

    return fake


def _flat(values: list[Any]) -> list[Any]:
    flat = []
    for v in values:
        flat.extend(v if isinstance(v, (list, tuple)) else [v])
    return flat


def _make_eager(opdef: OpDef):
    def eager(*args: Any, **kwargs: Any) -> Any:
        out = opdef.reference(*args, **kwargs)
        given = args + tuple(kwargs.values())

        def own(o: torch.Tensor) -> torch.Tensor:
            # torch.library kernels may not return views of their inputs; with @infer the fake kernel
            # makes contiguous tensors, so eager outputs must be contiguous too (opcheck compares strides)
            o = o.clone() if _aliases(o, given) else o
            return o.contiguous() if opdef.infer_fn is not None else o

        return tuple(own(o) for o in out) if isinstance(out, tuple) else own(out)

    return eager


def _aliases(out: torch.Tensor, args: tuple) -> bool:
    for a in _flat(list(args)):
        if isinstance(a, torch.Tensor) and a.untyped_storage().data_ptr() == out.untyped_storage().data_ptr():
            return True
    return False


def register(opdef: OpDef, old: OpDef | None = None) -> Any:
    """Define (or cleanly redefine) the torch op of ``opdef``; returns its OpOverload."""
    key = (opdef.domain, opdef.op_type, opdef.version)
    if key in _LIBRARIES:
        _LIBRARIES.pop(key)._destroy()
    namespace = torch_namespace(opdef.domain)
    lib = torch.library.Library(namespace, "FRAGMENT")
    name = f"{opdef.op_type}.{overload_name(opdef)}"
    lib.define(name + torch_schema(opdef))
    lib.impl(name, _make_eager(opdef), "CompositeExplicitAutograd")
    torch.library.register_fake(f"{namespace}::{name}", _make_fake(opdef), lib=lib)
    _LIBRARIES[key] = lib
    packet = getattr(getattr(torch.ops, namespace), opdef.op_type)
    opdef.torch_op = getattr(packet, overload_name(opdef))
    return opdef.torch_op
