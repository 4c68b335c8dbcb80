"""The fault suite runs when asked for: ``pytest tests/chaos`` (or any path under it), or ``OMNI_CHAOS=1``.

It starts dozens of processes, 1,000 tenant databases and ~15,000 webhooks; on the shared 2-core box,
next to other suites and benchmarks, it has not yet proven that it fits the CI budget (see
docs/reliability.md), so a plain ``scripts/test`` skips it until it has.
"""

from __future__ import annotations

import os

import pytest


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    asked = os.environ.get("OMNI_CHAOS") == "1" or any("chaos" in str(arg) for arg in config.args)
    if asked:
        return
    skip = pytest.mark.skip(reason="fault suite: run `pytest tests/chaos` or set OMNI_CHAOS=1")
    for item in items:
        if "chaos" in item.keywords:
            item.add_marker(skip)
