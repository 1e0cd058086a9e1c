"""The fx node torch.onnx is translating right now, for translations whose choice depends on how the node's
outputs are used (torch's decompositions ask for eigen- and singular vectors whenever autograd might want
them, also where the graph then drops them)."""

from __future__ import annotations

import inspect
import operator
from collections.abc import Iterable
from typing import Any

# torch.onnx's per-node translation step; its ``node`` local is the fx node (aten_fallback reads it too)
_LOWERING_FRAME = "_handle_call_function_node_with_lowering"


def current_node() -> Any | None:
    """The fx node whose translation is running, or None outside torch.onnx's translation step."""
    frame = inspect.currentframe()
    try:
        while frame is not None:
            if frame.f_code.co_name == _LOWERING_FRAME:
                return frame.f_locals.get("node")
            frame = frame.f_back
        return None
    finally:
        del frame


def outputs_unused(indices: Iterable[int]) -> bool:
    """True only when the node being translated is known to feed none of its outputs ``indices`` anywhere
    (every user is a ``getitem`` of another output). Unknown (no node found, other users) counts as used."""
    node = current_node()
    if node is None:
        return False
    wanted = set(indices)
    for user in node.users:
        if user.target is not operator.getitem or not isinstance(user.args[1], int) or user.args[1] in wanted:
            return False
    return True


__all__ = ["current_node", "outputs_unused"]
