"""Write conformance cases in the ONNX node-test layout, so that any runtime can be checked.

Layout (what ``onnx.backend.test.loader.load_model_tests(data_dir=DIR's parent, kind=DIR's name)``
reads)::

    DIR/test_<domain>_<OpType>_v<N>_<sample>/model.onnx
    DIR/test_<domain>_<OpType>_v<N>_<sample>/data.json            {"rtol": ..., "atol": ...}
    DIR/test_<domain>_<OpType>_v<N>_<sample>/test_data_set_0/input_<j>.pb, output_<j>.pb

Expected outputs are the torch reference's (float16 / bfloat16 computed in float32, then cast).
"""

from __future__ import annotations

import json
import os
import re
from pathlib import Path
from typing import Any

import onnx
from onnx import numpy_helper

from ..opdef import OpDef
from ..types import dtype_name
from . import runners
from .compare import tolerance
from .pytest_cases import checker_for


def case_dirname(op: OpDef, case_id: str) -> str:
    return re.sub(r"[^A-Za-z0-9_]+", "_", f"test_{op.domain}_{op.op_type}_v{op.version}_{case_id}")


def emit_node_tests(ops: list[OpDef], directory: str | os.PathLike, *, device: str = "cpu") -> list[Path]:
    """Write every runnable (not skipped) case of ``ops`` under ``directory``; return the case folders."""
    root = Path(directory)
    root.mkdir(parents=True, exist_ok=True)
    written = []
    for op in ops:
        checker = checker_for(op, device)
        for case in checker.cases:
            if case.skip_reason is not None:
                continue
            try:
                expected = checker.expected(case)
                model = checker.model(case)
            except Exception:  # noqa: BLE001 - the torch check reports why the reference does not run
                continue
            folder = root / case_dirname(op, case.id)
            data = folder / "test_data_set_0"
            data.mkdir(parents=True, exist_ok=True)
            onnx.save(model, folder / "model.onnx")
            for j, (name, array) in enumerate(runners.input_layout(op, case)[1]):
                _save(array, name, data / f"input_{j}.pb")
            for j, (array, out) in enumerate(zip(expected, model.graph.output)):
                _save(array, out.name, data / f"output_{j}.pb")
            rtol, atol = 0.0, 0.0
            for array in expected:
                r, a = tolerance(dtype_name(array.dtype), case.sample.rtol, case.sample.atol)
                rtol, atol = max(rtol, r), max(atol, a)
            # The onnx backend runner reads these; 0 would demand bit-exact floats from other runtimes.
            (folder / "data.json").write_text(json.dumps({"rtol": rtol or 1e-7, "atol": atol or 0.0,
                                                          "op": op.name, "version": op.version,
                                                          "sample": case.id}, indent=1))
            written.append(folder)
    return written


def _save(array: Any, name: str, path: Path) -> None:
    tensor = numpy_helper.from_array(array, name)
    path.write_bytes(tensor.SerializeToString())
