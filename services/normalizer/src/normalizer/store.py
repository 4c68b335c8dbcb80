"""Writes of the normalizer into one tenant database; every write is idempotent.

Idempotency comes from unique keys, not from reads: ``ON CONFLICT`` on
``(channel, external_message_id)``, ``(social_account_id, external_id)`` for contacts and
``(social_account_id, contact_id)`` for chats. Status changes are guarded so they only move forward.

Plain SQL on the tenant's psycopg connection (``TenantEngineRegistry.driver_transaction``): this is the
hottest write path of the system and SQLAlchemy's connection, transaction and statement machinery
cost more client CPU than the statements themselves (``bench writepath``). A statement over many rows
takes them as one JSON document (``jsonb_to_recordset``), so one server-side prepared statement serves
batches of any size and the client sends one string, not an adapted array per column.
Columns the ORM would fill on an update (``updated_at``) are set here explicitly.
"""

from __future__ import annotations

import dataclasses
import json
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import orjson
from psycopg import AsyncConnection
from psycopg.types.json import Jsonb

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

# The tenant database connection the store writes through (inside the caller's transaction).
Db = AsyncConnection[Any]

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


async def _rows(db: Db, sql: str, params: Mapping[str, Any]) -> list[tuple[Any, ...]]:
    # prepare=True: parsed and planned once per connection from the first use, not after five.
    cursor = await db.execute(sql, params, prepare=True)
    return await cursor.fetchall()


async def _run(db: Db, sql: str, params: Mapping[str, Any]) -> None:
    await db.execute(sql, params, prepare=True)


def _records(rows: list[dict[str, Any]]) -> dict[str, str]:
    """Rows as one JSON document, for ``jsonb_to_recordset``: one parameter whatever their number.

    One string is far cheaper to send than an array per column (psycopg adapts arrays element by
    element, which was a quarter of the write path's CPU).
    """
    try:
        return {"rows": orjson.dumps(rows).decode()}
    except TypeError:  # an integer beyond 64 bits in a payload (not from our parser): the slow way
        return {"rows": json.dumps(rows, default=str)}


_FIND_ACCOUNT = """
    SELECT id, status, is_active FROM social_accounts
    WHERE platform = %(platform)s AND external_account_id = %(ext)s
"""

# One statement whatever the number of accounts.
_FIND_ACCOUNTS = """
    SELECT a.platform, a.external_account_id, a.id, a.status, a.is_active,
           coalesce(a.last_webhook_at >= now() - interval '1 minute', false)
    FROM social_accounts AS a
    JOIN unnest(CAST(%(platform)s AS text[]), CAST(%(ext)s AS text[])) AS k(platform, ext)
      ON a.platform = k.platform AND a.external_account_id = k.ext
"""

_TOUCH_ACCOUNTS = """
    UPDATE social_accounts SET last_webhook_at = now(), updated_at = now()
    WHERE id = ANY(CAST(%(ids)s AS uuid[]))
"""

_TOUCH_ACCOUNT = """
    UPDATE social_accounts SET last_webhook_at = now(), updated_at = now()
    WHERE id = %(id)s AND (last_webhook_at IS NULL OR last_webhook_at < now() - interval '1 minute')
"""

# The names that arrive win over none; a repeat keeps what is known.
_UPSERT_CONTACTS = """
    INSERT INTO contacts (social_account_id, channel, external_id, display_name, handle)
    SELECT * FROM jsonb_to_recordset(CAST(%(rows)s AS jsonb))
        AS r(social_account_id uuid, channel text, external_id text, display_name text, handle text)
    ON CONFLICT (social_account_id, external_id) DO UPDATE
    SET display_name = coalesce(EXCLUDED.display_name, contacts.display_name),
        handle = coalesce(EXCLUDED.handle, contacts.handle)
    RETURNING id, social_account_id, external_id, display_name, profile_fetched_at
"""

_UPSERT_CHATS = """
    INSERT INTO chats (social_account_id, contact_id, channel)
    SELECT * FROM jsonb_to_recordset(CAST(%(rows)s AS jsonb))
        AS r(social_account_id uuid, contact_id uuid, channel text)
    ON CONFLICT (social_account_id, contact_id) DO UPDATE SET channel = EXCLUDED.channel
    RETURNING id, social_account_id, contact_id
"""

_INSERT_MESSAGES = """
    INSERT INTO chat_messages (
        tenant_id, chat_id, channel, external_message_id, direction, sender_name, sender_handle, kind,
        text, media, raw_payload, status, platform_timestamp, reply_to_message_id, reply_to_external_id
    )
    SELECT * FROM jsonb_to_recordset(CAST(%(rows)s AS jsonb)) AS r(
        tenant_id uuid, chat_id uuid, channel text, external_message_id text, direction text,
        sender_name text, sender_handle text, kind text, text text, media jsonb, raw_payload jsonb,
        status text, platform_timestamp timestamptz, reply_to_message_id uuid, reply_to_external_id text
    )
    ON CONFLICT (channel, external_message_id) DO NOTHING
    RETURNING id, channel, external_message_id
"""

_MESSAGE_ID = "SELECT id FROM chat_messages WHERE channel = %(channel)s AND external_message_id = %(ext)s"
_EXISTING = """
    SELECT id, media->>'state' FROM chat_messages
    WHERE channel = %(channel)s AND external_message_id = %(ext)s
"""


async def find_account(db: Db, channel: str, account_id: str) -> AccountRow | None:
    rows = await _rows(db, _FIND_ACCOUNT, {"platform": channel, "ext": account_id})
    return AccountRow(rows[0][0], rows[0][1], rows[0][2]) if rows else None


async def find_accounts(db: Db, keys: set[tuple[str, str]]) -> dict[tuple[str, str], AccountRow]:
    """The accounts of a batch, keyed ``(channel, external account id)``, in one statement."""
    if not keys:
        return {}
    ordered = sorted(keys)
    rows = await _rows(
        db, _FIND_ACCOUNTS, {"platform": [k[0] for k in ordered], "ext": [k[1] for k in ordered]}
    )
    return {(r[0], r[1]): AccountRow(r[2], r[3], r[4], bool(r[5])) for r in rows}


async def touch_accounts(db: Db, accounts: list[AccountRow]) -> None:
    """``touch_account`` for many accounts; no statement at all when each was touched recently."""
    stale = [a.id for a in accounts if not a.webhook_recorded]
    if stale:
        await _run(db, _TOUCH_ACCOUNTS, {"ids": stale})


async def touch_account(db: Db, account: AccountRow) -> None:
    """Record that a webhook arrived (at most once a minute, to keep the hot path light)."""
    await _run(db, _TOUCH_ACCOUNT, {"id": account.id})


async def _contact_and_chat(
    db: Db,
    *,
    account: AccountRow,
    channel: str,
    external_id: str,
    name: str | None,
    handle: str | None,
) -> tuple[uuid.UUID, uuid.UUID, bool]:
    """Find or create the contact and its chat; the flag says the contact still needs a profile name."""
    contact = (
        await _rows(
            db,
            _UPSERT_CONTACTS,
            _records(
                [
                    {
                        "social_account_id": account.id,
                        "channel": channel,
                        "external_id": external_id,
                        "display_name": name,
                        "handle": handle,
                    }
                ]
            ),
        )
    )[0]
    contact_id = contact[0]
    needs_profile = contact[3] is None and contact[4] is None
    chat = await _rows(
        db,
        _UPSERT_CHATS,
        _records([{"social_account_id": account.id, "contact_id": contact_id, "channel": channel}]),
    )
    return contact_id, chat[0][0], needs_profile


async def _message_id_of(db: Db, channel: str, external_id: str | None) -> uuid.UUID | None:
    if not external_id:
        return None
    rows = await _rows(db, _MESSAGE_ID, {"channel": channel, "ext": external_id})
    return rows[0][0] if rows else None


async def _insert_messages(db: Db, rows: list[dict[str, Any]]) -> dict[tuple[str, str], uuid.UUID]:
    """Insert message rows (distinct external ids); the ids of those that were new."""
    return {(r[1], r[2]): r[0] for r in await _rows(db, _INSERT_MESSAGES, _records(rows))}


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
    db: Db, *, tenant_id: uuid.UUID, channel: str, account: AccountRow, msg: InboundMessage
) -> Change | None:
    """Insert one message (and its contact and chat); ``None`` when it was already there."""
    _, chat_id, needs_profile = await _contact_and_chat(
        db,
        account=account,
        channel=channel,
        external_id=msg.contact_external_id,
        name=None if msg.is_echo else msg.contact_name,
        handle=msg.contact_handle,
    )
    reply_to = await _message_id_of(db, channel, msg.reply_to_external_id)
    row = _message_row(tenant_id, chat_id, channel, msg, reply_to)
    message_id = (await _insert_messages(db, [row])).get((channel, msg.external_message_id))
    profile = ("profile",) if needs_profile and channel in PROFILE_CHANNELS and not msg.is_echo else ()
    if message_id is None:
        # A repeat. Follow-up work may not have been queued the first time (crash before the
        # publish), so it is asked for again while still pending; its handler is idempotent.
        existing = (await _rows(db, _EXISTING, {"channel": channel, "ext": msg.external_message_id}))[0]
        enrich = (("media",) if existing[1] == "pending" else ()) + profile
        return Change("message.existing", chat_id, existing[0], {}, enrich) if enrich else None
    bump = _Bump()
    bump.add(msg.platform_timestamp, _preview(msg), inbound=not msg.is_echo)
    await _bump_chats(db, {chat_id: bump})
    media = ("media",) if row["media"] is not None and row["media"]["state"] == "pending" else ()
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


async def store_messages(db: Db, items: list[NewMessage]) -> list[Change | None]:
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
    # (id, social_account_id, external_id, display_name, profile_fetched_at) by (account, customer)
    contacts = {
        (r[1], r[2]): r for r in await _rows(db, _UPSERT_CONTACTS, _records(list(contact_rows.values())))
    }
    chat_rows = [
        {"social_account_id": c[1], "contact_id": c[0], "channel": contact_rows[k]["channel"]}
        for k, c in contacts.items()
    ]
    chats = {(r[1], r[2]): r[0] for r in await _rows(db, _UPSERT_CHATS, _records(chat_rows))}
    chat_of: list[uuid.UUID] = []
    message_rows = []
    for it in items:
        msg = it.msg
        contact = contacts[(it.account.id, msg.contact_external_id)]
        chat_of.append(chats[(it.account.id, contact[0])])
        message_rows.append(_message_row(it.tenant_id, chat_of[-1], it.channel, msg, None))
    inserted = await _insert_messages(db, message_rows)
    results: list[Change | None] = []
    bumps: dict[uuid.UUID, _Bump] = {}
    for it, chat_id, row in zip(items, chat_of, message_rows, strict=True):
        msg = it.msg
        message_id = inserted.get((it.channel, msg.external_message_id))
        if message_id is None:  # stored before this batch: the one-by-one path knows what to ask again
            results.append(
                await store_message(
                    db, tenant_id=it.tenant_id, channel=it.channel, account=it.account, msg=msg
                )
            )
            continue
        contact = contacts[(it.account.id, msg.contact_external_id)]
        needs_profile = contact[3] is None and contact[4] is None
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
    await _bump_chats(db, bumps)
    return results


@dataclass
class _Bump:
    """What new messages do to one chat, applied in the order they came."""

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


# Joins against a JSON document carry a guard on the table's key (``= ANY(ids)``): a prepared
# statement's generic plan assumes a record set of 100 rows, which made PostgreSQL hash-join it against
# a sequential scan of the whole table (seen as its CPU per event doubling over a 60-s run); the guard
# keeps it on the index whatever the table's size.
#
# The greatest times win; the preview changes only for a newer message (out-of-order arrivals must
# not replace the preview of a newer one); a new customer message counts as unread and reopens the
# conversation.
_BUMP_CHATS = """
    UPDATE chats AS c
    SET last_message_at = greatest(coalesce(c.last_message_at, v.at), v.at),
        last_message_preview = CASE WHEN c.last_message_at IS NULL OR c.last_message_at <= v.at
                                    THEN v.preview ELSE c.last_message_preview END,
        unread_count = c.unread_count + v.inbound,
        last_inbound_at = CASE WHEN v.inbound_at IS NULL THEN c.last_inbound_at
                               ELSE greatest(coalesce(c.last_inbound_at, v.inbound_at), v.inbound_at) END,
        state = CASE WHEN v.inbound > 0 THEN 'open' ELSE c.state END,
        updated_at = now()
    FROM jsonb_to_recordset(CAST(%(rows)s AS jsonb))
        AS v(chat_id uuid, at timestamptz, preview text, inbound int, inbound_at timestamptz)
    WHERE c.id = v.chat_id AND c.id = ANY(CAST(%(ids)s AS uuid[]))
"""


async def _bump_chats(db: Db, bumps: dict[uuid.UUID, _Bump]) -> None:
    if not bumps:
        return
    await _run(
        db,
        _BUMP_CHATS,
        {"ids": list(bumps)}
        | _records(
            [
                {
                    "chat_id": chat,
                    "at": b.at,
                    "preview": b.preview,
                    "inbound": b.inbound,
                    "inbound_at": b.inbound_at,
                }
                for chat, b in bumps.items()
            ]
        ),
    )


_INSERT_REACTION = """
    INSERT INTO chat_messages (
        tenant_id, chat_id, channel, external_message_id, direction, sender_name, kind, text,
        reaction_emoji, raw_payload, status, platform_timestamp, reply_to_message_id, reply_to_external_id
    )
    VALUES (
        %(tenant_id)s, %(chat_id)s, %(channel)s, %(ext)s, %(direction)s, %(sender_name)s, 'reaction',
        %(emoji)s, %(emoji)s, %(raw)s, 'received', %(at)s, %(target)s, %(target_ext)s
    )
    ON CONFLICT (channel, external_message_id) DO NOTHING
    RETURNING id
"""
_SHOW_REACTION = "UPDATE chat_messages SET reaction_emoji = %(emoji)s, updated_at = now() WHERE id = %(id)s"


async def store_reaction(
    db: Db, *, tenant_id: uuid.UUID, channel: str, account: AccountRow, reaction: Reaction
) -> Change | None:
    """Keep the reaction as a row of its own (history) and show it on the message it reacts to."""
    _, chat_id, _ = await _contact_and_chat(
        db,
        account=account,
        channel=channel,
        external_id=reaction.contact_external_id,
        name=reaction.contact_name,
        handle=None,
    )
    target = await _message_id_of(db, channel, reaction.target_external_id)
    # Messenger/Instagram reactions have no id of their own: derive a stable one so redeliveries dedupe.
    own_id = reaction.external_message_id or (
        f"reaction:{reaction.target_external_id}:{reaction.contact_external_id}:"
        f"{int(reaction.platform_timestamp.timestamp() * 1000)}"
    )
    inserted = await _rows(
        db,
        _INSERT_REACTION,
        {
            "tenant_id": tenant_id,
            "chat_id": chat_id,
            "channel": channel,
            "ext": own_id,
            "direction": "outbound" if reaction.is_echo else "inbound",
            "sender_name": reaction.contact_name,
            "emoji": reaction.emoji,
            "raw": Jsonb(reaction.raw),
            "at": reaction.platform_timestamp,
            "target": target,
            "target_ext": reaction.target_external_id,
        },
    )
    if not inserted or target is None or reaction.is_echo:
        return None
    await _run(db, _SHOW_REACTION, {"emoji": reaction.emoji, "id": target})
    return Change("message.updated", chat_id, target, {"reaction": reaction.emoji})


# The original keeps its history; when it has not arrived yet a placeholder row takes its id, so the
# original's later insert changes nothing.
_MARK_DELETED = """
    INSERT INTO chat_messages (
        tenant_id, chat_id, channel, external_message_id, direction, kind, raw_payload, status,
        platform_timestamp, deleted_at
    )
    VALUES (
        %(tenant_id)s, %(chat_id)s, %(channel)s, %(ext)s, 'inbound', 'deleted', %(raw)s, 'received',
        %(at)s, %(at)s
    )
    ON CONFLICT (channel, external_message_id) DO UPDATE
    SET deleted_at = coalesce(chat_messages.deleted_at, EXCLUDED.deleted_at)
    RETURNING id
"""


async def mark_deleted(
    db: Db,
    *,
    tenant_id: uuid.UUID,
    channel: str,
    account: AccountRow,
    event: MessageDeleted,
) -> Change | None:
    """Mark the original deleted (history kept); a placeholder stands in if it has not arrived yet."""
    _, chat_id, _ = await _contact_and_chat(
        db,
        account=account,
        channel=channel,
        external_id=event.contact_external_id,
        name=None,
        handle=None,
    )
    rows = await _rows(
        db,
        _MARK_DELETED,
        {
            "tenant_id": tenant_id,
            "chat_id": chat_id,
            "channel": channel,
            "ext": event.target_external_id,
            "raw": Jsonb(event.raw),
            "at": event.platform_timestamp,
        },
    )
    return Change("message.updated", chat_id, rows[0][0], {"deleted": True})


# The previous text goes to raw_payload._edit_history (SET sees the row as it was); older edits
# arriving late change nothing.
_APPLY_EDIT = """
    UPDATE chat_messages
    SET text = %(text)s,
        edited_at = %(at)s,
        raw_payload = coalesce(raw_payload, jsonb_build_object()) || jsonb_build_object(
            '_edit_history',
            coalesce(raw_payload -> '_edit_history', jsonb_build_array()) || jsonb_build_array(text)
        ),
        updated_at = now()
    WHERE channel = %(channel)s AND external_message_id = %(ext)s
      AND (edited_at IS NULL OR edited_at < %(at)s)
    RETURNING id, chat_id
"""


async def apply_edit(db: Db, *, channel: str, event: MessageEdited) -> Change | None:
    """Replace the text, keeping the previous versions in the raw payload."""
    rows = await _rows(
        db,
        _APPLY_EDIT,
        {
            "text": event.text,
            "at": event.platform_timestamp,
            "channel": channel,
            "ext": event.target_external_id,
        },
    )
    return Change("message.updated", rows[0][1], rows[0][0], {"edited": True}) if rows else None


async def apply_status(db: Db, *, channel: str, event: StatusUpdate) -> Change | None:
    """Move an outbound message's status forward; statuses for unknown messages change nothing."""
    return (await apply_statuses(db, channel=channel, events=[event])).get(event.external_message_id)


_APPLY_WATERMARK = """
    UPDATE chat_messages
    SET status = %(status)s, status_at = %(watermark)s, updated_at = now()
    WHERE chat_id IN (
            SELECT chats.id FROM chats JOIN contacts ON contacts.id = chats.contact_id
            WHERE chats.social_account_id = %(account)s AND contacts.external_id = %(contact)s
        )
      AND channel = %(channel)s
      AND direction = 'outbound'
      AND (platform_timestamp <= %(watermark)s OR external_message_id = ANY(CAST(%(mids)s AS text[])))
      AND (status IS NULL OR status = ANY(CAST(%(preds)s AS text[])))
    RETURNING id, chat_id
"""


async def apply_watermark(
    db: Db, *, channel: str, account: AccountRow, event: WatermarkUpdate
) -> list[Change]:
    """Messenger: everything sent to this customer before the watermark is delivered/read."""
    rows = await _rows(
        db,
        _APPLY_WATERMARK,
        {
            "status": event.status,
            "watermark": event.watermark,
            "account": account.id,
            "contact": event.contact_external_id,
            "channel": channel,
            "mids": list(event.mids or ()),
            "preds": list(predecessors(event.status)),
        },
    )
    return [Change("message.status", r[1], r[0], {"status": event.status}) for r in rows]


_PLATFORM_ERROR = """
    INSERT INTO notifications (kind, severity, title, body, social_account_id, data)
    VALUES ('platform_error', 'warning', %(title)s, %(body)s, %(account)s, %(data)s)
    RETURNING id
"""


async def record_platform_error(db: Db, *, account: AccountRow, event: PlatformError) -> Change:
    """Meta reported a problem with the account or integration: tell the owner."""
    title = f"Meta reported error {event.code}" if event.code is not None else "Meta reported an error"
    rows = await _rows(
        db,
        _PLATFORM_ERROR,
        {
            "title": title,
            "body": event.message or event.title,
            "account": account.id,
            "data": Jsonb({"code": event.code, "raw": event.raw}),
        },
    )
    return Change("notification", None, None, {"notification_id": str(rows[0][0]), "title": title})


# One statement for many statuses (the bulk of Meta's webhooks), each guarded by the statuses it may
# replace (passed per row): a status never moves back, whatever order they arrive in.
_BULK_STATUS = """
    UPDATE chat_messages AS m
    SET status = v.status,
        status_at = v.status_at,
        error_code = CASE WHEN v.status = 'failed' THEN v.error_code ELSE m.error_code END,
        error_message = CASE WHEN v.status = 'failed' THEN v.error_message ELSE m.error_message END,
        updated_at = now()
    FROM jsonb_to_recordset(CAST(%(rows)s AS jsonb))
        AS v(ext text, status text, status_at timestamptz, error_code text, error_message text, preds text)
    WHERE m.channel = %(channel)s
      AND m.external_message_id = v.ext
      AND m.external_message_id = ANY(CAST(%(exts)s AS text[]))
      AND m.direction = 'outbound'
      AND (m.status IS NULL OR m.status = ANY(string_to_array(v.preds, ',')))
    RETURNING m.id, m.chat_id, v.ext
"""


async def apply_statuses(db: Db, *, channel: str, events: list[StatusUpdate]) -> dict[str, Change]:
    """Apply many status updates of one channel at once; the changes by external message id.

    The external ids must be distinct (a repeat in one statement would update a row only once with
    either value): callers apply repeats one by one afterwards, in their order.
    """
    if not events:
        return {}
    rows = await _rows(
        db,
        _BULK_STATUS,
        {
            "channel": channel,
            "exts": [e.external_message_id for e in events],
            **_records(
                [
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
            ),
        },
    )
    by_ext = {e.external_message_id: e.status for e in events}
    return {r[2]: Change("message.status", r[1], r[0], {"status": by_ext[r[2]]}) for r in rows}
