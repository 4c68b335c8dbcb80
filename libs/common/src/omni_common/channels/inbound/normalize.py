"""Stage 2: turn one routed item's payload into typed domain events, per channel."""

from __future__ import annotations

import logging
from typing import Any

from omni_common.channels.inbound.errors import MalformedEvent
from omni_common.channels.inbound.messenger import normalize_messaging
from omni_common.channels.inbound.model import NormalizedEvent
from omni_common.channels.inbound.whatsapp import normalize_whatsapp
from omni_common.domain.channels import Channel

logger = logging.getLogger(__name__)


def normalize(channel: Channel, account_id: str, payload: dict[str, Any]) -> list[NormalizedEvent]:
    """Return the events of one ``RoutableItem`` payload; raises ``MalformedEvent`` and nothing else."""
    if not isinstance(account_id, str) or not account_id:
        raise MalformedEvent("missing_id", "account_id is empty or not a string")
    try:
        if channel == "whatsapp":
            return normalize_whatsapp(account_id, payload)
        if channel in ("facebook", "instagram"):
            return normalize_messaging(channel, account_id, payload)
    except MalformedEvent:
        raise
    except Exception as exc:
        # The parsers are meant to be total; a bug must still dead-letter one item, not kill a worker.
        logger.exception("inbound normalizer bug on %s payload", channel)
        raise MalformedEvent("parser_error", f"{type(exc).__name__}: {str(exc)[:200]}") from exc
    raise MalformedEvent("unknown_channel", f"unknown channel {_name(channel)!r}")


def _name(channel: object) -> str:
    # repr() of an arbitrary object can itself fail (a huge int), so only strings are echoed.
    return channel[:32] if isinstance(channel, str) else type(channel).__name__
