"""The slice of ONNX Runtime's C ABI that opforge's native custom ops use, through ctypes.

Every layout fact here was checked against ``onnxruntime_c_api.h`` with ``ORT_API_VERSION`` 29
(onnxruntime 1.29; the pinned 1.32 only appends to both tables):

* ``OrtApi`` is a table of function pointers; the slot indices below count its members in order
  (425 in that header). :meth:`Api.self_check` round-trips a status through it before first use.
* ``OrtCustomOp`` is ``uint32_t version`` followed by 25 function pointers (208 bytes on 64-bit).

The ``OrtApi*`` used for kernel work is always the one ONNX Runtime hands to ``CreateKernelV2``:
the Python package links its own copy of ONNX Runtime, so ``OrtGetApiBase`` of the shared library
next to it would be a different runtime.
"""

from __future__ import annotations

import ctypes
import functools
import threading
from typing import Any

# OrtApi slot indices (onnxruntime_c_api.h, ORT_API_VERSION 29)
SLOTS = {
    "CreateStatus": 0, "GetErrorCode": 1, "GetErrorMessage": 2,
    "GetTensorMutableData": 51, "CastTypeInfoToTensorInfo": 55, "GetOnnxTypeFromTypeInfo": 56,
    "GetTensorElementType": 60, "GetDimensionsCount": 61, "GetDimensions": 62, "GetTensorTypeAndShape": 65,
    "AllocatorFree": 76, "GetAllocatorWithDefaultOptions": 78,
    "KernelInfoGetAttribute_float": 85, "KernelInfoGetAttribute_int64": 86, "KernelInfoGetAttribute_string": 87,
    "KernelContext_GetInputCount": 88, "KernelContext_GetOutputCount": 89,
    "KernelContext_GetInput": 90, "KernelContext_GetOutput": 91,
    "ReleaseStatus": 93, "ReleaseTypeInfo": 98, "ReleaseTensorTypeAndShapeInfo": 99,
    "KernelInfoGetAttributeArray_float": 162, "KernelInfoGetAttributeArray_int64": 163,
    "KernelContext_GetGPUComputeStream": 193,
    "KernelInfo_GetInputCount": 230, "KernelInfo_GetOutputCount": 231,
    "KernelInfo_GetInputTypeInfo": 234, "KernelInfo_GetOutputTypeInfo": 235,
    "KernelInfo_GetNodeName": 244,
    "GetTensorSizeInBytes": 318,  # since 1.23
    "KernelInfoGetAttributeArray_string": 417,  # since 1.25
}
API_SLOT_COUNT = 425  # in the checked header; ONNX Runtime only ever appends

ORT_RUNTIME_EXCEPTION = 6  # OrtErrorCode
INPUT_OUTPUT_REQUIRED, INPUT_OUTPUT_OPTIONAL, INPUT_OUTPUT_VARIADIC = 0, 1, 2  # OrtCustomOpInputOutputCharacteristic
ONNX_TYPE_TENSOR = 1  # ONNXType
# The OrtCustomOp version opforge claims: >= 16 so that ONNX Runtime calls CreateKernelV2 /
# KernelComputeV2 (lower versions reach the V1 entries, left NULL here), and low enough for any
# onnxruntime >= 1.16 to accept it.
CUSTOM_OP_VERSION = 18

P = ctypes.c_void_p
class Context(ctypes.c_void_p):
    """An ``OrtKernelContext*`` as a callback receives it: ctypes hands a callback a subclass of a
    simple type as the ctypes object itself (not an int), ready to pass on to OrtApi entries."""


_OP_CALLBACKS = [  # (field, restype, argtypes) in OrtCustomOp's order
    ("CreateKernel", P, (P, P, P)),
    ("GetName", P, (P,)),
    ("GetExecutionProviderType", P, (P,)),
    ("GetInputType", ctypes.c_int, (P, ctypes.c_size_t)),
    ("GetInputTypeCount", ctypes.c_size_t, (P,)),
    ("GetOutputType", ctypes.c_int, (P, ctypes.c_size_t)),
    ("GetOutputTypeCount", ctypes.c_size_t, (P,)),
    ("KernelCompute", None, (P, P)),
    ("KernelDestroy", None, (P,)),
    ("GetInputCharacteristic", ctypes.c_int, (P, ctypes.c_size_t)),
    ("GetOutputCharacteristic", ctypes.c_int, (P, ctypes.c_size_t)),
    ("GetInputMemoryType", ctypes.c_int, (P, ctypes.c_size_t)),
    ("GetVariadicInputMinArity", ctypes.c_int, (P,)),
    ("GetVariadicInputHomogeneity", ctypes.c_int, (P,)),
    ("GetVariadicOutputMinArity", ctypes.c_int, (P,)),
    ("GetVariadicOutputHomogeneity", ctypes.c_int, (P,)),
    ("CreateKernelV2", P, (P, P, P, ctypes.POINTER(P))),
    ("KernelComputeV2", P, (P, Context)),
    ("InferOutputShapeFn", P, (P, P)),
    ("GetStartVersion", ctypes.c_int, (P,)),
    ("GetEndVersion", ctypes.c_int, (P,)),
    ("GetMayInplace", ctypes.c_size_t, (P, P)),
    ("ReleaseMayInplace", None, (P, P)),
    ("GetAliasMap", ctypes.c_size_t, (P, P)),
    ("ReleaseAliasMap", None, (P, P)),
]
CALLBACK_TYPES = {name: ctypes.CFUNCTYPE(restype, *argtypes) for name, restype, argtypes in _OP_CALLBACKS}


class OrtCustomOp(ctypes.Structure):
    _fields_ = [("version", ctypes.c_uint32)] + [(name, P) for name, _, _ in _OP_CALLBACKS]


assert ctypes.sizeof(OrtCustomOp) == 8 + 25 * ctypes.sizeof(P)

# OrtApi signatures (every entry returns OrtStatus*, NULL on success, unless noted)
_S = P
_SIGNATURES: dict[str, tuple[Any, tuple]] = {
    "CreateStatus": (P, (ctypes.c_int, ctypes.c_char_p)),
    "GetErrorCode": (ctypes.c_int, (P,)),
    "GetErrorMessage": (ctypes.c_char_p, (P,)),
    "ReleaseStatus": (None, (P,)),
    "GetTensorMutableData": (_S, (P, ctypes.POINTER(P))),
    "CastTypeInfoToTensorInfo": (_S, (P, ctypes.POINTER(P))),
    "GetOnnxTypeFromTypeInfo": (_S, (P, ctypes.POINTER(ctypes.c_int))),
    "GetTensorElementType": (_S, (P, ctypes.POINTER(ctypes.c_int))),
    "GetDimensionsCount": (_S, (P, ctypes.POINTER(ctypes.c_size_t))),
    "GetDimensions": (_S, (P, P, ctypes.c_size_t)),
    "GetTensorTypeAndShape": (_S, (P, ctypes.POINTER(P))),
    "AllocatorFree": (_S, (P, P)),
    "GetAllocatorWithDefaultOptions": (_S, (ctypes.POINTER(P),)),
    "KernelInfoGetAttribute_float": (_S, (P, ctypes.c_char_p, ctypes.POINTER(ctypes.c_float))),
    "KernelInfoGetAttribute_int64": (_S, (P, ctypes.c_char_p, ctypes.POINTER(ctypes.c_int64))),
    "KernelInfoGetAttribute_string": (_S, (P, ctypes.c_char_p, P, ctypes.POINTER(ctypes.c_size_t))),
    "KernelInfoGetAttributeArray_float": (_S, (P, ctypes.c_char_p, P, ctypes.POINTER(ctypes.c_size_t))),
    "KernelInfoGetAttributeArray_int64": (_S, (P, ctypes.c_char_p, P, ctypes.POINTER(ctypes.c_size_t))),
    "KernelInfoGetAttributeArray_string": (_S, (P, ctypes.c_char_p, P, ctypes.POINTER(P),
                                                ctypes.POINTER(ctypes.c_size_t))),
    "KernelContext_GetInputCount": (_S, (P, ctypes.POINTER(ctypes.c_size_t))),
    "KernelContext_GetOutputCount": (_S, (P, ctypes.POINTER(ctypes.c_size_t))),
    "KernelContext_GetInput": (_S, (P, ctypes.c_size_t, ctypes.POINTER(P))),
    "KernelContext_GetOutput": (_S, (P, ctypes.c_size_t, P, ctypes.c_size_t, ctypes.POINTER(P))),
    "ReleaseTypeInfo": (None, (P,)),
    "ReleaseTensorTypeAndShapeInfo": (None, (P,)),
    "KernelContext_GetGPUComputeStream": (_S, (P, ctypes.POINTER(P))),
    "KernelInfo_GetInputCount": (_S, (P, ctypes.POINTER(ctypes.c_size_t))),
    "KernelInfo_GetOutputCount": (_S, (P, ctypes.POINTER(ctypes.c_size_t))),
    "KernelInfo_GetInputTypeInfo": (_S, (P, ctypes.c_size_t, ctypes.POINTER(P))),
    "KernelInfo_GetOutputTypeInfo": (_S, (P, ctypes.c_size_t, ctypes.POINTER(P))),
    "KernelInfo_GetNodeName": (_S, (P, P, ctypes.POINTER(ctypes.c_size_t))),
    "GetTensorSizeInBytes": (_S, (P, ctypes.POINTER(ctypes.c_size_t))),
}


_PER_CALL = ("KernelContext_GetInput", "GetTensorMutableData", "GetTensorSizeInBytes", "KernelContext_GetOutput")


class OrtError(RuntimeError):
    """An OrtApi call returned a non-NULL OrtStatus."""


class Api:
    """Bound OrtApi entries for one ``OrtApi*``.

    ``ctypes.PYFUNCTYPE`` keeps the GIL during the call, which is cheaper than CFUNCTYPE and safe:
    none of these entries calls back into Python.
    """

    def __init__(self, address: int) -> None:
        table = ctypes.cast(address, ctypes.POINTER(P))
        self.address = address
        for name, (restype, argtypes) in _SIGNATURES.items():
            pointer = table[SLOTS[name]]
            if not pointer:
                raise OrtError(f"this onnxruntime has no OrtApi entry {name} (slot {SLOTS[name]})")
            setattr(self, name, ctypes.PYFUNCTYPE(restype, *argtypes)(pointer))
        # The per-call entries once more without argtypes: ~40% cheaper to call, for callers that pass
        # ctypes objects only (a bare Python int would go through as a C int)
        self.raw = {name: ctypes.PYFUNCTYPE(_SIGNATURES[name][0])(table[SLOTS[name]]) for name in _PER_CALL}
        self.self_check()

    def self_check(self) -> None:
        """Round-trip a status: a wrong table layout fails here, not inside a kernel."""
        status = self.CreateStatus(ORT_RUNTIME_EXCEPTION, b"opforge self-check")
        try:
            if self.GetErrorCode(status) != ORT_RUNTIME_EXCEPTION or self.GetErrorMessage(status) != b"opforge self-check":
                raise OrtError("the OrtApi table does not have the layout opforge expects")
        finally:
            self.ReleaseStatus(status)

    def check(self, status: int | None) -> None:
        """Raise OrtError for a non-NULL status (releasing it)."""
        if status:
            message = self.GetErrorMessage(status).decode("utf-8", "replace")
            self.ReleaseStatus(status)
            raise OrtError(message)

    def status(self, message: str) -> int:
        """A new ORT_RUNTIME_EXCEPTION status (ONNX Runtime takes ownership)."""
        return self.CreateStatus(ORT_RUNTIME_EXCEPTION, message.encode("utf-8", "replace"))


_APIS: dict[int, Api] = {}
_APIS_LOCK = threading.Lock()


def api_at(address: int) -> Api:
    api = _APIS.get(address)
    if api is None:
        with _APIS_LOCK:
            api = _APIS.get(address)
            if api is None:
                api = _APIS[address] = Api(address)
    return api


@functools.cache
def extensions_library() -> tuple[str, Any]:
    """onnxruntime-extensions' library path and its exported ``AddExternalCustomOp``."""
    import onnxruntime_extensions

    path = onnxruntime_extensions.get_library_path()
    library = ctypes.CDLL(path)
    add = library.AddExternalCustomOp
    add.restype = ctypes.c_bool
    add.argtypes = [ctypes.POINTER(OrtCustomOp)]
    return path, add
