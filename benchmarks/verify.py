"""What ``opforge.export(..., verify=True)`` costs now that it also tries generated inputs.

One model (Linear -> an opforge op with a numpy kernel -> Linear, dynamic batch) is exported in
one run three ways, interleaved: ``verify=False``; verify on the example input only (the old
verify, ``opforge._verify.GENERATED = 0``); the default verify (example + generated inputs + the
per-node checks). Medians of ``--repeat`` exports; ratios against ``verify=False``.

    python benchmarks/verify.py [--repeat 5]
"""

from __future__ import annotations

import argparse
import statistics
import time
import warnings

import numpy as np
import torch

import opforge
from opforge import _verify


@opforge.op("opforge.bench.verify::SoftClip")
def soft_clip(x: torch.Tensor, limit: float = 2.0) -> torch.Tensor:
    return limit * torch.tanh(x / limit)


@soft_clip.kernel("cpu")
def _(x, *, limit):
    return (np.float32(limit) * np.tanh(x / np.float32(limit))).astype(x.dtype)


class Model(torch.nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.inner, self.outer = torch.nn.Linear(64, 128), torch.nn.Linear(128, 8)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.outer(soft_clip(self.inner(x)))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=5)
    repeat = parser.parse_args().repeat
    warnings.simplefilter("ignore")
    model, args = Model().eval(), (torch.randn(16, 64),)
    dims = ({0: torch.export.Dim("batch")},)
    default = _verify.GENERATED

    def export(verify: bool, generated: int) -> float:
        _verify.GENERATED = generated
        start = time.perf_counter()
        opforge.export(model, args, dynamic_shapes=dims, verify=verify)
        return time.perf_counter() - start

    export(True, default)  # warm-up
    cases = {"verify=False": (False, 0), "verify, example only": (True, 0), "verify (default)": (True, default)}
    times: dict[str, list[float]] = {name: [] for name in cases}
    for _ in range(repeat):
        for name, (verify, generated) in cases.items():
            times[name].append(export(verify, generated))
    base = statistics.median(times["verify=False"])
    for name, values in times.items():
        median = statistics.median(values)
        print(f"{name:22s} {median * 1e3:8.0f} ms   x{median / base:.2f}")


if __name__ == "__main__":
    main()
