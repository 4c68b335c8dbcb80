"""Figures of a fault run, printed (``-s``) in one line each so docs/reliability.md can be regenerated."""

from __future__ import annotations

import json
import re
from typing import Any

import httpx


def report(fault: str, **figures: Any) -> None:
    """Print ``CHAOS <fault> {json}``; ``grep '^CHAOS '`` over the output collects every run."""
    print(f"\nCHAOS {fault} {json.dumps(figures, sort_keys=True, default=str)}")


def metric_sum(url: str, name: str, **labels: str) -> float:
    """Sum of a Prometheus counter's samples on ``url`` whose labels include ``labels``."""
    text = httpx.get(url, timeout=5).text
    total = 0.0
    for line in text.splitlines():
        if not line.startswith(name + "{"):
            continue
        match = re.match(r"[^{]+\{([^}]*)\}\s+(\S+)", line)
        if not match:
            continue
        got = dict(re.findall(r'(\w+)="([^"]*)"', match.group(1)))
        if all(got.get(k) == v for k, v in labels.items()):
            total += float(match.group(2))
    return total
