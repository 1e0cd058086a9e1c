"""``opforge conformance [MODULE...] [--device cpu|cuda] [--emit DIR] [--report FILE]``."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from .._terminal import markup, plain
from ..opdef import OpDef
from .checks import CHECKS
from .report import Report, reports_to_markdown

CONTRIB_MODULE = "opforge.ops"
_SHORT = {"numerics.kernel": "kernel", "numerics.onnxruntime": "ort", "numerics.reference_evaluator": "ref-eval",
          "numerics.portable": "portable", "export.dynamo": "dynamo", "export.torchscript": "ts",
          "inference": "infer"}
_LEGEND = ("kernel/ort/ref-eval/portable: numerics of the cpu kernel, ONNX Runtime, the ONNX reference evaluator, "
           "the portable body; dynamo/ts: exports. ✓N passed, ✗F/N failed, +N x/s xfail or skipped")


def _contrib_ops() -> list[OpDef]:
    from ..opdef import load_ops

    return load_ops(CONTRIB_MODULE)


def _style(cell: str) -> str:
    if cell.startswith("✗"):
        return f"[bold red]{cell}[/]"
    if cell.startswith("✓"):
        return f"[green]{cell}[/]"
    return f"[dim]{cell}[/]"


def main(modules: list[Any], device: str = "cpu", emit: Path | None = None, report: Path | None = None) -> int:
    """Check the ops of ``modules`` (default: opforge's contrib ops); return the exit code (1 on any failure).

    ``modules`` holds module names, modules or OpDefs. Shows a progress bar, then a table of ops x
    checks and every failure with its reason. Library warnings and log lines printed while checking
    are captured and summarised after the table (listed in full in the report). ``emit`` writes the
    ONNX node-test layout there (with a README on replaying it); ``report`` writes a Markdown report.
    """
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
    from rich.table import Table

    from .._quiet import captured
    from ..kernels import cuda_unavailable_reason
    from .pytest_cases import checker_for, resolve_ops

    console = Console()
    if device not in ("cpu", "cuda"):
        console.print(f"[red]--device must be cpu or cuda, got {markup(repr(device))}[/]")
        return 1
    if device == "cuda" and cuda_unavailable_reason() is not None:
        console.print(f"[red]--device cuda: {markup(cuda_unavailable_reason())}[/]; run without --device (the gpu check "
                      "then reports n/a)")
        return 1
    try:
        ops = resolve_ops(list(modules)) if modules else _contrib_ops()
    except (ImportError, TypeError) as exc:
        console.print(f"[red]{markup(exc, multiline=True)}[/]")
        return 1
    if not ops:
        where = markup(", ".join(map(str, modules))) if modules else f"{CONTRIB_MODULE} (opforge's contrib library)"
        console.print(f"No opforge ops found in {where}; nothing to check.")
        return 1 if modules else 0

    checkers = [checker_for(op, device) for op in ops]
    reports: list[Report] = []
    with Progress(TextColumn("[bold]conformance[/] {task.description}"), BarColumn(), MofNCompleteColumn(),
                  TimeElapsedColumn(), console=console, transient=False) as progress, captured() as noise:
        task = progress.add_task("collecting samples", total=None)
        total = sum(max(len(c.plan(with_na=True)), 1) for c in checkers)
        progress.update(task, total=total)
        for checker in checkers:
            name = markup(f"{checker.op.name} v{checker.op.version}")
            progress.update(task, description=name)
            result = checker.report(progress=lambda r, n=name: progress.update(
                task, advance=1, description=f"{n} [{markup(r.check)}] {markup(r.sample)}"))
            if not checker.cases:
                progress.update(task, advance=1)
            reports.append(result)
        progress.update(task, description="done")

    checks = [c for c in ("samples", *CHECKS) if any(c in r.checks for r in reports)]
    table = Table(title=f"opforge conformance ({device})", caption=_LEGEND)
    table.add_column("op", style="bold", no_wrap=True)
    for check in checks:
        table.add_column(_SHORT.get(check, check))
    short = [f"{c.op.op_type} v{c.op.version}" for c in checkers]
    for label, result in zip(short, reports):
        table.add_row(markup(label if short.count(label) == 1 else result.op),
                      *[_style(markup(result.cell(c) or "")) for c in checks])
    console.print(table)
    failures = [f for r in reports for f in r.failures]
    for failure in failures:
        console.print("[red]FAIL[/] ", end="")
        console.print(plain(failure.message(), multiline=True), markup=False, highlight=False)
    if emit is not None:
        from .emit import emit_cases

        with captured() as emit_noise:
            emitted = emit_cases(ops, emit, device=device)
        noise.messages.update(emit_noise.messages)
        console.print(f"{len(emitted.folders)} ONNX node test(s) written under {markup(emit)} (model.onnx, "
                      f"test_data_set_0/; README.md says how to replay them)")
        if emitted.skipped:
            console.print(f"[yellow]{len(emitted.skipped)} case(s) not written[/]: they have a bfloat16 input or output, "
                          "which ONNX Runtime's Python API cannot feed (listed in README.md)")
    console.print(f"[dim]{markup(noise.summary())}[/]")
    for line in noise.lines(limit=3):
        console.print(f"[dim]  {markup(line)}[/]")
    if report is not None:
        Path(report).parent.mkdir(parents=True, exist_ok=True)
        Path(report).write_text(reports_to_markdown(reports) + _noise_markdown(noise), encoding="utf-8")
        console.print(f"Markdown report written to {markup(report)} (with every captured library message)")
    elif noise.messages:
        console.print("[dim]  (--report FILE lists them all)[/]")
    passed = sum(r.ok for r in reports)
    console.print(f"{passed} of {len(reports)} op(s) pass every applicable check; {len(failures)} failure(s).")
    return 1 if failures else 0


def _noise_markdown(noise: Any) -> str:
    lines = ["", "## Library messages while checking", "", noise.summary() + ".", ""]
    lines += [f"- {line}" for line in noise.lines()]
    return "\n".join(lines) + "\n"
