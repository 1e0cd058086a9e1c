"""``to_onnx``: torch.onnx.export with every opforge op in the translation tables, then validation."""

from __future__ import annotations

import inspect
import io
import re
import warnings
from collections.abc import Mapping, Sequence
from typing import Any

import onnx
import torch

from .._graph import all_nodes
from .._infer import raise_infer_first
from ..opdef import list_ops
from . import aten_fallback, data_dependent_shapes, stand_ins, trace_warnings
from . import dynamo as dynamo_translation
from .hints import dtype_hint


class ExportError(RuntimeError):
    """Export produced no model, or one that does not validate."""


class DynamicDimError(ExportError):
    """A dim the caller asked to be dynamic came out static in the exported graph."""


def _argument_specs(model: Any, args: tuple, dynamic_shapes: Any = None) -> list[tuple[str, Any]]:
    """(name, dynamic-shape spec) per positional tensor argument, walking ``forward``'s signature as
    torch.export reads ``dynamic_shapes``: one entry per named parameter, and for ``*args`` one group
    (a tuple of specs, under the parameter's name in a dict) spread over the remaining arguments."""
    forward = model.forward if isinstance(model, torch.nn.Module) else model
    try:
        params = list(inspect.signature(forward).parameters.values())
    except (TypeError, ValueError):
        params = []
    by_name = dynamic_shapes if isinstance(dynamic_shapes, Mapping) else None
    in_order = list(dynamic_shapes) if dynamic_shapes is not None and by_name is None else []

    def spec_of(slot: int, name: str) -> Any:
        if by_name is not None:
            return by_name.get(name)
        return in_order[slot] if slot < len(in_order) else None

    result: list[tuple[str, Any]] = []
    for slot, param in enumerate(params):
        if len(result) >= len(args):
            break
        if param.kind in (param.POSITIONAL_ONLY, param.POSITIONAL_OR_KEYWORD):
            result.append((param.name, spec_of(slot, param.name)))
        elif param.kind == param.VAR_POSITIONAL:
            group = spec_of(slot, param.name)
            group = list(group) if isinstance(group, Sequence) and not isinstance(group, str) else []
            rest = len(args) - len(result)
            result.extend((f"{param.name}_{k}", group[k] if k < len(group) else None) for k in range(rest))
        else:
            break
    slot = len(params)
    for index in range(len(result), len(args)):  # no signature to read: positions
        result.append((f"input_{index}", spec_of(index if not params else slot, f"input_{index}")))
    return result


def _input_names(model: Any, args: tuple) -> list[str]:
    return [name for name, _ in _argument_specs(model, args)]


def requested_dynamic_dims(model: Any, args: tuple, dynamic_shapes: Any) -> dict[str, dict[int, str]]:
    """Normalise ``dynamic_shapes`` to {input name: {dim index: dim name}} for the tensor args."""
    if dynamic_shapes is None:
        return {}
    result: dict[str, dict[int, str]] = {}
    for name, spec in _argument_specs(model, args, dynamic_shapes):
        if spec is None:
            continue
        items = spec.items() if isinstance(spec, Mapping) else enumerate(spec) if isinstance(spec, Sequence) else ()
        dims = {}
        for index, dim in items:
            if dim is None:
                continue
            label = dim if isinstance(dim, str) else getattr(dim, "__name__", None) or str(dim)
            dims[int(index)] = label
        if dims:
            result[name] = dims
    return result


def _fixed_dim(name: str, index: int, label: str, value: int) -> str:
    return f"input {name!r} dim {index} ({label!r}) was asked to be dynamic but the exported graph fixed it to {value}"


def check_dynamic_dims(proto: onnx.ModelProto, requested: dict[str, dict[int, str]], names: list[str],
                       fixed: dict[str, int] | None = None) -> None:
    """Fail when a dim asked to be dynamic is static in the graph's inputs, or (``fixed``: symbol ->
    value, from torch's range constraints) kept a symbolic name although export pinned its value."""
    fixed = fixed or {}
    graph_inputs = [i for i in proto.graph.input if i.name not in {t.name for t in proto.graph.initializer}]
    by_name = {i.name: i for i in graph_inputs}
    problems = []
    for position, name in enumerate(names):
        if name not in requested:
            continue
        value = by_name.get(name) or (graph_inputs[position] if position < len(graph_inputs) else None)
        if value is None:
            continue
        dims = value.type.tensor_type.shape.dim
        for index, label in requested[name].items():
            if index < len(dims) and dims[index].HasField("dim_value"):
                problems.append(_fixed_dim(name, index, label, dims[index].dim_value))
            elif index < len(dims) and dims[index].dim_param in fixed:
                problems.append(f"input {name!r} dim {index} ({label!r}) was asked to be dynamic; the exported graph "
                                f"calls it {dims[index].dim_param!r} but export fixed it to "
                                f"{fixed[dims[index].dim_param]} (outputs and internal shapes assume that size)")
    _raise_dynamic(problems)


def check_exported_dims(program: Any, requested: dict[str, dict[int, str]], names: list[str]) -> None:
    """As :func:`check_dynamic_dims`, for a ``torch.export`` ExportedProgram: a dim asked to be dynamic
    whose user-input placeholder has an int size, or a symbol torch narrowed to one value, fails. (torch.onnx's
    first strategy refines the dynamic shapes by torch's suggested fixes instead of failing.)"""
    if not requested:
        return
    from torch.export.graph_signature import InputKind
    from torch.fx.experimental.symbolic_shapes import is_concrete_int

    users = [spec.arg.name for spec in program.graph_signature.input_specs if spec.kind == InputKind.USER_INPUT]
    placeholders = {node.name: node for node in program.graph.nodes if node.op == "placeholder"}
    pinned = _pinned_symbols(program)
    problems = []
    for position, name in enumerate(names):
        if name not in requested:
            continue
        node = placeholders.get(name) or (placeholders.get(users[position]) if len(users) == len(names) else None)
        shape = getattr(node.meta.get("val"), "shape", None) if node is not None else None
        for index, label in requested[name].items() if shape is not None else ():
            size = shape[index] if index < len(shape) else None
            # an int, a SymInt torch replaced by a number (Dim.AUTO), or a symbol narrowed to one value
            value = int(size) if size is not None and is_concrete_int(size) else pinned.get(str(getattr(size, "node", size)))
            if value is not None:
                problems.append(_fixed_dim(name, index, label, value))
    _raise_dynamic(problems)


def _raise_dynamic(problems: list[str]) -> None:
    if problems:
        raise DynamicDimError(
            "opforge.export: " + "; ".join(problems) + ". Export specialised the dim, most often because a "
            "Python loop or branch reads that size (for i in range(x.shape[0]), .item(), .tolist()). The ONNX "
            "file would reject every other size. Fix: move that loop into an @opforge.op (it stays one node), "
            "or rewrite it with torch.scan / torch._higher_order_ops.while_loop."
        )


_STATIC_DIM = re.compile(r"inferred a static shape of (\d+) for dimension (\S+?)\.shape\[(\d+)\]")


def _specialised_in_error(exc: BaseException, requested: dict[str, dict[int, str]]) -> list[str]:
    """torch.export's own complaint about a dynamic dim it had to specialise, reworded (or [])."""
    problems = []
    seen: set[int] = set()
    while exc is not None and id(exc) not in seen:
        seen.add(id(exc))
        for value, where, index in _STATIC_DIM.findall(str(exc)):
            name = re.sub(r"^\w+\[['\"]?|['\"]?\]$", "", where)
            label = requested.get(name, {}).get(int(index))
            problems.append(f"input {name!r} dim {index}{f' ({label!r})' if label else ''} was asked to be dynamic "
                            f"but export fixed it to {value}")
        exc = exc.__cause__ or exc.__context__  # type: ignore[assignment]
    return sorted(set(problems))


def _pinned_symbols(program: Any) -> dict[str, int]:
    """Symbolic dims whose range torch.export narrowed to a single value: {symbol: value}."""
    pinned = {}
    exported = getattr(program, "exported_program", program)  # an ONNXProgram or an ExportedProgram
    constraints = getattr(exported, "range_constraints", None) or {}
    for symbol, bounds in constraints.items():
        try:
            lower, upper = int(bounds.lower), int(bounds.upper)
        except Exception:  # noqa: BLE001 - sympy infinities raise assorted errors
            continue
        if lower == upper:
            pinned[str(symbol)] = lower
    return pinned


def _ensure_opset_imports(proto: onnx.ModelProto) -> None:
    versions: dict[str, int] = {}
    ops = {(o.domain, o.op_type): o for o in list_ops()}

    for node in all_nodes(proto.graph.node):
        opdef = ops.get((node.domain, node.op_type))
        if opdef is not None:
            versions[node.domain] = max(versions.get(node.domain, 0), opdef.version)
    present = {o.domain: o for o in proto.opset_import}
    for domain, version in versions.items():
        if domain in present:
            present[domain].version = max(present[domain].version, version)
        else:
            proto.opset_import.append(onnx.helper.make_opsetid(domain, version))


def _validate_program(program: Any) -> None:
    """The checks below, on a copy: a stock translation that makes an invalid node falls back instead."""
    proto = onnx.ModelProto()
    proto.CopyFrom(program.model_proto)
    _ensure_opset_imports(proto)
    onnx.checker.check_model(proto, full_check=True, check_custom_domain=True)


def to_onnx(
    model: Any,
    args: tuple,
    *,
    kwargs: dict | None = None,
    dynamic_shapes: Any = None,
    dynamo: bool = True,
    graph_breaks: bool = True,
    **torch_onnx_kwargs: Any,
) -> onnx.ModelProto:
    """Export with opforge's translations and return the validated, shape-inferred ModelProto.

    ``graph_breaks``: outline a function that torch.export cannot trace (see exporters/graph_breaks.py).
    """
    from .graph_breaks import GraphBreakError, export_outlining

    args = tuple(args) if isinstance(args, (tuple, list)) else (args,)
    if dynamo:
        extra_table = torch_onnx_kwargs.pop("custom_translation_table", None) or {}
        torch_onnx_kwargs.setdefault("verbose", False)
        torch_onnx_kwargs.pop("strict", None)  # TracerWarnings as errors: only the TorchScript trace has them

        requested = requested_dynamic_dims(model, args, dynamic_shapes)
        names = _input_names(model, args)

        def attempt(target: Any) -> Any:
            program = aten_fallback.export_with_fallback(
                lambda translations: torch.onnx.export(target, args, kwargs=kwargs, dynamic_shapes=dynamic_shapes,
                                                       dynamo=True, custom_translation_table=translations,
                                                       **torch_onnx_kwargs),
                {**aten_fallback.keep_whole_translations(), **dynamo_translation.translation_table(), **extra_table},
                validate=_validate_program)
            if program is not None and requested:  # a dim torch fixed (torch.kron reads sizes() in C++) fails
                check_dynamic_dims(program.model_proto, requested, names, _pinned_symbols(program))  # this try
            return program

        def run(target: Any) -> Any:  # the table is read per try: outlining declares ops
            # a torch op with no ONNX translation becomes an opforge.aten node run by torch; a torch function
            # that checks tensor values (torch.cov, ...) or fixes a dynamic dim is traced again as its stand-in
            return stand_ins.retried(lambda: attempt(target))

        # ops whose output shape depends on the data get fake implementations for the trace
        with warnings.catch_warnings(), data_dependent_shapes.data_dependent_fakes():
            warnings.simplefilter("ignore")
            try:
                program = export_outlining(run, model, args, kwargs, dynamic_shapes, graph_breaks)
            except GraphBreakError:
                raise
            except Exception as exc:
                _raise_dynamic(_specialised_in_error(exc, requested))
                raise_infer_first(exc)  # "add @infer" first, in one paragraph; torch's text as the cause
                raise
        if program is None:
            raise ExportError("torch.onnx.export returned no program")
        proto = program.model_proto
        fixed = _pinned_symbols(program)
    else:
        fixed = {}
        names = _input_names(model, args)
        requested = requested_dynamic_dims(model, args, dynamic_shapes)
        # no custom_opsets for every registered domain: torch warns about each one the model does not
        # use; _ensure_opset_imports below sets the versions of those it does
        custom_opsets = torch_onnx_kwargs.pop("custom_opsets", None) or {}
        buffer = io.BytesIO()
        with trace_warnings.reported(strict=torch_onnx_kwargs.pop("strict", False)):
            torch.onnx.export(model, args, buffer, kwargs=kwargs, dynamo=False,
                              input_names=torch_onnx_kwargs.pop("input_names", names),
                              dynamic_axes=torch_onnx_kwargs.pop("dynamic_axes", None) or requested or None,
                              custom_opsets=custom_opsets, **torch_onnx_kwargs)
        proto = onnx.load_from_string(buffer.getvalue())
    _ensure_opset_imports(proto)
    try:
        onnx.checker.check_model(proto, full_check=True, check_custom_domain=True)
    except (onnx.checker.ValidationError, onnx.shape_inference.InferenceError) as exc:
        raise ExportError(f"opforge.export: the exported model does not validate: {exc}{dtype_hint(proto, str(exc))}") \
            from exc
    proto = onnx.shape_inference.infer_shapes(proto, check_type=True, strict_mode=False)
    check_dynamic_dims(proto, requested_dynamic_dims(model, args, dynamic_shapes), _input_names(model, args), fixed)
    return proto
