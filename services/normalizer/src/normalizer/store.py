"""The normalizer's writes into one tenant database (``handler.TenantWrites`` on PostgreSQL).

Every write is idempotent (``sql.py`` says how) and runs inside the caller's transaction, if any.
What a new message implies is decided by ``consequences``; this module only sends it and reads
back what the database assigned. One message or many take the same path: ``store_message`` is
``store_messages`` of one, four statements either way for new messages without a reply-to.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from typing import Any, assert_never

import structlog
from psycopg.types.json import Jsonb

from normalizer import consequences as implied
from normalizer import sql
from normalizer.model import AccountKey, AccountRow, Change, NewMessage
from normalizer.statuses import predecessors
from omni_common.channels.inbound import (
    Ignored,
    InboundMessage,
    MessageDeleted,
    MessageEdited,
    NormalizedEvent,
    PlatformError,
    Reaction,
    StatusUpdate,
    TemplateStatusUpdate,
    WatermarkUpdate,
)
from omni_common.domain.channels import Channel
from omni_common.wa_templates.notices import status_for_event, status_notice

log = structlog.get_logger(__name__)


class TenantStore:
    """Writes on one tenant database connection (autocommit, or inside ``transaction()``)."""

    def __init__(self, db: sql.Db) -> None:
        self._db = db

    def transaction(self) -> AbstractAsyncContextManager[Any]:
        """Group the following writes in one transaction."""
        return self._db.transaction()

    async def find_accounts(self, keys: set[AccountKey]) -> dict[AccountKey, AccountRow]:
        """The accounts of a batch, keyed ``(channel, external account id)``, in one statement."""
        if not keys:
            return {}
        ordered = sorted(keys)
        params = {"platform": [k[0] for k in ordered], "ext": [k[1] for k in ordered]}
        found = await sql.fetch(self._db, sql.FIND_ACCOUNTS, params, sql.FoundAccount)
        missing = [k[1] for k in ordered if k[0] == "whatsapp"]
        if len(found) < len(ordered) and missing:
            # WhatsApp account-level webhooks (template statuses) are routed by the WABA's id.
            known = {r.external_account_id for r in found if r.platform == "whatsapp"}
            wabas = [ext for ext in missing if ext not in known]
            if wabas:
                found += await sql.fetch(self._db, sql.FIND_WABAS, {"ext": wabas}, sql.FoundAccount)
        return {
            (r.platform, r.external_account_id): AccountRow(
                r.id, r.status, r.is_active, bool(r.webhook_recorded)
            )
            for r in found
        }

    async def touch_accounts(self, accounts: list[AccountRow]) -> None:
        """Record that webhooks arrived; at most once a minute per account, to keep the hot path light."""
        stale = [a.id for a in accounts if not a.webhook_recorded]
        if stale:
            await sql.run(self._db, sql.TOUCH_ACCOUNTS, {"ids": stale})

    async def store_messages(self, items: list[NewMessage]) -> list[Change | None]:
        """Insert messages with their contacts and chats; one ``Change`` (or ``None``) per item, in order.

        Contacts, chats, messages and chat counters take one statement each whatever the number of
        messages (plus one per reply-to to find its target, and one per message already stored to
        see what it still needs). Items must have distinct external ids; a reply whose target is in
        the same list does not find it (the handler stores replies after the others).
        """
        if not items:
            return []
        wanted = implied.contact_rows(items)
        upserted = await sql.fetch(
            self._db, sql.UPSERT_CONTACTS, sql.records(list(wanted.values())), sql.ContactRow
        )
        contacts = {(c.social_account_id, c.external_id): c for c in upserted}
        chat_rows = [
            implied.chat_row(c.social_account_id, c.id, wanted[key]["channel"]) for key, c in contacts.items()
        ]
        chats = {
            (r.social_account_id, r.contact_id): r.id
            for r in await sql.fetch(self._db, sql.UPSERT_CHATS, sql.records(chat_rows), sql.ChatRow)
        }
        placed: list[tuple[NewMessage, sql.ContactRow, uuid.UUID, dict[str, Any]]] = []
        for it in items:
            contact = contacts[(it.account.id, it.msg.contact_external_id)]
            chat_id = chats[(it.account.id, contact.id)]
            reply_to = await self._message_id_of(it.channel, it.msg.reply_to_external_id)
            placed.append(
                (
                    it,
                    contact,
                    chat_id,
                    implied.message_row(it.tenant_id, chat_id, it.channel, it.msg, reply_to),
                )
            )
        inserted = {
            (r.channel, r.external_message_id): r.id
            for r in await sql.fetch(
                self._db, sql.INSERT_MESSAGES, sql.records([row for *_, row in placed]), sql.InsertedMessage
            )
        }
        results: list[Change | None] = []
        bumps: dict[uuid.UUID, implied.ChatBump] = {}
        for it, contact, chat_id, row in placed:
            profile = implied.profile_wanted(contact, it.channel, it.msg)
            message_id = inserted.get((it.channel, it.msg.external_message_id))
            if message_id is None:
                existing = await sql.fetch(
                    self._db,
                    sql.EXISTING,
                    {"channel": it.channel, "ext": it.msg.external_message_id},
                    sql.ExistingMessage,
                )
                enrich = implied.media_wanted(existing[0].media_state) + profile
                results.append(implied.repeated(chat_id, existing[0].id, enrich))
                continue
            bumps.setdefault(chat_id, implied.ChatBump()).add(it.msg)
            media = implied.media_wanted(row["media"]["state"] if row["media"] is not None else None)
            results.append(implied.created(chat_id, message_id, it.msg, media + profile))
        if bumps:
            params = {"ids": list(bumps)} | sql.records([b.row(chat) for chat, b in bumps.items()])
            await sql.run(self._db, sql.BUMP_CHATS, params)
        return results

    async def store_message(self, item: NewMessage) -> Change | None:
        """``store_messages`` of one message."""
        return (await self.store_messages([item]))[0]

    async def apply(
        self, tenant_id: uuid.UUID, channel: Channel, account: AccountRow, item: NormalizedEvent
    ) -> list[Change]:
        """Write one normalized event of any kind; what changed."""
        change: Change | None
        match item:
            case InboundMessage():
                change = await self.store_message(NewMessage(tenant_id, channel, account, item))
            case Reaction():
                change = await self.store_reaction(tenant_id, channel, account, item)
            case MessageDeleted():
                change = await self.mark_deleted(tenant_id, channel, account, item)
            case MessageEdited():
                change = await self.apply_edit(channel, item)
            case StatusUpdate():
                change = (await self.apply_statuses(channel, [item])).get(item.external_message_id)
                if change is None:
                    log.info(
                        "status_not_applied", external_message_id=item.external_message_id, status=item.status
                    )
            case WatermarkUpdate():
                return await self.apply_watermark(channel, account, item)
            case PlatformError():
                change = await self.record_platform_error(account, item)
            case TemplateStatusUpdate():
                change = await self.apply_template_status(account, item)
            case Ignored():
                log.debug("event_ignored", reason=item.reason)
                change = None
            case _:
                assert_never(item)
        return [change] if change else []

    async def store_reaction(
        self, tenant_id: uuid.UUID, channel: Channel, account: AccountRow, reaction: Reaction
    ) -> Change | None:
        """Keep the reaction as a row of its own (history) and show it on the message it reacts to."""
        chat_id = await self._chat_of(account, channel, reaction.contact_external_id, reaction.contact_name)
        target = await self._message_id_of(channel, reaction.target_external_id)
        params = {
            "tenant_id": tenant_id,
            "chat_id": chat_id,
            "channel": channel,
            "ext": implied.reaction_id(reaction),
            "direction": "outbound" if reaction.is_echo else "inbound",
            "sender_name": reaction.contact_name,
            "emoji": reaction.emoji,
            "raw": Jsonb(reaction.raw),
            "at": reaction.platform_timestamp,
            "target": target,
            "target_ext": reaction.target_external_id,
        }
        inserted = await sql.fetch(self._db, sql.INSERT_REACTION, params, sql.IdRow)
        if not inserted or target is None or reaction.is_echo:
            return None
        await sql.run(self._db, sql.SHOW_REACTION, {"emoji": reaction.emoji, "id": target})
        return Change("message.updated", chat_id, target, {"reaction": reaction.emoji})

    async def mark_deleted(
        self, tenant_id: uuid.UUID, channel: Channel, account: AccountRow, event: MessageDeleted
    ) -> Change:
        """Mark the original deleted (history kept); a placeholder stands in if it has not arrived yet."""
        chat_id = await self._chat_of(account, channel, event.contact_external_id, None)
        params = {
            "tenant_id": tenant_id,
            "chat_id": chat_id,
            "channel": channel,
            "ext": event.target_external_id,
            "raw": Jsonb(event.raw),
            "at": event.platform_timestamp,
        }
        (row,) = await sql.fetch(self._db, sql.MARK_DELETED, params, sql.IdRow)
        return Change("message.updated", chat_id, row.id, {"deleted": True})

    async def apply_edit(self, channel: Channel, event: MessageEdited) -> Change | None:
        """Replace the text, keeping the previous versions in the raw payload."""
        params = {
            "text": event.text,
            "at": event.platform_timestamp,
            "channel": channel,
            "ext": event.target_external_id,
        }
        rows = await sql.fetch(self._db, sql.APPLY_EDIT, params, sql.MessageInChat)
        return Change("message.updated", rows[0].chat_id, rows[0].id, {"edited": True}) if rows else None

    async def apply_statuses(self, channel: Channel, events: list[StatusUpdate]) -> dict[str, Change]:
        """Move outbound messages' statuses forward, in one statement; the changes by external id.

        The external ids must be distinct (a repeat in one statement would update a row only once with
        either value): callers apply repeats one by one afterwards, in their order. Statuses of
        messages we do not know change nothing.
        """
        if not events:
            return {}
        rows = [
            {
                "ext": e.external_message_id,
                "status": e.status,
                "status_at": e.platform_timestamp,
                "error_code": None if e.error_code is None else str(e.error_code),
                "error_message": e.error_message or e.error_title,
                "preds": ",".join(predecessors(e.status)),
            }
            for e in events
        ]
        params = {"channel": channel, "exts": [e.external_message_id for e in events], **sql.records(rows)}
        applied = await sql.fetch(self._db, sql.BULK_STATUS, params, sql.StatusApplied)
        by_ext = {e.external_message_id: e.status for e in events}
        return {
            r.external_message_id: Change(
                "message.status", r.chat_id, r.id, {"status": by_ext[r.external_message_id]}
            )
            for r in applied
        }

    async def apply_watermark(
        self, channel: Channel, account: AccountRow, event: WatermarkUpdate
    ) -> list[Change]:
        """Messenger: everything sent to this customer before the watermark is delivered/read."""
        params = {
            "status": event.status,
            "watermark": event.watermark,
            "account": account.id,
            "contact": event.contact_external_id,
            "channel": channel,
            "mids": list(event.mids or ()),
            "preds": list(predecessors(event.status)),
        }
        rows = await sql.fetch(self._db, sql.APPLY_WATERMARK, params, sql.MessageInChat)
        return [Change("message.status", r.chat_id, r.id, {"status": event.status}) for r in rows]

    async def record_platform_error(self, account: AccountRow, event: PlatformError) -> Change:
        """Meta reported a problem with the account or integration: tell the owner."""
        title = f"Meta reported error {event.code}" if event.code is not None else "Meta reported an error"
        params = {
            "title": title,
            "body": event.message or event.title,
            "account": account.id,
            "data": Jsonb({"code": event.code, "raw": event.raw}),
        }
        (row,) = await sql.fetch(self._db, sql.PLATFORM_ERROR, params, sql.IdRow)
        return Change("notification", None, None, {"notification_id": str(row.id), "title": title})

    async def apply_template_status(self, account: AccountRow, event: TemplateStatusUpdate) -> Change | None:
        """Meta changed a template's status: update it at once and tell the owner when it stopped
        working (rejected, paused, disabled, flagged), or resolve what was said when approved again."""
        status = status_for_event(event.event)
        params = {
            "waba": event.waba_id,
            "tid": event.template_id,
            "name": event.name,
            "language": event.language,
            "status": status,
            "reason": event.reason,
        }
        rows: list[sql.TemplateRow] = []
        if status == "DELETED":
            rows = await sql.fetch(self._db, sql.TEMPLATE_DELETED, params, sql.TemplateRow)
        elif status is not None:
            rows = await sql.fetch(self._db, sql.TEMPLATE_STATUS, params, sql.TemplateRow)
        name = event.name or (rows[0].name if rows else None)
        language = event.language or (rows[0].language if rows else None)
        log.info("template_status", waba_id=event.waba_id, status_event=event.event, updated=len(rows))
        if not name or not language:
            return None
        if status == "APPROVED":
            await sql.run(self._db, sql.TEMPLATE_NOTICES_RESOLVED, {"name": name, "language": language})
            return Change("notification", None, None, {"kind": "template_status", "template": name})
        notice = status_notice(name, language, event.event, event.reason)
        if notice is None:
            return None
        notice_params = {
            "kind": notice.kind,
            "severity": notice.severity,
            "title": notice.title,
            "body": notice.body,
            "account": account.id,
            "data": Jsonb(notice.data),
            "name": name,
            "language": language,
            "status": str(notice.data.get("status")),
        }
        inserted = await sql.fetch(self._db, sql.TEMPLATE_NOTICE, notice_params, sql.IdRow)
        if not inserted:
            return None
        data = {"notification_id": str(inserted[0].id), "kind": notice.kind, "title": notice.title}
        return Change("notification", None, None, data)

    async def _chat_of(
        self, account: AccountRow, channel: Channel, customer: str, name: str | None
    ) -> uuid.UUID:
        """Find or create a customer's contact and chat (for events that are not new messages)."""
        contact = implied.contact_row(account.id, channel, customer, name, None)
        (row,) = await sql.fetch(self._db, sql.UPSERT_CONTACTS, sql.records([contact]), sql.ContactRow)
        chat = implied.chat_row(account.id, row.id, channel)
        (chat_row,) = await sql.fetch(self._db, sql.UPSERT_CHATS, sql.records([chat]), sql.ChatRow)
        return chat_row.id

    async def _message_id_of(self, channel: Channel, external_id: str | None) -> uuid.UUID | None:
        if not external_id:
            return None
        rows = await sql.fetch(self._db, sql.MESSAGE_ID, {"channel": channel, "ext": external_id}, sql.IdRow)
        return rows[0].id if rows else None


def tenant_stores(
    connect: Callable[[uuid.UUID], AbstractAsyncContextManager[sql.Db]],
) -> Callable[[uuid.UUID], AbstractAsyncContextManager[TenantStore]]:
    """Open a ``TenantStore`` on each connection ``connect`` opens (the registry's ``driver_connection``
    for batches, ``driver_transaction`` for one event at a time)."""

    @asynccontextmanager
    async def open_store(tenant_id: uuid.UUID) -> AsyncIterator[TenantStore]:
        async with connect(tenant_id) as db:
            yield TenantStore(db)

    return open_store
