"""The outbound-sender's Prometheus metrics (served on the worker's /metrics)."""

from __future__ import annotations

from prometheus_client import Counter

# outcome: sent, failed, queued (put back for a retry); code: Meta's error code or our reason
# (rate_limited, outside_window, outcome_unknown: may have been delivered...), empty for a send Meta
# accepted.
SENDS = Counter(
    "omni_sends_total",
    "Replies settled by an attempt, by channel, outcome and code",
    ["channel", "outcome", "code"],
)
