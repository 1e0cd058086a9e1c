"""``opforge.InferenceSession``: an ``onnxruntime.InferenceSession`` that also runs opforge ops.

Creating one checks every opforge node of the model against its op (arity, dtypes, attribute
types) *before* anything is published, then points each node at its op's native custom op
(:mod:`.native`) in a private copy of the model, registers onnxruntime-extensions' library on a
private copy of the caller's ``SessionOptions`` and lets ONNX Runtime create the kernels.
"""

from __future__ import annotations

import ctypes
import itertools
import math
import os
from typing import Any

import numpy as np
import onnx
import onnxruntime as ort
from onnx import AttributeProto, helper

from .. import _outlined
from .. import opdef as registry
from .._graph import subgraphs
from .._infer import InferError, output_specs
from .._proto import attribute_value, type_proto_to_spec
from ..opdef import OpDef
from ..types import numpy_dtype
from . import native
from .registry import MissingKernelError, resolve

# Domains ONNX Runtime implements itself.
NATIVE_DOMAINS = {"", "ai.onnx", "ai.onnx.ml", "com.microsoft", "com.microsoft.nchwc", "ai.onnx.training",
                  "ai.onnx.preview.training", "com.microsoft.experimental", "com.ms.internal.nhwc"}
CUDA_PROVIDER = native.CUDA_PROVIDER

# attribute kind -> the ONNX attribute type a node must give it
_ATTRIBUTE_TYPES = {"float": AttributeProto.FLOAT, "int": AttributeProto.INT, "bool": AttributeProto.INT,
                    "str": AttributeProto.STRING, "ints": AttributeProto.INTS, "floats": AttributeProto.FLOATS,
                    "strs": AttributeProto.STRINGS}

# SessionOptions settings copied onto the private copy (the caller's object is never touched)
_OPTION_FIELDS = ("enable_cpu_mem_arena", "enable_mem_pattern", "enable_mem_reuse", "enable_profiling",
                  "execution_mode", "execution_order", "graph_optimization_level", "inter_op_num_threads",
                  "intra_op_num_threads", "log_severity_level", "log_verbosity_level", "logid",
                  "optimized_model_filepath", "profile_file_prefix", "use_deterministic_compute",
                  "use_per_session_threads")
# session config entries (onnxruntime_session_options_config_keys.h) copied when the caller set them
_CONFIG_KEYS = ("session.disable_prepacking", "session.use_env_allocators", "session.load_model_format",
                "session.save_model_format", "session.set_denormal_as_zero", "session.disable_quant_qdq",
                "session.disable_double_qdq_remover", "session.enable_quant_qdq_cleanup",
                "session.disable_aot_function_inlining", "optimization.enable_gelu_approximation",
                "optimization.minimal_build_optimizations", "optimization.disable_specified_optimizers",
                "session.intra_op.allow_spinning", "session.inter_op.allow_spinning",
                "session.use_device_allocator_for_initializers", "session.dynamic_block_base",
                "session.intra_op_thread_affinities", "session.force_spinning_stop",
                "session.strict_shape_type_inference", "session.allow_released_opsets_only",
                "session.node_partition_config_file", "session.x64quantprecision",
                "session.disable_cpu_ep_fallback", "session.graph_optimizations_loop_level",
                "mlas.enable_gemm_fastmath_arm64_bfloat16", "session.qdqisint8allowed",
                "session.disable_model_compile", "ep.context_enable", "ep.context_file_path",
                "ep.context_embed_mode")


class KernelError(RuntimeError):
    """Raised in place of a kernel exception that cannot be re-raised as itself."""


class KernelErrorMessage(str):
    """The ``err`` string a ``run_async`` callback gets when a kernel raised; ``.exception`` is that exception."""

    exception: BaseException | None = None


def load_model(model: str | os.PathLike | bytes | onnx.ModelProto) -> onnx.ModelProto:
    if isinstance(model, onnx.ModelProto):
        copy = onnx.ModelProto()
        copy.CopyFrom(model)
        return copy
    if isinstance(model, (bytes, bytearray)):
        return onnx.load_from_string(bytes(model))
    return onnx.load(os.fspath(model))


def copy_options(options: Any) -> Any:
    """A fresh ``SessionOptions`` with the caller's settings: registering a custom-op library freezes
    the op set an options object sees and may happen once per object, so opforge never uses theirs."""
    copy = ort.SessionOptions()
    if options is None:
        return copy
    for name in _OPTION_FIELDS:
        try:
            value = getattr(options, name)
        except AttributeError:  # an older onnxruntime
            continue
        if getattr(copy, name) != value:
            setattr(copy, name, value)
    for key in _CONFIG_KEYS:
        try:
            value = options.get_session_config_entry(key)
        except RuntimeError:  # not set
            continue
        copy.add_session_config_entry(key, value)
    return copy


class _Planner:
    """Checks each opforge node of a model and records its plan; publishes nothing."""

    def __init__(self, model: onnx.ModelProto, prefer_functions: bool, device: str, cuda_provider: bool = False) -> None:
        self.model = model
        self.device = device
        self.cuda_provider = cuda_provider  # the session runs on ONNX Runtime's CUDA execution provider
        self.prefer_functions = prefer_functions
        self.versions = {o.domain: o.version for o in model.opset_import}
        self.local_functions = {(f.domain, f.name) for f in model.functions}
        self.types: dict[str, onnx.TypeProto] = {}
        self.missing: list[str] = []
        self.plans: dict[str, native.NodePlan] = {}
        self.names: set[str] = set()
        self._count = itertools.count()

    def collect_types(self, graph: onnx.GraphProto) -> None:
        for value in itertools.chain(graph.input, graph.output, graph.value_info):
            if value.type.HasField("tensor_type") and value.type.tensor_type.elem_type:
                self.types[value.name] = value.type
        for init in graph.initializer:
            self.types[init.name] = helper.make_tensor_type_proto(init.data_type, list(init.dims))
        for node in graph.node:
            self.names.add(node.name)
            for sub in subgraphs(node):
                self.collect_types(sub)

    def check_not_internal(self) -> None:
        """A model may not name opforge's private ops (it would reach them without these checks)."""
        forged = [f"{n.domain}::{n.op_type}" for n in _walk(self.model.graph) if n.op_type.startswith(native.NAME_PREFIX)]
        forged += [f"function {f.domain}::{f.name}" for f in self.model.functions if f.name.startswith(native.NAME_PREFIX)]
        if forged:
            raise ValueError(f"the model names opforge-internal op(s) {sorted(set(forged))[:5]}; models must use "
                             "the ops' own names (domain::OpType), never the runtime's private ones")

    def plan(self, node: onnx.NodeProto) -> native.NodePlan | None:
        if node.domain in NATIVE_DOMAINS:
            return None
        has_function = (node.domain, node.op_type) in self.local_functions
        opdef = registry.lookup(node.domain, node.op_type, self.versions.get(node.domain))
        if opdef is None or (has_function and self.prefer_functions):
            if opdef is None and not has_function:
                self.missing.append(f"{node.domain}::{node.op_type} (node {node.name!r})")
            return None
        where = f"node {node.name!r} ({opdef.name} v{opdef.version})"
        try:
            kernel = resolve(opdef, self.device, self.cuda_provider)
        except MissingKernelError as exc:
            raise MissingKernelError(f"{where}: {exc}") from None
        attrs = self.check_attributes(opdef, node, where)
        groups = self.check_inputs(opdef, node, where)
        out_dtypes, out_shapes = self.check_outputs(opdef, node, where, groups, attrs)
        unique = node.name if node.name and node.name not in self.plans else f"{node.name}__opforge{next(self._count)}"
        while unique in self.names and unique != node.name:
            unique = f"{node.name}__opforge{next(self._count)}"
        self.names.add(unique)
        plan = native.NodePlan(opdef=opdef, node=unique, display=where, groups=groups, out_dtypes=out_dtypes,
                               out_shapes=out_shapes, device=self.device, kernel=kernel,
                               given=frozenset(a.name for a in node.attribute))
        self.plans[unique] = plan
        return plan

    def check_attributes(self, opdef: OpDef, node: onnx.NodeProto, where: str) -> dict[str, Any]:
        declared = {a.name: a for a in opdef.attributes}
        values: dict[str, Any] = {}
        for proto in node.attribute:
            attr = declared.get(proto.name)
            if attr is None:
                raise ValueError(f"{where}: attribute {proto.name!r} is not declared by the op (it declares "
                                 f"{opdef.attribute_names or 'none'}); remove it or fix its name")
            expected = _ATTRIBUTE_TYPES[attr.kind]
            if proto.ref_attr_name or proto.type != expected:
                given = AttributeProto.AttributeType.Name(proto.type) if not proto.ref_attr_name else \
                    f"a reference to {proto.ref_attr_name!r}"
                raise TypeError(f"{where}: attribute {proto.name!r} must be {attr.kind} (ONNX "
                                f"{AttributeProto.AttributeType.Name(expected)}), the model gives {given}")
            value = attribute_value(attr.kind, proto)
            if attr.kind == "bool" and proto.i not in (0, 1):
                raise TypeError(f"{where}: attribute {proto.name!r} is a bool (INT 0 or 1), the model gives "
                                f"INT {proto.i}")
            values[proto.name] = value
        for attr in opdef.attributes:
            if attr.name not in values:
                if attr.required:
                    raise ValueError(f"{where}: the required attribute {attr.name!r} is missing")
                values[attr.name] = attr.default
        return values

    def check_inputs(self, opdef: OpDef, node: onnx.NodeProto, where: str) -> list[tuple[str, int, int]]:
        names = list(node.input)
        groups: list[tuple[str, int, int]] = []
        position = 0
        for spec in opdef.inputs:
            if spec.variadic:
                group = names[position:]
                if any(not n for n in group):
                    raise ValueError(f"{where}: the variadic input {spec.name!r} has an empty (absent) entry")
                groups.append(("variadic", position, len(group)))
                position = len(names)
                for name in group:
                    self.check_dtype(where, f"input {spec.name!r}", spec.dtypes, self.types.get(name))
            else:
                name = names[position] if position < len(names) else ""
                if not name and not spec.optional:
                    raise ValueError(f"{where}: the required input {spec.name!r} is missing")
                groups.append(("optional" if spec.optional else "tensor", position, 1 if name else 0))
                if name:
                    self.check_dtype(where, f"input {spec.name!r}", spec.dtypes, self.types.get(name))
                position += 1
        if len(names) > position:
            raise ValueError(f"{where}: the node has {len(names)} inputs, the op declares {len(opdef.inputs)} "
                             f"({', '.join(opdef.input_names)}); remove the extra ones")
        return groups

    def check_dtype(self, where: str, what: str, allowed: tuple[str, ...], type_proto: onnx.TypeProto | None) -> None:
        dtype = _dtype(type_proto)
        if type_proto is not None and type_proto.HasField("tensor_type") and type_proto.tensor_type.elem_type \
                and dtype is None:
            raise TypeError(f"{where}: {what} has ONNX element type {type_proto.tensor_type.elem_type}, which opforge "
                            "kernels cannot take")
        if dtype is None:
            return
        if dtype not in allowed:
            raise TypeError(f"{where}: {what} is {dtype}, but the op allows {', '.join(allowed)}")
        if dtype in native.UNSUPPORTED_DTYPES:
            raise TypeError(f"{where}: {what} is {dtype}, which ONNX Runtime custom ops cannot carry")

    def check_outputs(self, opdef: OpDef, node: onnx.NodeProto, where: str, groups: list,
                      attrs: dict[str, Any]) -> tuple[list[str], list]:
        if len(node.output) != len(opdef.outputs):
            raise ValueError(f"{where}: the node has {len(node.output)} output(s), the op declares "
                             f"{len(opdef.outputs)} ({', '.join(o.name for o in opdef.outputs)})")
        inferred: list | None = None
        dtypes, shapes = [], []
        for index, (name, spec) in enumerate(zip(node.output, opdef.outputs)):
            type_proto = self.types.get(name) if name else None
            dtype = _dtype(type_proto)
            if dtype is None:
                if inferred is None:
                    try:
                        inferred = output_specs(opdef, self.input_specs(opdef, node, groups), attrs)
                    except InferError as exc:
                        raise ValueError(f"{where}: the dtype of output {index} is unknown. {exc}") from exc
                dtype = inferred[index].dtype
            self.check_dtype(where, f"output {index} ({spec.name!r})", spec.dtypes,
                             helper.make_tensor_type_proto(native_dtype(dtype), None))
            dtypes.append(dtype)
            shapes.append(_expected_shape(type_proto))
        return dtypes, shapes

    def input_specs(self, opdef: OpDef, node: onnx.NodeProto, groups: list) -> list[Any]:
        specs: list[Any] = []
        for kind, first, count in groups:
            names = list(node.input[first:first + count])
            values = [type_proto_to_spec(self.types.get(n)) for n in names]
            specs.append(values if kind == "variadic" else values[0] if values else None)
        return opdef.python_inputs(specs)


def native_dtype(dtype: str) -> int:
    from ..types import onnx_dtype

    return onnx_dtype(dtype)


def _dtype(type_proto: onnx.TypeProto | None) -> str | None:
    if type_proto is None or not type_proto.HasField("tensor_type") or not type_proto.tensor_type.elem_type:
        return None
    return native.element_dtype(type_proto.tensor_type.elem_type)


def _expected_shape(type_proto: onnx.TypeProto | None) -> tuple | None:
    spec = type_proto_to_spec(type_proto)
    if spec is None or spec.shape is None:
        return None
    return len(spec.shape), tuple((axis, d) for axis, d in enumerate(spec.shape) if isinstance(d, int))


def _walk(graph: onnx.GraphProto):
    for node in graph.node:
        for sub in subgraphs(node):
            yield from _walk(sub)
        yield node


def _visit(graph: onnx.GraphProto, fn: Any) -> None:
    for node in graph.node:
        for sub in subgraphs(node):
            _visit(sub, fn)
        fn(node, graph)


def prepare(model: onnx.ModelProto, device: str = "cpu", prefer_functions: bool = False, cuda: bool = False
            ) -> tuple[onnx.ModelProto, dict[str, native.NodePlan], list[str]]:
    """Check ``model``'s opforge nodes, publish their ops, and point the nodes at them (in place)."""
    try:
        inferred = onnx.shape_inference.infer_shapes(model, check_type=False, strict_mode=False)
    except Exception:  # noqa: BLE001 - a model ORT accepts may still trip strict inference
        inferred = model
    planner = _Planner(model, prefer_functions, device, cuda)
    planner.check_not_internal()
    planner.collect_types(inferred.graph)
    planner.names.update(n.name for n in _walk(model.graph))
    found: list[tuple[onnx.NodeProto, onnx.GraphProto, native.NodePlan]] = []

    fed = {i.name for i in model.graph.input} - {i.name for i in model.graph.initializer}

    def plan(node: onnx.NodeProto, graph: onnx.GraphProto) -> None:
        node_plan = planner.plan(node)
        if node_plan is not None:
            if graph is model.graph:
                node_plan.fed = frozenset(k for k, name in enumerate(node.input) if name in fed)
            found.append((node, graph, node_plan))

    _visit(model.graph, plan)
    if planner.missing:
        raise MissingKernelError(
            "this model needs op(s) that no opforge kernel, torch reference or model-local function can run: "
            + ", ".join(sorted(set(planner.missing)))
            + ". Declare or import them first (opforge.load_ops('your_package.ops')), or export with "
            "portable=True so their ONNX function bodies travel with the model."
            + _outlined.load_hint(model, planner.missing)
        )
    # every node checked: only now may anything become process-wide
    names: dict[tuple, str] = {}
    for _, _, node_plan in found:
        key = (id(node_plan.opdef), tuple(node_plan.out_dtypes))
        if key not in names:
            names[key] = native.publish(node_plan.opdef, key[1], cuda=cuda)
    for node, graph, node_plan in found:
        node.domain = native.DOMAIN
        node.op_type = names[(id(node_plan.opdef), tuple(node_plan.out_dtypes))]
        node.name = node_plan.node
        for index, name in enumerate(node.output):
            if not name:  # an unused output still needs a name for the custom op's kernel
                node.output[index] = f"{node_plan.node}__unused{index}"
        _declare_outputs(graph, node, node_plan)
    if found and not any(o.domain == native.DOMAIN for o in model.opset_import):
        model.opset_import.append(helper.make_opsetid(native.DOMAIN, 1))
    return model, {p.node: p for _, _, p in found}, sorted(set(names.values()))


def _declare_outputs(graph: onnx.GraphProto, node: onnx.NodeProto, plan: native.NodePlan) -> None:
    """Give each output a typed value_info: the native op leaves most output types open."""
    declared = {v.name for v in itertools.chain(graph.value_info, graph.output)}
    for name, dtype in zip(node.output, plan.out_dtypes):
        if name not in declared:
            graph.value_info.append(helper.make_tensor_value_info(name, native_dtype(dtype), None))


class InferenceSession:
    """``onnxruntime.InferenceSession`` that also runs opforge ops, as native ONNX Runtime custom ops.

    Args:
        model: a path, serialized bytes or an ``onnx.ModelProto``.
        sess_options: ``onnxruntime.SessionOptions``; never modified (opforge registers its custom
            ops on a private copy of its settings), so one object serves any number of sessions.
        providers: as for ONNX Runtime (default: CPU; with ``kernel_device="cuda"``: CUDA, then CPU).
        kernel_device: ``"cpu"`` or ``"cuda"``: ops with a cuda kernel (or a torch reference) run on
            the CUDA execution provider with device memory.
        prefer_functions: run an op through its model-local ONNX function when the model carries
            one, rather than through its Python kernel.

    A kernel that raises makes :meth:`run` (and ``run_async``, ``run_with_ort_values``,
    ``run_with_iobinding``) raise that same exception (with its traceback); the process and the
    session survive. A model that needs an op no one can run fails here, naming it.
    """

    def __init__(self, model: str | os.PathLike | bytes | onnx.ModelProto, sess_options: Any = None,
                 providers: list | None = None, *, kernel_device: str = "cpu", prefer_functions: bool = False,
                 **kwargs: Any) -> None:
        if kernel_device not in ("cpu", "cuda"):
            raise ValueError(f"kernel_device must be 'cpu' or 'cuda', got {kernel_device!r}")
        if kernel_device == "cuda":
            from .gpu import require_cuda

            require_cuda()
        if providers is None:
            providers = ["CPUExecutionProvider"]
            if kernel_device == "cuda" and CUDA_PROVIDER in ort.get_available_providers():
                providers.insert(0, CUDA_PROVIDER)
        names = [p if isinstance(p, str) else p[0] for p in providers]
        proto = load_model(model)
        proto, self.plans, self.native_ops = prepare(proto, kernel_device, prefer_functions,
                                                     cuda=kernel_device == "cuda" and CUDA_PROVIDER in names)
        options = copy_options(sess_options)
        if self.plans:
            options.register_custom_ops_library(native.library_path())
        self.model = proto
        self.kernel_device = kernel_device
        with native.creating(self.plans):
            self._session = ort.InferenceSession(proto.SerializeToString(), options, providers=providers, **kwargs)
        # onnxruntime's Python API has no numpy type for bfloat16: run() takes and returns those
        # tensors as ml_dtypes.bfloat16 arrays through OrtValues instead
        self._bfloat16 = {v.name for v in [*self._session.get_inputs(), *self._session.get_outputs()]
                          if v.type == "tensor(bfloat16)"}

    def run(self, output_names: list[str] | None, input_feed: dict[str, Any], run_options: Any = None) -> list[Any]:
        """As ``onnxruntime.InferenceSession.run``; a kernel's exception is re-raised as itself.
        bfloat16 inputs and outputs are ``ml_dtypes.bfloat16`` arrays (onnxruntime itself refuses them)."""
        if self._bfloat16:
            return self._guarded(self._run_bfloat16, output_names, input_feed, run_options)
        return self._guarded(self._session.run, output_names, input_feed, run_options)

    def _run_bfloat16(self, output_names: list[str] | None, input_feed: dict[str, Any], run_options: Any) -> list:
        feed = {name: _ort_value(name, value) for name, value in input_feed.items()}
        names = output_names or [o.name for o in self._session.get_outputs()]
        values = self._session.run_with_ort_values(names, feed, run_options)
        return [_numpy(name, value) for name, value in zip(names, values, strict=True)]

    def run_with_ort_values(self, output_names: list[str] | None, input_feed: dict[str, Any],
                            run_options: Any = None) -> Any:
        """As ``onnxruntime.InferenceSession.run_with_ort_values``, with the same error handling as :meth:`run`."""
        return self._guarded(self._session.run_with_ort_values, output_names, input_feed, run_options)

    def run_with_iobinding(self, iobinding: Any, run_options: Any = None) -> Any:
        """As ``onnxruntime.InferenceSession.run_with_iobinding``, with the same error handling as :meth:`run`."""
        return self._guarded(self._session.run_with_iobinding, iobinding, run_options)

    def run_async(self, output_names: list[str] | None, input_feed: dict[str, Any], callback: Any, user_data: Any,
                  run_options: Any = None) -> Any:
        """As ``onnxruntime.InferenceSession.run_async``. When a kernel raised, ``callback`` gets as ``err`` a
        :class:`KernelErrorMessage` (a str) whose ``.exception`` is the kernel's exception."""

        def relay(outputs: Any, data: Any, err: str) -> None:
            if err:
                claimed = native.claim_error(err)
                if claimed is not None:
                    message = KernelErrorMessage(err)
                    message.exception = _with_note(*claimed)
                    err = message
            callback(outputs, data, err)

        return self._session.run_async(output_names, input_feed, relay, user_data, run_options)

    def _guarded(self, method: Any, *args: Any) -> Any:
        try:
            return method(*args)
        except Exception as exc:
            claimed = native.claim_error(str(exc))
            if claimed is None:
                raise
            error = _with_note(*claimed)
        raise error.with_traceback(error.__traceback__)

    def __getattr__(self, name: str) -> Any:  # get_inputs, get_outputs, get_providers, io_binding, ...
        if name == "_session":
            raise AttributeError(name)
        return getattr(self._session, name)


def _ort_value(name: str, value: Any) -> Any:
    """An input as an OrtValue; a bfloat16 array is copied in by its bits."""
    if isinstance(value, ort.OrtValue):
        return value
    array = np.asarray(value, order="C")  # (ascontiguousarray would make a 0-d array 1-d)
    if array.dtype != numpy_dtype("bfloat16"):
        return ort.OrtValue.ortvalue_from_numpy(array)
    target = ort.OrtValue.ortvalue_from_shape_and_type(list(array.shape), onnx.TensorProto.BFLOAT16)
    if array.nbytes:
        ctypes.memmove(target.data_ptr(), array.ctypes.data, array.nbytes)
    return target


def _numpy(name: str, value: Any) -> Any:
    """An output OrtValue as numpy; bfloat16 read by its bits into an ml_dtypes.bfloat16 array."""
    if not value.is_tensor():
        raise TypeError(f"output {name!r} is not a tensor: this model has bfloat16 tensors, for which "
                        "opforge.InferenceSession.run goes through OrtValues; use run_with_ort_values for it")
    if value.data_type() != "tensor(bfloat16)":
        return value.numpy()
    if value.device_name().lower() != "cpu":
        raise TypeError(f"output {name!r} is a bfloat16 tensor on {value.device_name()}: bind it to the CPU "
                        "(io_binding) to read it")
    shape = tuple(value.shape())
    size = math.prod(shape)
    bits = np.ctypeslib.as_array((ctypes.c_uint16 * size).from_address(value.data_ptr())) if size else \
        np.empty(0, np.uint16)
    return bits.copy().view(numpy_dtype("bfloat16")).reshape(shape)


def _with_note(error: BaseException, where: str) -> BaseException:
    note = f"(raised by the kernel of {where} inside an opforge.InferenceSession run)"
    if hasattr(error, "add_note") and note not in getattr(error, "__notes__", []):
        error.add_note(note)
    return error
