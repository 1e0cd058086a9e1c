"""``opforge.export(..., verify=True)``: the exported model must follow eager PyTorch beyond the example.

One example input proves little: a TorchScript trace that baked in one branch of a data-dependent
loop, a wrong ``@infer`` or a kernel that returns the wrong dtype all pass it. So verify runs the
model in ONNX Runtime and in eager PyTorch on

* the example input;
* the same sizes with other values;
* other sizes along every dynamic dim (the graph inputs' symbolic dims, one new size per name),
  with other values.

Generated values keep their meaning: float tensors are the example's values scaled by 2 or 0.5
(signs, zeros and a matrix's structure kept: symmetric, non-singular, positive definite), integer and bool tensors
(indices, masks, lengths) are the example's own values permuted or resampled, so they stay in
range. A generated input that eager PyTorch itself refuses is reported as "could not vary" (a
warning), never as a mismatch.

On every run it also checks each opforge node of the top-level graph: its runtime outputs
against the shape and dtype the model declares for them (ONNX shape inference on the run's
concrete input sizes, i.e. ``@infer`` or the torch reference), and the raw return value of its
cpu kernel, before any conversion, against the same.
"""

from __future__ import annotations

import dataclasses
import warnings
from collections.abc import Callable
from typing import Any

import numpy as np
import onnx
from onnx import numpy_helper

from . import opdef as registry
from ._proto import node_attributes
from .types import dtype_name

GENERATED = 2  # inputs generated beyond the example: keep verify fast


class VerifyWarning(UserWarning):
    """verify could not try an input it generated (eager PyTorch refused it)."""


@dataclasses.dataclass
class _Input:
    label: str  # "the example input", "generated input 1 (other values)", ...
    arrays: list[np.ndarray]  # one per graph input, in graph order


def _contiguous(array: np.ndarray) -> np.ndarray:
    # not np.ascontiguousarray: it turns a 0-d array into a 1-d one
    return array if array.flags.c_contiguous else array.copy(order="C")


def _nonfinite(arrays: list[np.ndarray]) -> list[bool]:
    return [a.dtype.kind in "fcV" and not np.isfinite(a.astype(np.float64) if a.dtype.kind == "V" else a).all()
            for a in map(np.asarray, arrays)]


# torch ops that trust an integer input to be a valid pivot sequence: LAPACK sytrs reads out of bounds (and
# the process dies) on one ldl_factor cannot produce. A model that holds one (its export summary says so)
# keeps the example's integers in verify's generated inputs.
TRUSTS_PIVOTS = ("aten.linalg_ldl_solve.default",)


def _generate(example: list[np.ndarray], dims: list[list[str | None]], rng: np.random.Generator,
              keep_integers: bool = False) -> list[_Input]:
    """The example, then GENERATED inputs: other values, then other sizes along every symbolic dim.
    ``keep_integers``: integer and bool inputs keep the example's values and sizes (see TRUSTS_PIVOTS)."""
    inputs = [_Input("the example input", example)]

    def other_values(array: np.ndarray, scale: float) -> np.ndarray:
        if np.issubdtype(array.dtype, np.floating) or array.dtype.kind == "V":  # "V": ml_dtypes bfloat16
            # scaled, not shuffled: magnitudes change (loop counts, thresholds), while the structure a model
            # may rely on stays (signs, zeros, a symmetric, non-singular or positive-definite matrix)
            return np.asarray(array.astype(np.float64) * scale).astype(array.dtype)
        # integers, bools: the example's own values, so indices and lengths stay valid
        if keep_integers:
            return array.copy()
        return rng.permutation(array.reshape(-1)).reshape(array.shape) if array.size > 1 else array.copy()

    inputs.append(_Input("generated input 1 (same sizes, other values)", [other_values(a, 2.0) for a in example]))
    if keep_integers:  # resampling rows would break a pivot sequence as surely as permuting it
        return inputs
    sizes: dict[str, int] = {}
    for array, names in zip(example, dims):
        for axis, name in enumerate(names):
            if name is not None and name not in sizes:
                old = array.shape[axis]
                sizes[name] = old + 2 if old > 1 else 3
    resized = []
    for array, names in zip(example, dims):
        out = array
        for axis, name in enumerate(names):
            if name is not None and out.shape[axis] > 0:
                picks = rng.integers(0, out.shape[axis], sizes[name])
                out = np.take(out, picks, axis=axis)
        resized.append(other_values(_contiguous(out), 0.5))
    changed = ", ".join(f"{n}={s}" for n, s in sizes.items())
    inputs.append(_Input(f"generated input 2 ({'other sizes: ' + changed if changed else 'other values'})", resized))
    return inputs[: 1 + GENERATED]


def _opdef_of(proto: onnx.ModelProto, node: onnx.NodeProto) -> Any:
    versions = {o.domain: o.version for o in proto.opset_import}
    return registry.lookup(node.domain, node.op_type, versions.get(node.domain))


def _custom_nodes(proto: onnx.ModelProto) -> list[tuple[onnx.NodeProto, Any]]:
    found = []
    for node in proto.graph.node:
        opdef = _opdef_of(proto, node) if node.domain not in ("", "ai.onnx", "ai.onnx.ml") else None
        if opdef is not None:
            found.append((node, opdef))
    return found


def _with_intermediates(proto: onnx.ModelProto, names: list[str]) -> onnx.ModelProto:
    """A copy of ``proto`` whose graph also outputs ``names`` (typed as the graph's value_info has them)."""
    model = onnx.ModelProto()
    model.CopyFrom(proto)
    known = {v.name: v for v in model.graph.value_info}
    have = {o.name for o in model.graph.output}
    for name in names:
        if name not in have:
            model.graph.output.append(known[name] if name in known else onnx.helper.make_empty_tensor_value_info(name))
            have.add(name)
    return model


def _declared_types(proto: onnx.ModelProto, feeds: dict[str, np.ndarray]) -> dict[str, onnx.TypeProto]:
    """Every value's type as ONNX shape inference declares it for these concrete input sizes."""
    model = onnx.ModelProto()
    model.CopyFrom(proto)
    del model.graph.value_info[:]
    for value in model.graph.input:
        if value.name in feeds:
            dims = value.type.tensor_type.shape.dim
            for dim, size in zip(dims, feeds[value.name].shape):
                dim.Clear()
                dim.dim_value = int(size)
    try:
        inferred = onnx.shape_inference.infer_shapes(model, check_type=False, strict_mode=False)
    except Exception:  # noqa: BLE001 - fall back to what export declared
        inferred = proto
    types = {v.name: v.type for v in inferred.graph.value_info}
    types.update({v.name: v.type for v in inferred.graph.output})
    return types


def _spec_problem(array: np.ndarray, declared: onnx.TypeProto | None) -> str:
    """'' when ``array`` matches the declared type, else the first mismatch in words."""
    if declared is None or not declared.HasField("tensor_type") or declared.tensor_type.elem_type == 0:
        return ""
    want = dtype_name(declared.tensor_type.elem_type)
    got = dtype_name(array.dtype)
    if got != want:
        return f"dtype {got}, but the model declares {want}"
    if not declared.tensor_type.HasField("shape"):
        return ""
    dims = declared.tensor_type.shape.dim
    shown = tuple(d.dim_value if d.HasField("dim_value") else (d.dim_param or "?") for d in dims)
    if len(dims) != array.ndim:
        return f"rank {array.ndim} (shape {array.shape}), but the model declares rank {len(dims)} {shown}"
    for axis, (dim, size) in enumerate(zip(dims, array.shape)):
        if dim.HasField("dim_value") and dim.dim_value != size:
            return f"shape {array.shape}, but the model declares {shown}: first mismatch at dim {axis}, {size} != " \
                   f"{dim.dim_value}"
    return ""


def _node_inputs(opdef: Any, node: onnx.NodeProto, values: dict[str, np.ndarray]) -> list[Any]:
    """The node's inputs grouped per op input (ONNX order): arrays, None, or a list for a variadic one."""
    names = list(node.input)
    grouped: list[Any] = []
    position = 0
    for spec in opdef.inputs:
        if spec.variadic:
            grouped.append([values[n] for n in names[position:]])
            position = len(names)
        else:
            name = names[position] if position < len(names) else ""
            grouped.append(values[name] if name else None)
            position += 1
    return grouped


def _check_nodes(proto: onnx.ModelProto, nodes: list[tuple[onnx.NodeProto, Any]], values: dict[str, np.ndarray],
                 feeds: dict[str, np.ndarray], label: str, error: type[Exception]) -> None:
    if not nodes:
        return  # no opforge node: nothing declared by opforge to check (and no model copy to infer)
    types = _declared_types(proto, feeds)
    for node, opdef in nodes:
        where = f"node {node.name!r} ({opdef.name} v{opdef.version})"
        origin = "@infer" if opdef.infer_fn is not None else "the torch reference on fake tensors"
        for index, name in enumerate(node.output):
            if name and name in values:
                problem = _spec_problem(np.asarray(values[name]), types.get(name))
                if problem:
                    raise error(f"opforge.export verify, on {label}: {where} output {index} "
                                f"({opdef.outputs[index].name!r}) at run time has {problem} (from {origin}). "
                                f"Fix the op's @infer or its kernel so they agree.")
        kernel = opdef.kernels.get("cpu")
        if kernel is None or not all(n in values for n in node.input if n):
            continue
        grouped = _node_inputs(opdef, node, values)
        try:
            raw = kernel(*opdef.python_inputs(grouped), **node_attributes(opdef, node))
        except Exception as exc:
            raise error(f"opforge.export verify, on {label}: {where}: its cpu kernel raises on the inputs the node "
                        f"sees ({type(exc).__name__}: {exc})") from exc
        raws = list(raw) if isinstance(raw, (tuple, list)) else [raw]
        for index, (name, value) in enumerate(zip(node.output, raws)):
            problem = _spec_problem(np.asarray(value), types.get(name)) if name else ""
            if problem:
                raise error(f"opforge.export verify, on {label}: {where} output {index} "
                            f"({opdef.outputs[index].name!r}): its cpu kernel returns {problem} (from {origin}); "
                            "opforge converted it at run time, hiding the bug. Fix the kernel (or the op's @infer).")


def verify(proto: onnx.ModelProto, run_eager: Callable[[list[np.ndarray]], list[np.ndarray]],
           example: list[np.ndarray], make_session: Callable[[onnx.ModelProto], Any],
           compare: Callable[[np.ndarray, np.ndarray, str], None], error: type[Exception], *,
           traced_lines: list[str] | None = None, seed: int = 0, keep_integers: bool = False) -> None:
    """Compare ONNX Runtime with ``run_eager`` on the example and generated inputs; check custom nodes.

    ``run_eager(arrays)`` runs the model on one array per graph input and returns its tensor outputs;
    ``compare(expected, actual, what)`` raises ``error`` when they differ; ``traced_lines`` are
    the TracerWarnings of a TorchScript export, named in the error when generated inputs disagree.
    """
    graph_inputs = [i for i in proto.graph.input if i.name not in {t.name for t in proto.graph.initializer}]
    names = [i.name for i in graph_inputs]
    dims = [[d.dim_param if d.dim_param else None for d in i.type.tensor_type.shape.dim] for i in graph_inputs]
    outputs = [o.name for o in proto.graph.output]
    nodes = _custom_nodes(proto)
    extra = [n for node, _ in nodes for n in list(node.input) + list(node.output) if n]
    initializers = {t.name: numpy_helper.to_array(t) for t in proto.graph.initializer}
    augmented = _with_intermediates(proto, [n for n in extra if n not in initializers and n not in names])
    session = make_session(augmented)
    fetch = [o.name for o in augmented.graph.output]
    example_nonfinite: list[bool] = []
    for case in _generate(example, dims, np.random.default_rng(seed), keep_integers):
        try:
            expected = run_eager(case.arrays)
        except Exception as exc:  # noqa: BLE001 - the model refuses this input: say so, never a mismatch
            if case.label == "the example input":
                raise
            first = str(exc).splitlines()[0] if str(exc) else ""
            warnings.warn(VerifyWarning(f"opforge.export verify could not vary the input ({case.label}): eager "
                                        f"PyTorch refused it ({type(exc).__name__}: {first}); "
                                        "that input was not checked"), stacklevel=3)
            continue
        nonfinite = _nonfinite(expected)
        if case.label == "the example input":
            example_nonfinite = nonfinite
        elif any(n and not was for n, was in zip(nonfinite, example_nonfinite)):
            # the generated values left the model's domain (a singular matrix, a log of a negative):
            # NaN or inf from eager is no reference to compare against
            warnings.warn(VerifyWarning(f"opforge.export verify could not vary the input ({case.label}): eager "
                                        "PyTorch gives NaN or inf where the example gave finite values; that "
                                        "input was not checked"), stacklevel=3)
            continue
        feeds = dict(zip(names, case.arrays))
        try:
            got = session.run(fetch, feeds)
        except Exception as exc:
            if case.label == "the example input":
                raise
            raise error(f"opforge.export verify, on {case.label}: eager PyTorch runs it but ONNX Runtime fails "
                        f"({type(exc).__name__}: {exc}){_traced(traced_lines)}") from exc
        if len(expected) != len(outputs):
            raise error(f"opforge.export: eager returned {len(expected)} tensors, ONNX Runtime {len(outputs)}")
        values = {**initializers, **feeds, **dict(zip(fetch, got))}
        _check_nodes(proto, nodes, values, feeds, case.label, error)
        for index, (e, g) in enumerate(zip(expected, got)):
            try:
                compare(e, g, f"opforge.export verify, on {case.label}: output {index} ({outputs[index]!r}) "
                        "ONNX Runtime vs eager")
            except error as exc:
                if case.label == "the example input":
                    raise
                raise error(f"{exc}. The exported graph follows the model on the example input only: most often "
                            "a Python branch or loop that reads a tensor's value was recorded for the example."
                            f"{_traced(traced_lines)}") from None


def _traced(lines: list[str] | None) -> str:
    if not lines:
        return (" Fix: wrap the code that depends on the data in an @opforge.op (it stays one node and runs as "
                "written).")
    return "\nThe trace recorded Python values at:\n" + "\n".join(lines)


def verify_export(model: Any, args: tuple, kwargs: dict | None, proto: onnx.ModelProto,
                  make_session: Callable[[onnx.ModelProto], Any], compare: Callable[[np.ndarray, np.ndarray, str], None],
                  error: type[Exception], traced_lines: list[str] | None = None,
                  reported: list[str] | None = None) -> None:
    """``opforge.export``'s verify: ``model(*args, **kwargs)`` against ``proto`` (see the module docstring).
    ``reported``: the names in the export summary (a TRUSTS_PIVOTS op keeps integer inputs as given)."""
    import torch

    from .kernels.registry import _from_torch, _to_torch

    leaves, spec = torch.utils._pytree.tree_flatten((args, kwargs or {}))
    positions = [k for k, t in enumerate(leaves) if isinstance(t, torch.Tensor)]
    inputs = [i for i in proto.graph.input if i.name not in {t.name for t in proto.graph.initializer}]
    if len(inputs) != len(positions):
        return  # inputs folded into constants or split: nothing to feed by position

    def run_eager(arrays: list[np.ndarray]) -> list[np.ndarray]:
        values = list(leaves)
        for k, array in zip(positions, arrays):
            values[k] = _to_torch(_contiguous(array)).to(leaves[k].dtype)
        call_args, call_kwargs = torch.utils._pytree.tree_unflatten(values, spec)
        with torch.no_grad():
            out = model(*call_args, **call_kwargs)
        return [_from_torch(t) for t in torch.utils._pytree.tree_leaves(out) if isinstance(t, torch.Tensor)]

    example = [_from_torch(leaves[k]) for k in positions]
    verify(proto, run_eager, example, make_session, compare, error, traced_lines=traced_lines,
           keep_integers=any(name in TRUSTS_PIVOTS for name in reported or []))
