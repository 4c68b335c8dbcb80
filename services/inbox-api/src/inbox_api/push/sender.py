"""Web Push to the phones and browsers of the users a new customer message concerns.

Fed by the live event path (``EventHub`` hears every ``message.created`` of every tenant from the
notifications fan-out): ``offer`` only queues, so neither the hub nor the inbound pipeline ever waits
on a push service. A bounded queue drains in one background task, a few pushes at a time; a full
queue drops (an alert missed costs less than a stalled replica). Every replica hears every event, so
the one whose ``push_claims`` insert wins pushes it; the claim is made only when the tenant has
subscriptions, and a tenant found without any is not asked again for ``EMPTY_TTL_S`` (a replica
learns of its own new subscriptions at once: ``subscribed``).

Who: the conversation's assignee, or every active owner and manager when nobody is assigned. The
service worker then stays quiet when that conversation is already open in a visible window
(``static/sw.js``), which is the "not open" half of the rule. A subscription the push service
answers 404 or 410 for is gone for good (RFC 8030 §7.3) and is deleted.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from dataclasses import dataclass, field
from typing import Any

import aiohttp
import orjson
import structlog
from py_vapid import Vapid
from pywebpush import WebPushException, webpush_async
from sqlalchemy import text

from omni_common.contracts import NotificationEvent
from omni_common.crypto import KeyRing
from omni_common.db.registry import TenantEngineRegistry
from omni_common.db.trouble import DATABASE_TROUBLE
from omni_common.tenancy.push_keys import ensure_pair

log = structlog.get_logger(__name__)

QUIET_KINDS = frozenset({"reaction", "deleted"})  # not worth waking a phone for
GONE = frozenset({404, 410})
PREVIEW_CHARS = 120
TTL_S = 3600  # an alert older than an hour is noise
CLAIMS_KEPT_S = 24 * 3600
EMPTY_TTL_S = 30.0  # a tenant without subscriptions costs one query per this, not one per message
CONCURRENCY = 8

# One statement: claim the message (only if the tenant has any subscription), then the targets.
_TARGETS = text(
    """
WITH claim AS (
  INSERT INTO push_claims (message_id)
  SELECT :message_id WHERE EXISTS (SELECT 1 FROM push_subscriptions)
  ON CONFLICT DO NOTHING RETURNING message_id
)
SELECT s.id, s.endpoint, s.p256dh, s.auth, c.id AS chat_id, m.kind, m.text,
       coalesce(ct.display_name, ct.handle, ct.external_id) AS name
FROM claim
JOIN chat_messages m ON m.id = claim.message_id AND m.direction = 'inbound'
JOIN chats c ON c.id = m.chat_id
JOIN contacts ct ON ct.id = c.contact_id
JOIN push_subscriptions s ON c.assignee_user_id IS NULL OR s.user_id = c.assignee_user_id
JOIN users u ON u.id = s.user_id AND u.is_active AND u.role IN ('business_owner', 'manager')
"""
)
_ANY = text("SELECT EXISTS (SELECT 1 FROM push_subscriptions)")
_FORGET = text("DELETE FROM push_subscriptions WHERE id = ANY(:ids)")
_PRUNE = text("DELETE FROM push_claims WHERE claimed_at < now() - make_interval(secs => :secs)")


def alert_payload(chat_id: uuid.UUID, name: str | None, kind: str, body: str | None) -> bytes:
    """What the service worker shows: the customer, a short preview, where a tap leads."""
    preview = (body or "").strip() or {"image": "Photo", "audio": "Voice message", "video": "Video"}.get(
        kind, "New message"
    )
    if len(preview) > PREVIEW_CHARS:
        preview = preview[: PREVIEW_CHARS - 1] + "…"
    return orjson.dumps(
        {
            "title": name or "New message",
            "body": preview,
            "chat_id": str(chat_id),
            "url": f"/inbox?c={chat_id}",
        }
    )


@dataclass
class PushNotifier:
    """Sends Web Push alerts in the background; ``offer`` never blocks."""

    registry: TenantEngineRegistry
    keyring: KeyRing
    subject: str  # the VAPID ``sub`` claim: how a push service reaches the operator (mailto: or https:)
    queue_size: int = 1000
    timeout_s: float = 10.0
    _queue: asyncio.Queue[NotificationEvent] = field(init=False)
    _task: asyncio.Task[None] | None = field(default=None, init=False)
    _http: aiohttp.ClientSession | None = field(default=None, init=False)
    _pruned: dict[uuid.UUID, float] = field(default_factory=dict, init=False)
    _empty_until: dict[uuid.UUID, float] = field(default_factory=dict, init=False)
    _running: set[asyncio.Task[None]] = field(default_factory=set, init=False)
    sent: int = field(default=0, init=False)

    def __post_init__(self) -> None:
        self._queue = asyncio.Queue(self.queue_size)

    def offer(self, event: NotificationEvent) -> None:
        """Queue a new customer message for alerts; anything else is ignored."""
        if event.kind != "message.created" or event.message_id is None:
            return
        if event.data.get("direction") != "inbound" or event.data.get("kind") in QUIET_KINDS:
            return
        try:
            self._queue.put_nowait(event)
        except asyncio.QueueFull:
            log.warning("push_dropped", tenant_id=str(event.tenant_id))

    async def start(self) -> None:
        self._http = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=self.timeout_s))
        self._task = asyncio.create_task(self._run(), name="web-push")

    def subscribed(self, tenant_id: uuid.UUID) -> None:
        """A user of the tenant subscribed through this replica: ask the database again."""
        self._empty_until.pop(tenant_id, None)

    async def close(self) -> None:
        tasks = [t for t in (self._task, *self._running) if t is not None]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        if self._http is not None:
            await self._http.close()

    async def _run(self) -> None:
        slots = asyncio.Semaphore(CONCURRENCY)  # one slow push service must not hold the others
        while True:
            event = await self._queue.get()
            await slots.acquire()
            task = asyncio.create_task(self._one(event))
            self._running.add(task)

            def done(t: asyncio.Task[None]) -> None:
                self._running.discard(t)
                slots.release()

            task.add_done_callback(done)

    async def _one(self, event: NotificationEvent) -> None:
        assert event.message_id is not None  # checked by offer
        try:
            await self.push(event.tenant_id, event.message_id)
        except DATABASE_TROUBLE as exc:
            log.warning("push_skipped", reason=type(exc).__name__, tenant_id=str(event.tenant_id))
        except Exception:  # one bad alert must not end the loop
            log.exception("push_failed", tenant_id=str(event.tenant_id))

    async def push(self, tenant_id: uuid.UUID, message_id: uuid.UUID) -> int:
        """Alert the message's users (once across replicas); returns how many pushes were accepted."""
        if self._empty_until.get(tenant_id, 0.0) > time.monotonic():
            return 0
        async with self.registry.begin(tenant_id) as session:
            if not (await session.execute(_ANY)).scalar():
                self._empty_until[tenant_id] = time.monotonic() + EMPTY_TTL_S
                return 0
            rows = (await session.execute(_TARGETS, {"message_id": message_id})).mappings().all()
            if not rows:
                return 0
            pair = await ensure_pair(session, tenant_id, self.keyring)
        vapid = Vapid.from_raw(pair.private_key.encode())
        results = await asyncio.gather(*(self._send(row, vapid) for row in rows))
        gone = [row["id"] for row, outcome in zip(rows, results, strict=True) if outcome == "gone"]
        if gone or self._prune_due(tenant_id):
            async with self.registry.begin(tenant_id) as session:
                if gone:
                    await session.execute(_FORGET, {"ids": gone})
                    log.info("push_subscriptions_removed", tenant_id=str(tenant_id), count=len(gone))
                await session.execute(_PRUNE, {"secs": CLAIMS_KEPT_S})
        accepted = sum(outcome == "ok" for outcome in results)
        self.sent += accepted
        return accepted

    def _prune_due(self, tenant_id: uuid.UUID) -> bool:
        now = time.monotonic()
        if now - self._pruned.get(tenant_id, 0.0) < 3600:
            return False
        self._pruned[tenant_id] = now
        return True

    async def _send(self, row: Any, vapid: Vapid) -> str:
        subscription = {"endpoint": row["endpoint"], "keys": {"p256dh": row["p256dh"], "auth": row["auth"]}}
        data = alert_payload(row["chat_id"], row["name"], row["kind"], row["text"])
        try:
            await webpush_async(
                subscription,
                data.decode(),
                vapid_private_key=vapid,
                vapid_claims={"sub": self.subject},
                ttl=TTL_S,
                headers={"Urgency": "high"},
                aiohttp_session=self._http,
                timeout=self.timeout_s,
            )
        except WebPushException as exc:
            status = exc.status_code
            if status in GONE:
                return "gone"
            log.warning("push_refused", status=status)
            return "refused"
        except (aiohttp.ClientError, TimeoutError) as exc:
            log.warning("push_unreachable", error=type(exc).__name__)
            return "unreachable"
        return "ok"
