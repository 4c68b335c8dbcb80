"""Every statement the normalizer runs on a tenant database, and the named rows they return.

Plain SQL on the tenant's psycopg connection (``TenantEngineRegistry.driver_connection``): this is the
hottest write path of the system and SQLAlchemy's connection, transaction and statement machinery
cost more client CPU than the statements themselves (``bench writepath``). A statement over many rows
takes them as one JSON document (``jsonb_to_recordset``), so one server-side prepared statement serves
batches of any size and the client sends one string, not an adapted array per column.
Columns the ORM would fill on an update (``updated_at``) are set here explicitly.

Idempotency comes from unique keys, not from reads: ``ON CONFLICT`` on
``(channel, external_message_id)``, ``(social_account_id, external_id)`` for contacts and
``(social_account_id, contact_id)`` for chats. Status changes are guarded so they only move forward.

Joins against a JSON document carry a guard on the table's key (``= ANY(ids)``): a prepared
statement's generic plan assumes a record set of 100 rows, which made PostgreSQL hash-join it against
a sequential scan of the whole table (seen as its CPU per event doubling over a 60-s run); the guard
keeps it on the index whatever the table's size (tests/integration/test_normalizer_plans.py).
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable, Mapping
from datetime import datetime
from typing import Any, NamedTuple, TypeVar

import orjson
from psycopg import AsyncConnection

# The tenant database connection the normalizer writes through (inside the caller's transaction).
Db = AsyncConnection[Any]

R = TypeVar("R")


async def fetch(db: Db, query: str, params: Mapping[str, Any], row: Callable[..., R]) -> list[R]:
    """Run a statement and name its rows (``row`` is one of the NamedTuples below)."""
    # prepare=True: parsed and planned once per connection from the first use, not after five.
    cursor = await db.execute(query, params, prepare=True)
    return [row(*values) for values in await cursor.fetchall()]


async def run(db: Db, query: str, params: Mapping[str, Any]) -> None:
    """Run a statement whose rows (if any) are not needed."""
    await db.execute(query, params, prepare=True)


def records(rows: list[dict[str, Any]]) -> dict[str, str]:
    """Rows as one JSON document, for ``jsonb_to_recordset``: one parameter whatever their number.

    One string is far cheaper to send than an array per column (psycopg adapts arrays element by
    element, which was a quarter of the write path's CPU).
    """
    try:
        return {"rows": orjson.dumps(rows).decode()}
    except TypeError:  # an integer beyond 64 bits in a payload (not from our parser): the slow way
        return {"rows": json.dumps(rows, default=str)}


# --- accounts ------------------------------------------------------------------------------------


class FoundAccount(NamedTuple):
    platform: str
    external_account_id: str
    id: uuid.UUID
    status: str
    is_active: bool
    webhook_recorded: bool  # last_webhook_at within the last minute


# One statement whatever the number of accounts.
FIND_ACCOUNTS = """
    SELECT a.platform, a.external_account_id, a.id, a.status, a.is_active,
           coalesce(a.last_webhook_at >= now() - interval '1 minute', false)
    FROM social_accounts AS a
    JOIN unnest(CAST(%(platform)s AS text[]), CAST(%(ext)s AS text[])) AS k(platform, ext)
      ON a.platform = k.platform AND a.external_account_id = k.ext
"""

# WABA-level webhooks (template status updates) name the WABA, not a number: the WABA's account,
# an active one first. Run only for keys FIND_ACCOUNTS did not find (never on the message path).
FIND_WABAS = """
    SELECT DISTINCT ON (a.waba_id) a.platform, a.waba_id, a.id, a.status, a.is_active,
           coalesce(a.last_webhook_at >= now() - interval '1 minute', false)
    FROM social_accounts AS a
    WHERE a.platform = 'whatsapp' AND a.waba_id = ANY(CAST(%(ext)s AS text[]))
    ORDER BY a.waba_id, a.is_active DESC, a.created_at
"""

TOUCH_ACCOUNTS = """
    UPDATE social_accounts SET last_webhook_at = now(), updated_at = now()
    WHERE id = ANY(CAST(%(ids)s AS uuid[]))
"""

# --- new messages --------------------------------------------------------------------------------


class ContactRow(NamedTuple):
    id: uuid.UUID
    social_account_id: uuid.UUID
    external_id: str
    display_name: str | None
    profile_fetched_at: datetime | None


# The names that arrive win over none; a repeat keeps what is known.
UPSERT_CONTACTS = """
    INSERT INTO contacts (social_account_id, channel, external_id, display_name, handle)
    SELECT * FROM jsonb_to_recordset(CAST(%(rows)s AS jsonb))
        AS r(social_account_id uuid, channel text, external_id text, display_name text, handle text)
    ON CONFLICT (social_account_id, external_id) DO UPDATE
    SET display_name = coalesce(EXCLUDED.display_name, contacts.display_name),
        handle = coalesce(EXCLUDED.handle, contacts.handle)
    RETURNING id, social_account_id, external_id, display_name, profile_fetched_at
"""


class ChatRow(NamedTuple):
    id: uuid.UUID
    social_account_id: uuid.UUID
    contact_id: uuid.UUID


UPSERT_CHATS = """
    INSERT INTO chats (social_account_id, contact_id, channel)
    SELECT * FROM jsonb_to_recordset(CAST(%(rows)s AS jsonb))
        AS r(social_account_id uuid, contact_id uuid, channel text)
    ON CONFLICT (social_account_id, contact_id) DO UPDATE SET channel = EXCLUDED.channel
    RETURNING id, social_account_id, contact_id
"""


class InsertedMessage(NamedTuple):
    id: uuid.UUID
    channel: str
    external_message_id: str


INSERT_MESSAGES = """
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


class IdRow(NamedTuple):
    id: uuid.UUID


MESSAGE_ID = "SELECT id FROM chat_messages WHERE channel = %(channel)s AND external_message_id = %(ext)s"


class ExistingMessage(NamedTuple):
    id: uuid.UUID
    media_state: str | None


EXISTING = """
    SELECT id, media->>'state' FROM chat_messages
    WHERE channel = %(channel)s AND external_message_id = %(ext)s
"""

# The greatest times win; the preview changes only for a newer message (out-of-order arrivals must
# not replace the preview of a newer one); a new customer message counts as unread and reopens the
# conversation.
BUMP_CHATS = """
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

# --- reactions, deletes, edits -------------------------------------------------------------------

INSERT_REACTION = """
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
SHOW_REACTION = "UPDATE chat_messages SET reaction_emoji = %(emoji)s, updated_at = now() WHERE id = %(id)s"

# The original keeps its history; when it has not arrived yet a placeholder row takes its id, so the
# original's later insert changes nothing.
MARK_DELETED = """
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


class MessageInChat(NamedTuple):
    id: uuid.UUID
    chat_id: uuid.UUID


# The previous text goes to raw_payload._edit_history (SET sees the row as it was); older edits
# arriving late change nothing.
APPLY_EDIT = """
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

# --- statuses and account notices ----------------------------------------------------------------

APPLY_WATERMARK = """
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


class TemplateRow(NamedTuple):
    id: uuid.UUID
    name: str
    language: str


# A template's new status from Meta's webhook, by Meta's id or by name and language.
TEMPLATE_STATUS = """
    UPDATE wa_templates
    SET status = %(status)s, reason = %(reason)s, updated_at = now(),
        external_id = coalesce(external_id, %(tid)s)
    WHERE waba_id = %(waba)s
      AND (external_id = %(tid)s OR (name = %(name)s AND language = %(language)s))
    RETURNING id, name, language
"""
TEMPLATE_DELETED = """
    DELETE FROM wa_templates
    WHERE waba_id = %(waba)s AND (external_id = %(tid)s OR (name = %(name)s AND language = %(language)s))
    RETURNING id, name, language
"""
# One open notice per template, language and status (a redelivered webhook adds nothing).
TEMPLATE_NOTICE = """
    INSERT INTO notifications (kind, severity, title, body, social_account_id, data)
    SELECT %(kind)s, %(severity)s, %(title)s, %(body)s, %(account)s, %(data)s
    WHERE NOT EXISTS (
        SELECT 1 FROM notifications
        WHERE kind = %(kind)s AND resolved_at IS NULL
          AND data->>'template' = %(name)s AND data->>'language' = %(language)s
          AND data->>'status' = %(status)s
    )
    RETURNING id
"""
# Approved again: what was said about it no longer holds.
TEMPLATE_NOTICES_RESOLVED = """
    UPDATE notifications SET resolved_at = now()
    WHERE kind IN ('template_status', 'template_refused') AND resolved_at IS NULL
      AND data->>'template' = %(name)s AND data->>'language' = %(language)s
"""

PLATFORM_ERROR = """
    INSERT INTO notifications (kind, severity, title, body, social_account_id, data)
    VALUES ('platform_error', 'warning', %(title)s, %(body)s, %(account)s, %(data)s)
    RETURNING id
"""


class StatusApplied(NamedTuple):
    id: uuid.UUID
    chat_id: uuid.UUID
    external_message_id: str


# One statement for many statuses (the bulk of Meta's webhooks), each guarded by the statuses it may
# replace (passed per row): a status never moves back, whatever order they arrive in.
BULK_STATUS = """
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

# --- enrichment (normalizer.enrich) --------------------------------------------------------------


class EnrichTarget(NamedTuple):
    message_id: uuid.UUID
    chat_id: uuid.UUID
    media: dict[str, Any] | None
    account_id: uuid.UUID
    contact_id: uuid.UUID
    contact_external_id: str
    contact_name: str | None
    profile_fetched_at: datetime | None
    credentials: str | None


# The message, its chat's contact and the account's sealed token, in one statement.
LOAD_ENRICH_TARGET = """
    SELECT m.id, m.chat_id, m.media, c.social_account_id, k.id, k.external_id, k.display_name,
           k.profile_fetched_at, a.credentials
    FROM chat_messages AS m
    JOIN chats AS c ON c.id = m.chat_id
    JOIN contacts AS k ON k.id = c.contact_id
    JOIN social_accounts AS a ON a.id = c.social_account_id
    WHERE m.id = %(id)s
"""

# Merges the patch into the media document (keys of the patch win).
SET_MEDIA = """
    UPDATE chat_messages SET media = coalesce(media, jsonb_build_object()) || %(patch)s, updated_at = now()
    WHERE id = %(id)s
"""

# Only a contact still without a name takes the profile's; the chat's earlier messages show it too.
SET_CONTACT_NAME = """
    UPDATE contacts SET display_name = %(name)s, profile_fetched_at = now(), updated_at = now()
    WHERE id = %(id)s AND display_name IS NULL
"""
SET_SENDER_NAMES = """
    UPDATE chat_messages SET sender_name = %(name)s, updated_at = now()
    WHERE chat_id = %(chat)s AND direction = 'inbound' AND sender_name IS NULL
"""
