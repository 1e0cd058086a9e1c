"""The ``opforge`` command: demo, ops, inspect, conformance, new.

Heavy imports (torch, the exporters, onnxruntime) happen inside the commands, so ``--help`` stays fast.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

if TYPE_CHECKING:
    from opforge.opdef import OpDef

app = typer.Typer(
    name="opforge",
    help="Custom ONNX operators from one Python decorator: export, run, inspect and test them.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)


def _console(stderr: bool = False) -> Console:
    """A console per call: rich reads the terminal width (COLUMNS) when a console is made."""
    return Console(stderr=stderr)

CONTRIB_MODULE = "opforge.ops"
DEMO_MODULE = "opforge.demo"


def _quiet_torch_logs() -> None:
    """torch.onnx logs one warning per missing torchvision op on every export; hide them."""
    for name in ("torch.onnx", "torch._export", "torch.export"):
        logging.getLogger(name).setLevel(logging.ERROR)


def _load(modules: list[str]) -> None:
    import opforge

    for module in modules:
        try:
            opforge.load_ops(module)
        except ModuleNotFoundError as exc:
            _console(stderr=True).print(f"[red]error:[/red] {exc}")
            raise typer.Exit(2) from None


# -- demo -----------------------------------------------------------------------------------------


@app.command()
def demo(
    out: Annotated[Path | None, typer.Option("--out", "-o", help="Keep the exported model in this folder.")] = None,
    batch: Annotated[list[int] | None, typer.Option("--batch", "-b", help="Batch sizes to run (repeatable).")] = None,
    repeat: Annotated[int, typer.Option(help="Timed runs per batch size (medians are shown).")] = 50,
    threads: Annotated[int | None, typer.Option(help="Cap torch's and ONNX Runtime's intra-op threads.")] = None,
) -> None:
    """Export a model with two custom layers, run it in ONNX Runtime and compare it with PyTorch."""
    _quiet_torch_logs()
    console = _console()
    with console.status("Loading torch, onnx and onnxruntime..."):
        from opforge import api
        from opforge import demo as demo_model

    exported: dict[str, Any] = {}
    status = console.status("Exporting DemoNet (torch.onnx dynamo, dynamic batch dim) and verifying it...")
    status.start()

    def on_exported(path: Path, seconds: float) -> None:
        status.stop()
        exported["path"] = path
        console.print(f"[green]exported[/green] {path if out is not None else path.name} in {seconds:.1f} s "
                      f"(custom nodes: {', '.join(demo_model.DOMAIN + '::' + n.op_type for n in demo_model.opforge_nodes(path))})")
        status.update("Running ONNX Runtime and eager PyTorch...")
        status.start()

    try:
        result = demo_model.run_demo(out, batch_sizes=tuple(batch or (1, 16, 256)), repeat=repeat,
                                     on_exported=on_exported, threads=threads)
    finally:
        status.stop()

    rtol, atol = api.TOLERANCES["float32"]
    table = Table(title="opforge demo: DemoNet = Linear -> ScaledSwish -> Linear -> IterShrink (float32)")
    table.add_column("batch", justify="right")
    table.add_column("max |eager - ORT|", justify="right")
    table.add_column("within tolerance", justify="center")
    table.add_column("eager ms (median)", justify="right")
    table.add_column("ORT ms (median)", justify="right")
    for row in result.rows:
        table.add_row(str(row.batch), f"{row.max_abs_diff:.3g}", "[green]yes[/green]" if row.ok else "[red]NO[/red]",
                      f"{row.eager_ms:.3f}", f"{row.ort_ms:.3f}")
    console.print(table)
    console.print(f"tolerance: ONNX Runtime's float32 convention, |diff| <= {atol} + {rtol} * |eager|; "
                  f"ScaledSwish runs its numpy kernel, IterShrink its torch reference.")
    if not result.ok:
        console.print("[red]FAILED:[/red] ONNX Runtime and eager PyTorch disagree beyond tolerance")
        raise typer.Exit(1)


# -- ops ------------------------------------------------------------------------------------------


def _kernels(opdef: OpDef) -> str:
    from opforge.kernels import kernel_source

    parts = []
    cpu = kernel_source(opdef, "cpu")
    parts.append("cpu" if cpu == "kernel" else "torch-reference" if cpu else "[red]no cpu[/red]")
    if kernel_source(opdef, "cuda") == "kernel":
        parts.append("cuda")
    return ", ".join(parts)


def _inputs(opdef: OpDef) -> str:
    return ", ".join(f"{i.name}{'?' if i.optional else ''}{'...' if i.variadic else ''}" for i in opdef.inputs)


def _attributes(opdef: OpDef) -> str:
    return ", ".join(f"{a.name}: {a.kind}" + ("" if a.required else f" = {a.default!r}") for a in opdef.attributes)


@app.command()
def ops(
    module: Annotated[str | None, typer.Argument(help="Import this module (opforge.load_ops) and list only its ops.")] = None,
) -> None:
    """List the registered opforge ops: signature, kernels and whether a portable ONNX body exists."""
    import opforge

    if module is not None:
        _load([module])
        found = opforge.list_ops(module)
        if not found:
            _console(stderr=True).print(f"[yellow]{module} declares no opforge ops[/yellow] (nothing decorated with "
                              "@opforge.op is defined in it or in the submodules it imports)")
            raise typer.Exit(1)
    else:
        _load([CONTRIB_MODULE, DEMO_MODULE])
        found = opforge.list_ops()
    table = Table(title=f"opforge ops{f' in {module}' if module else ''} ({len(found)})")
    for column in ("op", "version", "inputs", "attributes", "outputs", "kernels", "portable body"):
        table.add_column(column, overflow="fold")
    for opdef in found:
        table.add_row(f"{opdef.domain}::{opdef.op_type}", str(opdef.version), _inputs(opdef), _attributes(opdef),
                      ", ".join(o.name for o in opdef.outputs), _kernels(opdef),
                      "yes" if opdef.function_body is not None else "no")
    _console().print(table)
    _console().print("kernels: cpu = numpy kernel, torch-reference = the torch reference runs inside ONNX Runtime "
                  "(needs torch at inference time), cuda = cupy kernel")


# -- inspect --------------------------------------------------------------------------------------


def _all_nodes(model: Any) -> list[Any]:
    from opforge._graph import all_nodes

    return list(all_nodes(model.graph.node))


def inspect_model(model: Any) -> list[dict[str, Any]]:
    """One entry per custom (op_type, domain) of ``model``: what will run it and what is missing."""
    from opforge import opdef as registry
    from opforge.kernels import kernel_source
    from opforge.kernels.session import NATIVE_DOMAINS

    versions = {o.domain: o.version for o in model.opset_import}
    functions = {(f.domain, f.name) for f in model.functions}
    counts: dict[tuple[str, str], int] = {}
    for node in _all_nodes(model):
        if node.domain not in NATIVE_DOMAINS:
            key = (node.domain, node.op_type)
            counts[key] = counts.get(key, 0) + 1
    rows = []
    for (domain, op_type), count in sorted(counts.items()):
        version = versions.get(domain)
        runners, missing = [], []
        try:
            opdef = registry.lookup(domain, op_type, version)
        except ValueError as exc:  # an opforge.aten name the fallback resolver refuses (it says why)
            opdef = None
            missing.append(str(exc))
        has_function = (domain, op_type) in functions
        if opdef is not None:
            cpu = kernel_source(opdef, "cpu")
            if cpu == "kernel":
                runners.append(f"CPU kernel (numpy, declared in {opdef.module})")
            elif cpu:
                runners.append("torch reference: needs torch at inference time")
            else:
                missing.append(f"no CPU kernel: attach @{opdef.reference.__name__}.kernel('cpu') or install torch")
            if kernel_source(opdef, "cuda") != "kernel":
                missing.append("no CUDA (cupy) kernel: kernel_device='cuda' runs it on the CPU")
        if has_function:
            runners.append("model-local function body (plain onnxruntime can run it)")
        if opdef is None and not has_function and not missing:
            other = registry.lookup(domain, op_type)
            if other is not None:
                missing.append(f"opforge registers {domain}::{op_type} only from version {other.version}, the model "
                               f"imports {domain} version {version}")
            else:
                siblings = sorted({o.module for o in registry.list_ops() if o.domain == domain})
                where = (f"the domain {domain} has ops in {', '.join(siblings)}; is {op_type} declared there?"
                         if siblings else "opforge.load_ops('your_pkg.ops') / opforge inspect --load your_pkg.ops")
                missing.append(f"no opforge op registered for {domain}::{op_type}: {where} "
                               "(or export with portable=True so a function body travels with the model)")
        rows.append({"op": f"{domain}::{op_type}", "domain": domain, "op_type": op_type, "version": version,
                     "count": count, "runs_with": runners, "missing": missing, "runnable": bool(runners)})
    return rows


@app.command()
def inspect(
    model: Annotated[Path, typer.Argument(help="An .onnx file.", exists=True, dir_okay=False)],
    load: Annotated[list[str] | None, typer.Option("--load", "-l", help="Import this op module first (repeatable).")] = None,
) -> None:
    """List the model's custom nodes and what will run each one. Exit 1 when one has nothing to run it."""
    import onnx

    _load(list(load or []))
    try:
        proto = onnx.load(str(model), load_external_data=False)
    except Exception as exc:  # noqa: BLE001 - a broken file gets a message, not a traceback
        _console(stderr=True).print(f"[red]error:[/red] cannot read {model} as an ONNX model: {exc}")
        raise typer.Exit(2) from None
    if any(n.domain.startswith("opforge.") for n in _all_nodes(proto)):
        _load([CONTRIB_MODULE, DEMO_MODULE])  # opforge's own ops need no --load
    standard = ", ".join(f"{o.domain or 'ai.onnx'} {o.version}" for o in proto.opset_import)
    _console().print(f"[bold]{model}[/bold]: {len(proto.graph.node)} top-level nodes; opset imports: {standard}; "
                  f"{len(proto.functions)} model-local function(s)")
    rows = inspect_model(proto)
    if not rows:
        _console().print("no custom-domain nodes: plain onnxruntime runs this model")
        return
    table = Table(title="custom nodes")
    table.add_column("op", overflow="fold")
    table.add_column("version", justify="right")
    table.add_column("count", justify="right")
    table.add_column("runs with", overflow="fold")
    table.add_column("missing", overflow="fold")
    for row in rows:
        runs = "; ".join(row["runs_with"]) if row["runs_with"] else "[red]nothing[/red]"
        table.add_row(escape(row["op"]), str(row["version"] if row["version"] is not None else "?"),
                      str(row["count"]), runs, escape("; ".join(row["missing"])) or "-")  # names come from the file
    _console().print(table)
    if not all(row["runnable"] for row in rows):
        _console().print("[red]this model cannot run in opforge.InferenceSession as things stand[/red]")
        raise typer.Exit(1)


# -- conformance, new -----------------------------------------------------------------------------


@app.command()
def conformance(
    modules: Annotated[list[str] | None, typer.Argument(help="Op modules to check (default: the contrib library).")] = None,
    device: Annotated[str, typer.Option(help="cpu or cuda.")] = "cpu",
    emit: Annotated[Path | None, typer.Option(help="Write the ONNX backend-test cases to this folder.")] = None,
    report: Annotated[Path | None, typer.Option(help="Write the report to this file.")] = None,
) -> None:
    """Check each op in PyTorch, ONNX Runtime and the ONNX reference evaluator on its samples."""
    if device not in ("cpu", "cuda"):
        _console(stderr=True).print(f"[red]error:[/red] --device must be cpu or cuda, got {device!r}")
        raise typer.Exit(2)
    _quiet_torch_logs()
    from opforge.conformance.cli import main

    raise typer.Exit(main(list(modules or []), device, emit, report))


@app.command()
def new(
    name: Annotated[str, typer.Argument(help="Project name, e.g. my-ops.")],
    output_dir: Annotated[Path, typer.Option("--output-dir", "-o", help="Create the project in this folder.")] = Path("."),
    no_input: Annotated[bool, typer.Option("--no-input", help="Do not prompt; use defaults.")] = False,
    domain: Annotated[str | None, typer.Option(help="The ops' ONNX domain.")] = None,
    op: Annotated[str | None, typer.Option("--op", help="Name of the first op (OpType).")] = None,
    with_cuda: Annotated[bool, typer.Option("--with-cuda", help="Add a cupy kernel.")] = False,
) -> None:
    """Create an op package from the opforge template (ops, tests, conformance, packaging)."""
    from opforge.template import new_project

    path = new_project(name, output_dir, no_input, domain, op, with_cuda)
    _console().print(f"[green]created[/green] {path}")


if __name__ == "__main__":  # pragma: no cover
    app()
