"""pytest integration: one test per op x check x sample, with ids that are the same in every process."""

from __future__ import annotations

import types
from collections.abc import Callable, Iterable
from typing import Any

from ..opdef import OpDef, list_ops, load_ops
from .cases import SEED
from .checks import OpChecker
from .report import CheckResult

_CHECKERS: dict[tuple[int, str, int], tuple[OpDef, OpChecker]] = {}


def resolve_ops(target: Any) -> list[OpDef]:
    """The ops of a module, a module name, an OpDef, or a list of any of these (deduplicated, in order)."""
    found: list[OpDef] = []
    items = target if isinstance(target, (list, tuple)) else [target]
    for item in items:
        if isinstance(item, OpDef):
            found.append(item)
        elif isinstance(item, types.ModuleType):
            ops = list_ops(item.__name__) or load_ops(item.__name__)
            found.extend(ops)
        elif isinstance(item, str):
            found.extend(load_ops(item))
        else:
            raise TypeError(f"opforge.conformance: expected an OpDef, a module or a module name, got {item!r}")
    unique: dict[int, OpDef] = {}
    for op in found:
        unique.setdefault(id(op), op)
    return list(unique.values())


def checker_for(op: OpDef, device: str = "cpu", seed: int = SEED) -> OpChecker:
    """The process-wide checker of ``op`` (its results are computed once and shared by its test cases)."""
    key = (id(op), device, seed)
    entry = _CHECKERS.get(key)
    if entry is None or entry[0] is not op:
        entry = _CHECKERS[key] = (op, OpChecker(op, device, seed=seed))
    return entry[1]


def op_id(op: OpDef) -> str:
    return f"{op.domain}.{op.op_type}.v{op.version}"


class ConformanceCase:
    """One generated test: ``run()`` passes, or fails / skips / xfails with the check's message."""

    def __init__(self, op: OpDef, device: str, seed: int, check: str, sample: str) -> None:
        self.op, self.device, self.seed, self.check, self.sample = op, device, seed, check, sample

    @property
    def id(self) -> str:
        return f"{op_id(self.op)}-{self.check}-{self.sample}"

    def result(self) -> CheckResult:
        if self.check == "samples":
            report = checker_for(self.op, self.device, self.seed).report()
            return report.results[0]
        return checker_for(self.op, self.device, self.seed).run(self.check, self.sample)

    def run(self) -> CheckResult:
        import pytest

        result = self.result()
        if result.status == "fail":
            pytest.fail(result.message(), pytrace=False)
        if result.status == "xfail":
            pytest.xfail(result.message())
        if result.status in ("skip", "n/a"):
            pytest.skip(result.message())
        return result

    def __repr__(self) -> str:
        return f"<conformance case {self.id}>"


def cases_for(ops: Iterable[OpDef], *, device: str = "cpu", checks: list[str] | tuple[str, ...] | None = None,
              seed: int = SEED) -> list[ConformanceCase]:
    """Every (op, check, sample) case, in a deterministic order."""
    cases = []
    for op in ops:
        checker = checker_for(op, device, seed)
        if not checker.cases:
            cases.append(ConformanceCase(op, device, seed, "samples", "-"))
            continue
        cases.extend(ConformanceCase(op, device, seed, check, sample) for check, sample in checker.plan(checks))
    return cases


def pytest_cases(target: Any, *, device: str = "cpu", checks: list[str] | tuple[str, ...] | None = None,
                 seed: int = SEED) -> Callable[..., None]:
    """A parametrized pytest test function: one test per op x check x sample.

    Assign it at module level in a test file::

        test_conformance = opforge.conformance.pytest_cases(my_package.ops)

    ``target`` is a module (its ops are those declared in it or below it), a module name, an
    :class:`~opforge.OpDef` or a list of these. Ids look like
    ``mylab.IterShrink.v1-numerics.onnxruntime-s0-float16`` and are the same in every process
    (samples come from a fixed seed), so pytest-xdist can distribute them. Failures name the check,
    the sample and the largest errors; ``n/a`` checks skip with their reason; samples marked
    ``.xfail(reason=...)`` xfail.
    """
    import pytest

    ops = resolve_ops(target)
    if not ops:
        raise ValueError(f"opforge.conformance.pytest_cases({target!r}): no opforge ops found there; is the module "
                         "the one that declares them (or a package that imports them)?")
    cases = cases_for(ops, device=device, checks=checks, seed=seed)

    @pytest.mark.parametrize("conformance_case", cases, ids=[c.id for c in cases])
    def test_conformance(conformance_case: ConformanceCase) -> None:
        conformance_case.run()

    return test_conformance
