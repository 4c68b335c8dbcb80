"""Writes of the normalizer into one tenant database; every write is idempotent.

Idempotency comes from unique keys, not from reads: ``ON CONFLICT`` on
``(channel, external_message_id)``, ``(social_account_id, external_id)`` for contacts and
``(social_account_id, contact_id)`` for chats. Status changes are guarded so they only move forward.
"""

from __future__ import annotations

import dataclasses
import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import case, func, or_, select, text, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncConnection

from normalizer.statuses import predecessors
from omni_common.channels.inbound import (
    InboundMessage,
    MessageDeleted,
    MessageEdited,
    PlatformError,
    Reaction,
    StatusUpdate,
    WatermarkUpdate,
)
from omni_common.db.tenant_models import Chat, ChatMessage, Contact, Notification, SocialAccount

PREVIEW_CHARS = 140
# Messenger/Instagram payloads carry no sender name: it is fetched from the Graph API afterwards.
PROFILE_CHANNELS = ("facebook", "instagram")


@dataclass(frozen=True)
class AccountRow:
    id: uuid.UUID
    status: str
    is_active: bool
    webhook_recorded: bool = False  # last_webhook_at is already within the last minute


@dataclass(frozen=True)
class Change:
    """A visible change, for the live inbox."""

    kind: str  # message.created | message.updated | message.status | notification | message.existing
    chat_id: uuid.UUID | None
    message_id: uuid.UUID | None
    data: dict[str, Any]
    enrich: tuple[str, ...] = ()  # follow-up fetches: "media", "profile"
    external_id: str | None = None  # the platform's message id, for the log (message.created)


def _upsert_contacts() -> Any:
    stmt = insert(Contact)
    return stmt.on_conflict_do_update(
        index_elements=[Contact.social_account_id, Contact.external_id],
        set_={
            "display_name": func.coalesce(stmt.excluded.display_name, Contact.display_name),
            "handle": func.coalesce(stmt.excluded.handle, Contact.handle),
        },
    ).returning(
        Contact.id,
        Contact.social_account_id,
        Contact.external_id,
        Contact.display_name,
        Contact.profile_fetched_at,
    )


def _upsert_chats() -> Any:
    stmt = insert(Chat)
    return stmt.on_conflict_do_update(
        index_elements=[Chat.social_account_id, Chat.contact_id], set_={"channel": stmt.excluded.channel}
    ).returning(Chat.id, Chat.social_account_id, Chat.contact_id)


# Built once: constructing an upsert (its ``excluded`` alias above all) cost more CPU than compiling
# and running it (15 % of the normalizer's write path in a profile). Rows come as parameters.
_UPSERT_CONTACTS = _upsert_contacts()
_UPSERT_CHATS = _upsert_chats()
_INSERT_MESSAGES = (
    insert(ChatMessage)
    .on_conflict_do_nothing(index_elements=[ChatMessage.channel, ChatMessage.external_message_id])
    .returning(ChatMessage.id, ChatMessage.channel, ChatMessage.external_message_id)
)


async def find_account(session: AsyncConnection, channel: str, account_id: str) -> AccountRow | None:
    row = (
        await session.execute(
            select(SocialAccount.id, SocialAccount.status, SocialAccount.is_active).where(
                SocialAccount.platform == channel, SocialAccount.external_account_id == account_id
            )
        )
    ).first()
    return AccountRow(row.id, row.status, row.is_active) if row else None


async def find_accounts(
    session: AsyncConnection, keys: set[tuple[str, str]]
) -> dict[tuple[str, str], AccountRow]:
    """The accounts of a batch, keyed ``(channel, external account id)``, in one statement."""
    if not keys:
        return {}
    ordered = sorted(keys)
    rows = await session.execute(
        _FIND_ACCOUNTS, {"platform": [k[0] for k in ordered], "ext": [k[1] for k in ordered]}
    )
    return {(r[0], r[1]): AccountRow(r[2], r[3], r[4], bool(r[5])) for r in rows}


# Plain SQL with arrays: one cached statement whatever the number of accounts (an expanding IN
# is compiled again for every size, which showed in the normalizer's profile).
_FIND_ACCOUNTS = text(
    """
    SELECT a.platform, a.external_account_id, a.id, a.status, a.is_active,
           coalesce(a.last_webhook_at >= now() - interval '1 minute', false)
    FROM social_accounts AS a
    JOIN unnest(CAST(:platform AS text[]), CAST(:ext AS text[])) AS k(platform, ext)
      ON a.platform = k.platform AND a.external_account_id = k.ext
    """
)


async def touch_accounts(session: AsyncConnection, accounts: list[AccountRow]) -> None:
    """``touch_account`` for many accounts; no statement at all when each was touched recently."""
    stale = [a.id for a in accounts if not a.webhook_recorded]
    if stale:
        await session.execute(
            update(SocialAccount).where(SocialAccount.id.in_(stale)).values(last_webhook_at=func.now())
        )


async def touch_account(session: AsyncConnection, account: AccountRow) -> None:
    """Record that a webhook arrived (at most once a minute, to keep the hot path light)."""
    await session.execute(
        update(SocialAccount)
        .where(
            SocialAccount.id == account.id,
            or_(
                SocialAccount.last_webhook_at.is_(None),
                SocialAccount.last_webhook_at < func.now() - func.make_interval(0, 0, 0, 0, 0, 1),
            ),
        )
        .values(last_webhook_at=func.now())
    )


async def _contact_and_chat(
    session: AsyncConnection,
    *,
    account: AccountRow,
    channel: str,
    external_id: str,
    name: str | None,
    handle: str | None,
) -> tuple[uuid.UUID, uuid.UUID, bool]:
    """Find or create the contact and its chat; the flag says the contact still needs a profile name."""
    contact = (
        await session.execute(
            _UPSERT_CONTACTS,
            {
                "social_account_id": account.id,
                "channel": channel,
                "external_id": external_id,
                "display_name": name,
                "handle": handle,
            },
        )
    ).one()
    contact_id = contact.id
    needs_profile = contact.display_name is None and contact.profile_fetched_at is None
    chat_id = (
        await session.execute(
            _UPSERT_CHATS, {"social_account_id": account.id, "contact_id": contact_id, "channel": channel}
        )
    ).one()[0]
    return contact_id, chat_id, needs_profile


async def _message_id_of(session: AsyncConnection, channel: str, external_id: str | None) -> uuid.UUID | None:
    if not external_id:
        return None
    return (
        await session.execute(
            select(ChatMessage.id).where(
                ChatMessage.channel == channel, ChatMessage.external_message_id == external_id
            )
        )
    ).scalar_one_or_none()


def _media_json(msg: InboundMessage) -> dict[str, Any] | None:
    if msg.media is None:
        return None
    media = dataclasses.asdict(msg.media)
    # Story media must not be stored (Meta's rule): it is linked, and expires with the story.
    fetchable = msg.media.media_id is not None or msg.media.url is not None
    media["state"] = "linked" if msg.media.is_story else "pending" if fetchable else "unavailable"
    if msg.extra_media:
        media["extra"] = [dataclasses.asdict(m) for m in msg.extra_media]
    return media


def _extras(msg: InboundMessage) -> dict[str, Any]:
    extras: dict[str, Any] = {}
    if msg.location:
        extras["location"] = dataclasses.asdict(msg.location)
    if msg.shared_contacts:
        extras["shared_contacts"] = msg.shared_contacts
    if msg.interactive:
        extras["interactive"] = dataclasses.asdict(msg.interactive)
    if msg.referral:
        extras["referral"] = msg.referral
    if msg.story_id or msg.story_reply_url:
        extras["story"] = {"id": msg.story_id, "url": msg.story_reply_url}
    if msg.forwarded:
        extras["forwarded"] = True
    return extras


def _preview(msg: InboundMessage) -> str:
    text = msg.text or (msg.media.caption if msg.media and msg.media.caption else None)
    return (text or f"[{msg.kind}]")[:PREVIEW_CHARS]


def _message_row(
    tenant_id: uuid.UUID, chat_id: uuid.UUID, channel: str, msg: InboundMessage, reply_to: uuid.UUID | None
) -> dict[str, Any]:
    """The ``chat_messages`` row of an inbound (or echoed) message."""
    raw = dict(msg.raw)
    extras = _extras(msg)
    if extras:
        raw = {**raw, "_omni": extras}
    return {
        "tenant_id": tenant_id,
        "chat_id": chat_id,
        "channel": channel,
        "external_message_id": msg.external_message_id,
        "direction": msg.direction,
        "sender_name": None if msg.is_echo else msg.contact_name,
        "sender_handle": None if msg.is_echo else msg.contact_handle,
        "kind": msg.kind,
        "text": msg.text,
        "media": _media_json(msg),
        "raw_payload": raw,
        "status": "sent" if msg.is_echo else "received",
        "platform_timestamp": msg.platform_timestamp,
        "reply_to_message_id": reply_to,
        "reply_to_external_id": msg.reply_to_external_id,
    }


async def store_message(
    session: AsyncConnection, *, tenant_id: uuid.UUID, channel: str, account: AccountRow, msg: InboundMessage
) -> Change | None:
    """Insert one message (and its contact and chat); ``None`` when it was already there."""
    _, chat_id, needs_profile = await _contact_and_chat(
        session,
        account=account,
        channel=channel,
        external_id=msg.contact_external_id,
        name=None if msg.is_echo else msg.contact_name,
        handle=msg.contact_handle,
    )
    reply_to = await _message_id_of(session, channel, msg.reply_to_external_id)
    inserted = (
        await session.execute(_INSERT_MESSAGES, _message_row(tenant_id, chat_id, channel, msg, reply_to))
    ).first()
    message_id = inserted[0] if inserted else None
    profile = ("profile",) if needs_profile and channel in PROFILE_CHANNELS and not msg.is_echo else ()
    if message_id is None:
        # A repeat. Follow-up work may not have been queued the first time (crash before the
        # publish), so it is asked for again while still pending; its handler is idempotent.
        existing = (
            await session.execute(
                select(ChatMessage.id, ChatMessage.media["state"].astext).where(
                    ChatMessage.channel == channel, ChatMessage.external_message_id == msg.external_message_id
                )
            )
        ).one()
        enrich = (("media",) if existing[1] == "pending" else ()) + profile
        return Change("message.existing", chat_id, existing[0], {}, enrich) if enrich else None
    await _bump_chat(session, chat_id, msg.platform_timestamp, _preview(msg), inbound=not msg.is_echo)
    media = ("media",) if msg.media is not None and _media_json(msg)["state"] == "pending" else ()  # type: ignore[index]
    return Change(
        "message.created",
        chat_id,
        message_id,
        {"direction": msg.direction, "kind": msg.kind},
        media + profile,
        msg.external_message_id,
    )


@dataclass(frozen=True)
class NewMessage:
    """One inbound message of a batch, with the account it arrived on."""

    tenant_id: uuid.UUID
    channel: str
    account: AccountRow
    msg: InboundMessage


async def store_messages(session: AsyncConnection, items: list[NewMessage]) -> list[Change | None]:
    """``store_message`` for many messages in four statements: contacts, chats, messages, chat bumps.

    One ``Change`` (or ``None``) per item, in order, as ``store_message`` would give. Items must have
    distinct external ids and no reply-to (the caller keeps those for ``store_message``). A message
    that is already stored goes through ``store_message`` (it knows what to ask again).
    """
    if not items:
        return []
    # Contacts: one row per (account, customer); the names that arrive last win, as one by one.
    contact_rows: dict[tuple[uuid.UUID, str], dict[str, Any]] = {}
    for it in items:
        key = (it.account.id, it.msg.contact_external_id)
        row = contact_rows.setdefault(
            key,
            {
                "social_account_id": key[0],
                "channel": it.channel,
                "external_id": key[1],
                "display_name": None,
                "handle": None,
            },
        )
        name = None if it.msg.is_echo else it.msg.contact_name
        row["display_name"] = name or row["display_name"]
        row["handle"] = it.msg.contact_handle or row["handle"]
    contacts = {
        (r.social_account_id, r.external_id): r
        for r in await session.execute(_UPSERT_CONTACTS, list(contact_rows.values()))
    }
    chat_rows = {
        (c.social_account_id, c.id): {
            "social_account_id": c.social_account_id,
            "contact_id": c.id,
            "channel": contact_rows[k]["channel"],
        }
        for k, c in contacts.items()
    }
    chats = {
        (r.social_account_id, r.contact_id): r.id
        for r in await session.execute(_UPSERT_CHATS, list(chat_rows.values()))
    }
    chat_of: list[uuid.UUID] = []
    message_rows = []
    for it in items:
        msg = it.msg
        contact = contacts[(it.account.id, msg.contact_external_id)]
        chat_of.append(chats[(it.account.id, contact.id)])
        message_rows.append(_message_row(it.tenant_id, chat_of[-1], it.channel, msg, None))
    inserted = {
        (r.channel, r.external_message_id): r.id
        for r in await session.execute(_INSERT_MESSAGES, message_rows)
    }
    results: list[Change | None] = []
    bumps: dict[uuid.UUID, _Bump] = {}
    for it, chat_id, row in zip(items, chat_of, message_rows, strict=True):
        msg = it.msg
        message_id = inserted.get((it.channel, msg.external_message_id))
        if message_id is None:  # stored before this batch: the one-by-one path knows what to ask again
            results.append(
                await store_message(
                    session, tenant_id=it.tenant_id, channel=it.channel, account=it.account, msg=msg
                )
            )
            continue
        contact = contacts[(it.account.id, msg.contact_external_id)]
        needs_profile = contact.display_name is None and contact.profile_fetched_at is None
        profile = ("profile",) if needs_profile and it.channel in PROFILE_CHANNELS and not msg.is_echo else ()
        media = ("media",) if row["media"] is not None and row["media"]["state"] == "pending" else ()
        bumps.setdefault(chat_id, _Bump()).add(msg.platform_timestamp, _preview(msg), inbound=not msg.is_echo)
        results.append(
            Change(
                "message.created",
                chat_id,
                message_id,
                {"direction": msg.direction, "kind": msg.kind},
                media + profile,
                msg.external_message_id,
            )
        )
    if bumps:
        await session.execute(
            _BULK_BUMP,
            {
                "chat": list(bumps),
                "at": [b.at for b in bumps.values()],
                "preview": [b.preview for b in bumps.values()],
                "inbound": [b.inbound for b in bumps.values()],
                "inbound_at": [b.inbound_at for b in bumps.values()],
            },
        )
    return results


@dataclass
class _Bump:
    """What a batch's new messages do to one chat, as ``_bump_chat`` one message at a time would."""

    at: datetime | None = None
    preview: str = ""
    inbound: int = 0
    inbound_at: datetime | None = None

    def add(self, at: datetime, preview: str, *, inbound: bool) -> None:
        if self.at is None or at >= self.at:  # later in the batch wins a tie, as in sequence
            self.at, self.preview = at, preview
        if inbound:
            self.inbound += 1
            self.inbound_at = at if self.inbound_at is None else max(self.inbound_at, at)


# _bump_chat over many chats: same rules (greatest times, preview only from a newer message,
# a new customer message reopens the conversation).
_BULK_BUMP = text(
    """
    UPDATE chats AS c
    SET last_message_at = greatest(coalesce(c.last_message_at, v.at), v.at),
        last_message_preview = CASE WHEN c.last_message_at IS NULL OR c.last_message_at <= v.at
                                    THEN v.preview ELSE c.last_message_preview END,
        unread_count = c.unread_count + v.inbound,
        last_inbound_at = CASE WHEN v.inbound_at IS NULL THEN c.last_inbound_at
                               ELSE greatest(coalesce(c.last_inbound_at, v.inbound_at), v.inbound_at) END,
        state = CASE WHEN v.inbound > 0 THEN 'open' ELSE c.state END,
        updated_at = now()
    FROM unnest(
        CAST(:chat AS uuid[]), CAST(:at AS timestamptz[]), CAST(:preview AS text[]),
        CAST(:inbound AS int[]), CAST(:inbound_at AS timestamptz[])
    ) AS v(chat_id, at, preview, inbound, inbound_at)
    WHERE c.id = v.chat_id
    """
)


async def _bump_chat(
    session: AsyncConnection, chat_id: uuid.UUID, at: datetime, preview: str, *, inbound: bool
) -> None:
    newer = or_(Chat.last_message_at.is_(None), Chat.last_message_at <= at)
    values: dict[str, Any] = {
        "last_message_at": func.greatest(func.coalesce(Chat.last_message_at, at), at),
        # Out-of-order arrivals must not replace the preview of a newer message.
        "last_message_preview": case((newer, preview), else_=Chat.last_message_preview),
    }
    if inbound:
        values["unread_count"] = Chat.unread_count + 1
        values["last_inbound_at"] = func.greatest(func.coalesce(Chat.last_inbound_at, at), at)
        values["state"] = "open"  # a new customer message reopens a resolved conversation
    await session.execute(update(Chat).where(Chat.id == chat_id).values(**values))


async def store_reaction(
    session: AsyncConnection, *, tenant_id: uuid.UUID, channel: str, account: AccountRow, reaction: Reaction
) -> Change | None:
    """Keep the reaction as a row of its own (history) and show it on the message it reacts to."""
    _, chat_id, _ = await _contact_and_chat(
        session,
        account=account,
        channel=channel,
        external_id=reaction.contact_external_id,
        name=reaction.contact_name,
        handle=None,
    )
    target = await _message_id_of(session, channel, reaction.target_external_id)
    # Messenger/Instagram reactions have no id of their own: derive a stable one so redeliveries dedupe.
    own_id = reaction.external_message_id or (
        f"reaction:{reaction.target_external_id}:{reaction.contact_external_id}:"
        f"{int(reaction.platform_timestamp.timestamp() * 1000)}"
    )
    inserted = (
        await session.execute(
            insert(ChatMessage)
            .values(
                tenant_id=tenant_id,
                chat_id=chat_id,
                channel=channel,
                external_message_id=own_id,
                direction="outbound" if reaction.is_echo else "inbound",
                sender_name=reaction.contact_name,
                kind="reaction",
                text=reaction.emoji,
                reaction_emoji=reaction.emoji,
                raw_payload=reaction.raw,
                status="received",
                platform_timestamp=reaction.platform_timestamp,
                reply_to_message_id=target,
                reply_to_external_id=reaction.target_external_id,
            )
            .on_conflict_do_nothing(index_elements=[ChatMessage.channel, ChatMessage.external_message_id])
            .returning(ChatMessage.id)
        )
    ).scalar_one_or_none()
    if inserted is None or target is None or reaction.is_echo:
        return None
    await session.execute(
        update(ChatMessage).where(ChatMessage.id == target).values(reaction_emoji=reaction.emoji)
    )
    return Change("message.updated", chat_id, target, {"reaction": reaction.emoji})


async def mark_deleted(
    session: AsyncConnection,
    *,
    tenant_id: uuid.UUID,
    channel: str,
    account: AccountRow,
    event: MessageDeleted,
) -> Change | None:
    """Mark the original deleted (history kept); a placeholder stands in if it has not arrived yet."""
    _, chat_id, _ = await _contact_and_chat(
        session,
        account=account,
        channel=channel,
        external_id=event.contact_external_id,
        name=None,
        handle=None,
    )
    stmt = insert(ChatMessage).values(
        tenant_id=tenant_id,
        chat_id=chat_id,
        channel=channel,
        external_message_id=event.target_external_id,
        direction="inbound",
        kind="deleted",
        raw_payload=event.raw,
        status="received",
        platform_timestamp=event.platform_timestamp,
        deleted_at=event.platform_timestamp,
    )
    message_id = (
        await session.execute(
            stmt.on_conflict_do_update(
                index_elements=[ChatMessage.channel, ChatMessage.external_message_id],
                set_={"deleted_at": func.coalesce(ChatMessage.deleted_at, stmt.excluded.deleted_at)},
            ).returning(ChatMessage.id)
        )
    ).scalar_one()
    return Change("message.updated", chat_id, message_id, {"deleted": True})


async def apply_edit(session: AsyncConnection, *, channel: str, event: MessageEdited) -> Change | None:
    """Replace the text, keeping the previous versions in the raw payload."""
    history = func.coalesce(ChatMessage.raw_payload["_edit_history"], func.jsonb_build_array())
    row = (
        await session.execute(
            update(ChatMessage)
            .where(
                ChatMessage.channel == channel,
                ChatMessage.external_message_id == event.target_external_id,
                or_(ChatMessage.edited_at.is_(None), ChatMessage.edited_at < event.platform_timestamp),
            )
            .values(
                text=event.text,
                edited_at=event.platform_timestamp,
                raw_payload=func.coalesce(ChatMessage.raw_payload, func.jsonb_build_object()).op("||")(
                    func.jsonb_build_object(
                        "_edit_history", history.op("||")(func.jsonb_build_array(ChatMessage.text))
                    )
                ),
            )
            .returning(ChatMessage.id, ChatMessage.chat_id)
        )
    ).first()
    return Change("message.updated", row.chat_id, row.id, {"edited": True}) if row else None


async def apply_status(session: AsyncConnection, *, channel: str, event: StatusUpdate) -> Change | None:
    """Move an outbound message's status forward; statuses for unknown messages change nothing."""
    values: dict[str, Any] = {"status": event.status, "status_at": event.platform_timestamp}
    if event.status == "failed":
        values["error_code"] = None if event.error_code is None else str(event.error_code)
        values["error_message"] = event.error_message or event.error_title
    row = (
        await session.execute(
            update(ChatMessage)
            .where(
                ChatMessage.channel == channel,
                ChatMessage.external_message_id == event.external_message_id,
                ChatMessage.direction == "outbound",
                or_(ChatMessage.status.is_(None), ChatMessage.status.in_(predecessors(event.status))),
            )
            .values(**values)
            .returning(ChatMessage.id, ChatMessage.chat_id)
        )
    ).first()
    return Change("message.status", row.chat_id, row.id, {"status": event.status}) if row else None


async def apply_watermark(
    session: AsyncConnection, *, channel: str, account: AccountRow, event: WatermarkUpdate
) -> list[Change]:
    """Messenger: everything sent to this customer before the watermark is delivered/read."""
    chat_ids = (
        select(Chat.id)
        .join(Contact, Contact.id == Chat.contact_id)
        .where(Chat.social_account_id == account.id, Contact.external_id == event.contact_external_id)
    )
    covered = ChatMessage.platform_timestamp <= event.watermark
    if event.mids:
        covered = or_(covered, ChatMessage.external_message_id.in_(event.mids))
    rows = (
        await session.execute(
            update(ChatMessage)
            .where(
                ChatMessage.chat_id.in_(chat_ids),
                ChatMessage.channel == channel,
                ChatMessage.direction == "outbound",
                covered,
                or_(ChatMessage.status.is_(None), ChatMessage.status.in_(predecessors(event.status))),
            )
            .values(status=event.status, status_at=event.watermark)
            .returning(ChatMessage.id, ChatMessage.chat_id)
        )
    ).all()
    return [Change("message.status", r.chat_id, r.id, {"status": event.status}) for r in rows]


async def record_platform_error(
    session: AsyncConnection, *, account: AccountRow, event: PlatformError
) -> Change:
    """Meta reported a problem with the account or integration: tell the owner."""
    title = f"Meta reported error {event.code}" if event.code is not None else "Meta reported an error"
    notification_id = (
        await session.execute(
            insert(Notification)
            .values(
                kind="platform_error",
                severity="warning",
                title=title,
                body=event.message or event.title,
                social_account_id=account.id,
                data={"code": event.code, "raw": event.raw},
            )
            .returning(Notification.id)
        )
    ).scalar_one()
    return Change("notification", None, None, {"notification_id": str(notification_id), "title": title})


# One statement for many statuses (the bulk of Meta's webhooks): the same guard as apply_status, the
# predecessors passed per row. ``updated_at`` is set here because this is not an ORM update.
_BULK_STATUS = text(
    """
    UPDATE chat_messages AS m
    SET status = v.status,
        status_at = v.status_at,
        error_code = CASE WHEN v.status = 'failed' THEN v.error_code ELSE m.error_code END,
        error_message = CASE WHEN v.status = 'failed' THEN v.error_message ELSE m.error_message END,
        updated_at = now()
    FROM unnest(
        CAST(:ext AS text[]), CAST(:status AS text[]), CAST(:status_at AS timestamptz[]),
        CAST(:error_code AS text[]), CAST(:error_message AS text[]), CAST(:preds AS text[])
    ) AS v(ext, status, status_at, error_code, error_message, preds)
    WHERE m.channel = :channel
      AND m.external_message_id = v.ext
      AND m.direction = 'outbound'
      AND (m.status IS NULL OR m.status = ANY(string_to_array(v.preds, ',')))
    RETURNING m.id, m.chat_id, v.ext
    """
)


async def apply_statuses(
    session: AsyncConnection, *, channel: str, events: list[StatusUpdate]
) -> dict[str, Change]:
    """Apply many status updates of one channel at once; the changes by external message id.

    The external ids must be distinct (a repeat in one statement would update a row only once with
    either value): callers apply repeats one by one afterwards, in their order.
    """
    if not events:
        return {}
    rows = await session.execute(
        _BULK_STATUS,
        {
            "channel": channel,
            "ext": [e.external_message_id for e in events],
            "status": [e.status for e in events],
            "status_at": [e.platform_timestamp for e in events],
            "error_code": [None if e.error_code is None else str(e.error_code) for e in events],
            "error_message": [e.error_message or e.error_title for e in events],
            "preds": [",".join(predecessors(e.status)) for e in events],
        },
    )
    by_ext = {e.external_message_id: e.status for e in events}
    return {r.ext: Change("message.status", r.chat_id, r.id, {"status": by_ext[r.ext]}) for r in rows.all()}
