"""Figures of a fault run, printed (``-s``) in one line each so docs/reliability.md can be regenerated."""

from __future__ import annotations

import json
import os
import re
from typing import Any

import httpx


def report(fault: str, **figures: Any) -> None:
    """Print ``CHAOS <fault> {json}``; ``grep '^CHAOS '`` over the output collects every run.

    Under xdist a worker's prints are not shown: ``OMNI_CHAOS_REPORT=FILE`` also appends the lines there.
    """
    line = f"CHAOS {fault} {json.dumps(figures, sort_keys=True, default=str)}"
    print("\n" + line)
    if path := os.environ.get("OMNI_CHAOS_REPORT"):
        with open(path, "a", encoding="utf-8") as out:
            out.write(line + "\n")


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
