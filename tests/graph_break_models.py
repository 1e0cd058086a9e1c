"""Small modules that stop ``torch.export`` the way library code does (used by tests/test_graph_breaks.py).

Each helper branches or loops on a size or value known only at run time: the pattern that makes
``torch.export`` raise ``GuardOnDataDependentSymNode`` deep inside a detection library.
"""

from __future__ import annotations

import torch
from torch import nn


def keep_first(x: torch.Tensor, limit: int = 4) -> torch.Tensor:
    """Branch on ``numel()`` of a data-dependent tensor."""
    if x.numel() > limit:
        return x[:limit] * 2
    return x - 1


class NumelBranch(nn.Module):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return keep_first(x[x > 0]) + 1


def pad_to_even(kept: torch.Tensor) -> torch.Tensor:
    """``len()`` of a data-dependent tensor."""
    if len(kept) % 2:
        kept = torch.cat([kept, kept[-1:]])
    return kept


class LenOfKept(nn.Module):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return pad_to_even(x[x > 0]) * 3


def halve_times(x: torch.Tensor, count: torch.Tensor) -> torch.Tensor:
    """A Python loop over a data-dependent count."""
    for _ in range(int(count.item())):
        x = x / 2
    return x


class LoopOverCount(nn.Module):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return halve_times(x, (x > 0).sum()) - 1


def filter_each(parts: list[torch.Tensor], threshold: float) -> list[torch.Tensor]:
    """Takes and returns lists of tensors; each kept part has its own data-dependent length."""
    kept = []
    for part in parts:
        above = part[part > threshold]
        kept.append(above if above.numel() > 0 else part[:1])
    return kept


class ListsHelper(nn.Module):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        first, second = filter_each([x[0], x[1]], 0.25)
        return torch.cat([first * 2, second])


class Head(nn.Module):
    """A submodule whose method reads its parameters and a buffer."""

    def __init__(self) -> None:
        super().__init__()
        self.proj = nn.Linear(4, 3)
        self.register_buffer("offset", torch.tensor([0.5, -0.5, 1.0]))

    def select(self, feats: torch.Tensor) -> torch.Tensor:
        keep = feats[feats.sum(1) > 0]
        if keep.shape[0] == 0:
            return self.offset[None]
        return self.proj(keep) + self.offset


class SubmoduleMethod(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.pre = nn.Linear(4, 4)
        self.head = Head()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head.select(self.pre(x)) * 2


class TwoCallSites(nn.Module):
    def forward(self, x: torch.Tensor, y: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        return keep_first(x[x > 0]), keep_first(y[y < 0], 2)


def clip_rows(x: torch.Tensor) -> torch.Tensor:
    """The inner helper: the only one that needs outlining."""
    if x.numel() > 3:
        return x[:3]
    return x


def normalise_then_clip(x: torch.Tensor) -> torch.Tensor:
    """The outer helper: traceable itself, it stays ordinary ONNX (Exp, ReduceSum, Div)."""
    e = torch.exp(x)
    return clip_rows(e / e.sum())


class NestedHelpers(nn.Module):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return normalise_then_clip(x[x > 0]) * 10


class BranchInForward(nn.Module):
    """The break is in the model's own forward: nothing smaller to outline."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        kept = x[x > 0]
        if kept.numel() > 2:
            return kept * 2
        return kept


class OutlinedThenForwardBranch(nn.Module):
    """keep_first gets outlined, then the forward's own branch stops the export: the swap must be undone."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        kept = keep_first(x[x > 0])
        if kept.sum() > 0:
            return kept
        return -kept


def top_detections(found: dict[str, torch.Tensor], limit: int) -> dict[str, torch.Tensor]:
    """str-keyed dicts in and out, as torchvision passes detections around."""
    if found["scores"].numel() > limit:
        order = found["scores"].argsort(descending=True)[:limit]
        return {k: v[order] for k, v in found.items()}
    return found


class DictHelper(nn.Module):
    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        keep = x > 0
        out = top_detections({"scores": x[keep], "labels": torch.nonzero(keep)[:, 0]}, limit=3)
        return out["scores"], out["labels"]


def decode_if_any(boxes: torch.Tensor, deltas: torch.Tensor) -> torch.Tensor:
    """A branch on a tensor's value (``if box_sum > 0`` in a box decoder)."""
    box_sum = boxes.sum()
    if box_sum > 0:
        return boxes + deltas
    return boxes - deltas


class ValueBranch(nn.Module):
    def forward(self, boxes: torch.Tensor, deltas: torch.Tensor) -> torch.Tensor:
        return decode_if_any(boxes * 2, deltas).relu()


def clamp_in_place(x: torch.Tensor) -> torch.Tensor:
    """Writes into its argument: an outlined node would work on a copy, so opforge does not outline it."""
    if x.numel() > 2:
        x.clamp_(max=1.0)
    return x


class InPlaceHelper(nn.Module):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        kept = x[x > 0]
        clamp_in_place(kept)
        return kept * 2
