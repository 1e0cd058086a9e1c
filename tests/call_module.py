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


def run_session(proto: object, args: tuple) -> list:
    """``proto`` in ``opforge.InferenceSession`` on the torch tensors ``args`` (fed by position)."""
    import opforge

    session = opforge.InferenceSession(proto)
    return session.run(None, {i.name: a.numpy() for i, a in zip(session.get_inputs(), args, strict=True)})
