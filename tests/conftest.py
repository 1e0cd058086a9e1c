"""Shared pytest set-up: tests marked ``gpu`` skip with the reason "no CUDA device" without one."""

from __future__ import annotations

import pytest


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    gpu_items = [item for item in items if item.get_closest_marker("gpu") is not None]
    if not gpu_items:
        return
    from opforge.kernels import cuda_unavailable_reason

    if cuda_unavailable_reason() is None:
        return
    skip = pytest.mark.skip(reason="no CUDA device")
    for item in gpu_items:
        item.add_marker(skip)
