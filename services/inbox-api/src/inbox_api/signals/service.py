"""Read receipts and "typing…" to WhatsApp customers, asked for by the open conversation's page.

Queued as ``SendReply`` commands with ``signal`` set, on the one outbound queue, so the sender sends
them with the account's pacing and token (``outbound_sender/signals.py``). Nothing is stored for a
signal but the receipt marker (``customer_signals``), which keeps a conversation opened again, by the
same owner or another, from sending a second receipt for the same message. Best effort by design: a
signal the broker does not take is not retried (a late "typing…" is wrong, a missed receipt harmless).
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Literal

import structlog
from sqlalchemy import text

from inbox_api.auth.models import Principal
from inbox_api.deps import InboxDeps
from omni_common.broker.outcomes import PublishError
from omni_common.contracts import SendReply
from omni_common.domain.accounts import send_refusal
from omni_common.domain.reply_window import is_open
from omni_common.outbound.commands import command_message, publish_command
from omni_common.outbound.replies import ChatNotFound

log = structlog.get_logger(__name__)

Signal = Literal["read", "typing"]

# The conversation, its account's state, the switches and the customer's latest message.
_CHAT = text(
    """
SELECT c.channel, c.last_inbound_at, a.status, a.is_active,
       coalesce(s.read_receipts, true) AS read_receipts,
       coalesce(s.typing_indicator, true) AS typing_indicator,
       (SELECT m.id FROM chat_messages m
        WHERE m.chat_id = c.id AND m.direction = 'inbound' AND m.external_message_id IS NOT NULL
          AND m.kind <> 'reaction'
        ORDER BY m.platform_timestamp DESC NULLS LAST, m.created_at DESC LIMIT 1) AS last_inbound_id
FROM chats c
JOIN social_accounts a ON a.id = c.social_account_id
LEFT JOIN inbox_signals s ON s.id = 1
WHERE c.id = :chat_id
"""
)
# Marks the message read once: no row back when it was already the one marked.
_MARK = text(
    """
INSERT INTO customer_signals (chat_id, message_id) VALUES (:chat_id, :message_id)
ON CONFLICT (chat_id) DO UPDATE SET message_id = excluded.message_id, read_at = now()
WHERE customer_signals.message_id IS DISTINCT FROM excluded.message_id
RETURNING chat_id
"""
)
# "typing…" at most once per TYPING_EVERY_S per conversation, whoever asks (WhatsApp shows it 25 s).
TYPING_EVERY_S = 20
_TYPED = text(
    """
INSERT INTO customer_signals (chat_id, message_id, typing_at) VALUES (:chat_id, :message_id, now())
ON CONFLICT (chat_id) DO UPDATE SET typing_at = now()
WHERE customer_signals.typing_at IS NULL
   OR customer_signals.typing_at < now() - make_interval(secs => :every)
RETURNING chat_id
"""
)


async def queue_signal(deps: InboxDeps, user: Principal, chat_id: uuid.UUID, signal: Signal) -> bool:
    """Queue a read receipt or "typing…" for the conversation's customer; False when none is due
    (not WhatsApp, switched off, nothing to mark, already marked, the account cannot send)."""
    async with deps.registry.begin(user.tenant_id) as session:
        row = (await session.execute(_CHAT, {"chat_id": chat_id})).first()
        if row is None:
            raise ChatNotFound(f"no conversation {chat_id}")
        if row.channel != "whatsapp" or row.last_inbound_id is None or not row.read_receipts:
            return False  # Meta's "typing…" marks read too: off with the receipts
        if send_refusal(row.channel, row.status, row.is_active) is not None:
            return False
        params = {"chat_id": chat_id, "message_id": row.last_inbound_id, "every": TYPING_EVERY_S}
        if signal == "typing":
            if not row.typing_indicator or not is_open(row.last_inbound_at, datetime.now(UTC)):
                return False
            if (await session.execute(_TYPED, params)).first() is None:
                return False
        elif (await session.execute(_MARK, params)).first() is None:
            return False
        message_id: uuid.UUID = row.last_inbound_id
    command = SendReply(tenant_id=user.tenant_id, message_id=message_id, channel="whatsapp", signal=signal)
    message = command_message(command, message_id=f"signal:{signal}:{message_id}:{uuid.uuid4().hex[:8]}")
    try:
        await publish_command(deps.publisher, message)
    except PublishError as exc:
        log.warning("signal_not_queued", signal=signal, error=str(exc))
        return False
    return True
