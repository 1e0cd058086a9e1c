"""Output specs of an op from its input specs: ``@infer`` if given, else the torch reference on fake tensors."""

from __future__ import annotations

from typing import Any

from .opdef import OpDef
from .types import TensorSpec, torch_dtype

# Stand-ins for symbolic/unknown dims when the reference runs on fake tensors: distinct primes that
# real shapes rarely hit, so an output dim equal to one of them is mapped back to its symbol.
_PLACEHOLDERS = (7919, 7927, 7933, 7937, 7949, 7951, 7963, 7993, 8009, 8011, 8017, 8039)


class InferError(RuntimeError):
    """Output specs could not be derived; the message asks for ``@op.infer``."""


def normalise(opdef: OpDef, result: Any) -> list[TensorSpec]:
    specs = list(result) if isinstance(result, (tuple, list)) else [result]
    if len(specs) != len(opdef.outputs) or not all(isinstance(s, TensorSpec) for s in specs):
        raise InferError(f"{opdef.name}: @infer must return {len(opdef.outputs)} TensorSpec(s) "
                         f"({', '.join(o.name for o in opdef.outputs)}), got {result!r}")
    return specs


def output_specs(opdef: OpDef, inputs: list[Any], attrs: dict[str, Any]) -> list[TensorSpec]:
    """``inputs`` holds a TensorSpec per input (None when absent, a list for a variadic one)."""
    if opdef.infer_fn is not None:
        return normalise(opdef, opdef.infer_fn(*opdef.python_inputs(inputs), **attrs))
    return _from_reference(opdef, inputs, attrs)


def _from_reference(opdef: OpDef, inputs: list[Any], attrs: dict[str, Any]) -> list[TensorSpec]:
    import torch
    from torch._subclasses.fake_tensor import FakeTensorMode

    symbols: dict[int, Any] = {}  # stand-in -> symbol
    stand_ins: dict[str, int] = {}  # symbol name -> stand-in: equal names stay equal
    free = iter(_PLACEHOLDERS)

    def concrete(spec: TensorSpec) -> torch.Tensor:
        if spec.shape is None:
            raise InferError(f"{opdef.name}: an input has unknown rank; add @{opdef.op_type}.infer")
        dims = []
        for d in spec.shape:
            if isinstance(d, int):
                dims.append(d)
            elif d is not None and str(d) in stand_ins:
                dims.append(stand_ins[str(d)])
            else:
                stand_in = next(free)
                symbols[stand_in] = d
                if d is not None:
                    stand_ins[str(d)] = stand_in
                dims.append(stand_in)
        return torch.empty(dims, dtype=torch_dtype(spec.dtype))

    try:
        with FakeTensorMode(allow_non_fake_inputs=False):
            args = [None if s is None else [concrete(t) for t in s] if isinstance(s, list) else concrete(s)
                    for s in inputs]
            out = opdef.reference(*opdef.python_inputs(args), **attrs)
    except StopIteration:
        raise InferError(f"{opdef.name}: too many symbolic dims to derive output specs; add @{opdef.op_type}.infer") from None
    except Exception as exc:
        raise InferError(
            f"{opdef.name}: cannot derive output shapes from the torch reference ({type(exc).__name__}: "
            f"{str(exc).splitlines()[0] if str(exc) else ''}); declare them with @{opdef.op_type}.infer, e.g.\n"
            f"    @{opdef.reference.__name__}.infer\n"
            f"    def _({', '.join(opdef.input_names)}, **attrs):\n"
            f"        return opforge.TensorSpec({opdef.input_names[0] if opdef.input_names else '...'}.shape, "
            f"{opdef.input_names[0] + '.dtype' if opdef.input_names else 'dtype'})"
        ) from exc
    outs = out if isinstance(out, (tuple, list)) else (out,)
    return [TensorSpec([symbols.get(int(d), int(d)) for d in t.shape], t.dtype) for t in outs]
