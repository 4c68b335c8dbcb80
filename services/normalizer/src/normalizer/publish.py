"""The normalizer's broker side of ``consume.EnrichRequests`` and ``consume.Notifier``."""

from __future__ import annotations

from omni_common.broker.consumer import FAILURE_COPY_CONFIRM_TIMEOUT_S
from omni_common.broker.fanout import Fanout
from omni_common.broker.notifications import notification_fanout, notification_note
from omni_common.broker.publisher import Publisher
from omni_common.contracts import EnrichMessage, NotificationEvent, encode
from omni_common.contracts.routing import ENRICH_MESSAGES, routing_key

__all__ = ["BrokerFollowUps", "notification_fanout"]


class BrokerFollowUps:
    """Enrichment requests with confirms; live notifications through one background fan-out, which
    sends the notes of one tenant offered together (a committed batch's statuses) as one message."""

    def __init__(self, publisher: Publisher, fanout: Fanout) -> None:
        self._publisher = publisher
        self._fanout = fanout

    async def request(self, command: EnrichMessage, *, correlation_id: str | None) -> None:
        await self._publisher.publish(
            routing_key(ENRICH_MESSAGES, command.channel),
            encode(command),
            message_id=f"{command.message_id}:{command.what}",
            correlation_id=correlation_id,
            # The delivery stays unacked meanwhile: on a busy event loop a short time-out only
            # turned committed work into a retry.
            confirm_timeout=FAILURE_COPY_CONFIRM_TIMEOUT_S,
        )

    def notify(self, event: NotificationEvent, *, key: str, correlation_id: str | None) -> None:
        self._fanout.offer(notification_note(event, key=key, correlation_id=correlation_id))
