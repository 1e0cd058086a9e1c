"""Cases: an op's own samples plus the variants opforge derives from them, each with a stable id.

Derived variants (all deterministic, from the fixed seed):

* ``<id>-<dtype>``: every float input cast to each other float dtype that all of them allow;
* ``<id>-batch<N>``: dim 0 of every input of rank >= 2 that shares the first such input's dim 0
  resized to another size (rows repeated), as a symbolic batch dim would see it;
* ``<id>-empty``: the same dims set to 0.

Batch and empty variants come from the first sample only, and only when the torch reference
accepts them (that is what "the op allows it" means). Each variant keeps its origin's
xfail / skip reasons and tolerances.
"""

from __future__ import annotations

import dataclasses
import re
from typing import Any

import numpy as np

from ..opdef import OpDef
from ..types import FLOAT_DTYPES, Sample, dtype_name, numpy_dtype

SEED = 0


@dataclasses.dataclass
class Case:
    """One concrete input set: op inputs (array / None / list of arrays) and the sample's attributes."""

    id: str
    inputs: list[Any]
    attrs: dict[str, Any]
    sample: Sample
    derived: str = ""  # "" for the op's own samples, else what was derived ("float16", "batch 7", "empty")

    @property
    def xfail_reason(self) -> str | None:
        return self.sample.xfail_reason

    @property
    def skip_reason(self) -> str | None:
        return self.sample.skip_reason

    def arrays(self) -> list[np.ndarray]:
        flat: list[np.ndarray] = []
        for value in self.inputs:
            if isinstance(value, list):
                flat.extend(value)
            elif value is not None:
                flat.append(value)
        return flat

    def float_dtype(self) -> str | None:
        """The one float dtype of this case's float inputs (None when there are none, or several)."""
        names = {dtype_name(a.dtype) for a in self.arrays() if dtype_name(a.dtype) in FLOAT_DTYPES}
        return names.pop() if len(names) == 1 else None

    def describe(self) -> str:
        return repr(self.sample) if not self.derived else f"{self.sample!r} ({self.derived})"


def _slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.+-]+", "_", text).strip("_") or "sample"


def _split(op: OpDef, sample: Sample) -> tuple[list[Any], dict[str, Any]]:
    """A sample's inputs (normalised to numpy) and the attributes it sets (defaults NOT filled)."""
    try:
        bound = op.signature.bind(*sample.args, **sample.kwargs)
    except TypeError as exc:
        raise TypeError(f"{op.name}: sample {sample!r} does not match the signature {op.signature}: {exc}") from None
    inputs = []
    for spec in op.inputs:
        value = bound.arguments.get(spec.name)
        if value is None:
            inputs.append(None)
        elif spec.variadic:
            inputs.append([np.asarray(v) for v in value])
        else:
            inputs.append(np.asarray(value))
    attrs = {a.name: bound.arguments[a.name] for a in op.attributes if a.name in bound.arguments}
    return inputs, attrs


def _map_arrays(inputs: list[Any], fn: Any) -> list[Any]:
    return [None if v is None else [fn(a) for a in v] if isinstance(v, list) else fn(v) for v in inputs]


def _allowed_float_dtypes(op: OpDef, inputs: list[Any]) -> set[str]:
    allowed = set(FLOAT_DTYPES)
    for spec, value in zip(op.inputs, inputs):
        arrays = value if isinstance(value, list) else [] if value is None else [value]
        if any(dtype_name(a.dtype) in FLOAT_DTYPES for a in arrays):
            allowed &= set(spec.dtypes)
    return allowed


def batch_dim(inputs: list[Any]) -> int | None:
    """Dim 0 of the first input of rank >= 2: the batch dim (dim 0 of a 1-d input is its data)."""
    arrays = [a for v in inputs for a in (v if isinstance(v, list) else [] if v is None else [v])]
    return next((a.shape[0] for a in arrays if a.ndim >= 2), None)


def _batch_resize(op: OpDef, inputs: list[Any], size: int) -> list[Any] | None:
    batch = batch_dim(inputs)
    if not batch or size == batch:
        return None

    def resize(a: np.ndarray) -> np.ndarray:
        if a.ndim < 2 or a.shape[0] != batch:
            return a
        reps = -(-size // batch) if size else 1
        return np.ascontiguousarray(np.concatenate([a] * reps, axis=0)[:size])

    return _map_arrays(inputs, resize)


def _reference_accepts(op: OpDef, inputs: list[Any], attrs: dict[str, Any]) -> bool:
    from .runners import run_reference

    try:
        run_reference(op, inputs, attrs, upcast=True)
    except Exception:  # noqa: BLE001 - the op does not allow this variant
        return False
    return True


def op_cases(op: OpDef, *, seed: int = SEED, derive: bool = True) -> list[Case]:
    """Every case of ``op``, in a deterministic order with unique ids."""
    cases: list[Case] = []
    seen: set[str] = set()

    def add(case: Case) -> None:
        base, n = case.id, 2
        while case.id in seen:
            case.id = f"{base}_{n}"
            n += 1
        seen.add(case.id)
        cases.append(case)

    first = True
    for index, sample in enumerate(op.example_samples(seed)):
        inputs, attrs = _split(op, sample)
        base = Case(_slug(sample.name) if sample.name else f"s{index}", inputs, attrs, sample)
        add(base)
        if not derive:
            continue
        dtype = base.float_dtype()
        if dtype is not None:
            for target in FLOAT_DTYPES:
                if target == dtype or target not in _allowed_float_dtypes(op, inputs):
                    continue
                cast = _map_arrays(inputs, lambda a, t=target: a.astype(numpy_dtype(t))
                                   if dtype_name(a.dtype) in FLOAT_DTYPES else a)
                add(Case(f"{base.id}-{target}", cast, dict(attrs), sample, target))
        if first and sample.skip_reason is None:
            first = False
            batch = batch_dim(inputs)
            if batch:
                size = batch + 3 if batch != 1 else 5
                resized = _batch_resize(op, inputs, size)
                if resized is not None and _reference_accepts(op, resized, attrs):
                    add(Case(f"{base.id}-batch{size}", resized, dict(attrs), sample, f"batch {size}"))
                empty = _batch_resize(op, inputs, 0)
                if empty is not None and _reference_accepts(op, empty, attrs):
                    add(Case(f"{base.id}-empty", empty, dict(attrs), sample, "empty batch"))
    return cases
