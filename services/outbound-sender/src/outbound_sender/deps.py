"""What the send handler works with: its collaborators as protocols of our own, and their bundle.

``main.py`` binds them to PostgreSQL (``store.SessionSendStore``), the Graph API (``GraphClient``),
Redis or memory pacing and the broker; the unit tests bind them to fakes (``tests/unit/fakes.py``).
"""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Protocol

from omni_common.contracts import NotificationEvent
from omni_common.crypto import KeyRing
from omni_common.domain.channels import Channel
from omni_common.domain.reauth import Notice
from omni_common.graph import MediaContent, SendResult, TemplateContent
from omni_common.media.storage import MediaStorage
from outbound_sender.batching import TenantBatcher
from outbound_sender.fence import NoFence, SendFence
from outbound_sender.journal import AcceptanceJournal, MemoryJournal
from outbound_sender.pacing import Pacer
from outbound_sender.policy import PacingPolicy
from outbound_sender.store import Accepted, ClaimedJob, ReauthFailed, SendJob
from outbound_sender.tokens import TokenCache

Notify = Callable[[NotificationEvent], Awaitable[None]]


class SendStore(Protocol):
    """The tenant-database steps of a send; each call is one committed step."""

    async def claim(
        self, tenant_id: uuid.UUID, message_ids: list[uuid.UUID], now: datetime
    ) -> dict[uuid.UUID, ClaimedJob]:
        """queued -> sending for these messages; the jobs of those that were queued."""
        ...

    async def load(self, tenant_id: uuid.UUID, message_id: uuid.UUID) -> SendJob | None:
        """The message's job as it stands (None: no such message)."""
        ...

    async def move(
        self,
        tenant_id: uuid.UUID,
        message_id: uuid.UUID,
        *,
        status: str,
        now: datetime,
        from_statuses: tuple[str, ...],
        error_code: str | None,
        error_message: str | None,
        attempted_at: datetime | None = None,
    ) -> bool:
        """Move the message to ``status`` if still in ``from_statuses`` (and, given ``attempted_at``,
        still claimed at that time); True when it moved."""
        ...

    async def mark_sent(self, tenant_id: uuid.UUID, accepted: list[Accepted], now: datetime) -> None:
        """Record Meta's acceptances (``sent`` and the platform ids)."""
        ...

    async def fail_for_reauth(
        self, tenant_id: uuid.UUID, job: SendJob, *, why: str, error_code: str, reason: str, now: datetime
    ) -> ReauthFailed:
        """Flag the job's account needs_reauth, fail the job and the account's queued messages."""
        ...

    async def record_upload(
        self, tenant_id: uuid.UUID, message_id: uuid.UUID, *, attempted_at: datetime, patch: dict[str, Any]
    ) -> bool:
        """Merge ``patch`` (Meta's id of the uploaded file) into the message's media, if this attempt
        (``sending`` since ``attempted_at``) still owns it; False: it does not, do not send."""
        ...

    async def notify_owner(
        self, tenant_id: uuid.UUID, notice: Notice, account_id: uuid.UUID
    ) -> uuid.UUID | None:
        """Store an owner's notice (None: an open one already says it)."""
        ...


class MessageSender(Protocol):
    """The Graph API as the sender calls it (``omni_common.graph.GraphClient``)."""

    async def send_message(
        self,
        channel: Channel,
        account_id: str,
        token: str,
        *,
        to: str,
        text: str,
        reply_to_external_id: str | None = None,
        kind: str = "text",
        template: TemplateContent | None = None,
        media: MediaContent | None = None,
        tag: str | None = None,
    ) -> SendResult:
        """Send; ``GraphError`` when Meta refused or could not be reached."""
        ...

    async def upload_media(
        self, phone_number_id: str, token: str, *, data: bytes, mime_type: str, filename: str
    ) -> str:
        """WhatsApp: upload a file; Meta's media id."""
        ...

    async def send_signal(self, phone_number_id: str, token: str, *, message_id: str, typing: bool) -> None:
        """WhatsApp: mark a customer's message read, with "typing…" when ``typing``."""
        ...

    async def upload_attachment(
        self, account_id: str, token: str, *, kind: str, data: bytes, mime_type: str, filename: str
    ) -> str:
        """Messenger/Instagram: upload a file; its reusable attachment id."""
        ...


@dataclass
class SenderDeps:
    """Collaborators and knobs of the send handler (built by ``main.py``)."""

    store: SendStore
    graph: MessageSender
    keyring: KeyRing
    pacer: Pacer
    notify: Notify
    retry_delays: int  # number of delayed-retry queues: attempt > this is the last one
    policy: PacingPolicy = field(default_factory=PacingPolicy)
    max_pace_wait_s: float = 10.0  # longer waits go back to the retry queue instead of holding a slot
    # A 'sending' younger than this may be another replica mid-call (duplicate command): check later.
    in_flight_grace_s: float = 60.0
    clock: Callable[[], datetime] = field(default=lambda: datetime.now(UTC))
    # Test seam: runs after Meta accepted and before 'sent' is committed (a crash there must not resend).
    after_accept: Callable[[], Awaitable[None]] | None = None
    tokens: TokenCache = field(init=False)  # decrypted tokens, briefly
    token_cache_s: float = 60.0
    # Meta's answers until the database has them (``journal.py``); Redis when shared pacing is on.
    journal: AcceptanceJournal = field(default_factory=MemoryJournal)
    # Whether a claim's call started (``fence.py``): Redis when shared pacing is on, else no evidence.
    fence: SendFence = field(default_factory=NoFence)
    # How long recording an accepted send is retried in place before it goes to the delay queues.
    accept_retry_s: float = 10.0
    # The tenants' media (the files staff send are read from it to be uploaded); None: files fail.
    storage: MediaStorage | None = None

    # Hot writes grouped per tenant (``batching``).
    claims: TenantBatcher[uuid.UUID, ClaimedJob | None] = field(init=False)
    accepts: TenantBatcher[Accepted, None] = field(init=False)

    def __post_init__(self) -> None:
        self.tokens = TokenCache(self.keyring, ttl_s=self.token_cache_s)
        self.claims = TenantBatcher(self._claim_batch)
        self.accepts = TenantBatcher(self._accept_batch)

    async def _claim_batch(
        self, tenant_id: uuid.UUID, message_ids: list[uuid.UUID]
    ) -> list[ClaimedJob | None]:
        claimed = await self.store.claim(tenant_id, list(set(message_ids)), self.clock())
        # A duplicate command in the same batch gets nothing: only one attempt may own a claim.
        return [claimed.pop(message_id, None) for message_id in message_ids]

    async def _accept_batch(self, tenant_id: uuid.UUID, accepted: list[Accepted]) -> list[None]:
        await self.store.mark_sent(tenant_id, accepted, self.clock())
        return [None] * len(accepted)
