"""The cost of running a Python kernel inside ONNX Runtime: y = 2x (float32) as one node, in one process.

* native:          ONNX Runtime's own ``Mul`` (onnxruntime.InferenceSession);
* stock:           an onnxruntime-extensions ``@onnx_op`` Python op, used as its documentation shows;
* opforge:         an ``@opforge.op`` whose numpy kernel returns ``x * 2`` (one copy into ONNX
                   Runtime's output), run by ``opforge.InferenceSession`` as a native custom op;
* opforge out=:    the same op with a kernel that declares ``out`` and writes ``2x`` straight into
                   ONNX Runtime's output buffer (its shape comes from ``@infer``).

Each case is timed as the median of many ``session.run`` calls after a warm-up, the cases in
alternating blocks.

    python benchmarks/bridge.py              # rich table
    python benchmarks/bridge.py --markdown   # Markdown table on stdout (for the README)
"""

from __future__ import annotations

import argparse
import platform
import statistics
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import onnx
import onnxruntime
import torch
from onnx import TensorProto, helper
from onnxruntime_extensions import PyCustomOpDef, get_library_path, onnx_op

import opforge

SIZES = (1, 10_000, 1_000_000)
CASES = ("native", "stock", "opforge", "opforge out=")
# ratio to native Mul that each opforge case must stay under (issue 10); "opforge" also under the
# old Python-op bridge's 1.8x / 2.6x
TARGETS = {"opforge out=": {1: 2.0, 10_000: 1.8, 1_000_000: 1.3}, "opforge": {1: 2.0, 10_000: 1.8, 1_000_000: 2.6}}
DOMAIN = "opforge.bench"


# The stock op is defined before any session registers the extensions library (defining one
# afterwards can leave ONNX Runtime with dangling pointers).
@onnx_op(op_type="StockDouble", inputs=[PyCustomOpDef.dt_float], outputs=[PyCustomOpDef.dt_float])
def stock_double(x: np.ndarray) -> np.ndarray:
    return x * 2


@opforge.op(f"{DOMAIN}::Double")
def double(x: torch.Tensor) -> torch.Tensor:
    """y = 2x"""
    return x * 2


@double.kernel("cpu")
def _(x: np.ndarray) -> np.ndarray:
    return x * 2


@opforge.op(f"{DOMAIN}::DoubleOut")
def double_out(x: torch.Tensor) -> torch.Tensor:
    """y = 2x, written into ONNX Runtime's output"""
    return x * 2


@double_out.kernel("cpu")
def _(x: np.ndarray, *, out: np.ndarray | None) -> np.ndarray | None:
    if out is None:
        return x * 2
    np.multiply(x, 2, out=out)
    return out


@double_out.infer
def _(x: opforge.TensorSpec) -> opforge.TensorSpec:
    return opforge.TensorSpec(x.shape, x.dtype)


def _model(node: onnx.NodeProto, domain: str | None, n: int, initializers: list | None = None) -> bytes:
    graph = helper.make_graph([node], "bench", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [n])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, [n])], initializer=initializers)
    imports = [helper.make_opsetid("", 18)] + ([helper.make_opsetid(domain, 1)] if domain else [])
    model = helper.make_model(graph, opset_imports=imports)
    model.ir_version = 9
    return model.SerializeToString()


def _options(threads: int | None) -> onnxruntime.SessionOptions:
    options = onnxruntime.SessionOptions()
    if threads is not None:
        options.intra_op_num_threads = threads
    return options


def sessions(n: int, threads: int | None) -> dict[str, Callable[[dict], list]]:
    """case -> ``run(feed)`` at ``n`` elements."""
    two = helper.make_tensor("two", TensorProto.FLOAT, [], [2.0])
    native = onnxruntime.InferenceSession(_model(helper.make_node("Mul", ["x", "two"], ["y"]), None, n, [two]),
                                          _options(threads), providers=["CPUExecutionProvider"])
    ours = opforge.InferenceSession(_model(helper.make_node("Double", ["x"], ["y"], domain=DOMAIN), DOMAIN, n),
                                    _options(threads))
    ours_out = opforge.InferenceSession(_model(helper.make_node("DoubleOut", ["x"], ["y"], domain=DOMAIN), DOMAIN, n),
                                        _options(threads))
    stock_options = _options(threads)
    stock_options.register_custom_ops_library(get_library_path())
    stock = onnxruntime.InferenceSession(
        _model(helper.make_node("StockDouble", ["x"], ["y"], domain="ai.onnx.contrib"), "ai.onnx.contrib", n),
        stock_options, providers=["CPUExecutionProvider"])
    return {"native": lambda feed: native.run(None, feed), "stock": lambda feed: stock.run(None, feed),
            "opforge": lambda feed: ours.run(None, feed), "opforge out=": lambda feed: ours_out.run(None, feed)}


@dataclass
class Timing:
    median_us: float
    runs: int


def measure(runs: dict[str, Callable[[dict], list]], feed: dict, max_runs: int, budget_s: float,
            blocks: int = 10) -> dict[str, Timing]:
    """Median wall time of each ``run(feed)``, the cases timed in alternating blocks.

    Each case gets up to ``max_runs`` calls, fewer when they would take over ``budget_s`` (at
    least 15). Alternating blocks spread the load of a shared machine evenly over the cases while
    each block still runs with warm caches.
    """
    planned = {}
    for name, run in runs.items():
        for _ in range(5):
            run(feed)
        start = time.perf_counter()
        run(feed)
        planned[name] = max(15, min(max_runs, int(budget_s / max(time.perf_counter() - start, 1e-7))))
    times: dict[str, list[float]] = {name: [] for name in runs}
    for block in range(blocks):
        for name, run in runs.items():
            total = planned[name]
            for _ in range(total * (block + 1) // blocks - total * block // blocks):
                start = time.perf_counter()
                run(feed)
                times[name].append(time.perf_counter() - start)
    return {name: Timing(statistics.median(t) * 1e6, len(t)) for name, t in times.items()}


def bench(sizes: tuple[int, ...] = SIZES, threads: int | None = None, budget_s: float = 4.0
          ) -> list[dict[str, object]]:
    rows = []
    for n in sizes:
        x = np.random.default_rng(0).standard_normal(n).astype(np.float32)
        feed = {"x": x}
        runs = sessions(n, threads)
        for name, run in runs.items():  # every implementation computes y = 2x before it is timed
            y = run(feed)[0]
            if not np.array_equal(np.asarray(y, dtype=np.float32).reshape(-1), x * 2):
                raise AssertionError(f"{name} does not compute 2x at n={n}")
        max_runs = 2000 if n <= 10_000 else 300
        rows.append({"n": n, **measure(runs, feed, max_runs, budget_s)})
    return rows


def _fmt_n(n: int) -> str:
    return f"1e{len(str(n)) - 1}" if n > 1 and str(n).strip("0") == "1" else str(n)


def _cell(row: dict[str, object], case: str) -> tuple[str, bool]:
    """"median (ratio to native)" for a case, and whether it meets its target."""
    timing, native = row[case], row["native"]
    assert isinstance(timing, Timing) and isinstance(native, Timing)
    if case == "native":
        return f"{timing.median_us:.1f}", True
    ratio = timing.median_us / native.median_us
    target = TARGETS.get(case, {}).get(row["n"])  # type: ignore[call-overload]
    met = target is None or ratio <= target
    goal = "" if target is None else f", goal <= {target}x{'' if met else ' MISSED'}"
    return f"{timing.median_us:.1f} ({ratio:.2f}x{goal})", met


def markdown(rows: list[dict[str, object]], threads: int | None) -> str:
    lines = [
        f"y = 2x, float32, one node; median us per `session.run` (ratio to native `Mul`), the cases timed in "
        f"alternating blocks in one process; onnxruntime {onnxruntime.__version__}, onnxruntime-extensions "
        f"{__import__('onnxruntime_extensions').__version__}, numpy {np.__version__}, Python "
        f"{platform.python_version()}, intra-op threads: {threads if threads is not None else 'ORT default'}.",
        "",
        "| elements | native Mul | stock @onnx_op | opforge (returns) | opforge (`out`) |",
        "|---:|---:|---:|---:|---:|",
    ]
    for row in rows:
        n = row["n"]
        assert isinstance(n, int)
        lines.append(f"| {_fmt_n(n)} | " + " | ".join(_cell(row, case)[0] for case in CASES) + " |")
    return "\n".join(lines)


def rich_table(rows: list[dict[str, object]], threads: int | None) -> None:
    from rich.console import Console
    from rich.table import Table

    table = Table(title=f"Python kernels in ONNX Runtime: y = 2x, float32, median us per run "
                        f"(intra-op threads: {threads if threads is not None else 'ORT default'})")
    for column in ("elements", "native Mul", "stock @onnx_op", "opforge (returns)", "opforge (out)"):
        table.add_column(column, justify="right")
    for row in rows:
        n = row["n"]
        assert isinstance(n, int)
        cells = [_cell(row, case) for case in CASES]
        table.add_row(_fmt_n(n), *(text if met else f"[red]{text}[/red]" for text, met in cells))
    Console().print(table)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--markdown", action="store_true", help="print a Markdown table on stdout")
    parser.add_argument("--threads", type=int, default=None, help="ONNX Runtime intra-op threads (default: ORT's)")
    parser.add_argument("--budget", type=float, default=4.0, help="seconds per case at most (>= 15 runs)")
    parser.add_argument("--sizes", type=int, nargs="+", default=list(SIZES))
    args = parser.parse_args(argv)
    rows = bench(tuple(args.sizes), args.threads, args.budget)
    if args.markdown:
        print(markdown(rows, args.threads))
    else:
        rich_table(rows, args.threads)
    misses = [(r["n"], case) for r in rows for case in CASES if not _cell(r, case)[1]]
    return 1 if misses else 0


if __name__ == "__main__":
    sys.exit(main())
