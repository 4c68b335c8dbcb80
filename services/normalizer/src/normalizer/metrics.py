"""The normalizer's Prometheus metrics (served on the worker's /metrics)."""

from __future__ import annotations

from prometheus_client import Counter

# What each committed event changed in its tenant's database: message.created, message.updated,
# message.status... (a redelivery that changes nothing counts as message.existing).
WRITES = Counter(
    "omni_normalizer_writes_total", "Committed changes, by channel and kind", ["channel", "kind"]
)
