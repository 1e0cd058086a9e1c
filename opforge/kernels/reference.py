"""``opforge.reference_ops()``: opforge ops as ``onnx.reference.ReferenceEvaluator`` ``new_ops``."""

from __future__ import annotations

from typing import Any

from onnx.reference.op_run import OpRun

from .. import opdef as registry
from .._proto import node_attributes
from ..opdef import OpDef
from .registry import resolve


def reference_class(opdef: OpDef) -> type[OpRun]:
    """An OpRun subclass named after the op that runs its CPU kernel (or torch reference)."""

    def _run(self: OpRun, *inputs: Any, **_: Any) -> tuple:
        attrs = node_attributes(opdef, self.onnx_node)
        args: list[Any] = []
        position = 0
        for spec in opdef.inputs:
            if spec.variadic:
                args.append(list(inputs[position:]))
                position = len(inputs)
            else:
                value = inputs[position] if position < len(inputs) else None
                args.append(value)
                position += 1
        out = resolve(opdef, "cpu")(*opdef.python_inputs(args), **attrs)
        return tuple(out) if isinstance(out, (tuple, list)) else (out,)

    return type(opdef.op_type, (OpRun,), {"op_domain": opdef.domain, "_run": _run,
                                          "__doc__": opdef.describe()})


def reference_ops(ops: list[OpDef] | None = None) -> list[type[OpRun]]:
    """``ReferenceEvaluator(model, new_ops=opforge.reference_ops())`` runs opforge ops (latest versions)."""
    latest: dict[tuple[str, str], OpDef] = {}
    for op in ops if ops is not None else registry.list_ops():
        key = (op.domain, op.op_type)
        if key not in latest or latest[key].version < op.version:
            latest[key] = op
    return [reference_class(op) for op in latest.values()]
