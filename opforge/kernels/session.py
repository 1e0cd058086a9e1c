"""``opforge.InferenceSession``: an ``onnxruntime.InferenceSession`` that also runs opforge ops."""

from __future__ import annotations

import itertools
import os
import threading
from typing import Any

import onnx
import onnxruntime as ort
from onnx import helper

from .. import _outlined
from .. import opdef as registry
from .._graph import subgraphs
from .._infer import InferError, output_specs
from .._proto import node_attributes, type_proto_to_spec
from ..types import TensorSpec
from . import bridge
from .registry import MissingKernelError

# Domains ONNX Runtime implements itself.
NATIVE_DOMAINS = {"", "ai.onnx", "ai.onnx.ml", "com.microsoft", "com.microsoft.nchwc", "ai.onnx.training",
                  "ai.onnx.preview.training", "com.microsoft.experimental", "com.ms.internal.nhwc"}


class KernelError(RuntimeError):
    """Raised in place of a kernel exception that cannot be re-raised as itself."""


def load_model(model: str | os.PathLike | bytes | onnx.ModelProto) -> onnx.ModelProto:
    if isinstance(model, onnx.ModelProto):
        copy = onnx.ModelProto()
        copy.CopyFrom(model)
        return copy
    if isinstance(model, (bytes, bytearray)):
        return onnx.load_from_string(bytes(model))
    return onnx.load(os.fspath(model))


class _Rewriter:
    """Turns every opforge node of a model into a node of a bridge variant."""

    def __init__(self, model: onnx.ModelProto, device: str, prefer_functions: bool) -> None:
        self.model = model
        self.device = device
        self.prefer_functions = prefer_functions
        self.versions = {o.domain: o.version for o in model.opset_import}
        self.local_functions = {(f.domain, f.name) for f in model.functions}
        self.types: dict[str, onnx.TypeProto] = {}
        self.batch: list[bridge.Variant] = []
        self.used: list[tuple[onnx.NodeProto, bridge.Variant]] = []
        self._count = itertools.count()
        self.missing: list[str] = []

    def counter(self) -> int:
        return next(self._count)

    def collect_types(self, graph: onnx.GraphProto) -> None:
        for value in itertools.chain(graph.input, graph.output, graph.value_info):
            if value.type.HasField("tensor_type") and value.type.tensor_type.elem_type:
                self.types[value.name] = value.type
        for init in graph.initializer:
            self.types[init.name] = helper.make_tensor_type_proto(init.data_type, list(init.dims))
        for node in graph.node:
            for sub in subgraphs(node):
                self.collect_types(sub)

    def plan(self, node: onnx.NodeProto) -> tuple | None:
        """(variant, present inputs, attribute values) for an opforge node, None for any other."""
        if node.domain in NATIVE_DOMAINS:
            return None
        has_function = (node.domain, node.op_type) in self.local_functions
        opdef = registry.lookup(node.domain, node.op_type, self.versions.get(node.domain))
        if opdef is None or (has_function and self.prefer_functions):
            if opdef is None and not has_function:
                self.missing.append(f"{node.domain}::{node.op_type} (node {node.name!r})")
            return None
        where = f"node {node.name!r} ({opdef.name} v{opdef.version})"
        attrs = node_attributes(opdef, node)
        names = list(node.input)
        layout: list[int] = []
        present: list[str] = []
        specs: list[Any] = []
        position = 0
        for spec in opdef.inputs:
            if spec.variadic:
                group = names[position:]
                layout.append(len(group))
                present.extend(group)
                specs.append([type_proto_to_spec(self.types.get(n)) for n in group])
                position = len(names)
            else:
                name = names[position] if position < len(names) else ""
                if not name and not spec.optional:
                    raise ValueError(f"{where}: the required input {spec.name!r} is missing")
                layout.append(1 if name else 0)
                if name:
                    present.append(name)
                specs.append(type_proto_to_spec(self.types.get(name)) if name else None)
                position += 1
        in_dtypes = []
        for name in present:
            dtype = bridge.dtype_of(self.types[name]) if name in self.types else None
            if dtype is None:
                raise ValueError(f"{where}: the dtype of input {name!r} is unknown; give the model's inputs "
                                 "types, or run onnx.shape_inference on it")
            in_dtypes.append(dtype)
        for spec, value in zip(opdef.inputs, specs):
            for s in (value if isinstance(value, list) else [value]):
                if s is not None and s.dtype not in spec.dtypes:
                    raise TypeError(f"{where}: input {spec.name!r} is {s.dtype}, but the op allows "
                                    f"{', '.join(spec.dtypes)}")
        out_dtypes = []
        inferred: list[TensorSpec] | None = None
        for index, name in enumerate(node.output):
            dtype = bridge.dtype_of(self.types[name]) if name in self.types else None
            if dtype is None:
                if inferred is None:
                    try:
                        inferred = output_specs(opdef, specs, attrs)
                    except InferError as exc:
                        raise ValueError(f"{where}: the dtype of output {index} is unknown. {exc}") from exc
                dtype = inferred[index].dtype
            out_dtypes.append(dtype)
        try:
            variant = bridge.variant_for(opdef, tuple(layout), tuple(in_dtypes), tuple(out_dtypes), self.device,
                                         self.batch)
        except MissingKernelError as exc:
            raise MissingKernelError(f"{where}: {exc}") from None
        self.used.append((node, variant))
        return variant, present, attrs, [self.expected_shape(name) for name in node.output]

    def expected_shape(self, name: str) -> list | None:
        """The output's dims as the model declares them: ints, None for symbolic/unknown; None if no rank."""
        spec = type_proto_to_spec(self.types.get(name)) if name else None
        if spec is None or spec.shape is None:
            return None
        return [d if isinstance(d, int) else None for d in spec.shape]


def prepare(model: onnx.ModelProto, device: str = "cpu", prefer_functions: bool = False
            ) -> tuple[onnx.ModelProto, list[bridge.Variant]]:
    """Rewrite ``model`` (in place) for the bridge; return it and the variants it uses."""
    try:
        inferred = onnx.shape_inference.infer_shapes(model, check_type=False, strict_mode=False)
    except Exception:  # noqa: BLE001 - a model ORT accepts may still trip strict inference
        inferred = model
    rewriter = _Rewriter(model, device, prefer_functions)
    rewriter.collect_types(inferred.graph)

    # Two passes in the same order: plan every node (creating variants), publish the new variants
    # in one fresh domain (their names are known only then), then rebuild the graphs.
    plans: list[tuple | None] = []
    _visit(model.graph, lambda node: plans.append(rewriter.plan(node)))
    if rewriter.missing:
        raise MissingKernelError(
            "this model needs op(s) that no opforge kernel, torch reference or model-local function can run: "
            + ", ".join(sorted(set(rewriter.missing)))
            + ". Declare or import them first (opforge.load_ops('your_package.ops')), or export with "
            "portable=True so their ONNX function bodies travel with the model."
            + _outlined.load_hint(model, rewriter.missing)
        )
    bridge.publish(rewriter.batch)
    queue = iter(plans)
    _rebuild(model.graph, queue, rewriter.counter)
    variants = list({id(v): v for _, v in rewriter.used}.values())
    domains = {v.domain for v in variants}
    for domain in sorted(domains):
        model.opset_import.append(helper.make_opsetid(domain, 1))
    return model, variants


def _visit(graph: onnx.GraphProto, fn: Any) -> None:
    for node in graph.node:
        for sub in subgraphs(node):
            _visit(sub, fn)
        fn(node)


def _rebuild(graph: onnx.GraphProto, plans: Any, counter: Any) -> None:
    nodes: list[onnx.NodeProto] = []
    for node in graph.node:
        for sub in subgraphs(node):
            _rebuild(sub, plans, counter)
        plan = next(plans)
        if plan is None:
            nodes.append(node)
        else:
            variant, present, attrs, shapes = plan
            nodes.extend(bridge.rewrite_node(node, variant, present, attrs, shapes, counter))
    new = [onnx.NodeProto() for _ in nodes]
    for target, source in zip(new, nodes):
        target.CopyFrom(source)
    del graph.node[:]
    graph.node.extend(new)


class InferenceSession:
    """``onnxruntime.InferenceSession`` that also runs opforge ops.

    Args:
        model: a path, serialized bytes or an ``onnx.ModelProto``.
        sess_options: ``onnxruntime.SessionOptions``; opforge forces sequential execution, which
            its kernel hand-off needs, and registers the bridge's custom-op library.
        providers: as for ONNX Runtime (default: CPU).
        kernel_device: ``"cpu"`` (numpy kernels or the torch reference) or ``"cuda"`` (cupy kernels).
        prefer_functions: run an op through its model-local ONNX function when the model carries
            one, rather than through its Python kernel.

    A kernel that raises makes :meth:`run` raise that same exception (with its traceback); the
    process and the session survive. A model that needs an op no one can run fails here, naming it.
    """

    def __init__(self, model: str | os.PathLike | bytes | onnx.ModelProto, sess_options: Any = None,
                 providers: list | None = None, *, kernel_device: str = "cpu", prefer_functions: bool = False,
                 **kwargs: Any) -> None:
        if kernel_device not in ("cpu", "cuda"):
            raise ValueError(f"kernel_device must be 'cpu' or 'cuda', got {kernel_device!r}")
        if kernel_device == "cuda":
            from .gpu import require_cuda

            require_cuda()
        proto = load_model(model)
        proto, self.variants = prepare(proto, kernel_device, prefer_functions)
        options = sess_options if sess_options is not None else ort.SessionOptions()
        if self.variants:
            options.register_custom_ops_library(bridge.library_path())
            options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
        self.model = proto
        self.kernel_device = kernel_device
        self._session = ort.InferenceSession(proto.SerializeToString(), options,
                                             providers=providers or ["CPUExecutionProvider"], **kwargs)

    def run(self, output_names: list[str] | None, input_feed: dict[str, Any], run_options: Any = None) -> list[Any]:
        """As ``onnxruntime.InferenceSession.run``; a kernel's exception is re-raised as itself."""
        return self._guarded(self._session.run, output_names, input_feed, run_options=run_options)

    def run_with_ort_values(self, output_names: list[str] | None, input_feed: dict[str, Any],
                            run_options: Any = None) -> Any:
        """As ``onnxruntime.InferenceSession.run_with_ort_values``, with the same error handling as :meth:`run`."""
        return self._guarded(self._session.run_with_ort_values, output_names, input_feed, run_options=run_options)

    def run_with_iobinding(self, iobinding: Any, run_options: Any = None) -> Any:
        """As ``onnxruntime.InferenceSession.run_with_iobinding``, with the same error handling as :meth:`run`."""
        return self._guarded(self._session.run_with_iobinding, iobinding, run_options=run_options)

    def _guarded(self, method: Any, *args: Any, run_options: Any) -> Any:
        # one RunOptions per thread when the caller gives none: a fresh one costs ~3 us per run
        options = run_options if run_options is not None else _thread_run_options()
        ctx = bridge.RunContext(options)
        previous = bridge.set_context(ctx)
        try:
            try:
                result = method(*args, options)
            except Exception:
                if ctx.error is None:
                    raise
                raise _with_note(ctx) from None
            if ctx.error is not None:
                raise _with_note(ctx)
            return result
        finally:
            bridge.set_context(previous)
            if ctx.error is not None:  # the hook stopped the graph; let the next run go ahead
                options.terminate = False

    def __getattr__(self, name: str) -> Any:  # get_inputs, get_outputs, get_providers, ...
        if name == "_session":
            raise AttributeError(name)
        return getattr(self._session, name)


_THREAD = threading.local()


def _thread_run_options() -> Any:
    options = getattr(_THREAD, "run_options", None)
    if options is None:
        options = _THREAD.run_options = ort.RunOptions()
    return options


def _with_note(ctx: bridge.RunContext) -> BaseException:
    error = ctx.error
    assert error is not None
    note = f"(raised by the kernel of {ctx.node} inside an opforge.InferenceSession run)"
    if hasattr(error, "add_note") and note not in getattr(error, "__notes__", []):
        error.add_note(note)
    return error
