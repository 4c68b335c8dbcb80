"""The router's Prometheus metrics (served on the worker's /metrics)."""

from __future__ import annotations

from prometheus_client import Counter

# outcome: "routed", or the dead-letter reason (unmapped_account, tenant_inactive, channel_disabled,
# malformed): one per event (entry/change), not per delivery.
EVENTS = Counter(
    "omni_events_routed_total",
    "Events routed to a tenant or refused, by channel and outcome",
    ["channel", "outcome"],
)
