"""Portable models: each opforge node runs through its ONNX function body (``@op.onnx_function``).

An op's body (onnxscript, Python ``if``/``for``/``while`` included) becomes a model-local
function (``ModelProto.functions``) whose domain and name are the op's own, so the node that
the exporter wrote needs no rewrite: ONNX Runtime resolves it to the function. With
``inline=True`` the calls are expanded in place instead (``onnx.inliner``) and the custom
domains leave the file altogether.

Both forms run on a plain ``onnxruntime.InferenceSession``: no opforge, no
onnxruntime-extensions and no Python kernel at inference time.
"""

from __future__ import annotations

import warnings
from typing import Any

import onnx
import onnx.inliner
from onnx import helper

from . import opdef as registry
from ._graph import all_nodes
from .opdef import OpDef

# ONNX Runtime inlines model-local functions itself when it loads a model, so both forms run the
# same graph; benchmarks/control_flow.py measures it (see docs/control-flow.md). Keeping the
# function keeps the file small and the custom node visible to tools such as `opforge inspect`.
DEFAULT_INLINE = False

_NATIVE_DOMAINS = {"", "ai.onnx", "ai.onnx.ml"}


class PortableError(ValueError):
    """An op has no ONNX function body, or its body does not fit the op's declaration."""


def _default_opset(proto: onnx.ModelProto | onnx.FunctionProto) -> int | None:
    for opset in proto.opset_import:
        if opset.domain in ("", "ai.onnx"):
            return opset.version
    return None


def _check_opset(opdef: OpDef, function: onnx.FunctionProto, model_version: int | None) -> None:
    """Align the body's default-opset version with the model's (ONNX Runtime needs them to agree).

    A body written against an older opset is lifted when every op it uses means the same at the
    model's version; otherwise the error says which op changed and what to do.
    """
    body_version = _default_opset(function)
    if model_version is None or body_version is None or body_version == model_version:
        return
    changed = []
    for node in all_nodes(function.node):
        if node.domain not in ("", "ai.onnx"):
            continue
        try:
            old = onnx.defs.get_schema(node.op_type, body_version, "")
            new = onnx.defs.get_schema(node.op_type, model_version, "")
        except onnx.defs.SchemaError:
            changed.append(f"{node.op_type} (unknown at opset {model_version})")
            continue
        if old.since_version != new.since_version and not _compatible(node.op_type, old, new):
            changed.append(f"{node.op_type} ({old.since_version} -> {new.since_version})")
    if changed:
        raise PortableError(
            f"{opdef.name}: its ONNX function body uses opset {body_version} but the model uses opset "
            f"{model_version}, and these ops changed in between: {', '.join(sorted(set(changed)))}. Write the "
            f"body against opset {model_version} (onnxscript.script(default_opset=onnxscript.opset{model_version})) "
            f"or export with opset_version={body_version}."
        )
    for opset in function.opset_import:
        if opset.domain in ("", "ai.onnx"):
            opset.version = model_version


def _compatible(op_type: str, old: Any, new: Any) -> bool:
    """True when the newer schema only widens the older one: same inputs and outputs, the old
    attributes with the old defaults, and new attributes only optional ones (Cast-19's saturate)."""
    if [i.name for i in old.inputs] != [i.name for i in new.inputs]:
        return False
    if [o.name for o in old.outputs] != [o.name for o in new.outputs]:
        return False
    for name, attr in old.attributes.items():
        other = new.attributes.get(name)
        if other is None or other.type != attr.type or \
                other.default_value.SerializeToString() != attr.default_value.SerializeToString():
            return False
    return all(not attr.required for name, attr in new.attributes.items() if name not in old.attributes)


def function_protos(opdef: OpDef, opset_version: int | None = None) -> list[onnx.FunctionProto]:
    """The body of ``opdef`` as FunctionProtos: its own (domain/name = the op's) first, then callees.

    ``opset_version`` is the model's default-opset version; the body is aligned to it.
    """
    body = opdef.function_body
    if body is None:
        raise PortableError(f"{opdef.name} has no ONNX function body; attach one with "
                            f"@{opdef.reference.__name__}.onnx_function")
    main = onnx.FunctionProto()
    main.CopyFrom(body.to_function_proto())
    where = f"{opdef.name}: the ONNX function body {getattr(body, 'name', '')!r}"
    if any(i.variadic for i in opdef.inputs):
        raise PortableError(f"{where}: ops with a variadic input cannot have an ONNX function body "
                            "(a FunctionProto has a fixed number of inputs)")
    if len(main.input) != len(opdef.inputs):
        raise PortableError(f"{where} takes {len(main.input)} tensor input(s) but the op declares "
                            f"{len(opdef.inputs)} ({', '.join(opdef.input_names)}); give the body one "
                            "parameter per input, in order, then the attributes")
    if len(main.output) != len(opdef.outputs):
        raise PortableError(f"{where} returns {len(main.output)} value(s) but the op declares "
                            f"{len(opdef.outputs)} output(s) ({', '.join(o.name for o in opdef.outputs)})")
    declared = list(main.attribute) + [a.name for a in main.attribute_proto]
    unknown = [n for n in declared if n not in opdef.attribute_names]
    if unknown:
        raise PortableError(f"{where} has attribute parameter(s) {unknown} that the op does not declare "
                            f"(it declares {opdef.attribute_names}); name them like the reference's")
    # The exporter writes every attribute of the op on its node: declare the ones the body ignores.
    main.attribute.extend(n for n in opdef.attribute_names if n not in declared)
    main.domain, main.name = opdef.domain, opdef.op_type
    _check_opset(opdef, main, opset_version)
    protos = [main]
    called = body.function_ir.get_called_functions() if hasattr(body, "function_ir") else {}
    for callee in called.values():
        nested = onnx.FunctionProto()
        nested.CopyFrom(callee.to_function_proto())
        _check_opset(opdef, nested, opset_version)
        protos.append(nested)
    return protos


def _opforge_nodes(proto: onnx.ModelProto) -> list[tuple[onnx.NodeProto, OpDef | None]]:
    versions = {o.domain: o.version for o in proto.opset_import}
    found = []
    for node in all_nodes(proto.graph.node):
        if node.domain in _NATIVE_DOMAINS or node.domain.startswith("com.microsoft"):
            continue
        found.append((node, registry.lookup(node.domain, node.op_type, versions.get(node.domain))))
    return found


def attach_functions(proto: onnx.ModelProto, *, strict: bool = True) -> onnx.ModelProto:
    """Add the ONNX function body of every opforge op that ``proto`` uses and that has one (in place).

    With ``strict=False`` a body that cannot be attached is skipped with a warning; the model
    then still runs through opforge's kernels.
    """
    present = {(f.domain, f.name) for f in proto.functions}
    model_version = _default_opset(proto)
    seen: set[tuple[str, str]] = set()
    for node, opdef in _opforge_nodes(proto):
        key = (node.domain, node.op_type)
        if opdef is None or opdef.function_body is None or key in present or key in seen:
            continue
        seen.add(key)
        try:
            protos = function_protos(opdef, model_version)
        except PortableError as exc:
            if strict:
                raise
            warnings.warn(str(exc), stacklevel=2)
            continue
        for function in protos:
            fkey = (function.domain, function.name)
            existing = next((f for f in proto.functions if (f.domain, f.name) == fkey), None)
            if existing is not None:
                if existing.SerializeToString() != function.SerializeToString():
                    raise PortableError(f"{opdef.name}: its body calls the function {fkey[0]}::{fkey[1]}, and "
                                        "another op's body defines a different function of the same name; "
                                        "rename one of them")
                continue
            proto.functions.append(function)
            _import(proto, function.domain, 1)
        for opset in protos[0].opset_import:
            if opset.domain not in _NATIVE_DOMAINS:
                _import(proto, opset.domain, opset.version)
    return proto


def _import(proto: onnx.ModelProto, domain: str, version: int) -> None:
    if not any(o.domain == domain for o in proto.opset_import):
        proto.opset_import.append(helper.make_opsetid(domain, version))


def make_portable(proto: onnx.ModelProto, *, inline: bool | None = None) -> onnx.ModelProto:
    """A copy of ``proto`` that a plain ``onnxruntime.InferenceSession`` runs.

    Every opforge node runs through its op's ONNX function body: kept as a model-local function
    (``inline=False``) or expanded in place (``inline=True``); ``None`` picks
    :data:`DEFAULT_INLINE`, the faster in ONNX Runtime as measured by benchmarks/control_flow.py.
    Raises :class:`PortableError` naming every op that has no body.
    """
    model = onnx.ModelProto()
    model.CopyFrom(proto)
    local = {(f.domain, f.name) for f in model.functions}
    missing = set()
    for node, opdef in _opforge_nodes(model):
        if (node.domain, node.op_type) in local:
            continue
        if opdef is None:
            missing.add(f"{node.domain}::{node.op_type} (not a registered opforge op; import its package)")
        elif opdef.function_body is None:
            missing.add(f"{opdef.name} (attach one with @{opdef.reference.__name__}.onnx_function)")
    if missing:
        raise PortableError(
            "opforge.export(portable=True): these ops have no ONNX function body, so a plain ONNX Runtime "
            "cannot run them: " + "; ".join(sorted(missing)) + ". Give each an @op.onnx_function body, or "
            "export with portable=False and run the file with opforge.InferenceSession."
        )
    attach_functions(model, strict=True)
    if DEFAULT_INLINE if inline is None else inline:
        model = onnx.inliner.inline_local_functions(model)
        used = {n.domain for n in all_nodes(model.graph.node)} | {f.domain for f in model.functions}
        kept = [o for o in model.opset_import if o.domain in _NATIVE_DOMAINS or o.domain in used]
        del model.opset_import[:]
        model.opset_import.extend(kept)
    onnx.checker.check_model(model, full_check=False)
    return model


__all__ = ["DEFAULT_INLINE", "PortableError", "attach_functions", "function_protos", "make_portable"]
