"""Numerical comparison with ONNX Runtime's per-dtype tolerances, NaN/Inf matching and order-free mode."""

from __future__ import annotations

import dataclasses

import numpy as np

from ..api import TOLERANCES
from ..types import dtype_name


@dataclasses.dataclass
class Comparison:
    ok: bool
    reason: str = ""
    max_abs: float | None = None
    max_rel: float | None = None


def tolerance(dtype: str, rtol: float | None = None, atol: float | None = None) -> tuple[float, float]:
    """(rtol, atol) of ``dtype`` (0, 0 for integers and bools); a sample's own values win."""
    base = TOLERANCES.get(dtype, (0.0, 0.0))
    return (base[0] if rtol is None else rtol, base[1] if atol is None else atol)


def canonical_order(array: np.ndarray) -> np.ndarray:
    """Rows along axis 0 sorted lexicographically, for ops whose output order is unspecified."""
    if array.ndim == 0 or array.shape[0] <= 1:
        return array
    rows = array.reshape(array.shape[0], -1)
    if rows.shape[1] == 0:
        return array
    keys = rows.astype(np.float64) if rows.dtype.kind in "fV" or rows.dtype.name == "bfloat16" else rows
    order = np.lexsort(keys.T[::-1])
    return array[order]


def compare_outputs(expected: list[np.ndarray], actual: list[np.ndarray], *, order_free: bool = False,
                    rtol: float | None = None, atol: float | None = None) -> Comparison:
    """Compare output lists; the largest abs/rel errors over all outputs are reported."""
    if len(expected) != len(actual):
        return Comparison(False, f"returned {len(actual)} output(s), expected {len(expected)}")
    worst_abs = 0.0
    worst_rel = 0.0
    problems = []
    for index, (e, a) in enumerate(zip(expected, actual)):
        e, a = np.asarray(e), np.asarray(a)
        if e.shape != a.shape:
            problems.append(f"output {index}: shape {list(a.shape)}, expected {list(e.shape)}")
            continue
        if order_free:
            e, a = canonical_order(e), canonical_order(a)
        name = dtype_name(e.dtype)
        r, t = tolerance(name, rtol, atol)
        if e.dtype.kind in "biu" and a.dtype.kind in "biu":
            bad = e != a
            if bad.any():
                diff = np.abs(e.astype(np.int64) - a.astype(np.int64)) if e.dtype.kind != "b" else bad
                worst_abs = max(worst_abs, float(np.max(diff)))
                problems.append(f"output {index}: {int(bad.sum())} of {bad.size} elements differ (exact dtype {name})")
            continue
        if e.dtype.kind == "c":
            ef, af = e.astype(np.complex128), a.astype(np.complex128)
        else:
            ef, af = e.astype(np.float64), a.astype(np.float64)
        nan_e, nan_a = np.isnan(ef), np.isnan(af)
        inf_e, inf_a = np.isinf(ef), np.isinf(af)
        mismatch = (nan_e != nan_a) | (inf_e != inf_a) | (inf_e & inf_a & (ef != af))
        finite = np.isfinite(ef) & np.isfinite(af)
        with np.errstate(invalid="ignore", over="ignore"):
            diff = np.where(finite, np.abs(af - ef), 0.0)
        bad_value = finite & (diff > t + r * np.abs(ef))
        if finite.any():
            worst_abs = max(worst_abs, float(np.max(diff[finite])))
            rel = diff[finite] / np.maximum(np.abs(ef[finite]), np.finfo(np.float64).tiny)
            worst_rel = max(worst_rel, float(np.max(np.where(diff[finite] == 0, 0.0, rel))))
        if mismatch.any():
            problems.append(f"output {index}: NaN/Inf at {int(mismatch.sum())} position(s) do not match")
        if bad_value.any():
            problems.append(f"output {index}: {int(bad_value.sum())} of {bad_value.size} elements exceed "
                            f"rtol {r:g} / atol {t:g} ({name})")
    if problems:
        return Comparison(False, "; ".join(problems), worst_abs, worst_rel)
    return Comparison(True, "", worst_abs, worst_rel)
