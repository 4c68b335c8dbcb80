"""CPU accounting of a pipeline phase (pure): what counts as the product, what is the harness's.

The product is the three inbound services and the servers they need (RabbitMQ and PostgreSQL,
machine-wide: shared with whatever else runs). Everything else the sampler saw is the harness's:
the load generator (``loadgen``), the Graph stub (``graph-stub``) and the bench's own process
(``bench``). ``postgresql@<server>`` groups are parts of ``postgresql``, counted once.
"""

from __future__ import annotations

from typing import Any

PRODUCT_SERVICES = ("ingress-webhooks", "tenant-router", "normalizer")
PRODUCT_SERVERS = ("rabbitmq", "postgresql")
PRODUCT = PRODUCT_SERVICES + PRODUCT_SERVERS
LOADGEN = "loadgen"
BENCH_SELF = "bench"


def is_part(group: str) -> bool:
    """A per-server part of a total group (``postgresql@main``), not a group of its own."""
    return "@" in group


def per_event_ms(seconds: float, events: int) -> float | None:
    return 1000 * seconds / events if events else None


def services_seconds(cpu_seconds: dict[str, float]) -> float:
    """Our three services' CPU, the servers aside."""
    return sum(cpu_seconds.get(g, 0.0) for g in PRODUCT_SERVICES)


def accounting(cpu_seconds: dict[str, float], events: int) -> dict[str, Any]:
    """Product CPU (load generator and harness excluded) and the harness's, per committed event."""
    product = sum(cpu_seconds.get(g, 0.0) for g in PRODUCT)
    harness = {g: s for g, s in cpu_seconds.items() if g not in PRODUCT and not is_part(g)}
    loadgen = cpu_seconds.get(LOADGEN, 0.0)
    return {
        "product_groups": list(PRODUCT),
        "product_cpu_s": product,
        "product_ms_per_event": per_event_ms(product, events),
        "services_ms_per_event": per_event_ms(services_seconds(cpu_seconds), events),
        "loadgen_cpu_s": loadgen,
        "loadgen_ms_per_event": per_event_ms(loadgen, events),
        "harness_cpu_s": harness,
        "harness_ms_per_event": per_event_ms(sum(harness.values()), events),
    }
