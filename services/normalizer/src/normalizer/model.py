"""The normalizer's values: the accounts events arrive on, the messages it writes, what changed."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any, Literal

from omni_common.channels.inbound import InboundMessage
from omni_common.domain.channels import Channel

AccountKey = tuple[str, str]  # (channel, external account id)

# What a committed write changed, for the live inbox; ``message.existing`` is a repeat, reported only
# when it still asks for follow-up work (it is counted, never announced).
ChangeKind = Literal[
    "message.created", "message.updated", "message.status", "notification", "message.existing"
]
# Follow-up fetches of a stored message (``normalizer.enrich``).
Enrichment = Literal["media", "profile"]


@dataclass(frozen=True)
class AccountRow:
    """A tenant's connected account, as the normalizer needs it."""

    id: uuid.UUID
    status: str
    is_active: bool
    webhook_recorded: bool = False  # last_webhook_at is already within the last minute


@dataclass(frozen=True)
class Change:
    """A visible change, for the live inbox."""

    kind: ChangeKind
    chat_id: uuid.UUID | None
    message_id: uuid.UUID | None
    data: dict[str, Any]
    enrich: tuple[Enrichment, ...] = ()  # follow-up fetches
    external_id: str | None = None  # the platform's message id, for the log (message.created)


@dataclass(frozen=True)
class NewMessage:
    """One inbound (or echoed) message to store, with the account it arrived on."""

    tenant_id: uuid.UUID
    channel: Channel
    account: AccountRow
    msg: InboundMessage
