"""The ONNX Runtime bridge: opforge kernels run as onnxruntime-extensions Python ops.

onnxruntime-extensions hosts Python kernels, but used as is it aborts the process on a kernel
exception, rounds float attributes to 6 digits, aborts on float16, has no optional or variadic
inputs, returns outputs through ``tolist()``, and corrupts live sessions when an op is added to a
domain they registered. The bridge owns all of these:

* each session runs a private rewrite of the model: every opforge node becomes a node of a
  *variant* op, specialised to its input dtypes, its optional-input presence and its variadic
  arity, with one JSON string attribute that carries the attribute values exactly (and the
  output shapes the model expects, which each result is checked against);
* float16/bfloat16 travel as float32 through Cast nodes (lossless) and are handed to the
  kernel in their own dtype;
* variants are created in a fresh domain per batch, so no live session's domain ever grows;
* one process-wide hook returns ndarrays (one memcpy each way) and never lets an exception
  escape: it records the exception, sets ``RunOptions.terminate`` and returns placeholders;
  ``InferenceSession.run`` re-raises the kernel's own exception.
"""

from __future__ import annotations

import itertools
import json
import threading
from collections.abc import Callable
from typing import Any

import numpy as np
import onnx
from onnx import helper

from ..opdef import OpDef
from ..types import dtype_name, numpy_dtype, onnx_dtype
from .registry import coerce_output, resolve

ATTRIBUTE = "_opforge"  # the one string attribute that carries the attribute values, as JSON
_WIDEN = {"float16": "float32", "bfloat16": "float32"}  # dtypes the Python op API cannot carry

_LOCK = threading.RLock()
_VARIANTS: dict[int, Variant] = {}  # obj_id -> variant; never shrinks (ORT keeps raw pointers)
_BY_KEY: dict[tuple, Variant] = {}
_NATIVE: list[Any] = []  # PyCustomOpDef objects must outlive every session
_DOMAIN_COUNTER = itertools.count()
_LOCAL = threading.local()


class RunContext:
    """Per-``run`` state the hook reaches through a thread-local (sessions run sequentially)."""

    __slots__ = ("run_options", "error", "node")

    def __init__(self, run_options: Any) -> None:
        self.run_options = run_options
        self.error: BaseException | None = None
        self.node: str | None = None


def current_context() -> RunContext | None:
    return getattr(_LOCAL, "ctx", None)


def set_context(ctx: RunContext | None) -> RunContext | None:
    previous = getattr(_LOCAL, "ctx", None)
    _LOCAL.ctx = ctx
    return previous


class Variant:
    """One specialisation of an op: present inputs, their dtypes, output dtypes, device."""

    def __init__(self, opdef: OpDef, layout: tuple, in_dtypes: tuple[str, ...], out_dtypes: tuple[str, ...],
                 device: str) -> None:
        self.opdef = opdef
        self.layout = layout  # per op input: 1/0 presence for tensor/optional, arity for variadic
        self.in_dtypes = in_dtypes  # the kernel's dtypes, per present input
        self.out_dtypes = out_dtypes
        self.device = device
        self.kernel: Callable = resolve(opdef, device)
        self.in_widened = [d in _WIDEN for d in in_dtypes]
        self.out_transit = [numpy_dtype(_WIDEN.get(d, d)) for d in out_dtypes]
        # Fast path of __call__: no input to narrow, every op input present once (no optional
        # left out, no variadic), and outputs that the kernel already returns in transit dtype.
        self._narrow_inputs = any(self.in_widened)
        self._plain_inputs = all(not spec.variadic for spec in opdef.inputs) and all(c == 1 for c in layout)
        self._ready = [numpy_dtype(d) if numpy_dtype(d) == t else None for d, t in zip(out_dtypes, self.out_transit)]
        # the hook's direct path: inputs as they come, one output that needs no conversion
        self.direct = not self._narrow_inputs and self._plain_inputs and len(out_dtypes) == 1 and self._ready[0] is not None
        self.ready = self._ready[0]
        self.obj_id = 0
        self.op_type = ""
        self.domain = ""
        self._decoded: dict[str, tuple[dict[str, Any], list | None]] = {}

    def decode(self, encoded: str) -> tuple[dict[str, Any], list | None]:
        """The node's attribute values, and what to check of its outputs: per output with a known rank,
        (index, rank, ((axis, static dim), ...)); None when the model says nothing about them."""
        cached = self._decoded.get(encoded)
        if cached is None:
            payload = json.loads(encoded)
            checks = [(index, len(shape), tuple((axis, d) for axis, d in enumerate(shape) if isinstance(d, int)))
                      for index, shape in enumerate(payload["shapes"]) if shape is not None]
            cached = self._decoded[encoded] = (payload["attrs"], checks or None)
        return cached

    def check_shapes(self, results: list[np.ndarray], checks: list) -> None:
        """A kernel output whose rank or static dims contradict the model (its @infer) is an error, not a
        silently different tensor downstream. (Plain loops: this runs on every call.)"""
        for index, rank, static in checks:
            shape = results[index].shape
            if len(shape) != rank:
                self._shape_error(index, shape, rank, static)
            for axis, d in static:
                if shape[axis] != d:
                    self._shape_error(index, shape, rank, static)

    def _shape_error(self, index: int, shape: tuple, rank: int, static: tuple) -> None:
        expected: list[Any] = ["?"] * rank
        for axis, d in static:
            expected[axis] = d
        raise ValueError(f"{self.opdef.name}: output {index} ({self.opdef.outputs[index].name!r}) of the kernel "
                         f"has shape {shape}, but the model expects {tuple(expected)} (from @infer or the "
                         "graph's value_info); fix the kernel or the op's @infer")

    def __call__(self, inputs: list[np.ndarray], attrs: dict[str, Any]) -> list[np.ndarray]:
        if self._narrow_inputs:
            arrays = [a.astype(numpy_dtype(d)) if widened else a
                      for a, d, widened in zip(inputs, self.in_dtypes, self.in_widened)]
        else:
            arrays = inputs
        if self._plain_inputs:
            args: list[Any] = arrays
        else:
            args = []
            position = 0
            for spec, count in zip(self.opdef.inputs, self.layout):
                if spec.variadic:
                    args.append(arrays[position:position + count])
                else:
                    args.append(arrays[position] if count else None)
                position += count
            args = self.opdef.python_inputs(args)
        return self.finish(self.kernel(*args, **attrs))

    def finish(self, out: Any) -> list[np.ndarray]:
        """The kernel's return value as the list of arrays the bridge hands over (checked, converted)."""
        outs = list(out) if isinstance(out, (tuple, list)) else [out]
        if len(outs) != len(self.out_dtypes):
            raise ValueError(f"{self.opdef.name}: the kernel returned {len(outs)} output(s), the op declares "
                             f"{len(self.out_dtypes)} ({', '.join(o.name for o in self.opdef.outputs)})")
        results = []
        for index, value in enumerate(outs):
            ready = self._ready[index]
            # what coerce_output would return unchanged: a C-contiguous ndarray of the declared
            # dtype, which is also its transit dtype
            if ready is not None and type(value) is np.ndarray and value.dtype == ready and value.flags.c_contiguous:
                results.append(value)
                continue
            transit = self.out_transit[index]
            array = coerce_output(self.opdef, index, value, self.out_dtypes[index])
            results.append(array if array.dtype == transit else array.astype(transit))
        return results


def _hook(obj_id: int, inputs: list[np.ndarray], attrs: dict[str, str]) -> tuple:
    variant = _VARIANTS.get(obj_id)
    if variant is None:
        return _stock_hook(obj_id, inputs, attrs)
    try:
        attr_values, checks = variant.decode(attrs[ATTRIBUTE])
        if variant.direct:  # the common case, inlined: every microsecond here is per node and per run
            out = variant.kernel(*inputs, **attr_values)
            if type(out) is np.ndarray and out.dtype == variant.ready and out.flags.c_contiguous:
                outs = [out]
            else:
                outs = variant.finish(out)
        else:
            outs = variant(inputs, attr_values)
        if checks is not None:
            variant.check_shapes(outs, checks)
    except BaseException as exc:  # noqa: BLE001 - anything escaping here aborts the process
        ctx = current_context()
        if ctx is not None:
            if ctx.error is None:
                ctx.error = exc
                ctx.node = variant.opdef.name
            ctx.run_options.terminate = True
        else:  # run outside opforge.InferenceSession: nothing can stop the graph, so say it loudly
            import sys
            import traceback

            sys.stderr.write(f"opforge: the kernel of {variant.opdef.name} raised outside opforge.InferenceSession.run; "
                             "its outputs are empty placeholders:\n" + "".join(traceback.format_exception(exc)))
        outs = [np.zeros((0,), dtype=d) for d in variant.out_transit]
    if len(outs) == 1:  # the common case, without the list
        return (obj_id, outs[0].shape, outs[0])
    flat: list[Any] = [obj_id]
    for array in outs:
        flat.append(array.shape)
        flat.append(array)
    return tuple(flat)


def _stock_hook(obj_id: int, inputs: list[np.ndarray], attrs: dict[str, str]) -> tuple:
    from onnxruntime_extensions import _ocos

    return _ocos._on_pyop_invocation(obj_id, inputs, attrs)


_INSTALLED = [False]


def _install() -> Any:
    """Import onnxruntime-extensions once and put opforge's hook in front of its own."""
    from onnxruntime_extensions import _ocos

    if not _INSTALLED[0]:
        _ocos.PyCustomOpDef.install_hooker(_hook)
        _INSTALLED[0] = True
    return _ocos


def library_path() -> str:
    return _install().get_library_path()


def variant_for(opdef: OpDef, layout: tuple, in_dtypes: tuple[str, ...], out_dtypes: tuple[str, ...],
                device: str, batch: list[Variant]) -> Variant:
    # the kernel's identity is part of the key: re-attaching a kernel gives new sessions the new one
    key = (id(opdef), id(opdef.kernels.get(device)), layout, in_dtypes, out_dtypes, device)
    with _LOCK:
        variant = _BY_KEY.get(key)
        if variant is None:
            variant = Variant(opdef, layout, in_dtypes, out_dtypes, device)
            _BY_KEY[key] = variant
            batch.append(variant)
        return variant


def publish(batch: list[Variant]) -> None:
    """Give a batch of new variants their native definitions, all in one fresh domain."""
    if not batch:
        return
    ocos = _install()
    with _LOCK:
        domain = f"opforge.rt{next(_DOMAIN_COUNTER)}"
        for n, variant in enumerate(batch):
            native = ocos.PyCustomOpDef()
            variant.domain = domain
            variant.op_type = f"{variant.opdef.op_type}_v{variant.opdef.version}_{n}"
            native.op_type = f"{domain}::{variant.op_type}"
            native.obj_id = id(variant)
            native.input_types = [onnx_dtype(_WIDEN.get(d, d)) for d in variant.in_dtypes]
            native.output_types = [onnx_dtype(_WIDEN.get(d, d)) for d in variant.out_dtypes]
            native.attrs = {ATTRIBUTE: ocos.PyCustomOpDef.dt_string}
            variant.obj_id = id(variant)
            _VARIANTS[variant.obj_id] = variant
            _NATIVE.append(native)
            ocos.add_custom_op(native)


def rewrite_node(node: onnx.NodeProto, variant: Variant, inputs: list[str], attrs: dict[str, Any],
                 shapes: list, counter: Callable[[], int]) -> list[onnx.NodeProto]:
    """The node (plus Casts for 16-bit floats) that replaces ``node`` in the session's model."""
    nodes = []
    variant_inputs = []
    for name, dtype in zip(inputs, variant.in_dtypes):
        if dtype in _WIDEN:
            widened = f"{name}__opforge_f32_{counter()}"
            nodes.append(helper.make_node("Cast", [name], [widened], to=onnx.TensorProto.FLOAT))
            variant_inputs.append(widened)
        else:
            variant_inputs.append(name)
    variant_outputs = []
    casts_after = []
    for name, dtype in zip(node.output, variant.out_dtypes):
        if dtype in _WIDEN and name:
            narrow = f"{name}__opforge_f32_{counter()}"
            casts_after.append(helper.make_node("Cast", [narrow], [name], to=onnx_dtype(dtype)))
            variant_outputs.append(narrow)
        else:
            variant_outputs.append(name or f"__opforge_unused_{counter()}")
    encoded = json.dumps({"attrs": attrs, "shapes": shapes}, allow_nan=True, sort_keys=True)
    nodes.append(helper.make_node(variant.op_type, variant_inputs, variant_outputs, name=node.name,
                                  domain=variant.domain, **{ATTRIBUTE: encoded}))
    return nodes + casts_after


def dtype_of(type_proto: onnx.TypeProto) -> str | None:
    if type_proto.HasField("tensor_type") and type_proto.tensor_type.elem_type:
        return dtype_name(type_proto.tensor_type.elem_type)
    return None
