"""opforge ops as native ONNX Runtime custom ops (``OrtCustomOp`` structs built with ctypes).

One :class:`NativeOp` per op definition and execution provider, published once through
onnxruntime-extensions' ``AddExternalCustomOp`` under a private name (see :func:`native_name`).
ONNX Runtime calls ``CreateKernelV2`` once per node and session: that builds a :class:`NodeKernel`
from the node's *plan* (checked in Python by the session before anything was published) and the
node's attributes, read natively. ``KernelComputeV2`` then hands the kernel read-only numpy views
of ONNX Runtime's input buffers and writes its results straight into ONNX Runtime's outputs (a
kernel declaring ``out`` writes there itself). A kernel's exception becomes an ``OrtStatus``; the
exception itself is parked under a token that the message carries, so the session re-raises it.
"""

from __future__ import annotations

import collections
import ctypes
import itertools
import math
import re
import threading
import traceback
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from ..opdef import AttributeDef, OpDef
from ..types import ALL_DTYPES, dtype_name, numpy_dtype, onnx_dtype
from . import ortapi
from .ortapi import P
from .registry import takes_out

DOMAIN = "ai.onnx.contrib"  # where onnxruntime-extensions registers external ops
NAME_PREFIX = "opforge_native_"  # no onnxruntime-extensions op starts with it; models may not name it
# ONNX Runtime cannot hold these element types in an OrtValue it hands a kernel
UNSUPPORTED_DTYPES = frozenset({"complex64", "complex128"})
CUDA_PROVIDER = "CUDAExecutionProvider"


# -- plans: what the session checked about a node, handed to CreateKernelV2 -----------------------

@dataclass
class NodePlan:
    """One node as the session validated it; ``CreateKernelV2`` finds it by node name."""

    opdef: OpDef
    node: str  # the node's (unique, rewritten) name
    display: str  # how errors name it
    groups: list[tuple[str, int, int]]  # per op input (ONNX order): (kind, first ORT index, count)
    out_dtypes: list[str]
    out_shapes: list[tuple[int, tuple[tuple[int, int], ...]] | None]  # rank, static (axis, dim); None unknown
    device: str = "cpu"  # the session's kernel_device
    kernel: Callable | None = None  # what runs the node on the CPU EP (resolved by the session)
    given: frozenset[str] = frozenset()  # the attributes the node sets (the others take their defaults)
    # inputs that are the main graph's inputs: ONNX Runtime checks each feed against the graph's declared
    # dims before a run, so a static shape there needs no size check per call
    fed: frozenset[int] = frozenset()


_CREATING = threading.local()  # .plans: {node name: NodePlan} while a session is being created


class creating:
    """Context manager: plans that kernels created on this thread (by session creation) pick up."""

    def __init__(self, plans: dict[str, NodePlan]) -> None:
        self.plans = plans

    def __enter__(self) -> None:
        self.previous = getattr(_CREATING, "plans", None)
        _CREATING.plans = self.plans

    def __exit__(self, *exc: Any) -> None:
        _CREATING.plans = self.previous


# -- kernel errors travel as a token in the status message ------------------------------------------

_ERRORS: collections.OrderedDict[int, tuple[BaseException, str]] = collections.OrderedDict()
_ERRORS_LOCK = threading.Lock()
_ERROR_TOKENS = itertools.count(1)
_MAX_PARKED = 256  # exceptions of runs outside opforge.InferenceSession are never claimed: keep few
TOKEN = re.compile(r"\[opforge kernel error #(\d+)\]")


def park_error(exc: BaseException, where: str) -> str:
    """Keep ``exc`` for the run to re-raise; the status message that names it."""
    token = next(_ERROR_TOKENS)
    # the traceback's frames would keep views of ONNX Runtime's buffers, which die with the call
    traceback.clear_frames(exc.__traceback__)
    with _ERRORS_LOCK:
        _ERRORS[token] = (exc, where)
        while len(_ERRORS) > _MAX_PARKED:
            _ERRORS.popitem(last=False)
    first = str(exc).splitlines()[0] if str(exc) else ""
    return f"{type(exc).__name__}: {first} (in the kernel of {where}) [opforge kernel error #{token}]"


def claim_error(message: str) -> tuple[BaseException, str] | None:
    """The kernel exception a status message names (removed from the parking lot), or None."""
    match = TOKEN.search(message)
    if match is None:
        return None
    with _ERRORS_LOCK:
        return _ERRORS.pop(int(match.group(1)), None)


# -- numpy views of ONNX Runtime memory -------------------------------------------------------------

def host_view(address: int | None, shape: tuple[int, ...], dtype: np.dtype, writable: bool) -> np.ndarray:
    """A numpy array over ``address`` (no copy); an empty array for zero elements."""
    count = 1
    for d in shape:
        count *= d
    if count == 0 or not address:
        array = np.empty(shape, dtype)
    else:
        array = np.frombuffer((ctypes.c_char * (count * dtype.itemsize)).from_address(address), dtype)
        if len(shape) != 1:
            array = array.reshape(shape)
    if not writable:
        array.flags.writeable = False
    return array


class _Scratch:
    """One thread's out-parameters for OrtApi calls, with their pointers made once."""

    def __init__(self) -> None:
        self.value, self.data, self.info = P(), P(), P()
        self.count = ctypes.c_size_t()
        self.value_ref, self.data_ref = ctypes.byref(self.value), ctypes.byref(self.data)
        self.info_ref, self.count_ref = ctypes.byref(self.info), ctypes.byref(self.count)
        self.dims = (ctypes.c_int64 * 16)()

    def parts(self) -> tuple:
        """(value, its ref, data, its ref, count, its ref): what the lean path binds to locals."""
        return self.value, self.value_ref, self.data, self.data_ref, self.count, self.count_ref

    def shape_of(self, api: ortapi.Api, value: int) -> tuple[int, ...]:
        status = api.GetTensorTypeAndShape(value, self.info_ref)
        if status:
            api.check(status)
        info = self.info.value
        try:
            status = api.GetDimensionsCount(info, self.count_ref)
            if status:
                api.check(status)
            rank = self.count.value
            dims = self.dims if rank <= 16 else (ctypes.c_int64 * rank)()
            status = api.GetDimensions(info, dims, rank)
            if status:
                api.check(status)
            return tuple(dims[:rank])
        finally:
            api.ReleaseTensorTypeAndShapeInfo(info)


# -- exact output casts -------------------------------------------------------------------------------

def exact_cast(opdef: OpDef, index: int, value: Any, want: np.dtype) -> np.ndarray:
    """``value`` as an array of ``want``, or a TypeError when the cast would change a value.

    Integers and booleans must survive exactly; floats may round to the target's precision but a
    finite value must stay finite (float64 1e40 -> float32 would become inf).
    """
    array = np.asarray(value)
    if array.dtype == want:
        return array
    name = opdef.outputs[index].name
    where = f"{opdef.name}: output {index} ({name!r}) of the kernel is {array.dtype}, but the model declares {want}"
    have, kind = _kind(array.dtype), _kind(want)
    if have not in "biufc" or kind not in "biufc":
        raise TypeError(f"{where}; return an array of dtype {want}")
    with np.errstate(all="ignore"):
        cast = array.astype(want)
        if kind in "biu" or (have in "biu" and kind == "b"):
            ok = bool(np.array_equal(cast.astype(array.dtype), array))  # integers and bools: every value exactly
        elif kind == "f" and have != "c":  # floats may round, but finite stays finite
            finite = np.isfinite(cast.astype(np.float64))
            ok = bool(np.array_equal(finite, np.isfinite(array)) if have == "f" else finite.all())
        else:  # complex: the imaginary part must be zero when dropped
            ok = bool(np.array_equal(cast.astype(array.dtype), array, equal_nan=True))
    if not ok:
        raise TypeError(f"{where}, and casting changes its values (overflow or lost digits); return an array "
                        f"of dtype {want} (or values that {want} holds exactly)")
    return cast


def _kind(dtype: np.dtype) -> str:
    """numpy's dtype kind, with ml_dtypes' bfloat16 (kind 'V') counted as a float."""
    return "f" if dtype == numpy_dtype("bfloat16") else dtype.kind


# -- the kernel of one node ---------------------------------------------------------------------------

class NodeKernel:
    """What ``CreateKernelV2`` builds for one node of one session; ``compute`` runs per call
    (``lean`` instead, when set: it takes ONNX Runtime's context pointer as the ctypes object)."""

    lean: Callable[[ortapi.Context], None] | None = None

    def __init__(self, api: ortapi.Api, plan: NodePlan, attrs: dict[str, Any], kernel: Callable,
                 in_dtypes: list[np.dtype | None], out_dtypes: list[np.dtype],
                 static: list[tuple[int, ...] | None] | None = None) -> None:
        self.api = api
        self.plan = plan
        self.opdef = plan.opdef
        self.kernel = kernel
        self.attrs = attrs
        self.mutable = [name for name, value in attrs.items() if isinstance(value, list)]
        self.n_inputs = len(in_dtypes)
        self.in_dtypes = in_dtypes
        self.out_dtypes = out_dtypes
        self.n_outputs = len(self.out_dtypes)
        self.writes_out = takes_out(kernel)
        self.where = plan.display
        # writable input views only for the torch reference: torch.from_numpy warns on read-only arrays
        self.writable_inputs = "cpu" not in plan.opdef.kernels
        self.shape_cache: dict[tuple, list[tuple[int, ...]] | None] = {}
        self.dims: dict[tuple[int, ...], tuple] = {}  # output shape -> (its int64 dims, their count)
        self.local = threading.local()
        # inputs whose shape the graph fixes: one size query (a safety check) instead of four calls
        self.static = [(shape, math.prod(shape) * dtype.itemsize) if shape is not None and dtype is not None else None
                       for shape, dtype in zip(static or [None] * len(in_dtypes), in_dtypes)]
        self.fed = [index in plan.fed for index in range(len(in_dtypes))]
        self.plain = all(kind == "tensor" for kind, _, _ in plan.groups) and \
            list(self.opdef.python_order) == list(range(len(self.opdef.inputs)))
        if self.plain and self.n_outputs == 1 and not self.mutable and not self.writes_out:
            self.compute = self.compute_plain  # type: ignore[method-assign]
        if self.plain and self.n_outputs == 1 and not self.mutable and self.n_inputs == 1 and \
                self.static[0] is not None and self.in_dtypes[0] is not None:
            self.lean = self.lean_unary()
        elif self.plain and not self.mutable and (self.writes_out or self.n_outputs == 1) and \
                all(s is not None for s in self.static) and all(d is not None for d in self.in_dtypes):
            self.lean = self.lean_out()

    # -- per call ---------------------------------------------------------------------------------

    def scratch(self) -> _Scratch:
        """This thread's out-parameters (ONNX Runtime may run one node on several threads at once)."""
        try:
            return self.local.scratch
        except AttributeError:
            scratch = self.local.scratch = _Scratch()
            return scratch

    def read_input(self, ctx: int, index: int) -> np.ndarray | None:
        api, scratch = self.api, self.scratch()
        raw = api.raw  # no argument conversion: ctypes objects only
        status = raw["KernelContext_GetInput"](P(ctx), ctypes.c_size_t(index), scratch.value_ref)
        if status:
            api.check(status)
        value = scratch.value
        if not value.value:
            return None
        status = raw["GetTensorMutableData"](value, scratch.data_ref)
        if status:
            api.check(status)
        static = self.static[index]
        if static is not None and self.fed[index]:
            shape = static[0]
        elif static is not None:
            status = raw["GetTensorSizeInBytes"](value, scratch.count_ref)
            if status:
                api.check(status)
            shape = static[0] if scratch.count.value == static[1] else scratch.shape_of(api, value.value)
        else:
            shape = scratch.shape_of(api, value.value)
        return host_view(scratch.data.value, shape, self.in_dtypes[index], self.writable_inputs)

    def output_buffer(self, ctx: int, index: int, shape: tuple[int, ...]) -> np.ndarray:
        api, scratch = self.api, self.scratch()
        raw = api.raw
        dims = self.dims.get(shape)
        if dims is None:
            dims = ((ctypes.c_int64 * len(shape))(*shape), ctypes.c_size_t(len(shape)))  # shared by threads
            if len(self.dims) < 256:
                self.dims[shape] = dims
        status = raw["KernelContext_GetOutput"](P(ctx), ctypes.c_size_t(index), dims[0], dims[1], scratch.value_ref)
        if status:
            api.check(status)
        status = raw["GetTensorMutableData"](scratch.value, scratch.data_ref)
        if status:
            api.check(status)
        return host_view(scratch.data.value, shape, self.out_dtypes[index], True)

    def arguments(self, ctx: int) -> list[Any]:
        values = [self.read_input(ctx, i) for i in range(self.n_inputs)]
        if self.plain:
            return values
        per_input: list[Any] = []
        for kind, first, count in self.plan.groups:
            if kind == "variadic":
                per_input.append(values[first:first + count])
            elif kind == "optional":
                per_input.append(values[first] if count else None)
            else:
                per_input.append(values[first])
        return self.opdef.python_inputs(per_input)

    def fresh_attrs(self) -> dict[str, Any]:
        attrs = dict(self.attrs)
        for name in self.mutable:  # a kernel that edits a list must not change the next call's
            attrs[name] = list(attrs[name])
        return attrs

    def compute(self, ctx: int) -> None:
        args = self.arguments(ctx)
        # ``**attrs`` gives the kernel a dict of its own; only lists (and ``out``) need a fresh copy here
        attrs = self.fresh_attrs() if self.mutable or self.writes_out else self.attrs
        if self.writes_out:
            shapes = self.known_shapes(args, attrs)
            if shapes is not None:
                buffers = [self.output_buffer(ctx, k, shape) for k, shape in enumerate(shapes)]
                attrs["out"] = buffers[0] if self.n_outputs == 1 else tuple(buffers)
                result = self.kernel(*args, **attrs)
                if result is None or result is attrs["out"]:
                    return
                self.write(ctx, result, buffers)
                return
            attrs["out"] = None
        self.write(ctx, self.kernel(*args, **attrs), None)

    def compute_plain(self, ctx: int) -> None:
        """``compute`` for the common node: every input present once, one output, a returning kernel."""
        read = self.read_input
        result = self.kernel(*[read(ctx, i) for i in range(self.n_inputs)], **self.attrs)
        if type(result) is np.ndarray and result.dtype == self.out_dtypes[0]:
            shape = result.shape
            expected = self.plan.out_shapes[0]
            if expected is None or (len(shape) == expected[0] and all(shape[a] == d for a, d in expected[1])):
                target = self.output_buffer(ctx, 0, shape)
                if result.size:
                    np.copyto(target, result, casting="no")
                return
        self.write(ctx, result, None)

    def lean_unary(self) -> Callable[[ortapi.Context], None]:
        """``compute_plain`` for one input of static shape, every name bound locally: per call it
        costs five OrtApi calls, two (kept) numpy views and the kernel (the common elementwise node).

        What the first call or the plan settles is not redone per call: the output's dims array,
        element count and view when its shape is known ahead (static in the model, or from @infer
        for an ``out`` kernel); the shape check is one tuple comparison when every output dim is static.
        """
        api, kernel, attrs, local = self.api, self.kernel, self.attrs, self.local
        # argument-free entries: every argument below is a ctypes object of the right width
        get_input, get_data = api.raw["KernelContext_GetInput"], api.raw["GetTensorMutableData"]
        get_size, get_output = api.raw["GetTensorSizeInBytes"], api.raw["KernelContext_GetOutput"]
        zero = ctypes.c_size_t(0)
        in_dtype, out_dtype = self.in_dtypes[0], self.out_dtypes[0]
        shape_in, nbytes = self.static[0]  # type: ignore[misc]
        size_checked = not self.fed[0]
        reshape = len(shape_in) != 1
        expected = self.plan.out_shapes[0]
        static_out = _static_shape(expected)
        writable = self.writable_inputs
        general = NodeKernel.compute.__get__(self)
        write, check_shape, known_shapes = self.write, self.check_shape, self.known_shapes
        writes_out, has_attrs = self.writes_out, bool(attrs)
        # Views by address: a view holds no memory, and is valid whenever ONNX Runtime hands that
        # address (and size) over again. Shared by threads: a dict get/set is atomic under the GIL.
        inputs: dict[int, np.ndarray] = {}
        outputs: dict[tuple, np.ndarray] = {}
        raw_dims: dict[tuple[int, ...], tuple] = {}  # output shape -> (int64 dims, their count)
        frombuffer, c_char, ndarray, new_scratch = np.frombuffer, ctypes.c_char, np.ndarray, _Scratch

        def dims_of(shape: tuple[int, ...]) -> tuple:
            dims = raw_dims.get(shape)
            if dims is None:  # the arrays are only read by ONNX Runtime: threads may share them
                dims = ((ctypes.c_int64 * len(shape))(*shape), ctypes.c_size_t(len(shape)), math.prod(shape))
                if len(raw_dims) < 256:
                    raw_dims[shape] = dims
            return dims

        def view(address: int, shape: tuple[int, ...], count: int) -> np.ndarray:
            """ONNX Runtime's output buffer at ``address`` as a (kept) view."""
            key = (address, shape)
            target = outputs.get(key)
            if target is None:
                target = frombuffer((c_char * (count * out_dtype.itemsize)).from_address(address), out_dtype)
                if len(shape) != 1:
                    target = target.reshape(shape)
                if len(outputs) >= 16:
                    outputs.clear()
                outputs[key] = target
            return target

        # the output shape when known before the call: static in the model, or (out kernels) @infer's
        resolved = not writes_out
        fixed = static_out if resolved else None
        fixed_dims = dims_of(fixed) if fixed is not None else None
        fixed_views: dict[int, np.ndarray] = {}  # address -> view of the fixed shape

        def fixed_view(address: int) -> np.ndarray:
            """The output view of the fixed shape at ``address``, kept by address alone."""
            target = view(address, fixed, fixed_dims[2])  # type: ignore[arg-type,index]
            if len(fixed_views) >= 16:
                fixed_views.clear()
            fixed_views[address] = target
            return target

        def compute(ctx: ortapi.Context) -> None:
            nonlocal resolved, fixed, fixed_dims
            try:  # this thread's out-parameters, unpacked into locals (no attribute lookups below)
                value, value_ref, data, data_ref, count, count_ref = local.lean
            except AttributeError:
                value, value_ref, data, data_ref, count, count_ref = local.lean = new_scratch().parts()
            context = ctx  # a ctypes object already (ortapi.Context)
            status = get_input(context, zero, value_ref)
            if status or not value.value or not nbytes or \
                    size_checked and (get_size(value, count_ref) or count.value != nbytes):
                api.check(status)
                general(ctx.value)  # absent, resized or empty input: the general path says what is wrong
                return
            status = get_data(value, data_ref)
            if status:
                api.check(status)
            address = data.value
            x = inputs.get(address)
            if x is None:  # ONNX Runtime's arena hands out the same buffers again: views are kept
                x = frombuffer((c_char * nbytes).from_address(address), in_dtype)
                if reshape:
                    x = x.reshape(shape_in)
                if not writable:
                    x.flags.writeable = False
                if len(inputs) >= 16:
                    inputs.clear()
                inputs[address] = x
            if writes_out:
                if not resolved:  # @infer's output shape for the static input, once
                    shapes = known_shapes([x], dict(attrs))
                    fixed = shapes[0] if shapes else None
                    fixed_dims = dims_of(fixed) if fixed is not None else None
                    resolved = True
                if fixed_dims is None:
                    general(ctx.value)
                    return
                status = get_output(context, zero, fixed_dims[0], fixed_dims[1], value_ref)
                if status:
                    api.check(status)
                status = get_data(value, data_ref)
                if status:
                    api.check(status)
                if fixed_dims[2]:
                    target = fixed_views.get(data.value)
                    if target is None:
                        target = fixed_view(data.value)
                else:
                    target = np.empty(fixed, out_dtype)
                result = kernel(x, out=target, **attrs) if has_attrs else kernel(x, out=target)
                if result is not None and result is not target:
                    write(ctx.value, result, [target])
                return
            result = kernel(x, **attrs) if has_attrs else kernel(x)
            if type(result) is not ndarray or (result.dtype is not out_dtype and result.dtype != out_dtype):
                write(ctx.value, result, None)
                return
            shape = result.shape
            if shape == fixed:
                status = get_output(context, zero, fixed_dims[0], fixed_dims[1], value_ref)  # type: ignore[index]
                if status:
                    api.check(status)
                status = get_data(value, data_ref)
                if status:
                    api.check(status)
                if fixed_dims[2]:  # type: ignore[index]
                    target = fixed_views.get(data.value)
                    if target is None:
                        target = fixed_view(data.value)
                    # same dtype and shape: a plain assignment copies, ~4x cheaper than np.copyto for few elements
                    target[...] = result
                return
            if expected is not None:
                check_shape(0, shape)  # raises when the shape contradicts the model
            dims = dims_of(shape)
            status = get_output(context, zero, dims[0], dims[1], value_ref)
            if status:
                api.check(status)
            status = get_data(value, data_ref)
            if status:
                api.check(status)
            if dims[2]:
                view(data.value, shape, dims[2])[...] = result

        return compute

    def lean_out(self) -> Callable[[ortapi.Context], None]:
        """``compute`` for a node whose inputs all have static shapes and whose kernel writes ``out``
        (binary elementwise ops, solves, cummax's two outputs) or returns its one output (a loss): per
        call two OrtApi calls per input and per output, kept views and the kernel. After a kernel that
        streams megabytes through the caches every Python step of the general path runs cold, so the
        steps saved here count several times over. The output shapes come from @infer once; anything
        unusual (an absent, resized or empty input, an output shape @infer cannot fix, a returned array
        of another shape or dtype) goes to the general path, which says what is wrong."""
        api, kernel, attrs, local = self.api, self.kernel, self.attrs, self.local
        get_input, get_data = api.raw["KernelContext_GetInput"], api.raw["GetTensorMutableData"]
        get_size, get_output = api.raw["GetTensorSizeInBytes"], api.raw["KernelContext_GetOutput"]
        writable, single, writes_out = self.writable_inputs, self.n_outputs == 1, self.writes_out
        general = NodeKernel.compute.__get__(self)
        write, known_shapes = self.write, self.known_shapes
        frombuffer, c_char, new_scratch = np.frombuffer, ctypes.c_char, _Scratch
        # per input: (its index, dtype, static shape, byte size, size query needed, reshape, views by address)
        plan = [(ctypes.c_size_t(i), self.in_dtypes[i], shape, nbytes, not self.fed[i], len(shape) != 1, {})
                for i, (shape, nbytes) in enumerate(self.static)]  # type: ignore[misc]
        # once, from @infer: per output (its index, int64 dims, their count, byte size, shape, dtype, views)
        outputs: list[list[tuple] | None] = []

        def resolve(args: list[np.ndarray]) -> list[tuple] | None:
            shapes = known_shapes(args, dict(attrs))
            if shapes is None:
                return None
            return [(ctypes.c_size_t(k), (ctypes.c_int64 * len(shape))(*shape), ctypes.c_size_t(len(shape)),
                     math.prod(shape) * dtype.itemsize, shape, dtype, {})
                    for k, (shape, dtype) in enumerate(zip(shapes, self.out_dtypes, strict=True))]

        def buffer(ctx: ortapi.Context, entry: tuple, value: Any, value_ref: Any, data: Any, data_ref: Any
                   ) -> np.ndarray:
            """ONNX Runtime's buffer for one output, as a view kept by address."""
            index, dims, rank, nbytes, shape, dtype, views = entry
            status = get_output(ctx, index, dims, rank, value_ref)
            if status:
                api.check(status)
            status = get_data(value, data_ref)
            if status:
                api.check(status)
            if not nbytes:
                return np.empty(shape, dtype)
            target = views.get(data.value)
            if target is None:
                target = frombuffer((c_char * nbytes).from_address(data.value), dtype).reshape(shape)
                if len(views) >= 16:
                    views.clear()
                views[data.value] = target
            return target

        def compute(ctx: ortapi.Context) -> None:
            try:
                value, value_ref, data, data_ref, count, count_ref = local.lean
            except AttributeError:
                value, value_ref, data, data_ref, count, count_ref = local.lean = new_scratch().parts()
            args = []
            for index, dtype, shape, nbytes, size_checked, reshape, views in plan:
                status = get_input(ctx, index, value_ref)
                if status or not value.value or not nbytes or \
                        size_checked and (get_size(value, count_ref) or count.value != nbytes):
                    api.check(status)
                    general(ctx.value)
                    return
                status = get_data(value, data_ref)
                if status:
                    api.check(status)
                x = views.get(data.value)
                if x is None:  # kept by address, as ONNX Runtime hands the same buffers again
                    x = frombuffer((c_char * nbytes).from_address(data.value), dtype)
                    if reshape:
                        x = x.reshape(shape)
                    if not writable:
                        x.flags.writeable = False
                    if len(views) >= 16:
                        views.clear()
                    views[data.value] = x
                args.append(x)
            if not outputs:
                outputs.append(resolve(args))
            fixed = outputs[0]
            if fixed is None:
                general(ctx.value)
                return
            if not writes_out:  # one returned array, copied into ONNX Runtime's buffer
                result = kernel(*args, **attrs)
                entry = fixed[0]
                if type(result) is not np.ndarray or result.shape != entry[4] or result.dtype != entry[5]:
                    write(ctx.value, result, None)
                    return
                buffer(ctx, entry, value, value_ref, data, data_ref)[...] = result
                return
            targets = [buffer(ctx, entry, value, value_ref, data, data_ref) for entry in fixed]
            out = targets[0] if single else tuple(targets)
            result = kernel(*args, out=out, **attrs)
            if result is not None and result is not out:
                write(ctx.value, result, targets)

        return compute

    def known_shapes(self, args: list[Any], attrs: dict[str, Any]) -> list[tuple[int, ...]] | None:
        """Output shapes from ``@infer`` for these input shapes, when every dim is a known int."""
        if self.opdef.infer_fn is None:
            return None
        key = tuple(None if a is None else tuple(x.shape for x in a) if isinstance(a, list) else a.shape
                    for a in args)
        if key in self.shape_cache:
            return self.shape_cache[key]
        from .._infer import output_specs
        from ..types import TensorSpec

        specs = [None if a is None else [TensorSpec(x.shape, x.dtype) for x in a] if isinstance(a, list)
                 else TensorSpec(a.shape, a.dtype) for a in args]
        plain_attrs = {k: v for k, v in attrs.items() if k != "out"}
        out = output_specs(self.opdef, specs, plain_attrs)
        shapes: list[tuple[int, ...]] | None = []
        for spec in out:
            if spec.shape is None or not all(isinstance(d, (int, np.integer)) and not isinstance(d, bool)
                                             for d in spec.shape):
                shapes = None
                break
            shapes.append(tuple(int(d) for d in spec.shape))  # type: ignore[union-attr]
        if len(self.shape_cache) < 64:
            self.shape_cache[key] = shapes
        return shapes

    def write(self, ctx: int, result: Any, buffers: list[np.ndarray] | None) -> None:
        outs = list(result) if isinstance(result, (tuple, list)) else [result]
        if len(outs) != self.n_outputs:
            raise ValueError(f"{self.opdef.name}: the kernel returned {len(outs)} output(s), the op declares "
                             f"{self.n_outputs} ({', '.join(o.name for o in self.opdef.outputs)})")
        for index, value in enumerate(outs):
            want = self.out_dtypes[index]
            array = value if type(value) is np.ndarray and value.dtype == want else \
                exact_cast(self.opdef, index, value, want)
            self.check_shape(index, array.shape)
            target = buffers[index] if buffers is not None else self.output_buffer(ctx, index, array.shape)
            if target.shape != array.shape:
                raise ValueError(f"{self.opdef.name}: output {index} of the kernel has shape {array.shape}, but "
                                 f"its @infer promised {target.shape}")
            if array.size:
                np.copyto(target, array, casting="no")

    def check_shape(self, index: int, shape: tuple[int, ...]) -> None:
        """An output whose rank or static dims contradict the model (its @infer) is an error."""
        expected = self.plan.out_shapes[index]
        if expected is None:
            return
        rank, static = expected
        if len(shape) == rank and all(shape[axis] == d for axis, d in static):
            return
        dims: list[Any] = ["?"] * rank
        for axis, d in static:
            dims[axis] = d
        raise ValueError(f"{self.opdef.name}: output {index} ({self.opdef.outputs[index].name!r}) of the kernel "
                         f"has shape {tuple(shape)}, but the model expects {tuple(dims)} (from @infer or the "
                         "graph's value_info); fix the kernel or the op's @infer")


def _static_shape(expected: tuple[int, tuple[tuple[int, int], ...]] | None) -> tuple[int, ...] | None:
    """The output shape a plan fixes completely (every axis static), else None."""
    if expected is None:
        return None
    rank, static = expected
    dims = dict(static)
    return tuple(dims[axis] for axis in range(rank)) if len(dims) == rank and set(dims) == set(range(rank)) else None


def tensor_shape(api: ortapi.Api, value: int) -> tuple[int, ...]:
    info = P()
    api.check(api.GetTensorTypeAndShape(value, ctypes.byref(info)))
    try:
        count = ctypes.c_size_t()
        api.check(api.GetDimensionsCount(info, ctypes.byref(count)))
        dims = (ctypes.c_int64 * count.value)()
        api.check(api.GetDimensions(info, dims, count.value))
        return tuple(dims)
    finally:
        api.ReleaseTensorTypeAndShapeInfo(info)


# -- attributes, read natively ------------------------------------------------------------------------

def read_attribute(api: ortapi.Api, info: int, attr: AttributeDef, where: str) -> Any:
    """The node's value of ``attr`` (which it sets) as its declared kind."""
    name = attr.name.encode()
    try:
        if attr.kind in ("float", "int", "bool"):
            holder: Any = ctypes.c_float() if attr.kind == "float" else ctypes.c_int64()
            getter = api.KernelInfoGetAttribute_float if attr.kind == "float" else api.KernelInfoGetAttribute_int64
            api.check(getter(info, name, ctypes.byref(holder)))
            value = holder.value
            return bool(value) if attr.kind == "bool" else value
        if attr.kind == "str":
            size = ctypes.c_size_t(0)
            api.check(api.KernelInfoGetAttribute_string(info, name, None, ctypes.byref(size)))
            buffer = ctypes.create_string_buffer(size.value)
            api.check(api.KernelInfoGetAttribute_string(info, name, buffer, ctypes.byref(size)))
            return buffer.value.decode("utf-8")
        if attr.kind in ("ints", "floats"):
            element = ctypes.c_int64 if attr.kind == "ints" else ctypes.c_float
            getter = api.KernelInfoGetAttributeArray_int64 if attr.kind == "ints" \
                else api.KernelInfoGetAttributeArray_float
            size = ctypes.c_size_t(0)
            api.check(getter(info, name, None, ctypes.byref(size)))
            array = (element * size.value)()
            if size.value:
                api.check(getter(info, name, array, ctypes.byref(size)))
            return list(array)
        if attr.kind == "strs":
            return _read_strings(api, info, name)
    except ortapi.OrtError as exc:
        raise TypeError(f"{where}: attribute {attr.name!r} must be {attr.kind}: {exc}") from None
    raise TypeError(f"{where}: attribute {attr.name!r} has an unsupported kind {attr.kind!r}")


def _read_strings(api: ortapi.Api, info: int, name: bytes) -> list[str]:
    allocator = P()
    api.check(api.GetAllocatorWithDefaultOptions(ctypes.byref(allocator)))
    strings = P()
    size = ctypes.c_size_t(0)
    api.check(api.KernelInfoGetAttributeArray_string(info, name, allocator, ctypes.byref(strings), ctypes.byref(size)))
    if not strings.value:
        return []
    pointers = ctypes.cast(strings, ctypes.POINTER(ctypes.c_char_p * size.value)).contents
    raw = ctypes.cast(strings, ctypes.POINTER(P * size.value)).contents
    values = [p.decode("utf-8") for p in pointers]
    for pointer in raw:
        api.check(api.AllocatorFree(allocator, pointer))
    api.check(api.AllocatorFree(allocator, strings))
    return values


def _type_of(api: ortapi.Api, getter: Callable, info: int, index: int) -> tuple[int, tuple[int, ...] | None]:
    """The ONNX element type of the node's input/output ``index`` (0 when absent or not a tensor) and
    its shape when every dim is static (None otherwise)."""
    type_info = P()
    try:
        api.check(getter(info, index, ctypes.byref(type_info)))
    except ortapi.OrtError:
        return 0, None
    try:
        tensor_info = P()  # owned by type_info
        api.check(api.CastTypeInfoToTensorInfo(type_info, ctypes.byref(tensor_info)))
        if not tensor_info.value:
            return 0, None
        elem = ctypes.c_int()
        api.check(api.GetTensorElementType(tensor_info, ctypes.byref(elem)))
        count = ctypes.c_size_t()
        api.check(api.GetDimensionsCount(tensor_info, ctypes.byref(count)))
        dims = (ctypes.c_int64 * count.value)()
        api.check(api.GetDimensions(tensor_info, dims, count.value))
        static = tuple(dims) if count.value and all(d >= 0 for d in dims) else None
        return elem.value, static
    finally:
        api.ReleaseTypeInfo(type_info)


def node_dtypes(api: ortapi.Api, info: int, plan: NodePlan
                ) -> tuple[list[np.dtype | None], list[np.dtype], list[tuple[int, ...] | None]]:
    """The node's input and output dtypes as ONNX Runtime resolved them, checked against the op, and
    the inputs' static shapes (where the graph fixes every dim)."""
    opdef = plan.opdef
    count = ctypes.c_size_t()
    api.check(api.KernelInfo_GetInputCount(info, ctypes.byref(count)))
    allowed: list[tuple[str, tuple[str, ...]]] = []  # per ORT input index
    for spec, (kind, _, n) in zip(opdef.inputs, plan.groups):
        if kind == "variadic":
            allowed.extend((f"input {spec.name!r}[{k}]", spec.dtypes) for k in range(n))
        else:
            allowed.append((f"input {spec.name!r}", spec.dtypes))
    in_dtypes: list[np.dtype | None] = []
    static: list[tuple[int, ...] | None] = []
    for index in range(count.value):
        elem, shape = _type_of(api, api.KernelInfo_GetInputTypeInfo, info, index)
        what, dtypes = allowed[index] if index < len(allowed) else (f"input {index}", ())
        in_dtypes.append(_checked_dtype(elem, dtypes, plan.display, what) if elem else None)
        static.append(shape)
    api.check(api.KernelInfo_GetOutputCount(info, ctypes.byref(count)))
    out_dtypes = []
    for index in range(count.value):
        elem, _ = _type_of(api, api.KernelInfo_GetOutputTypeInfo, info, index)
        spec = opdef.outputs[index]
        out_dtypes.append(_checked_dtype(elem, spec.dtypes, plan.display, f"output {index} ({spec.name!r})"))
    return in_dtypes, out_dtypes, static


def _checked_dtype(elem: int, allowed: tuple[str, ...], where: str, what: str) -> np.dtype:
    name = element_dtype(elem)
    if name is None or name not in allowed or name in UNSUPPORTED_DTYPES:
        raise TypeError(f"{where}: {what} has ONNX element type {name or elem}, the op allows {', '.join(allowed)}")
    return numpy_dtype(name)


def node_name(api: ortapi.Api, info: int) -> str:
    size = ctypes.c_size_t(0)
    api.check(api.KernelInfo_GetNodeName(info, None, ctypes.byref(size)))
    buffer = ctypes.create_string_buffer(max(size.value, 1))
    api.check(api.KernelInfo_GetNodeName(info, buffer, ctypes.byref(size)))
    return buffer.value.decode("utf-8", "replace")


# -- the OrtCustomOp ----------------------------------------------------------------------------------

_KERNELS: dict[int, NodeKernel] = {}  # handle -> kernel; ONNX Runtime holds the handle
_HANDLES = itertools.count(1)
_KERNELS_LOCK = threading.Lock()


class NativeOp:
    """The ``OrtCustomOp`` of one op definition on one execution provider.

    It lives as long as the process: ONNX Runtime and onnxruntime-extensions keep raw pointers to
    the struct and its callbacks.
    """

    def __init__(self, opdef: OpDef, name: str, provider: str | None, out_dtypes: tuple[str, ...]) -> None:
        self.opdef = opdef
        self.name = name
        self.provider = provider
        self.out_dtypes = out_dtypes
        self._name_buffer = ctypes.create_string_buffer(name.encode())
        self._provider_buffer = ctypes.create_string_buffer(provider.encode()) if provider else None
        # Inputs take any type (the session and CreateKernelV2 check them against the op); outputs
        # have fixed types, because ONNX Runtime cannot infer a dynamically typed output here.
        self.input_types = [0 for _ in opdef.inputs]
        self.output_types = [onnx_dtype(d) for d in out_dtypes]
        self.characteristics = [ortapi.INPUT_OUTPUT_VARIADIC if spec.variadic else ortapi.INPUT_OUTPUT_OPTIONAL
                                if spec.optional else ortapi.INPUT_OUTPUT_REQUIRED for spec in opdef.inputs]
        self.struct = ortapi.OrtCustomOp()
        self.struct.version = ortapi.CUSTOM_OP_VERSION
        self._callbacks: list[Any] = []
        for field_name, fn in self._callback_functions().items():
            callback = ortapi.CALLBACK_TYPES[field_name](fn)
            self._callbacks.append(callback)
            setattr(self.struct, field_name, ctypes.cast(callback, P).value)

    def _callback_functions(self) -> dict[str, Callable]:
        # every callback catches BaseException: one escaping a ctypes callback aborts the process
        def guarded(default: Any, fn: Callable) -> Callable:
            def call(*args: Any) -> Any:
                try:
                    return fn(*args)
                except BaseException:  # noqa: BLE001
                    return default
            return call

        name_address = ctypes.addressof(self._name_buffer)
        provider_address = ctypes.addressof(self._provider_buffer) if self._provider_buffer else None
        n_in, n_out = len(self.input_types), len(self.output_types)
        memory = 0  # OrtMemTypeDefault: inputs where the provider keeps them

        return {
            "GetName": guarded(name_address, lambda op: name_address),
            "GetExecutionProviderType": guarded(provider_address, lambda op: provider_address),
            "GetInputType": guarded(0, lambda op, i: self.input_types[i] if i < n_in else 0),
            "GetInputTypeCount": guarded(n_in, lambda op: n_in),
            "GetOutputType": guarded(0, lambda op, i: self.output_types[i] if i < n_out else 0),
            "GetOutputTypeCount": guarded(n_out, lambda op: n_out),
            "KernelDestroy": guarded(None, _destroy),
            "GetInputCharacteristic": guarded(0, lambda op, i: self.characteristics[i] if i < n_in else 0),
            "GetOutputCharacteristic": guarded(0, lambda op, i: ortapi.INPUT_OUTPUT_REQUIRED),
            "GetInputMemoryType": guarded(memory, lambda op, i: memory),
            "GetVariadicInputMinArity": guarded(0, lambda op: 0),
            "GetVariadicInputHomogeneity": guarded(0, lambda op: 0),
            "GetVariadicOutputMinArity": guarded(1, lambda op: 1),
            "GetVariadicOutputHomogeneity": guarded(0, lambda op: 0),
            "CreateKernelV2": self._create_kernel,
            "KernelComputeV2": _compute,
        }

    def _create_kernel(self, op: int, api_address: int, info: int, out: Any) -> int | None:
        api = None
        try:
            api = ortapi.api_at(api_address)
            name = node_name(api, info)
            plans = getattr(_CREATING, "plans", None)
            plan = plans.get(name) if plans else None
            if plan is None or plan.opdef is not self.opdef:
                raise RuntimeError(f"node {name!r}: {self.name} runs only in the sessions opforge.InferenceSession "
                                   "creates (it checks each node first)")
            in_dtypes, out_dtypes, static = node_dtypes(api, info, plan)
            attrs = {a.name: read_attribute(api, info, a, plan.display) if a.name in plan.given else
                     list(a.default) if isinstance(a.default, list) else a.default for a in self.opdef.attributes}
            if self.provider:  # device memory in and out, on ONNX Runtime's stream
                from .gpu import DeviceNodeKernel  # (gpu imports native: imported here, not at the top)

                node_kernel: NodeKernel = DeviceNodeKernel(api, plan, attrs, in_dtypes, out_dtypes)
            else:
                assert plan.kernel is not None
                node_kernel = NodeKernel(api, plan, attrs, plan.kernel, in_dtypes, out_dtypes, static)
            with _KERNELS_LOCK:
                handle = next(_HANDLES)
                _KERNELS[handle] = node_kernel
            out[0] = handle
            return None
        except BaseException as exc:  # noqa: BLE001
            if api is None:
                return None  # no table to build a status with; ONNX Runtime then reports a null kernel
            return api.status(f"opforge: cannot create the kernel of {self.name}: {type(exc).__name__}: {exc}")


# Both are bound to their tables as defaults: ONNX Runtime may destroy sessions while the interpreter
# shuts down, after this module's globals were cleared.
def _destroy(handle: int | None, kernels: dict = _KERNELS, lock: Any = _KERNELS_LOCK) -> None:
    with lock:
        kernels.pop(handle or 0, None)


def _compute(handle: int | None, ctx: ortapi.Context, kernels: dict = _KERNELS) -> int | None:
    kernel = kernels.get(handle or 0)
    if kernel is None:
        return None
    try:
        lean = kernel.lean
        if lean is not None:
            lean(ctx)
        else:
            kernel.compute(ctx.value)
        return None
    except BaseException as exc:  # noqa: BLE001 - anything escaping here aborts the process
        try:
            return kernel.api.status(park_error(exc, kernel.where))
        except BaseException:  # noqa: BLE001
            return kernel.api.status("opforge: a kernel failed and its error could not be reported")


# -- publishing ----------------------------------------------------------------------------------------

_LOCK = threading.RLock()
_OPS: dict[tuple, NativeOp] = {}  # ((id(opdef), output dtypes, cuda), provider) -> op; never shrinks
_LIVE_OPDEFS: list[OpDef] = []  # keeps each published op definition alive, so ids are never reused
_NAMES: dict[tuple, str] = {}  # (id(opdef), output dtypes, cuda) -> native name


def publish(opdef: OpDef, out_dtypes: tuple[str, ...], cuda: bool = False) -> str:
    """Publish the native op(s) of ``opdef`` with these output dtypes once; the op_type nodes use.

    ``cuda``: a second name whose op exists twice, for the CUDA execution provider (device memory)
    and for the CPU one (where ONNX Runtime places the nodes it cannot put on the GPU); sessions
    without ``kernel_device="cuda"`` never see it. A bad op here would break every later session
    (ONNX Runtime builds the schemas of all published ops), so the dtypes are checked again.
    """
    bad = [d for d in out_dtypes if d in UNSUPPORTED_DTYPES or d not in ALL_DTYPES]
    if bad or len(out_dtypes) != len(opdef.outputs):
        raise TypeError(f"{opdef.name}: cannot publish a native op with output dtypes {out_dtypes}")
    key = (id(opdef), out_dtypes, cuda)
    with _LOCK:
        name = _NAMES.get(key)
        if name is None:
            _, add = ortapi.extensions_library()
            safe = re.sub(r"[^A-Za-z0-9_]", "_", f"{opdef.domain}__{opdef.op_type}")
            name = f"{NAME_PREFIX}{len(_NAMES)}_{safe}_v{opdef.version}{'_cuda' if cuda else ''}"
            for provider in ((CUDA_PROVIDER, None) if cuda else (None,)):
                op = NativeOp(opdef, name, provider, out_dtypes)
                if not add(ctypes.byref(op.struct)):
                    raise RuntimeError(f"onnxruntime-extensions refused the custom op {name} ({opdef.name})")
                _OPS[(key, provider)] = op
                # ONNX Runtime keeps raw pointers to the struct and its callbacks until the process ends,
                # even past the interpreter's teardown of module globals: never free them
                ctypes.pythonapi.Py_IncRef(ctypes.py_object(op))
            _NAMES[key] = name
            _LIVE_OPDEFS.append(opdef)
        return name


def published() -> list[NativeOp]:
    with _LOCK:
        return list(_OPS.values())


def library_path() -> str:
    return ortapi.extensions_library()[0]


def element_dtype(elem_type: int) -> str | None:
    try:
        return dtype_name(elem_type)
    except TypeError:
        return None
