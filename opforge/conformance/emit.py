"""Write conformance cases in the ONNX node-test layout, so that any runtime can be checked.

Layout (what ``onnx.backend.test.loader.load_model_tests(data_dir=DIR's parent, kind=DIR's name)``
reads)::

    DIR/test_<domain>_<OpType>_v<N>_<sample>/model.onnx
    DIR/test_<domain>_<OpType>_v<N>_<sample>/data.json            {"rtol": ..., "atol": ...}
    DIR/test_<domain>_<OpType>_v<N>_<sample>/test_data_set_0/input_<j>.pb, output_<j>.pb

Expected outputs are the torch reference's (float16 computed in float32, then cast). Cases with a
bfloat16 input or output are skipped (and listed): ONNX Runtime's Python API cannot feed or return
bfloat16 arrays. ``DIR/README.md`` says how to replay the cases.
"""

from __future__ import annotations

import json
import os
import re
from dataclasses import dataclass, field
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


#: dtypes that ONNX Runtime's Python API cannot feed or return (numpy has no such dtype of its own)
UNFEEDABLE = frozenset({"bfloat16"})


@dataclass
class Emitted:
    """What :func:`emit_cases` wrote: the case folders, and the cases it skipped with the reason."""

    folders: list[Path] = field(default_factory=list)
    skipped: list[tuple[str, str]] = field(default_factory=list)


def emit_node_tests(ops: list[OpDef], directory: str | os.PathLike, *, device: str = "cpu") -> list[Path]:
    """Write every runnable (not skipped) case of ``ops`` under ``directory``; return the case folders."""
    return emit_cases(ops, directory, device=device).folders


def emit_cases(ops: list[OpDef], directory: str | os.PathLike, *, device: str = "cpu") -> Emitted:
    """Write every runnable case of ``ops`` under ``directory``, then ``README.md`` (how to replay them).

    Skips the cases marked skip, those whose reference does not run (the torch check reports why) and
    those with a bfloat16 input or output, which ONNX Runtime's Python API cannot feed.
    """
    root = Path(directory)
    root.mkdir(parents=True, exist_ok=True)
    result = Emitted()
    for op in ops:
        checker = checker_for(op, device)
        for case in checker.cases:
            if case.skip_reason is not None:
                continue
            name = case_dirname(op, case.id)
            try:
                expected = checker.expected(case)
                model = checker.model(case)
            except Exception:  # noqa: BLE001 - the torch check reports why the reference does not run
                continue
            feeds = runners.input_layout(op, case)[1]
            unfeedable = sorted({dtype_name(a.dtype) for a in [*(a for _, a in feeds), *expected]} & UNFEEDABLE)
            if unfeedable:
                result.skipped.append((name, f"{', '.join(unfeedable)}: ONNX Runtime's Python API cannot feed it"))
                continue
            folder = root / name
            data = folder / "test_data_set_0"
            data.mkdir(parents=True, exist_ok=True)
            onnx.save(model, folder / "model.onnx")
            for j, (input_name, array) in enumerate(feeds):
                _save(array, input_name, data / f"input_{j}.pb")
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
            result.folders.append(folder)
    modules = sorted({op.module for op in ops})
    (root / "README.md").write_text(replay_readme(root.name, modules, result), encoding="utf-8")
    return result


def replay_readme(kind: str, modules: list[str], result: Emitted) -> str:
    """The README written next to the cases: the layout and a script that replays them."""
    imports = "\n".join(f"import {m}  # declares the ops" for m in modules
                        if m != "__main__" and not (m + ".").startswith("opforge.ops."))  # import opforge: contrib
    skipped = "".join(f"- `{name}`: {reason}\n" for name, reason in result.skipped) or "none\n"
    return f"""# opforge conformance cases

{len(result.folders)} case(s) written by `opforge conformance --emit` in the ONNX node-test layout:
`test_<domain>_<OpType>_v<version>_<sample>/model.onnx` (one custom node), `test_data_set_0/input_<j>.pb`
(the inputs, in graph input order), `test_data_set_0/output_<j>.pb` (the torch reference's outputs) and
`data.json` (`rtol`, `atol`, the op and the sample). `onnx.backend.test.loader.load_model_tests` reads
this layout.

## Replay with opforge.InferenceSession

Run this from the folder that holds this README:

```python
import os

import numpy as np
import onnx
from onnx import numpy_helper
from onnx.backend.test.loader import load_model_tests

import opforge
{imports}

here = os.path.abspath(".")
for test in load_model_tests(data_dir=os.path.dirname(here), kind=os.path.basename(here)):
    session = opforge.InferenceSession(os.path.join(test.model_dir, "model.onnx"))
    data = os.path.join(test.model_dir, "test_data_set_0")
    feeds = {{i.name: numpy_helper.to_array(onnx.load_tensor(os.path.join(data, f"input_{{j}}.pb")))
             for j, i in enumerate(session.get_inputs())}}
    for j, got in enumerate(session.run(None, feeds)):
        want = numpy_helper.to_array(onnx.load_tensor(os.path.join(data, f"output_{{j}}.pb")))
        np.testing.assert_allclose(got, want, rtol=test.rtol, atol=test.atol, err_msg=test.name)
    print("ok", test.name)
```

Another runtime replays the same files: give it the custom ops (or export with `portable=True`, so
each op travels as an ONNX function), feed `input_<j>.pb` and compare with `output_<j>.pb` within
`data.json`'s tolerances. The ONNX reference evaluator runs them with
`onnx.reference.ReferenceEvaluator(model, new_ops=opforge.reference_ops())`.

## Skipped

{skipped}"""


def _save(array: Any, name: str, path: Path) -> None:
    tensor = numpy_helper.from_array(array, name)
    path.write_bytes(tensor.SerializeToString())
