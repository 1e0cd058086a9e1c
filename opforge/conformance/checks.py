"""The named checks, run per (check, case) with per-op caches (exports run once per op).

Numerics of float16 / bfloat16 cases: the torch reference runs on the same inputs upcast to
float32 and its outputs are cast back to the dtype the reference returns natively; the runtimes'
outputs are compared to that with the narrow dtype's tolerance (float16: rtol 1e-3, atol 2.5e-3).
A correct kernel that computes in float32 (as the ONNX Runtime bridge may) therefore never fails
because torch rounded intermediates to float16; a kernel that really loses precision still does.
"""

from __future__ import annotations

import time
import traceback
from collections.abc import Callable
from typing import Any

import numpy as np
import onnx

from .._infer import output_specs
from ..opdef import OpDef
from ..schemas import attribute_value
from ..types import FLOAT_DTYPES, TensorSpec, dtype_name
from . import runners
from .cases import SEED, Case, op_cases
from .compare import Comparison, compare_outputs
from .report import CheckResult, Report

CHECKS: tuple[str, ...] = (
    "schema",
    "inference",
    "torch",
    "numerics.kernel",
    "numerics.onnxruntime",
    "numerics.reference_evaluator",
    "numerics.portable",
    "export.dynamo",
    "export.torchscript",
    "gpu",
)
PER_OP_CHECKS = ("export.dynamo", "export.torchscript")
OPCHECK_UTILS = ("test_schema", "test_autograd_registration", "test_faketensor", "test_aot_dispatch_dynamic")


class NotApplicable(Exception):
    """The check does not apply to this case (the message says why)."""


class CheckFailed(Exception):
    """The check failed; carries the comparison (max errors) when there is one."""

    def __init__(self, reason: str, comparison: Comparison | None = None) -> None:
        super().__init__(reason)
        self.comparison = comparison


def _short(exc: BaseException) -> str:
    text = str(exc).strip()
    lines = [line for line in text.splitlines() if line.strip()]
    first = lines[0] if lines else ""
    if len(lines) > 1 and len(first) < 40:
        first = " ".join(lines[:3])
    return f"{type(exc).__name__}: {first[:400]}"


class OpChecker:
    """Runs the checks of one op; results and expensive artifacts are cached per instance."""

    def __init__(self, op: OpDef, device: str = "cpu", *, seed: int = SEED) -> None:
        if device not in ("cpu", "cuda"):
            raise ValueError(f"conformance device must be 'cpu' or 'cuda', got {device!r}")
        self.op = op
        self.device = device
        self.seed = seed
        self._cases: list[Case] | None = None
        self._memo: dict[tuple[str, str], Any] = {}
        self._results: dict[tuple[str, str], CheckResult] = {}

    # -- cases -----------------------------------------------------------------------------------

    @property
    def cases(self) -> list[Case]:
        if self._cases is None:
            self._cases = op_cases(self.op, seed=self.seed)
        return self._cases

    def case(self, case_id: str) -> Case:
        for case in self.cases:
            if case.id == case_id:
                return case
        raise KeyError(f"{self.op.name}: no sample {case_id!r} (known: {', '.join(c.id for c in self.cases)})")

    @property
    def export_case(self) -> Case | None:
        """The case that the once-per-op checks (exports) use: the first own sample not skipped."""
        for case in self.cases:
            if not case.derived and case.skip_reason is None:
                return case
        return None

    def applicable(self, check: str, case: Case) -> bool:
        """Whether ``check`` is generated at all for ``case`` (decided without running anything)."""
        if check == "numerics.kernel":
            return "cpu" in self.op.kernels
        if check == "numerics.portable":
            return self.op.function_body is not None
        if check == "gpu":
            return "cuda" in self.op.kernels
        if check in PER_OP_CHECKS:
            export_case = self.export_case
            return export_case is not None and case.id == export_case.id
        return True

    def plan(self, checks: tuple[str, ...] | list[str] | None = None, *,
             with_na: bool = False) -> list[tuple[str, str]]:
        """(check, case id) pairs in a deterministic order: case-major, checks in CHECKS order.

        ``with_na`` also lists the per-case checks that cannot apply (no cpu kernel, no portable
        body, no cuda kernel), so a report says so; pytest cases leave them out.
        """
        wanted = CHECKS if checks is None else tuple(checks)
        unknown = [c for c in wanted if c not in CHECKS]
        if unknown:
            raise ValueError(f"unknown conformance check(s) {unknown}; known: {', '.join(CHECKS)}")
        return [(check, case.id) for case in self.cases for check in CHECKS
                if check in wanted and (self.applicable(check, case) or (with_na and check not in PER_OP_CHECKS))]

    # -- running ---------------------------------------------------------------------------------

    def run(self, check: str, case_id: str) -> CheckResult:
        key = (check, case_id)
        if key in self._results:
            return self._results[key]
        case = self.case(case_id)
        op_name = f"{self.op.name} v{self.op.version}"
        start = time.perf_counter()
        if case.skip_reason is not None:
            result = CheckResult(op_name, check, case_id, "skip", case.skip_reason)
        else:
            function: Callable[[Case], Comparison | str | None] = getattr(self, "_check_" + check.replace(".", "_"))
            try:
                outcome = function(case)
                comparison = outcome if isinstance(outcome, Comparison) else None
                note = outcome if isinstance(outcome, str) else ""
                result = CheckResult(op_name, check, case_id, "pass", note,
                                     comparison.max_abs if comparison else None,
                                     comparison.max_rel if comparison else None)
            except NotApplicable as exc:
                result = CheckResult(op_name, check, case_id, "n/a", str(exc))
            except CheckFailed as exc:
                cmp = exc.comparison
                result = CheckResult(op_name, check, case_id, "fail", str(exc),
                                     cmp.max_abs if cmp else None, cmp.max_rel if cmp else None)
            except Exception as exc:  # noqa: BLE001 - any error is this check's failure, reported by name
                tb = traceback.extract_tb(exc.__traceback__)
                where = f" (at {tb[-1].filename.rsplit('/', 1)[-1]}:{tb[-1].lineno})" if tb else ""
                result = CheckResult(op_name, check, case_id, "fail", _short(exc) + where)
            if result.status == "fail" and case.xfail_reason is not None:
                result.status = "xfail"
                result.reason = f"{case.xfail_reason} (failed as expected: {result.reason})"
        if case.derived and result.status in ("fail", "n/a") and case.derived not in result.reason:
            result.reason = f"[{case.derived} variant] {result.reason}"
        result.seconds = time.perf_counter() - start
        self._results[key] = result
        return result

    def report(self, checks: list[str] | tuple[str, ...] | None = None,
               progress: Callable[[CheckResult], None] | None = None) -> Report:
        report = Report(f"{self.op.name} v{self.op.version}", self.device)
        if not self.cases:
            report.results.append(CheckResult(report.op, "samples", "-", "fail",
                                              f"the op has no samples, so nothing can be checked; attach them with "
                                              f"@{self.op.reference.__name__}.samples"))
            return report
        for check, case_id in self.plan(checks, with_na=True):
            result = self.run(check, case_id)
            report.results.append(result)
            if progress is not None:
                progress(result)
        return report

    # -- shared, cached pieces ---------------------------------------------------------------------

    def _cached(self, what: str, case: Case, compute: Callable[[], Any]) -> Any:
        key = (what, case.id)
        if key not in self._memo:
            try:
                self._memo[key] = (True, compute())
            except Exception as exc:  # noqa: BLE001 - replayed to every check that needs it
                self._memo[key] = (False, exc)
        ok, value = self._memo[key]
        if not ok:
            raise value
        return value

    def native(self, case: Case) -> list[np.ndarray]:
        """The torch reference in the case's own dtypes."""
        return self._cached("native", case, lambda: runners.run_reference(self.op, case.inputs, case.attrs))

    def expected(self, case: Case) -> list[np.ndarray]:
        """What every runtime must return (see the module docstring for float16 / bfloat16)."""

        def compute() -> list[np.ndarray]:
            dtype = case.float_dtype()
            if dtype not in ("float16", "bfloat16"):
                return self.native(case)
            wide = runners.run_reference(self.op, case.inputs, case.attrs, upcast=True)
            try:
                dtypes = [o.dtype for o in self.native(case)]
            except Exception:  # noqa: BLE001 - the torch check reports it; use the declared dtype
                dtypes = [a.dtype if dtype_name(a.dtype) not in FLOAT_DTYPES else np.dtype(_np(dtype)) for a in wide]
            return [w.astype(d) if w.dtype != d else w for w, d in zip(wide, dtypes)]

        try:
            return self._cached("expected", case, compute)
        except Exception as exc:  # noqa: BLE001
            raise NotApplicable(f"the torch reference does not run on this sample ({_short(exc)}); see the torch "
                                "check") from exc

    def output_types(self, case: Case) -> list[tuple[str, int | None]]:
        return [(dtype_name(o.dtype), o.ndim) for o in self.expected(case)]

    def model(self, case: Case) -> onnx.ModelProto:
        return self._cached("model", case, lambda: runners.node_model(self.op, case, self.output_types(case)))

    def _compare(self, case: Case, actual: list[np.ndarray], what: str,
                 expected: list[np.ndarray] | None = None) -> Comparison:
        comparison = compare_outputs(self.expected(case) if expected is None else expected, actual,
                                     order_free=self.op.order_free, rtol=case.sample.rtol, atol=case.sample.atol)
        if not comparison.ok:
            raise CheckFailed(f"{what} differs from the torch reference: {comparison.reason}", comparison)
        return comparison

    # -- the checks --------------------------------------------------------------------------------

    def _check_schema(self, case: Case) -> str:
        op = self.op
        notes = []
        model = self.model(case)
        try:
            onnx.checker.check_model(model, full_check=True, check_custom_domain=True)
        except Exception as exc:  # noqa: BLE001
            raise CheckFailed(f"a one-node model of the op fails onnx.checker.check_model(full_check=True, "
                              f"check_custom_domain=True): {_short(exc)}") from exc
        required = [a for a in op.attributes if a.required]
        if required:
            name = required[0].name
            broken = runners.node_model(op, case, self.output_types(case), omit_attrs=(name,))
            if _passes_checker(broken):
                raise CheckFailed(f"a node without the required attribute {name!r} passes the checker; the schema "
                                  "should reject it")
        else:
            notes.append("no required attribute to omit")
        _, feeds = runners.input_layout(op, case)
        if feeds:
            name, array = feeds[0]
            spec = next(s for s in op.inputs if name == s.name or (s.variadic and name.startswith(s.name + "_")))
            bad = next((d for d in ("int32", "bool", "int8", "float64", "float32", "int64", "uint8")
                        if d not in spec.dtypes), None)
            if bad is None:
                notes.append(f"input {spec.name!r} allows every dtype")
            else:
                broken = runners.node_model(op, case, self.output_types(case), input_dtype=(name, bad))
                if _passes_checker(broken):
                    raise CheckFailed(f"a node whose input {spec.name!r} is {bad} passes the checker, but the op "
                                      f"allows only {', '.join(spec.dtypes)}")
        mismatches = _default_mismatches(op)
        if mismatches:
            raise CheckFailed("attribute defaults disagree: " + "; ".join(mismatches))
        return "; ".join(notes)

    def _check_inference(self, case: Case) -> str:
        op = self.op
        truths: list[tuple[str, list[np.ndarray]]] = []
        try:
            truths.append(("the torch reference", self.native(case)))
        except Exception:  # noqa: BLE001 - the torch check reports it
            pass
        if "cpu" in op.kernels:
            try:
                truths.append(("the cpu kernel", self._cached("kernel", case, lambda: runners.run_kernel(op, case))))
            except Exception:  # noqa: BLE001 - numerics.kernel reports it
                pass
        if not truths:
            raise NotApplicable("neither the torch reference nor the cpu kernel runs on this sample")
        specs_in = [None if v is None else [TensorSpec(a.shape, a.dtype) for a in v] if isinstance(v, list)
                    else TensorSpec(v.shape, v.dtype) for v in case.inputs]
        try:
            declared = output_specs(op, specs_in, runners.filled_attrs(op, case.attrs))
        except Exception as exc:  # noqa: BLE001
            raise CheckFailed(f"@infer (or the reference on fake tensors) raises: {_short(exc)}") from exc
        model = runners.node_model(op, case, None, symbolic_batch=False, identity_outputs=True)
        try:
            inferred = onnx.shape_inference.infer_shapes(model, check_type=True, strict_mode=True)
        except Exception as exc:  # noqa: BLE001
            raise CheckFailed(f"ONNX shape inference raises: {_short(exc)}") from exc
        from ..schemas import type_proto_to_spec

        types = {v.name: v.type for v in inferred.graph.value_info}
        onnx_specs = [type_proto_to_spec(types[f"{o.name}__raw"]) if f"{o.name}__raw" in types else None
                      for o in op.outputs]
        problems = []
        for source, outs in truths:
            for index, array in enumerate(outs[: len(op.outputs)]):
                out_name = op.outputs[index].name
                actual = TensorSpec(array.shape, array.dtype)
                for who, spec in (("@infer", declared[index] if index < len(declared) else None),
                                  ("ONNX shape inference", onnx_specs[index])):
                    problem = _spec_mismatch(spec, actual)
                    if problem:
                        problems.append(f"output {out_name!r}: {who} says {problem}, {source} returns "
                                        f"{actual.dtype}{list(actual.shape)}")
        if problems:
            raise CheckFailed("; ".join(dict.fromkeys(problems)))
        return ""

    def _check_torch(self, case: Case) -> str:
        import torch

        op = self.op
        try:
            outs = self.native(case)
        except Exception as exc:  # noqa: BLE001
            raise CheckFailed(f"the torch reference raises on this sample: {_short(exc)}") from exc
        if len(outs) != len(op.outputs):
            raise CheckFailed(f"the torch reference returns {len(outs)} tensor(s), the op declares {len(op.outputs)}")
        if op.torch_op is None:
            raise CheckFailed("the op has no torch op (opforge.exporters did not register it)")
        kwargs = {**runners.torch_args(op, case.inputs), **case.attrs}
        # The full opcheck on the op's own samples; derived variants (other dtypes, batch sizes) run its
        # fake-tensor test, the one whose answer changes with dtype and shape (and the cheap one).
        utils = list(OPCHECK_UTILS) if not case.derived else ["test_faketensor"]
        note = "" if not case.derived else "opcheck: test_faketensor only (derived variant)"
        if "test_aot_dispatch_dynamic" in utils and any(
                o.dtype.kind in "fc" and np.isnan(o.astype(np.complex128 if o.dtype.kind == "c" else np.float64)).any()
                for o in outs):
            # opcheck compares eager and AOTDispatcher outputs with equal_nan=False: NaN outputs always "differ"
            utils.remove("test_aot_dispatch_dynamic")
            note = "test_aot_dispatch_dynamic not run: the outputs hold NaN, which opcheck never counts as equal"
        result = torch.library.opcheck(op.torch_op, (), kwargs, test_utils=utils, raise_exception=False)
        failed = {name: value for name, value in result.items() if value != "SUCCESS"}
        if failed:
            raise CheckFailed("torch.library.opcheck: " + "; ".join(f"{name}: {_short(value)}" if isinstance(
                value, BaseException) else f"{name}: {value}" for name, value in failed.items()))
        return note

    def _check_numerics_kernel(self, case: Case) -> Comparison:
        if "cpu" not in self.op.kernels:
            raise NotApplicable("the op has no cpu kernel (ONNX Runtime runs the torch reference)")
        outs = self._cached("kernel", case, lambda: runners.run_kernel(self.op, case))
        return self._compare(case, outs, "the cpu kernel")

    def _check_numerics_onnxruntime(self, case: Case) -> Comparison:
        wide = _has_bfloat16(case)
        model = runners.node_model(self.op, case, self.output_types(case), widen_bfloat16=True) if wide \
            else self.model(case)
        outs = runners.run_onnxruntime(self.op, case, model, self.device, widen_bfloat16=wide)
        if wide:
            outs = runners.narrow_back(outs, self.output_types(case))
        return self._compare(case, outs, f"ONNX Runtime (opforge.InferenceSession, {self.device} kernel)")

    def _check_numerics_reference_evaluator(self, case: Case) -> Comparison:
        outs = runners.run_reference_evaluator(self.op, case, self.model(case))
        return self._compare(case, outs, "onnx.reference.ReferenceEvaluator with opforge.reference_ops()")

    def _check_numerics_portable(self, case: Case) -> Comparison:
        if self.op.function_body is None:
            raise NotApplicable("the op has no portable body (@op.onnx_function)")
        wide = _has_bfloat16(case)
        model = runners.node_model(self.op, case, self.output_types(case), fill_defaults=True,
                                   functions=runners.function_protos(self.op), widen_bfloat16=wide)
        try:
            outs = runners.run_plain_onnxruntime(self.op, case, model, widen_bfloat16=wide)
            if wide:
                outs = runners.narrow_back(outs, self.output_types(case))
        except Exception as exc:
            if "NOT_IMPLEMENTED" in str(exc) or "Could not find an implementation" in str(exc):
                raise NotApplicable(f"plain ONNX Runtime (CPU) has no kernel for a standard op of the body in "
                                    f"{case.float_dtype()}: {_short(exc)}") from exc
            raise CheckFailed(f"the portable body does not run under plain onnxruntime: {_short(exc)}") from exc
        return self._compare(case, outs, "the portable body under plain onnxruntime.InferenceSession")

    def _check_gpu(self, case: Case) -> Comparison:
        from ..kernels import cuda_unavailable_reason

        if "cuda" not in self.op.kernels:
            raise NotApplicable("the op has no cuda kernel")
        reason = cuda_unavailable_reason()
        if reason is not None:
            raise NotApplicable(reason)
        gpu = runners.run_kernel(self.op, case, "cuda")
        if "cpu" in self.op.kernels:
            cpu = self._cached("kernel", case, lambda: runners.run_kernel(self.op, case))
            comparison = compare_outputs(cpu, gpu, order_free=self.op.order_free, rtol=case.sample.rtol,
                                         atol=case.sample.atol)
            if not comparison.ok:
                raise CheckFailed(f"the cuda kernel differs from the cpu kernel: {comparison.reason}", comparison)
            return comparison
        return self._compare(case, gpu, "the cuda kernel")

    def _check_export_dynamo(self, case: Case) -> Comparison:
        return self._export(case, dynamo=True)

    def _check_export_torchscript(self, case: Case) -> Comparison:
        return self._export(case, dynamo=False)

    def _export(self, case: Case, dynamo: bool) -> Comparison:
        from ..api import export
        from ..kernels import InferenceSession

        label = "dynamo" if dynamo else "TorchScript"
        op = self.op
        module, args = _one_op_module(op, case)
        try:
            proto = export(module, args, dynamo=dynamo, verify=False)
        except Exception as exc:  # noqa: BLE001
            raise CheckFailed(f"opforge.export(dynamo={dynamo}) of a one-op module fails: {_short(exc)}") from exc
        nodes = [n for n in _all_nodes(proto.graph) if n.domain == op.domain and n.op_type == op.op_type]
        if len(nodes) != 1:
            others = sorted({f"{n.domain or 'ai.onnx'}::{n.op_type}" for n in _all_nodes(proto.graph)})
            raise CheckFailed(f"the {label} export holds {len(nodes)} {op.name} node(s), expected 1 "
                              f"(its nodes: {', '.join(others)})")
        versions = {o.domain: o.version for o in proto.opset_import}
        if versions.get(op.domain) != op.version:
            raise CheckFailed(f"the {label} export imports domain {op.domain!r} at version "
                              f"{versions.get(op.domain)}, expected {op.version}")
        problems = _attribute_mismatches(op, nodes[0], runners.filled_attrs(op, case.attrs))
        if problems:
            raise CheckFailed(f"the {label} export's node has the wrong attributes: " + "; ".join(problems))
        initializers = {t.name for t in proto.graph.initializer}
        names = [i.name for i in proto.graph.input if i.name not in initializers]
        arrays = case.arrays()
        if len(names) != len(arrays):
            raise CheckFailed(f"the {label} export has {len(names)} graph input(s), expected {len(arrays)}")
        try:
            outs = InferenceSession(proto).run(None, dict(zip(names, arrays)))
        except Exception as exc:  # noqa: BLE001
            raise CheckFailed(f"the {label} export does not run in opforge.InferenceSession: {_short(exc)}") from exc
        return self._compare(case, outs, f"the {label} export under opforge.InferenceSession")


def _has_bfloat16(case: Case) -> bool:
    return any(dtype_name(a.dtype) == "bfloat16" for a in case.arrays())


def _np(dtype: str) -> Any:
    from ..types import numpy_dtype

    return numpy_dtype(dtype)


def _passes_checker(model: onnx.ModelProto) -> bool:
    try:
        onnx.checker.check_model(model, full_check=True, check_custom_domain=True)
    except Exception:  # noqa: BLE001 - rejected, as it should be
        return False
    return True


def _same_value(kind: str, a: Any, b: Any) -> bool:
    if kind == "float":
        return bool(np.float32(a) == np.float32(b))
    if kind == "floats":
        return len(a) == len(b) and all(np.float32(x) == np.float32(y) for x, y in zip(a, b))
    if kind == "bool":
        return bool(a) == bool(b)
    if kind in ("ints", "strs"):
        return list(a) == list(b)
    return a == b


def _default_mismatches(op: OpDef) -> list[str]:
    """Defaults of optional attributes in the reference signature, the OpDef, the ONNX and the torch schemas."""
    problems = []
    try:
        schema = onnx.defs.get_schema(op.op_type, op.version, op.domain)
    except Exception as exc:  # noqa: BLE001
        return [f"no ONNX schema is registered ({_short(exc)})"]
    torch_defaults: dict[str, Any] = {}
    if op.torch_op is not None:
        torch_defaults = {a.name: a.default_value for a in op.torch_op._schema.arguments if a.has_default_value()}
    for a in op.attributes:
        onnx_attr = schema.attributes.get(a.name)
        if onnx_attr is None:
            problems.append(f"{a.name!r} is missing from the ONNX schema")
            continue
        if a.required:
            if not onnx_attr.required:
                problems.append(f"{a.name!r} is required by the reference but optional in the ONNX schema")
            continue
        sources = {"the reference signature": op.signature.parameters[a.name].default, "the OpDef": a.default}
        if onnx_attr.default_value.type:
            sources["the ONNX schema"] = attribute_value(a.kind, onnx_attr.default_value)
        else:
            sources["the ONNX schema"] = "<none>"
        if op.torch_op is not None:
            sources["the torch schema"] = torch_defaults.get(a.name, "<none>")
        first_name, first = next(iter(sources.items()))
        for name, value in sources.items():
            if isinstance(value, str) and value == "<none>" or not _same_value(a.kind, first, value):
                shown = ", ".join(f"{n} {v!r}" for n, v in sources.items())
                problems.append(f"attribute {a.name!r} defaults differ ({shown}); {name} disagrees with "
                                f"{first_name}")
                break
    return problems


def _attribute_mismatches(op: OpDef, node: onnx.NodeProto, attrs: dict[str, Any]) -> list[str]:
    given = {a.name: a for a in node.attribute}
    problems = []
    for a in op.attributes:
        if a.name not in given:
            if not a.required and _same_value(a.kind, a.default, attrs[a.name]):
                continue
            problems.append(f"{a.name!r} is missing (expected {attrs[a.name]!r})")
            continue
        value = attribute_value(a.kind, given[a.name])
        if not _same_value(a.kind, value, attrs[a.name]):
            problems.append(f"{a.name!r} is {value!r}, expected {attrs[a.name]!r}")
    extra = set(given) - set(op.attribute_names)
    if extra:
        problems.append(f"unexpected attribute(s) {sorted(extra)}")
    return problems


def _spec_mismatch(spec: TensorSpec | None, actual: TensorSpec) -> str:
    if spec is None:
        return "nothing (no type)"
    if spec.dtype != actual.dtype:
        return f"dtype {spec.dtype}"
    if spec.shape is None:
        return ""
    if len(spec.shape) != len(actual.shape):
        return f"rank {len(spec.shape)} (shape {list(spec.shape)})"
    for d, a in zip(spec.shape, actual.shape):
        if isinstance(d, int) and d != a:
            return f"shape {list(spec.shape)}"
    return ""


def _all_nodes(graph: onnx.GraphProto) -> list[onnx.NodeProto]:
    nodes = []
    for node in graph.node:
        nodes.append(node)
        for attr in node.attribute:
            if attr.type == onnx.AttributeProto.GRAPH:
                nodes.extend(_all_nodes(attr.g))
            for sub in attr.graphs:
                nodes.extend(_all_nodes(sub))
    return nodes


def _one_op_module(op: OpDef, case: Case) -> tuple[Any, tuple]:
    """A torch module whose forward calls only ``op`` on the case's tensors (attributes as constants)."""
    import torch

    layout = [(spec, None if v is None else len(v) if isinstance(v, list) else 1)
              for spec, v in zip(op.inputs, case.inputs)]
    attrs = dict(case.attrs)

    class OneOp(torch.nn.Module):
        def forward(self, *tensors: torch.Tensor) -> Any:
            position = 0
            kwargs: dict[str, Any] = {}
            for spec, count in layout:
                if count is None:
                    kwargs[spec.name] = None
                elif spec.variadic:
                    kwargs[spec.name] = list(tensors[position:position + count])
                    position += count
                else:
                    kwargs[spec.name] = tensors[position]
                    position += 1
            return op(**kwargs, **attrs)

    args = tuple(runners.to_torch(a) for a in case.arrays())
    return OneOp().eval(), args


def check(op: OpDef, device: str = "cpu", *, checks: list[str] | tuple[str, ...] | None = None,
          seed: int = SEED, progress: Callable[[CheckResult], None] | None = None) -> Report:
    """Run every applicable conformance check of ``op`` over its samples and derived variants.

    Args:
        op: the :class:`~opforge.OpDef` to check.
        device: ``"cpu"``, or ``"cuda"`` to run the ONNX Runtime numerics with the cuda kernels
            (needs cupy and a CUDA device).
        checks: a subset of :data:`CHECKS` (default: all of them).
        seed: the seed of the ``@samples`` generator (fixed, so ids and data are reproducible).
        progress: called with each :class:`CheckResult` as it completes.

    Returns a :class:`Report` with one result per (check, sample); ``report.ok`` is False when any
    check failed, and each failure names the check, the sample, the reason and the largest errors.
    """
    if device == "cuda":
        from ..kernels import cuda_unavailable_reason

        reason = cuda_unavailable_reason()
        if reason is not None:
            raise RuntimeError(f"opforge.conformance.check(device='cuda'): {reason}; run with device='cpu' (the gpu "
                               "check then reports n/a)")
    return OpChecker(op, device, seed=seed).report(checks, progress)
