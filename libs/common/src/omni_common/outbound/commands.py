"""The one way a ``SendReply`` command becomes a broker message: routing key, ids and tenant header.

Every publisher of commands for the outbound-sender (the inbox after its commit, the sender's outbox
sweep, the inbox's read receipts and "typing…", the bench, the tests) builds its message here. With
``OMNI_OUTBOUND_SHARDS`` > 0 the commands reach the sender's shards through a consistent-hash
exchange keyed on the tenant header (``broker/topology.py``): a command without it would not reach
its tenant's shard, so no publisher sets the header itself.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field

from omni_common.broker.publisher import Publisher
from omni_common.broker.shards import TENANT_HEADER
from omni_common.contracts import SendReply, encode
from omni_common.contracts.routing import OUTBOUND_COMMANDS, routing_key


@dataclass(frozen=True)
class CommandMessage:
    """A ``SendReply`` as it is published on the events exchange."""

    routing_key: str
    body: bytes
    message_id: str
    correlation_id: str | None
    headers: Mapping[str, str] = field(hash=False)


def reply_message_id(message_id: uuid.UUID) -> str:
    """The message (and correlation) id of a reply's command, from the inbox or the outbox relay
    alike: duplicates are recognisable, and the sender's logs of the reply carry it either way."""
    return f"reply:{message_id}"


def tenant_headers(tenant_id: uuid.UUID) -> dict[str, str]:
    """The headers that place a message of ``tenant_id`` on its tenant shard."""
    return {TENANT_HEADER: str(tenant_id)}


def command_message(
    command: SendReply, *, message_id: str, correlation_id: str | None = None
) -> CommandMessage:
    """``command`` as a message with these ids."""
    return CommandMessage(
        routing_key=routing_key(OUTBOUND_COMMANDS, command.channel),
        body=encode(command),
        message_id=message_id,
        correlation_id=correlation_id,
        headers=tenant_headers(command.tenant_id),
    )


def reply_message(command: SendReply) -> CommandMessage:
    """A reply's command with the reply's ids (``reply_message_id``)."""
    reply_id = reply_message_id(command.message_id)
    return command_message(command, message_id=reply_id, correlation_id=reply_id)


async def publish_command(
    publisher: Publisher, message: CommandMessage, *, exchange: str | None = None
) -> None:
    """Publish ``message`` confirmed (``Publisher.publish``: raises ``PublishError`` otherwise)."""
    await publisher.publish(
        message.routing_key,
        message.body,
        message_id=message.message_id,
        correlation_id=message.correlation_id,
        headers=message.headers,
        exchange=exchange,
    )
