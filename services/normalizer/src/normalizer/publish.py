"""The normalizer's broker side of ``consume.EnrichRequests`` and ``consume.Notifier``."""

from __future__ import annotations

from omni_common.broker.consumer import FAILURE_COPY_CONFIRM_TIMEOUT_S
from omni_common.broker.fanout import Fanout, Note
from omni_common.broker.publisher import Publisher
from omni_common.contracts import EnrichMessage, NotificationEvent, encode
from omni_common.contracts.routing import ENRICH_MESSAGES, routing_key


class BrokerFollowUps:
    """Enrichment requests with confirms; live notifications through one background fan-out."""

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
        self._fanout.offer(Note(encode(event), key, correlation_id))


def notification_fanout(publisher: Publisher, exchange: str) -> Fanout:
    """A started fan-out onto the notifications exchange (``publisher`` without confirms)."""

    async def send(note: Note) -> None:
        await publisher.publish(
            "",
            note.body,
            message_id=note.message_id,
            correlation_id=note.correlation_id,
            exchange=exchange,
            mandatory=False,
        )

    fanout = Fanout(send)
    fanout.start()
    return fanout
