"""Signals to a WhatsApp customer: their message marked read (blue ticks), and "typing…".

A signal is an outbound kind without a message row: the inbox publishes a ``SendReply`` with
``signal`` set and ``message_id`` = the customer's inbound message (``inbox_api/signals``), on the
same queue as every send, and this handler sends it on the same account pacing, token cache and
Graph client as replies (``POST /{phone-number-id}/messages`` with ``status: read`` and, for
"typing…", ``typing_indicator``). It never takes the customer's pacing slot: that belongs to
messages, which Meta limits per customer; a signal is not one.

What a failure costs decides the retries: a read receipt that arrives late is still right, so a
rate limit or a transient error is retried through the delay queues; "typing…" is worth nothing
late and is dropped. Anything else is logged and dropped: a missing receipt must never fail, flag
or hold anything else (a dead token is the replies' to report, with its notice).
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Protocol

import structlog
from sqlalchemy import text

from omni_common.broker.outcomes import Retry
from omni_common.contracts import SendReply, reasons
from omni_common.domain.accounts import send_refusal
from omni_common.errors import DecryptionError
from omni_common.graph import ErrorClass, GraphError
from omni_common.tenancy.accounts import AccountNotFound
from outbound_sender.backoff import is_last_attempt
from outbound_sender.deps import SenderDeps
from outbound_sender.metrics import SENDS
from outbound_sender.policy import account_key
from outbound_sender.store import Begin

log = structlog.get_logger(__name__)

RETRIED = frozenset({ErrorClass.RATE_LIMIT, ErrorClass.PAIR_RATE_LIMIT, ErrorClass.TRANSIENT})


@dataclass(frozen=True)
class SignalJob:
    """The customer's message and what sending a signal about it needs."""

    external_message_id: str
    account_id: uuid.UUID
    account_external_id: str
    account_status: str
    account_active: bool
    credentials: str | None
    read_receipts: bool  # the restaurant's switches, read again here: one may have changed since
    typing_indicator: bool


class SignalStore(Protocol):
    async def load_signal(self, tenant_id: uuid.UUID, message_id: uuid.UUID) -> SignalJob | None:
        """The job for a WhatsApp inbound message (None: no such message, or not one)."""
        ...


_LOAD = text(
    """
SELECT m.external_message_id, a.id AS account_id, a.external_account_id, a.status, a.is_active,
       a.credentials, coalesce(s.read_receipts, true) AS read_receipts,
       coalesce(s.typing_indicator, true) AS typing_indicator
FROM chat_messages m
JOIN chats c ON c.id = m.chat_id
JOIN social_accounts a ON a.id = c.social_account_id
LEFT JOIN inbox_signals s ON s.id = 1
WHERE m.id = :message_id AND m.direction = 'inbound' AND m.channel = 'whatsapp'
  AND m.external_message_id IS NOT NULL
"""
)


class SessionSignalStore:
    """``SignalStore`` on the tenant's database."""

    def __init__(self, begin: Begin) -> None:
        self._begin = begin

    async def load_signal(self, tenant_id: uuid.UUID, message_id: uuid.UUID) -> SignalJob | None:
        async with self._begin(tenant_id) as session:
            row = (await session.execute(_LOAD, {"message_id": message_id})).first()
        if row is None:
            return None
        return SignalJob(
            row.external_message_id,
            row.account_id,
            row.external_account_id,
            row.status,
            row.is_active,
            row.credentials,
            row.read_receipts,
            row.typing_indicator,
        )


async def handle_signal(deps: SenderDeps, store: SignalStore, command: SendReply, *, attempt: int) -> None:
    """Send one signal, or drop it (logged); raises ``Retry`` for a late-but-useful read receipt."""
    typing = command.signal == "typing"
    bound = log.bind(
        tenant_id=str(command.tenant_id), chat_message_id=str(command.message_id), signal=command.signal
    )
    job = await store.load_signal(command.tenant_id, command.message_id)
    if job is None:
        bound.info("signal_dropped", why="no_such_message")
        return
    if not job.read_receipts or (typing and not job.typing_indicator):
        bound.info("signal_dropped", why="switched_off")  # Meta's "typing…" marks read as well
        return
    if send_refusal("whatsapp", job.account_status, job.account_active) is not None:
        bound.info("signal_dropped", why="account_cannot_send")
        return
    try:
        token = deps.tokens.get(command.tenant_id, job.account_id, job.credentials)
    except (DecryptionError, AccountNotFound) as exc:
        bound.warning("signal_dropped", why="credentials_unreadable", error=type(exc).__name__)
        return
    key = account_key("whatsapp", job.account_external_id)
    rate = deps.policy.account_rate("whatsapp", job.account_external_id)
    paced = await deps.pacer.acquire_all(((key, rate),), deps.max_pace_wait_s)
    last = is_last_attempt(attempt, deps.retry_delays)
    if not paced.granted:
        if typing or last:
            bound.info("signal_dropped", why="paced")
            return
        raise Retry(reasons.PACED, f"pacing {key} needs more than {deps.max_pace_wait_s}s")
    try:
        await deps.graph.send_signal(
            job.account_external_id, token, message_id=job.external_message_id, typing=typing
        )
    except GraphError as err:
        bound.warning("signal_error", error_class=err.error_class.value, code=err.code, subcode=err.subcode)
        if err.error_class in RETRIED and err.retry_after_s:
            await deps.pacer.hold(key, err.retry_after_s, rate)
        if err.error_class in RETRIED and not typing and not last:
            raise Retry(err.error_class.value, f"signal code={err.code}") from err
        SENDS.labels("whatsapp", f"signal_{command.signal}_failed", str(err.code or "")).inc()
        return
    SENDS.labels("whatsapp", f"signal_{command.signal}", "").inc()
    bound.info("signal_sent")
