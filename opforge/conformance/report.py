"""The result of a conformance run: one :class:`CheckResult` per (check, sample)."""

from __future__ import annotations

import dataclasses
from typing import Literal

Status = Literal["pass", "fail", "n/a", "xfail", "skip"]
STATUSES: tuple[Status, ...] = ("pass", "fail", "n/a", "xfail", "skip")


@dataclasses.dataclass
class CheckResult:
    """One named sub-test of one sample: status, reason and (for numerics) the largest errors."""

    op: str
    check: str
    sample: str
    status: Status
    reason: str = ""
    max_abs: float | None = None
    max_rel: float | None = None
    seconds: float = 0.0

    @property
    def ok(self) -> bool:
        return self.status != "fail"

    def errors(self) -> str:
        if self.max_abs is None:
            return ""
        return f"max abs err {self.max_abs:.3g}, max rel err {self.max_rel if self.max_rel is not None else 0:.3g}"

    def message(self) -> str:
        """``"domain::Op v1 [numerics.onnxruntime] sample s0: <reason> (max abs err ...)"``."""
        text = f"{self.op} [{self.check}] sample {self.sample}: {self.status}"
        if self.reason:
            text += f": {self.reason}"
        errors = self.errors()
        if errors and errors not in self.reason:
            text += f" ({errors})"
        return text


@dataclasses.dataclass
class Report:
    """Everything :func:`opforge.conformance.check` found for one op.

    ``report.ok`` is False when any check failed; ``report.failures`` lists those results;
    ``str(report)`` and :meth:`to_markdown` render it; :meth:`summary` gives one status per
    check (the shape of ``torch.library.opcheck``'s result).
    """

    op: str
    device: str = "cpu"
    results: list[CheckResult] = dataclasses.field(default_factory=list)

    @property
    def ok(self) -> bool:
        return all(r.ok for r in self.results)

    @property
    def failures(self) -> list[CheckResult]:
        return [r for r in self.results if r.status == "fail"]

    @property
    def checks(self) -> list[str]:
        return list(dict.fromkeys(r.check for r in self.results))

    @property
    def samples(self) -> list[str]:
        return list(dict.fromkeys(r.sample for r in self.results))

    def get(self, check: str, sample: str) -> CheckResult | None:
        for result in self.results:
            if result.check == check and result.sample == sample:
                return result
        return None

    def summary(self) -> dict[str, str]:
        """{check: "pass" | "fail" | "n/a" | ...}: the worst status of each check over all samples."""
        order = {"fail": 0, "xfail": 1, "pass": 2, "skip": 3, "n/a": 4}
        out: dict[str, str] = {}
        for result in self.results:
            current = out.get(result.check)
            if current is None or order[result.status] < order[current]:
                out[result.check] = result.status
        return out

    def cell(self, check: str) -> str:
        """A short table cell for ``check``: ``"✓12"``, ``"✗2/12"``, ``"n/a"``."""
        results = [r for r in self.results if r.check == check]
        if not results:
            return ""
        failed = sum(r.status == "fail" for r in results)
        passed = sum(r.status == "pass" for r in results)
        if failed:
            return f"✗{failed}/{len(results)}"
        if passed:
            extra = sum(r.status in ("xfail", "skip") for r in results)
            return f"✓{passed}" + (f" +{extra}x/s" if extra else "")
        if all(r.status == "n/a" for r in results):
            return "n/a"
        return ", ".join(sorted({r.status for r in results}))

    def to_markdown(self) -> str:
        lines = [f"### {self.op} ({'ok' if self.ok else f'{len(self.failures)} failure(s)'}, device {self.device})",
                 "", "| check | sample | status | max abs | max rel | reason |", "|---|---|---|---|---|---|"]
        for r in self.results:
            abs_err = "" if r.max_abs is None else f"{r.max_abs:.3g}"
            rel_err = "" if r.max_rel is None else f"{r.max_rel:.3g}"
            reason = r.reason.replace("|", "\\|").replace("\n", " ")
            lines.append(f"| {r.check} | {r.sample} | {r.status} | {abs_err} | {rel_err} | {reason} |")
        return "\n".join(lines) + "\n"

    def __str__(self) -> str:
        head = f"conformance of {self.op} on {self.device}: "
        counts = {s: sum(r.status == s for r in self.results) for s in STATUSES}
        head += ", ".join(f"{n} {s}" for s, n in counts.items() if n)
        lines = [head]
        for check in self.checks:
            lines.append(f"  {check:<30} {self.cell(check)}")
        for failure in self.failures:
            lines.append("  FAIL " + failure.message())
        return "\n".join(lines)


def reports_to_markdown(reports: list[Report], title: str = "opforge conformance") -> str:
    """One Markdown document: an ops x checks summary table, then each op's details."""
    checks = list(dict.fromkeys(c for r in reports for c in r.checks))
    lines = [f"# {title}", ""]
    ok = sum(r.ok for r in reports)
    lines.append(f"{ok} of {len(reports)} op(s) pass every applicable check.")
    lines.append("")
    lines.append("| op | " + " | ".join(checks) + " |")
    lines.append("|---|" + "---|" * len(checks))
    for report in reports:
        lines.append(f"| {report.op} | " + " | ".join(report.cell(c) or "" for c in checks) + " |")
    lines.append("")
    for report in reports:
        lines.append(report.to_markdown())
    return "\n".join(lines)
