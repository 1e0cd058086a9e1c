"""OpInfo coverage: does every op of PyTorch's operator database export and run in ONNX Runtime?

Protocol (see docs/coverage.md): each entry of ``torch.testing._internal.common_methods_invocations.op_db``
that supports float32 on the CPU, minus random, sparse and complex ones, is wrapped in a one-op module
(its tensor arguments are the module's inputs, everything else is a constant) for each of its first two
usable sample inputs, and compared with eager PyTorch (``opforge.assert_close``: float32 rtol 1e-4,
atol 1e-5; integers and bools exactly; shapes must agree) along three routes:

* ``stock``    - ``torch.onnx.export(dynamo=True)`` run by ``onnxruntime.InferenceSession``;
* ``opforge``  - ``opforge.export(verify=False)`` run by ``opforge.InferenceSession``;
* ``portable`` - the same export made portable (what ``opforge.export(portable=True)`` does:
  ``portable.make_portable``, refused when fallback nodes are left) run by plain onnxruntime.

``verify=False`` so that a wrong result shows as *silently wrong* rather than as a VerificationError;
``verify=True`` (the default) runs the same comparison on the export's inputs, so each op listed
silently wrong here makes ``opforge.export`` raise instead. An op's class on a route is that of its
worst sample: export fails > run fails > silently wrong > match. Ops that ``torch.export`` itself
cannot trace are listed apart.

Each worker is a subprocess fed one op at a time; an op that runs past ``--timeout`` kills its worker
(a fresh one takes over). The stock route's results are cached in ``build/coverage_stock_cache.json``
(keyed by op, torch/onnx/onnxruntime/onnxscript versions): they do not change with opforge.

    python tools/coverage_opinfo.py [-j 2] [--ops 'linalg.*,special.*'] [--samples 2] [--fresh-stock]
        [--json build/coverage_opinfo.json] [--md docs/coverage.md] [--timeout 300]
        [--resume | --seed docs/coverage_opinfo.json] [--redo 'svd*'] [--redo-failing] [--report-only]
"""

from __future__ import annotations

import argparse
import contextlib
import fnmatch
import io
import json
import os
import queue
import subprocess
import sys
import threading
import time
import traceback
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
STOCK_CACHE = ROOT / "build" / "coverage_stock_cache.json"
ROUTES = ("stock", "opforge", "portable")
CLASSES = ("match", "export", "run", "wrong")  # worst last but one: export > run > wrong > match
LABELS = {"match": "✅ match", "export": "❌ export fails", "run": "⛔ run fails", "wrong": "⚠️ silently wrong",
          "timeout": "⏱ timeout"}
# ops whose output is random by design (also caught by running eager twice)
RANDOM = ("bernoulli", "normal", "rand", "randn", "randint", "multinomial", "uniform", "exponential", "geometric",
          "log_normal", "cauchy", "poisson", "dropout", "rrelu", "randint_like", "rand_like", "randn_like",
          "nn.functional.dropout", "nn.functional.alpha_dropout", "nn.functional.feature_alpha_dropout",
          "nn.functional.dropout2d", "nn.functional.dropout3d", "nn.functional.rrelu", "empty", "empty_like",
          "new_empty", "new_empty_strided", "empty_strided", "empty_permuted", "nn.functional.multi_head_attention_forward")


# -- one op (runs inside a worker) ----------------------------------------------------------------


def op_key(op: Any) -> str:
    return op.name + (f".{op.variant_test_name}" if op.variant_test_name else "")


def load_ops() -> dict[str, Any]:
    from torch.testing._internal.common_methods_invocations import op_db

    return {op_key(op): op for op in op_db}


def skip_reason(op: Any) -> str | None:
    """Why an op is not testable in float32 on the CPU (None when it is)."""
    import torch

    name = op.name
    if name in RANDOM or any(part in name for part in ("dropout", "rrelu")) or "random" in name:
        return "random"
    if "sparse" in name or "sparse" in (op.variant_test_name or ""):
        return "sparse"
    if "complex" in name or name in ("view_as_complex", "polar") or name.startswith("fft."):
        return "complex"
    try:
        if torch.float32 not in op.supported_dtypes("cpu"):
            return "no float32"
    except Exception:  # noqa: BLE001 - an OpInfo without CPU dtypes
        return "no float32"
    return None


def _tensors(tree: Any) -> list[Any]:
    import torch

    return [t for t in torch.utils._pytree.tree_leaves(tree) if isinstance(t, torch.Tensor)]


class OneOp:
    """A one-op module: the sample's tensors are its inputs, everything else is a constant."""

    def __new__(cls, fn: Any, sample: Any) -> Any:
        import torch

        structure = (sample.input, tuple(sample.args), dict(sample.kwargs))
        leaves, spec = torch.utils._pytree.tree_flatten(structure)
        slots = [i for i, leaf in enumerate(leaves) if isinstance(leaf, torch.Tensor)]

        class Module(torch.nn.Module):
            def forward(self, *tensors: Any) -> Any:
                filled = list(leaves)
                for slot, tensor in zip(slots, tensors):
                    filled[slot] = tensor
                first, args, kwargs = torch.utils._pytree.tree_unflatten(filled, spec)
                return fn(first, *args, **kwargs)

        module = Module()
        module.inputs = tuple(leaves[i].detach().clone() for i in slots)  # type: ignore[attr-defined]
        return module


def usable_samples(op: Any, count: int) -> tuple[list[tuple[Any, Any, list]], str | None]:
    """The first ``count`` samples whose eager run works, is deterministic and has tensor outputs."""
    import torch

    found = []
    reason = "no sample inputs"
    try:
        samples = op.sample_inputs("cpu", torch.float32, requires_grad=False)
    except Exception as exc:  # noqa: BLE001
        return [], f"sample_inputs failed: {type(exc).__name__}"
    for sample in samples:
        if len(found) >= count:
            break
        module = OneOp(op.op, sample)
        if any(t.is_complex() for t in module.inputs) or any(t.is_sparse for t in module.inputs):
            reason = "complex"
            continue
        try:
            with torch.no_grad():
                first = _tensors(module(*[t.clone() for t in module.inputs]))
                second = _tensors(module(*[t.clone() for t in module.inputs]))
        except Exception as exc:  # noqa: BLE001
            reason = f"eager fails: {type(exc).__name__}"
            continue
        if not first:
            reason = "no tensor output"
            continue
        if any(t.is_complex() for t in first):
            reason = "complex"
            continue
        if any(t.layout != torch.strided for t in first):
            reason = "sparse"
            continue
        if len(first) != len(second) or not all(a.shape == b.shape and torch.equal(a, b) or
                                                 (a.is_floating_point() and torch.allclose(a, b, equal_nan=True))
                                                 for a, b in zip(first, second)):
            reason = "random"
            continue
        found.append((sample, module, [_numpy(t) for t in first]))
    return found, (None if found else reason)


def _numpy(tensor: Any) -> Any:
    from opforge.kernels.registry import _from_torch  # bfloat16 included

    return _from_torch(tensor)


def _short(exc: BaseException) -> str:
    """One line naming the failure: the op torch.onnx has no function for, or the first message line."""
    import re

    seen: set[int] = set()
    chain = []
    while exc is not None and id(exc) not in seen:
        seen.add(id(exc))
        chain.append(exc)
        exc = exc.__cause__ or exc.__context__  # type: ignore[assignment]
    for error in chain:
        match = re.search(r"No ONNX function found for <OpOverload\(op='([\w.]+)', overload='(\w+)'\)>", str(error))
        if match:
            return f"DispatchError: no ONNX function for {match[1]}.{match[2]}"
    last = chain[-1]
    text = re.sub(r"\x1b\[[0-9;]*m", "", str(last)).strip().splitlines()
    return f"{type(last).__name__}: {text[0][:200] if text else ''}"


def _untraceable(exc: BaseException) -> bool:
    seen: set[int] = set()
    while exc is not None and id(exc) not in seen:
        seen.add(id(exc))
        if type(exc).__name__ == "TorchExportError" or "This is step 1/3" in str(exc):
            return True
        exc = exc.__cause__ or exc.__context__  # type: ignore[assignment]
    return False


def _compare(expected: list, got: list) -> None:
    import numpy as np

    import opforge

    if len(expected) != len(got):
        raise opforge.VerificationError(f"{len(got)} outputs, eager gives {len(expected)}")
    for index, (e, g) in enumerate(zip(expected, got)):
        g = np.asarray(g)
        if (e.dtype.kind in "fc") != (g.dtype.kind in "fc"):
            raise opforge.VerificationError(f"output {index}: dtype {g.dtype}, eager gives {e.dtype}")
        if e.dtype != g.dtype and e.dtype.kind != "f":
            g = g.astype(e.dtype)
        opforge.assert_close(e, g.astype(e.dtype) if e.dtype.kind == "f" else g, f"output {index}")


def _feed(session: Any, inputs: tuple) -> dict:
    names = [i.name for i in session.get_inputs()]
    if len(names) != len(inputs):  # torch.onnx drops inputs the graph does not use
        by_name = {f"input_{i}": t for i, t in enumerate(inputs)}
        return {n: _numpy(by_name.get(n, inputs[min(i, len(inputs) - 1)])) for i, n in enumerate(names)}
    return {n: _numpy(t) for n, t in zip(names, inputs)}


def run_stock(module: Any, expected: list) -> tuple[str, str]:
    import onnxruntime as ort
    import torch

    try:
        program = torch.onnx.export(module, module.inputs, dynamo=True, verbose=False)
        proto = program.model_proto
    except Exception as exc:  # noqa: BLE001
        return ("untraceable" if _untraceable(exc) else "export"), _short(exc)
    return _run_and_compare(lambda: ort.InferenceSession(proto.SerializeToString(),
                                                         providers=["CPUExecutionProvider"]), module, expected)


def run_opforge(module: Any, expected: list) -> tuple[tuple[str, str], tuple[str, str]]:
    """(opforge result, portable result): one export, then its portable form."""
    import onnxruntime as ort

    import opforge
    from opforge.exporters import aten_fallback
    from opforge.portable import make_portable

    try:
        proto = opforge.export(module, module.inputs, verify=False)
    except Exception as exc:  # noqa: BLE001
        failed = ("untraceable" if _untraceable(exc) else "export"), _short(exc)
        return failed, failed
    result = _run_and_compare(lambda: opforge.InferenceSession(proto), module, expected)
    fallback = aten_fallback.fallback_nodes(proto)
    if fallback:
        portable = ("export", "fallback node(s) without a body: " + ", ".join(fallback))
    else:
        try:
            portable_proto = make_portable(proto)
            portable = _run_and_compare(lambda: ort.InferenceSession(portable_proto.SerializeToString(),
                                                                     providers=["CPUExecutionProvider"]),
                                        module, expected)
        except Exception as exc:  # noqa: BLE001
            portable = ("export", _short(exc))
    return result, portable


def _run_and_compare(make_session: Any, module: Any, expected: list) -> tuple[str, str]:
    try:
        session = make_session()
        got = session.run(None, _feed(session, module.inputs))
    except Exception as exc:  # noqa: BLE001
        return "run", _short(exc)
    try:
        _compare(expected, got)
    except AssertionError as exc:
        return "wrong", str(exc).splitlines()[0][:200]
    return "match", ""


def worst(results: list[tuple[str, str]]) -> tuple[str, str]:
    order = {"untraceable": 5, "timeout": 4, "export": 3, "run": 2, "wrong": 1, "match": 0}
    return max(results, key=lambda r: order[r[0]]) if results else ("match", "")


def test_op(op: Any, samples: int, routes: tuple[str, ...]) -> dict[str, Any]:
    """The record of one op: skipped (with why) or each route's class and detail."""
    reason = skip_reason(op)
    if reason is not None:
        return {"skip": reason}
    found, reason = usable_samples(op, samples)
    if not found:
        return {"skip": reason}
    per_route: dict[str, list[tuple[str, str]]] = {r: [] for r in routes}
    for _, module, expected in found:
        if "stock" in routes:
            per_route["stock"].append(run_stock(module, expected))
        if "opforge" in routes or "portable" in routes:
            result, portable = run_opforge(module, expected)
            if "opforge" in routes:
                per_route["opforge"].append(result)
            if "portable" in routes:
                per_route["portable"].append(portable)
    record: dict[str, Any] = {"samples": len(found)}
    for route, results in per_route.items():
        record[route] = list(worst(results))
    return record


def cache_torchlib_registry() -> None:
    """Build torch.onnx's torchlib registry once per process and hand each export a copy.

    torch.onnx rebuilds it on every export by parsing the source of ~1500 onnxscript functions (about
    half of a small export's time); the copy holds the same entries, so results do not change.
    """
    from torch.onnx._internal.exporter import _registration

    original = _registration.ONNXRegistry.from_torchlib.__func__
    built: dict[int, Any] = {}

    def from_torchlib(cls: Any, opset_version: int = _registration._constants.TORCHLIB_OPSET) -> Any:
        if opset_version not in built:
            built[opset_version] = original(cls, opset_version)
        copy = cls()
        copy._opset_version = built[opset_version]._opset_version
        copy.functions = {k: list(v) for k, v in built[opset_version].functions.items()}
        return copy

    _registration.ONNXRegistry.from_torchlib = classmethod(from_torchlib)


def worker() -> None:
    """Read ``op_key<TAB>routes`` lines from stdin; answer each with one JSON line on the real stdout."""
    import logging
    import warnings

    import torch

    torch.set_num_threads(1)
    cache_torchlib_registry()
    logging.disable(logging.WARNING)
    warnings.simplefilter("ignore")
    out = sys.stdout
    ops = load_ops()
    out.write(json.dumps({"ready": True}) + "\n")
    out.flush()
    for line in sys.stdin:
        key, _, routes = line.rstrip("\n").partition("\t")
        try:
            with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
                record = test_op(ops[key], int(os.environ.get("COVERAGE_SAMPLES", "2")), tuple(routes.split(",")))
        except Exception as exc:  # noqa: BLE001 - a harness bug is reported as such, never as an opforge result
            record = {"harness_error": f"{type(exc).__name__}: {exc}"[:300], "trace": traceback.format_exc()[-800:]}
        out.write(json.dumps({"op": key, **record}) + "\n")
        out.flush()


# -- the parent: workers, cache, report -----------------------------------------------------------


class Worker:
    def __init__(self, samples: int) -> None:
        env = {**os.environ, "COVERAGE_SAMPLES": str(samples), "OMP_NUM_THREADS": "1"}
        self.proc = subprocess.Popen([sys.executable, __file__, "--worker"], stdin=subprocess.PIPE,
                                     stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True, env=env,
                                     cwd=ROOT)
        self.lines: queue.Queue[str | None] = queue.Queue()
        threading.Thread(target=self._read, daemon=True).start()
        self.ready = False

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self.lines.put(line)
        self.lines.put(None)

    def ask(self, key: str, routes: tuple[str, ...], timeout: float) -> dict[str, Any]:
        if not self.ready:
            self._next(600)  # the worker imports torch and op_db first
            self.ready = True
        assert self.proc.stdin is not None
        self.proc.stdin.write(f"{key}\t{','.join(routes)}\n")
        self.proc.stdin.flush()
        return self._next(timeout)

    def _next(self, timeout: float) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        while True:
            try:
                line = self.lines.get(timeout=max(0.1, deadline - time.monotonic()))
            except queue.Empty:
                raise TimeoutError from None
            if line is None:
                raise RuntimeError(f"worker exited with {self.proc.wait()}")
            with contextlib.suppress(json.JSONDecodeError):
                return json.loads(line)

    def close(self) -> None:
        with contextlib.suppress(Exception):
            self.proc.kill()
            self.proc.wait(timeout=10)


def versions() -> dict[str, str]:
    from importlib.metadata import version

    return {p: version(p) for p in ("torch", "onnx", "onnxruntime", "onnxscript")}


def run_all(keys: list[str], *, jobs: int, samples: int, timeout: float, stock: dict[str, Any],
            progress: Any = None, journal: Path | None = None) -> dict[str, dict[str, Any]]:
    """Test ``keys`` on ``jobs`` workers; stock results come from ``stock`` when cached there (and are added)."""
    todo: queue.Queue[str] = queue.Queue()
    for key in keys:
        todo.put(key)
    results: dict[str, dict[str, Any]] = {}
    lock = threading.Lock()

    def drive() -> None:
        current = Worker(samples)
        try:
            while True:
                try:
                    key = todo.get_nowait()
                except queue.Empty:
                    return
                cached = stock.get(key)
                routes = ("opforge", "portable") if cached is not None else ROUTES
                try:
                    record = current.ask(key, routes, timeout)
                except (TimeoutError, RuntimeError) as exc:
                    current.close()
                    current = Worker(samples)
                    why = "timeout" if isinstance(exc, TimeoutError) else "crash"
                    record = {"op": key, **{r: [why if why == "timeout" else "run", f"{why} after {timeout:.0f}s"
                                                if why == "timeout" else str(exc)] for r in routes}}
                if cached is not None and "skip" not in record and "harness_error" not in record:
                    record["stock"] = cached
                with lock:
                    if cached is None and "stock" in record and record["stock"][0] != "timeout":
                        stock[key] = record["stock"]
                    results[key] = record
                    if journal is not None:  # a long run can be resumed (--resume) where it stopped
                        with journal.open("a") as stream:
                            stream.write(json.dumps(record) + "\n")
                    if progress is not None:
                        progress()
        finally:
            current.close()

    threads = [threading.Thread(target=drive) for _ in range(jobs)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return results


def classify(record: dict[str, Any], route: str) -> str:
    status = record[route][0]
    return "export" if status in ("untraceable", "timeout") else status


def summarise(results: dict[str, dict[str, Any]]) -> dict[str, Any]:
    tested = {k: r for k, r in results.items() if "skip" not in r and "harness_error" not in r}
    table = {route: {c: sum(1 for r in tested.values() if classify(r, route) == c) for c in CLASSES}
             for route in ROUTES}
    untraceable = sorted(k for k, r in tested.items() if r["stock"][0] == "untraceable")
    # what plain torch.export cannot trace but opforge exports (stand-ins, data-dependent fakes, rewrites)
    rescued = sorted(k for k in untraceable if tested[k]["opforge"][0] == "match")
    fixes = sorted(k for k, r in tested.items() if r["stock"][0] != "match" and r["opforge"][0] == "match")
    regressions = sorted(k for k, r in tested.items() if r["stock"][0] == "match" and r["opforge"][0] != "match")
    portable_regressions = sorted(k for k, r in tested.items()
                                  if r["stock"][0] == "match" and r["portable"][0] != "match")
    wrong = {route: sorted(k for k, r in tested.items() if r[route][0] == "wrong") for route in ROUTES}
    failing = {route: sorted(k for k, r in tested.items() if r[route][0] != "match") for route in ROUTES}
    skipped: dict[str, int] = {}
    for r in results.values():
        if "skip" in r:
            skipped[r["skip"]] = skipped.get(r["skip"], 0) + 1
    return {"entries": len(results), "tested": len(tested), "table": table, "untraceable": untraceable,
            "rescued": rescued,
            "fixes": fixes, "regressions": regressions, "portable_regressions": portable_regressions,
            "wrong": wrong, "failing": failing, "skipped": skipped,
            "harness_errors": sorted(k for k, r in results.items() if "harness_error" in r)}


def markdown(results: dict[str, dict[str, Any]], summary: dict[str, Any], meta: dict[str, Any]) -> str:
    tested = summary["tested"]
    # traceable: every tested op but those neither torch.export nor opforge's rescues can trace
    traceable = tested - len(summary["untraceable"]) + len(summary.get("rescued", []))

    def pct(n: int, total: int) -> str:
        return f"{100 * n / total:.1f}%" if total else "-"

    lines = [
        "# OpInfo coverage: stock torch.onnx vs opforge.export",
        "",
        "<!-- generated by tools/coverage_opinfo.py; do not edit by hand -->",
        "",
        f"{', '.join(f'{k} {v}' for k, v in meta['versions'].items())}. Generated by "
        f"`{meta['command']}`" + (f" in {meta['seconds'] / 60:.0f} min" if not meta.get("resumed") else
                                   " (completing a journal of earlier runs)") + ".",
        "",
        "Protocol: every entry of PyTorch's OpInfo database (`op_db`) that runs in float32 on the CPU, "
        "minus random, sparse and complex ones, is wrapped in a one-op module for each of its first "
        f"{meta['samples']} usable sample inputs and compared with eager PyTorch (`opforge.assert_close`: "
        "rtol 1e-4, atol 1e-5, shapes must agree). An op matches on a route when every sample matches; otherwise "
        "it counts in its worst class. *stock*: `torch.onnx.export(dynamo=True)` + `onnxruntime`; *opforge*: "
        "`opforge.export(verify=False)` + `opforge.InferenceSession`; *portable*: that export through "
        "`portable.make_portable` (what `portable=True` does) + plain `onnxruntime`. `verify=False` lets a wrong "
        "result show as *silently wrong*: with `verify=True` (the default) export runs the same comparison on its "
        "inputs and raises instead.",
        "",
        (f"**Partial run: {meta['missing']} of the {summary['entries'] + meta['missing']} selected OpInfo entries "
         "were not reached** (resume with `--resume`); the numbers below cover the others only.\n\n"
         if meta.get("missing") else "") +
        f"{summary['entries']} OpInfo entries; {tested} tested ({traceable} that `torch.export` or opforge can trace); "
        f"skipped: {', '.join(f'{v} {k}' for k, v in sorted(summary['skipped'].items()))}.",
        "",
        "| route | match | export fails | run fails | silently wrong | match / tested | match / traceable |",
        "|---|---|---|---|---|---|---|",
    ]
    names = {"stock": "stock `torch.onnx.export(dynamo=True)` + onnxruntime",
             "opforge": "`opforge.export` + `opforge.InferenceSession`",
             "portable": "`opforge.export(portable=True)` + plain onnxruntime"}
    for route in ROUTES:
        row = summary["table"][route]
        lines.append(f"| {names[route]} | {row['match']} | {row['export']} | {row['run']} | {row['wrong']} | "
                     f"{pct(row['match'], tested)} | {pct(row['match'], traceable)} |")
    lines += [
        "",
        f"**Fixes** (stock fails, opforge matches): {len(summary['fixes'])}. "
        f"**Regressions** (stock matches, opforge does not): {len(summary['regressions'])}"
        + (f": {', '.join(f'`{k}`' for k in summary['regressions'])}" if summary["regressions"] else "") + ". "
        f"Stock matches but portable does not: {len(summary['portable_regressions'])}.",
        "",
        "Silently wrong with `verify=False` (each raises VerificationError with `verify=True`): "
        + "; ".join(f"{route}: {', '.join(f'`{k}`' for k in summary['wrong'][route]) or 'none'}" for route in ROUTES)
        + ".",
        "",
        f"`torch.export` itself cannot trace ({len(summary['untraceable'])}): "
        + (", ".join(f"`{k}`" for k in summary["untraceable"]) or "none") + "."
        + (f" opforge exports {len(summary['rescued'])} of them (stand-ins for torch's value checks, fake "
           "implementations for data-dependent output shapes, rewrites of untraceable composites): "
           + ", ".join(f"`{k}`" for k in summary["rescued"]) + "; *match / traceable* counts those as traceable."
           if summary.get("rescued") else ""),
        "",
    ]
    if summary["harness_errors"]:
        lines += [f"Harness errors (not opforge results): {', '.join(summary['harness_errors'])}.", ""]
    lines += ["## Ops that do not match on some route", "",
              "| op | stock | opforge | portable | opforge detail | portable detail |", "|---|---|---|---|---|---|"]
    for key in sorted(results):
        r = results[key]
        if "skip" in r or "harness_error" in r or all(r[route][0] == "match" for route in ROUTES):
            continue
        cells = [LABELS.get(classify(r, route), r[route][0]) + (" (untraceable)" if r[route][0] == "untraceable"
                                                               else "") for route in ROUTES]
        detail = [r[route][1].replace("|", "\\|").replace("\n", " ")[:160] for route in ("opforge", "portable")]
        lines.append(f"| `{key}` | {' | '.join(cells)} | {detail[0]} | {detail[1]} |")
    lines += ["", "## Fixes", "", ", ".join(f"`{k}`" for k in summary["fixes"]) or "none", "", HOWTO]
    return "\n".join(lines)


HOWTO = """## Running the harness

```
pip install -e ".[test]"                      # expecttest: torch's OpInfo database imports it
python tools/coverage_opinfo.py -j 2 --md docs/coverage.md            # everything (writes this page)
python tools/coverage_opinfo.py --ops 'linalg.*,special.bessel_*'     # a slice, by op key or glob
python tools/coverage_opinfo.py --resume -j 3 --md docs/coverage.md   # continue a stopped run
```

Each op runs in a worker process (`-j` of them, fed one op at a time); an op that runs past
`--timeout` seconds kills its worker and counts as an export failure. A progress bar shows the run.
Results go to `build/coverage_opinfo.json` (every op, route, class and one-line detail) and, with
`--md`, to a page like this one. The stock route's results are cached in
`build/coverage_stock_cache.json` (keyed by the torch / onnx / onnxruntime / onnxscript versions and
the sample count): they do not change with opforge, so a rerun only exports through opforge. Every
finished op is appended to `build/coverage_opinfo.journal.jsonl`, which `--resume` reads back
(`--redo GLOBS` or `--redo-failing` test some of its ops again; `--seed docs/coverage_opinfo.json`
starts the journal from this page's results, so after a change only the ops it touches need a run). Workers
build torch.onnx's torchlib registry once and hand each export a copy (torch.onnx otherwise rebuilds
it from source on every export; the entries are the same).

`tests/test_coverage_subset.py` runs 26 of these ops (stock-handled, contrib-lowered and fallback
ones) through the opforge and portable routes in the test suite.

## The generic fallback

A torch op that neither stock torch.onnx nor opforge's translation table can translate (and that
torch.onnx's decompositions do not remove) no longer stops `opforge.export`: it becomes one node of
the domain `opforge.aten`, named `<namespace>__<op>__<overload>` (`aten__polygamma__default`,
`prims__bessel_j0__default`), declared automatically as an ordinary OpDef from the op's
`torch._C.FunctionSchema` (`opforge/exporters/aten_fallback.py`) and run inside ONNX Runtime by that
very torch op. The export summary (a warning, and the model's `opforge.export_summary` metadata)
lists each fallback with a paste-ready `@opforge.op`; `portable=True` refuses such a model and names
the ops. A saved model loads in a fresh process: `opforge.InferenceSession` declares each
`opforge.aten` op on first use, after checking the name (one regex, `aten`/`prims` only, an existing
non-mutating overload).
"""


def select(all_keys: list[str], patterns: str | None) -> list[str]:
    if not patterns:
        return all_keys
    wanted = [p.strip() for p in patterns.split(",") if p.strip()]
    return [k for k in all_keys if any(fnmatch.fnmatchcase(k, p) for p in wanted)]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("-j", "--jobs", type=int, default=2, help="parallel worker processes")
    parser.add_argument("--ops", help="comma-separated op keys or globs (e.g. 'linalg.*,polygamma*')")
    parser.add_argument("--samples", type=int, default=2, help="usable samples per op")
    parser.add_argument("--timeout", type=float, default=300, help="seconds per op before its worker is killed")
    parser.add_argument("--fresh-stock", action="store_true", help="ignore the cached stock results")
    parser.add_argument("--json", default=str(ROOT / "build" / "coverage_opinfo.json"))
    parser.add_argument("--md", default=None, help="write the markdown report here (e.g. docs/coverage.md)")
    parser.add_argument("--resume", action="store_true",
                        help="keep the ops already in the journal (build/coverage_opinfo.journal.jsonl)")
    parser.add_argument("--report-only", action="store_true",
                        help="run nothing: report the journal's ops (a partial run says how partial it is)")
    parser.add_argument("--redo-failing", action="store_true",
                        help="with --resume: test again the journal's ops that do not match through opforge or "
                             "portable (after a fix)")
    parser.add_argument("--redo", default=None, help="with --resume: test again the journal's ops matching these globs")
    parser.add_argument("--seed", default=None, metavar="JSON",
                        help="start the journal from the results of an earlier report (e.g. docs/coverage_opinfo.json)"
                             ", then go on as --resume")
    args = parser.parse_args(argv)
    if args.worker:
        worker()
        return 0

    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

    console = Console()
    started = time.time()
    with console.status("loading OpInfo op_db"):
        keys = select(sorted(load_ops()), args.ops)
    if not keys:
        console.print("no OpInfo entry matches --ops")
        return 1
    meta = {"versions": versions(), "samples": args.samples,
            "command": "python tools/coverage_opinfo.py " + " ".join(a for a in (argv or sys.argv[1:]))}
    cache: dict[str, Any] = {}
    if STOCK_CACHE.exists() and not args.fresh_stock:
        stored = json.loads(STOCK_CACHE.read_text())
        if stored.get("versions") == meta["versions"] and stored.get("samples") == args.samples:
            cache = stored["results"]
    stock = dict(cache)
    journal = ROOT / "build" / "coverage_opinfo.journal.jsonl"
    done: dict[str, dict[str, Any]] = {}
    if args.seed:  # an earlier report's results become the journal: its ops count as done
        journal.parent.mkdir(parents=True, exist_ok=True)
        seeded = json.loads(Path(args.seed).read_text())["results"].values()
        journal.write_text("".join(json.dumps(record) + "\n" for record in seeded))
        args.resume = True
    redo = set(select(keys, args.redo)) if args.redo else set()
    if (args.resume or args.report_only) and journal.exists():
        for line in journal.read_text().splitlines():
            with contextlib.suppress(json.JSONDecodeError, KeyError):
                record = json.loads(line)
                if "stock" in record and record["stock"][0] != "timeout":
                    stock.setdefault(record["op"], record["stock"])  # stock does not change with opforge
                failing = "harness_error" in record or any(record.get(route, ["match"])[0] != "match"
                                                            for route in ("opforge", "portable"))
                if record["op"] in keys and not (args.redo_failing and failing) and record["op"] not in redo:
                    done[record["op"]] = record
    else:
        journal.parent.mkdir(parents=True, exist_ok=True)
        journal.write_text("")
    with Progress(TextColumn("[bold]OpInfo coverage"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn(),
                  console=console) as bar:
        task = bar.add_task("ops", total=len(keys), completed=len(done))
        pending = [] if args.report_only else [k for k in keys if k not in done]
        results = run_all(pending, jobs=min(args.jobs, len(pending)), samples=args.samples,
                          timeout=args.timeout, stock=stock, progress=lambda: bar.advance(task), journal=journal)
    results.update(done)
    meta["resumed"] = bool(done)
    meta["missing"] = len(keys) - len(results)  # > 0 only for --report-only on an unfinished journal
    STOCK_CACHE.parent.mkdir(parents=True, exist_ok=True)
    STOCK_CACHE.write_text(json.dumps({"versions": meta["versions"], "samples": args.samples,
                                                       "results": stock}, indent=0))
    meta["seconds"] = time.time() - started
    summary = summarise(results)
    Path(args.json).parent.mkdir(parents=True, exist_ok=True)
    Path(args.json).write_text(json.dumps({"meta": meta, "summary": summary, "results": results}, indent=1))
    if args.md:
        Path(args.md).write_text(markdown(results, summary, meta))
    from rich.table import Table

    table = Table(title=f"OpInfo coverage ({summary['tested']} tested of {summary['entries']})")
    for column in ("route", *CLASSES):
        table.add_column(column)
    for route in ROUTES:
        table.add_row(route, *[str(summary["table"][route][c]) for c in CLASSES])
    console.print(table)
    console.print(f"fixes {len(summary['fixes'])}, regressions {len(summary['regressions'])} "
                  f"{summary['regressions'] or ''}, untraceable {len(summary['untraceable'])}, "
                  f"harness errors {len(summary['harness_errors'])}", markup=False)
    return 0


if __name__ == "__main__":
    sys.exit(main())
