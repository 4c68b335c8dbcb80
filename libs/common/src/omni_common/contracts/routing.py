"""Stage names and routing keys: the strings publishers and bindings must agree on.

A stage is one hop of the pipeline; its work queue carries the stage's name and is bound to
``<prefix>.*`` on the events exchange, where the last word of a routing key is the channel.
"""

from __future__ import annotations

from typing import Final

RAW_WEBHOOKS: Final = "ingress.raw"
ROUTED_EVENTS: Final = "normalizer.events"
OUTBOUND_COMMANDS: Final = "outbound.commands"
AI_REQUESTS: Final = "ai.requests"
ENRICH_MESSAGES: Final = "normalizer.enrich"

# Stage -> routing-key prefix.
ROUTING_PREFIXES: dict[str, str] = {
    RAW_WEBHOOKS: "webhook.raw",
    ROUTED_EVENTS: "event.routed",
    OUTBOUND_COMMANDS: "reply.send",
    AI_REQUESTS: "ai.suggest",
    ENRICH_MESSAGES: "message.enrich",
}
STAGES: tuple[str, ...] = tuple(ROUTING_PREFIXES)


def routing_key(stage: str, channel: str) -> str:
    """Return the routing key that reaches ``stage`` for a channel, e.g. ``webhook.raw.whatsapp``."""
    return f"{ROUTING_PREFIXES[stage]}.{channel}"
