"""Commands: requests for work (imperative), consumed by exactly one service."""

from __future__ import annotations

import uuid
from typing import Literal

from omni_common.contracts.base import Contract
from omni_common.domain.channels import Channel


class SendReply(Contract):
    """Send the outbound message ``message_id`` (already stored as ``queued``) through its account."""

    type: Literal["reply.send"] = "reply.send"
    version: Literal[1] = 1
    tenant_id: uuid.UUID
    message_id: uuid.UUID
    channel: Channel
    # A signal to the customer instead of a message (WhatsApp): ``message_id`` is then their inbound
    # message, marked read ("read"), or read with "typing…" shown ("typing"). Nothing is stored.
    signal: Literal["read", "typing"] | None = None


class EnrichMessage(Contract):
    """Fetch what a stored message lacks: its media bytes, or its sender's profile name.

    Runs after the message is committed and visible, so a slow or failing Graph API never blocks it.
    """

    type: Literal["message.enrich"] = "message.enrich"
    version: Literal[1] = 1
    tenant_id: uuid.UUID
    message_id: uuid.UUID
    channel: Channel
    account_id: str
    what: Literal["media", "profile"]
