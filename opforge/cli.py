"""The ``opforge`` command: demo, ops, inspect, conformance, new.

Heavy imports (torch, the exporters, onnxruntime, the contrib ops) happen inside the commands, so
``--help`` and ``--version`` stay fast. Every error is a red panel without a traceback (set
``OPFORGE_TRACEBACK=1`` to see one), and every string that comes from a model file or a user's
module is escaped before it reaches rich and the terminal (``opforge/_terminal.py``).
"""

from __future__ import annotations

import functools
import logging
import os
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, TypeVar

import typer
from rich.console import Console
from rich.table import Table

from ._terminal import CliError, markup, plain

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
#: set to 1 to let unexpected exceptions print their traceback
TRACEBACK_ENV = "OPFORGE_TRACEBACK"
_Command = TypeVar("_Command", bound=Callable[..., Any])


def _version(value: bool) -> None:
    if value:
        from . import __version__

        typer.echo(f"opforge {__version__}")
        raise typer.Exit()


@app.callback()
def _main(
    version: Annotated[bool, typer.Option("--version", callback=_version, is_eager=True,
                                          help="Print opforge's version and exit.")] = False,
) -> None:
    """Custom ONNX operators from one Python decorator: export, run, inspect and test them."""


def _guarded(command: _Command) -> _Command:
    """Turn what a command did not foresee into a red error panel (exit 1) instead of a traceback."""

    @functools.wraps(command)
    def run(*args: Any, **kwargs: Any) -> Any:
        try:
            return command(*args, **kwargs)
        except (typer.Exit, typer.Abort, CliError, typer.BadParameter):
            raise
        except KeyboardInterrupt:
            raise CliError("interrupted", exit_code=130) from None
        except EOFError:  # a prompt (opforge new without --no-input) found no more input
            raise CliError(f"opforge {command.__name__}: the input ended while a question was asked; answer it, "
                           "or pass --no-input to take the defaults", exit_code=2) from None
        except OSError as exc:  # unreadable, unwritable or missing files and folders
            where = f": {exc.filename}" if exc.filename else ""
            raise CliError(f"opforge {command.__name__}: {exc.strerror or exc}{where}", exit_code=2) from None
        except Exception as exc:
            if os.environ.get(TRACEBACK_ENV) == "1" or _click_error(exc):
                raise
            raise CliError(f"opforge {command.__name__} failed: {type(exc).__name__}: {exc}\n(set "
                           f"{TRACEBACK_ENV}=1 to see the traceback)", exit_code=1) from None

    return run  # type: ignore[return-value]


def _click_error(exc: Exception) -> bool:
    """typer's own errors (bad parameters, template errors) already print as panels."""
    from ._terminal import click_exception

    return isinstance(exc, click_exception())


def _quiet_torch_logs() -> None:
    """torch.onnx logs one warning per missing torchvision op on every export; hide them."""
    for name in ("torch.onnx", "torch._export", "torch.export"):
        logging.getLogger(name).setLevel(logging.ERROR)


def _load(modules: list[str]) -> None:
    from ._targets import load_modules

    load_modules(modules)


# -- demo -----------------------------------------------------------------------------------------


MAX_BATCH = 1_000_000  # 128 MB of float32 input: beyond that a typo, not a benchmark


@app.command()
@_guarded
def demo(
    out: Annotated[Path | None, typer.Option("--out", "-o", help="Keep the exported model in this folder.",
                                             file_okay=False)] = None,
    batch: Annotated[list[int] | None, typer.Option("--batch", "-b", min=1, max=MAX_BATCH,
                                                    help="Batch sizes to run (repeatable).")] = None,
    repeat: Annotated[int, typer.Option(min=1, max=100_000, help="Timed runs per batch size (medians are shown).")] = 50,
    threads: Annotated[int | None, typer.Option(min=1, max=1024,
                                                help="Cap torch's and ONNX Runtime's intra-op threads.")] = None,
) -> None:
    """Export a model with two custom layers, run it in ONNX Runtime and compare it with PyTorch."""
    if out is not None:
        _writable_folder(out, "--out")
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
        console.print(f"[green]exported[/green] {markup(path if out is not None else path.name)} in {seconds:.1f} s "
                      f"(custom nodes: {', '.join(demo_model.DOMAIN + '::' + n.op_type for n in demo_model.opforge_nodes(path))})")
        status.update("Running ONNX Runtime and eager PyTorch...")
        status.start()

    from ._quiet import captured

    try:
        with captured() as noise:  # torch.onnx's "torchvision is not installed" lines and the like
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
    if noise.messages:
        console.print(f"[dim]{markup(noise.summary('exporting and running', ''))}: "
                      f"{markup('; '.join(noise.lines(limit=2)))}[/]")
    if not result.ok:
        console.print("[red]FAILED:[/red] ONNX Runtime and eager PyTorch disagree beyond tolerance")
        raise typer.Exit(1)


def _writable_folder(folder: Path, option: str) -> None:
    """Refuse a folder that is a file or cannot be created or written, before any work starts."""
    existing = next((p for p in (folder, *folder.parents) if p.exists()), None)
    if existing is not None and not existing.is_dir():
        raise typer.BadParameter(f"{plain(existing)} is a file, not a folder", param_hint=f"'{option}'")
    if existing is not None and not os.access(existing, os.W_OK | os.X_OK):
        raise typer.BadParameter(f"cannot write to the folder {plain(existing)} (permission denied)",
                                 param_hint=f"'{option}'")


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
    return markup(", ".join(f"{i.name}{'?' if i.optional else ''}{'...' if i.variadic else ''}" for i in opdef.inputs))


def _attributes(opdef: OpDef) -> str:
    return markup(", ".join(f"{a.name}: {a.kind}" + ("" if a.required else f" = {a.default!r}")
                            for a in opdef.attributes))


@app.command()
@_guarded
def ops(
    module: Annotated[str | None, typer.Argument(
        help="A module to import (found like python -m finds one: the current folder first) or an op domain "
             "(e.g. opforge.contrib); list only its ops.")] = None,
) -> None:
    """List the registered opforge ops: signature, kernels and whether a portable ONNX body exists."""
    from ._targets import load_own_ops, resolve

    if module is not None:
        target = resolve(module)
        found = target.ops
        if not found:
            raise CliError(f"{module} declares no opforge ops (nothing decorated with @opforge.op is defined in "
                           "it or in the submodules it imports), and no registered op has that domain", exit_code=1)
        title = f"opforge ops in {'domain' if target.kind == 'domain' else 'module'} {markup(module)} ({len(found)})"
    else:
        load_own_ops()
        import opforge

        found = opforge.list_ops()
        title = f"opforge ops ({len(found)})"
    table = Table(title=title)
    for column in ("op", "version", "inputs", "attributes", "outputs", "kernels", "portable body"):
        table.add_column(column, overflow="fold")
    for opdef in found:
        table.add_row(markup(f"{opdef.domain}::{opdef.op_type}"), str(opdef.version), _inputs(opdef),
                      _attributes(opdef), markup(", ".join(o.name for o in opdef.outputs)), _kernels(opdef),
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
    from opforge.kernels.registry import runners as op_runners
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
            runners, missing = op_runners(opdef)
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


def read_model(path: Path) -> Any:
    """Load ``path`` as an ONNX model (without external data), or raise a :class:`CliError` (exit 2).

    An empty file, a file that protobuf cannot parse, and one that parses but holds no graph or no
    IR version (protobuf reads many arbitrary byte strings as a message) are all refused.
    """
    import onnx

    shown = plain(path)
    size = path.stat().st_size
    if size == 0:
        raise CliError(f"{shown} is empty (0 bytes), not an ONNX model; export one with opforge.export or "
                       "torch.onnx.export")
    try:
        proto = onnx.load(str(path), load_external_data=False)
    except Exception as exc:  # noqa: BLE001 - a broken file gets a message, not a traceback
        raise CliError(f"cannot read {shown} as an ONNX model: {type(exc).__name__}: {exc}") from None
    if proto.ir_version <= 0 or not proto.HasField("graph") or not proto.opset_import:
        missing = [what for what, ok in (("IR version", proto.ir_version > 0), ("graph", proto.HasField("graph")),
                                         ("opset imports", bool(proto.opset_import))) if not ok]
        raise CliError(f"cannot read {shown} as an ONNX model: it has no {' and no '.join(missing)} "
                       f"({size} bytes); is it an .onnx file written by onnx.save or torch.onnx.export?")
    return proto


@app.command()
@_guarded
def inspect(
    model: Annotated[Path, typer.Argument(help="An .onnx file.", exists=True, dir_okay=False, readable=True)],
    load: Annotated[list[str] | None, typer.Option("--load", "-l", help="Import this op module first (repeatable).")] = None,
) -> None:
    """List the model's custom nodes and what will run each one. Exit 1 when one has nothing to run it."""
    from ._targets import load_own_ops

    _load(list(load or []))
    proto = read_model(model)
    if any(n.domain.startswith("opforge.") for n in _all_nodes(proto)):
        load_own_ops()  # opforge's own ops need no --load
    standard = ", ".join(f"{o.domain or 'ai.onnx'} {o.version}" for o in proto.opset_import)
    _console().print(f"[bold]{markup(model)}[/bold]: {len(proto.graph.node)} top-level nodes; opset imports: "
                     f"{markup(standard)}; {len(proto.functions)} model-local function(s)")
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
        runs = markup("; ".join(row["runs_with"])) if row["runs_with"] else "[red]nothing[/red]"
        table.add_row(markup(row["op"]), str(row["version"] if row["version"] is not None else "?"), str(row["count"]),
                      runs, markup("; ".join(row["missing"]) or "-"))
    _console().print(table)
    if not all(row["runnable"] for row in rows):
        _console().print("[red]this model cannot run in opforge.InferenceSession as things stand[/red]")
        raise typer.Exit(1)


# -- conformance, new -----------------------------------------------------------------------------


@app.command()
@_guarded
def conformance(
    modules: Annotated[list[str] | None, typer.Argument(
        help="Op modules or op domains to check (default: the contrib library).")] = None,
    device: Annotated[str, typer.Option(help="cpu or cuda.")] = "cpu",
    emit: Annotated[Path | None, typer.Option(help="Write the ONNX backend-test cases to this folder.",
                                              file_okay=False)] = None,
    report: Annotated[Path | None, typer.Option(help="Write the report (Markdown) to this file.",
                                                dir_okay=False)] = None,
) -> None:
    """Check each op in PyTorch, ONNX Runtime and the ONNX reference evaluator on its samples."""
    if device not in ("cpu", "cuda"):
        raise typer.BadParameter(f"must be cpu or cuda, got {plain(repr(device))}", param_hint="'--device'")
    if emit is not None:
        _writable_folder(emit, "--emit")
    if report is not None:
        _writable_folder(report.parent, "--report")
    _quiet_torch_logs()
    from ._targets import resolve
    from .conformance.cli import main

    targets: list[Any] = []
    for module in modules or []:
        targets.extend(resolve(module).ops or [module])
    raise typer.Exit(main(targets, device, emit, report))


@app.command()
@_guarded
def new(
    name: Annotated[str, typer.Argument(help="Project name, e.g. my-ops.")],
    output_dir: Annotated[Path, typer.Option("--output-dir", "-o", help="Create the project in this folder.",
                                             file_okay=False)] = Path("."),
    no_input: Annotated[bool, typer.Option("--no-input", help="Do not prompt; use defaults.")] = False,
    domain: Annotated[str | None, typer.Option(help="The ops' ONNX domain.")] = None,
    op: Annotated[str | None, typer.Option("--op", help="Name of the first op (OpType).")] = None,
    with_cuda: Annotated[bool, typer.Option("--with-cuda", help="Add a cupy kernel.")] = False,
    opforge_source: Annotated[str | None, typer.Option(
        "--opforge-source", help="Where the new package installs opforge from: a folder, a wheel, a URL "
        "(git+https://...) or a requirement such as 'opforge==0.1.0' (default: this opforge's own source).")] = None,
) -> None:
    """Create an op package from the opforge template (ops, tests, conformance, packaging)."""
    from opforge.template import new_project

    path = new_project(name, output_dir, no_input, domain, op, with_cuda, opforge_source=opforge_source)
    _console().print(f"[green]created[/green] {markup(path)}")


if __name__ == "__main__":  # pragma: no cover
    app()
