"""``Call(fn)``: a torch module whose forward is ``fn`` (for exporting one function in the tests)."""

from __future__ import annotations

from collections.abc import Callable

import torch


class Call(torch.nn.Module):
    def __init__(self, fn: Callable) -> None:
        super().__init__()
        self.fn = fn

    def forward(self, *args: torch.Tensor) -> object:
        return self.fn(*args)
