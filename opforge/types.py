"""Tensor specs, samples and the dtype table shared by every part of opforge.

This module imports neither torch nor onnxruntime at import time: the kernels side
must work in a process that has only numpy and onnx.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from typing import Any

import ml_dtypes
import numpy as np
from onnx import TensorProto

# canonical name -> (numpy dtype, ONNX element type, torch dtype attribute name)
_DTYPES: dict[str, tuple[np.dtype, int, str]] = {
    "float32": (np.dtype("float32"), TensorProto.FLOAT, "float32"),
    "float64": (np.dtype("float64"), TensorProto.DOUBLE, "float64"),
    "float16": (np.dtype("float16"), TensorProto.FLOAT16, "float16"),
    "bfloat16": (np.dtype(ml_dtypes.bfloat16), TensorProto.BFLOAT16, "bfloat16"),
    "int8": (np.dtype("int8"), TensorProto.INT8, "int8"),
    "int16": (np.dtype("int16"), TensorProto.INT16, "int16"),
    "int32": (np.dtype("int32"), TensorProto.INT32, "int32"),
    "int64": (np.dtype("int64"), TensorProto.INT64, "int64"),
    "uint8": (np.dtype("uint8"), TensorProto.UINT8, "uint8"),
    "uint16": (np.dtype("uint16"), TensorProto.UINT16, "uint16"),
    "uint32": (np.dtype("uint32"), TensorProto.UINT32, "uint32"),
    "uint64": (np.dtype("uint64"), TensorProto.UINT64, "uint64"),
    "bool": (np.dtype("bool"), TensorProto.BOOL, "bool"),
    "complex64": (np.dtype("complex64"), TensorProto.COMPLEX64, "complex64"),
    "complex128": (np.dtype("complex128"), TensorProto.COMPLEX128, "complex128"),
}
_ALIASES = {"float": "float32", "double": "float64", "half": "float16", "long": "int64", "int": "int32"}
_BY_ONNX = {onnx_type: name for name, (_, onnx_type, _) in _DTYPES.items()}
_BY_NUMPY = {np_dtype: name for name, (np_dtype, _, _) in _DTYPES.items()}

FLOAT_DTYPES = ("float32", "float64", "float16", "bfloat16")
ALL_DTYPES = tuple(_DTYPES)

DType = str | np.dtype | type | Any  # also a torch.dtype; torch is never imported here
Dim = int | str | None


def dtype_name(dtype: DType) -> str:
    """Normalise a numpy/torch/ONNX/str dtype to opforge's canonical name ("float32", ...)."""
    if isinstance(dtype, str):
        name = dtype.removeprefix("torch.").removeprefix("tensor(").removesuffix(")")
        name = _ALIASES.get(name, name)
        if name in _DTYPES:
            return name
    elif isinstance(dtype, int) and not isinstance(dtype, bool):
        if dtype in _BY_ONNX:
            return _BY_ONNX[dtype]
    elif type(dtype).__name__ == "dtype" and type(dtype).__module__ == "torch":
        return dtype_name(str(dtype))
    else:
        try:
            np_dtype = np.dtype(dtype)
        except TypeError:
            np_dtype = None
        if np_dtype is not None and np_dtype in _BY_NUMPY:
            return _BY_NUMPY[np_dtype]
    raise TypeError(f"unsupported dtype {dtype!r}; expected one of {', '.join(_DTYPES)}")


def numpy_dtype(dtype: DType) -> np.dtype:
    return _DTYPES[dtype_name(dtype)][0]


def onnx_dtype(dtype: DType) -> int:
    return _DTYPES[dtype_name(dtype)][1]


def torch_dtype(dtype: DType) -> Any:
    import torch

    return getattr(torch, _DTYPES[dtype_name(dtype)][2])


class SymDim(str):
    """A symbolic dim seen by ONNX shape inference (``"batch"``).

    Arithmetic keeps it symbolic (``SymDim("batch") * 2 == "(batch*2)"``) so an ``@infer``
    written for torch SymInts never turns a name into a repeated string by accident.
    """

    def _combine(self, other: Any, symbol: str, reverse: bool = False) -> SymDim:
        a, b = (other, self) if reverse else (self, other)
        return SymDim(f"({a}{symbol}{b})")

    def __add__(self, other):  # type: ignore[override]
        return self._combine(other, "+")

    def __radd__(self, other):
        return self._combine(other, "+", True)

    def __sub__(self, other):
        return self._combine(other, "-")

    def __rsub__(self, other):
        return self._combine(other, "-", True)

    def __mul__(self, other):  # type: ignore[override]
        return self._combine(other, "*")

    def __rmul__(self, other):  # type: ignore[override]
        return self._combine(other, "*", True)

    def __floordiv__(self, other):
        return self._combine(other, "//")

    def __mod__(self, other):  # type: ignore[override]
        return self._combine(other, "%")


@dataclasses.dataclass(frozen=True, init=False)
class TensorSpec:
    """Shape and dtype of one tensor, as ``@op.infer`` sees and returns it.

    A dim is an ``int``, a ``str`` (a symbolic name such as ``"batch"``) or ``None``
    (unknown, e.g. data dependent). Under torch export, dims may be torch SymInts. ``shape=None``
    means the rank is unknown too. ``dtype`` accepts numpy, torch or string dtypes and is kept
    as opforge's canonical name (``"float32"``).
    """

    shape: tuple[Any, ...] | None
    dtype: str

    def __init__(self, shape: Sequence[Any] | None, dtype: DType) -> None:
        object.__setattr__(self, "shape", None if shape is None else tuple(shape))
        object.__setattr__(self, "dtype", dtype_name(dtype))

    @property
    def rank(self) -> int | None:
        return None if self.shape is None else len(self.shape)

    @property
    def ndim(self) -> int | None:
        return self.rank

    @property
    def np_dtype(self) -> np.dtype:
        return numpy_dtype(self.dtype)

    def __repr__(self) -> str:
        return f"TensorSpec(shape={self.shape}, dtype={self.dtype!r})"


class Sample:
    """One conformance input: tensors positionally, attributes by keyword.

    ``Sample(x, threshold=0.3)``. Inputs are numpy arrays (``None`` for an absent optional
    input, a list of arrays for a variadic input). Chain ``.named(...)``, ``.xfail(reason=...)``
    or ``.skip(reason=...)``; the reason is required.
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        self.args = tuple(args)
        self.kwargs = dict(kwargs)
        self.name: str | None = None
        self.xfail_reason: str | None = None
        self.skip_reason: str | None = None
        self.rtol: float | None = None
        self.atol: float | None = None

    def named(self, name: str) -> Sample:
        self.name = name
        return self

    def xfail(self, *, reason: str) -> Sample:
        if not reason:
            raise ValueError("Sample.xfail needs a reason")
        self.xfail_reason = reason
        return self

    def skip(self, *, reason: str) -> Sample:
        if not reason:
            raise ValueError("Sample.skip needs a reason")
        self.skip_reason = reason
        return self

    def tolerance(self, *, rtol: float, atol: float) -> Sample:
        """Widen the comparison tolerance for this sample (say why in the op's samples)."""
        self.rtol, self.atol = rtol, atol
        return self

    def __repr__(self) -> str:
        def show(v: Any) -> str:
            if isinstance(v, np.ndarray):
                return f"{dtype_name(v.dtype)}{list(v.shape)}"
            if isinstance(v, (list, tuple)) and v and isinstance(v[0], np.ndarray):
                return "[" + ", ".join(show(t) for t in v) + "]"
            return repr(v)

        parts = [show(a) for a in self.args] + [f"{k}={v!r}" for k, v in self.kwargs.items()]
        label = f"{self.name}: " if self.name else ""
        return f"Sample({label}{', '.join(parts)})"
