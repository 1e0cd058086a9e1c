"""Wall time of the ``opforge`` command's start: ``--help`` and ``--version`` against their peers.

Each case is a fresh process (``python -m opforge.cli ...`` is what the console script runs), timed
from spawn to exit; cases alternate in blocks, and the medians are printed with their ratio to a bare
``python -c pass`` and to ``import typer`` (the floor of any typer CLI). The goal (issue 12): ``opforge
--help`` under 1 s. "import opforge; opforge.op" shows what the lazy import saves: the full
import of torch, onnx, onnxruntime and the contrib ops.

    python benchmarks/cli_startup.py [--repeat 10]
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import time

CASES = {
    "python -c pass": [sys.executable, "-c", "pass"],
    "python -c 'import typer'": [sys.executable, "-c", "import typer"],
    "opforge --help": [sys.executable, "-m", "opforge.cli", "--help"],
    "opforge --version": [sys.executable, "-m", "opforge.cli", "--version"],
    "opforge demo --help": [sys.executable, "-m", "opforge.cli", "demo", "--help"],
    "import opforge; opforge.op (full import)": [sys.executable, "-c", "import opforge; opforge.op"],
}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeat", type=int, default=10, help="runs of each case (alternating blocks)")
    args = parser.parse_args()
    times: dict[str, list[float]] = {name: [] for name in CASES}
    for _ in range(args.repeat):
        for name, argv in CASES.items():
            start = time.perf_counter()
            subprocess.run(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=True)
            times[name].append(time.perf_counter() - start)
    base = statistics.median(times["python -c pass"])
    typer_floor = statistics.median(times["python -c 'import typer'"])
    print(f"| case | median s | / python -c pass | / import typer |   ({args.repeat} runs each)")
    print("|---|---:|---:|---:|")
    for name, values in times.items():
        median = statistics.median(values)
        print(f"| {name} | {median:.3f} | {median / base:.1f}x | {median / typer_floor:.2f}x |")
    help_s = statistics.median(times["opforge --help"])
    print(f"opforge --help: {help_s:.3f} s ({'meets' if help_s < 1 else 'misses'} the 1 s goal)")
    return 0 if help_s < 1 else 1


if __name__ == "__main__":
    sys.exit(main())
