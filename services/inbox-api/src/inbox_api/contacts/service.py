"""The customer panel: a contact with the contacts the owner linked to it as one person, their
handles per channel, first seen, conversations (the others listed), labels and notes; linking and
unlinking (audited); a Messenger/Instagram name fetched from Meta when none is known yet.

Everything reads one tenant's database only: a contact id of another restaurant is simply not there
(NotFound), so nothing can be linked or shown across tenants.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

import httpx
import structlog
from sqlalchemy import func, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from inbox_api.auth.models import Principal
from inbox_api.deps import InboxDeps
from inbox_api.errors import Invalid, NotFound
from inbox_api.rows import get_or_404
from omni_common.db.tenant_models import (
    Chat,
    ChatLabel,
    ChatMessage,
    ChatNote,
    Contact,
    Label,
    SocialAccount,
    User,
)
from omni_common.domain.channels import channel_name
from omni_common.domain.people import customer_handle, customer_name, person_name
from omni_common.errors import OmniError
from omni_common.graph import GraphError
from omni_common.tenancy.accounts import read_token
from omni_common.tenancy.audit import record

log = structlog.get_logger(__name__)
NOTES_SHOWN = 10
CANDIDATES = 100
PROFILE_CHANNELS = ("facebook", "instagram")


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value else None


def _name(c: Contact) -> str:
    return customer_name(c.channel, c.display_name, c.handle, c.external_id)


def handle_of(c: Contact) -> str:
    """What reaches this contact on its channel: a phone number, an @username, else a short name."""
    return customer_handle(c.channel, c.handle, c.external_id) or customer_name(
        c.channel, None, None, c.external_id
    )


async def _group(session: AsyncSession, contact: Contact) -> list[Contact]:
    """The contact and every contact linked to it (the same person), oldest first."""
    if contact.person_id is None:
        return [contact]
    rows = await session.execute(
        select(Contact).where(Contact.person_id == contact.person_id).order_by(Contact.created_at)
    )
    return list(rows.scalars())


async def panel(session: AsyncSession, chat_id: uuid.UUID) -> dict[str, Any]:
    """Everything the panel beside conversation ``chat_id`` shows; NotFound when there is none."""
    chat = await get_or_404(session, Chat, chat_id, "no such conversation")
    contact = await get_or_404(session, Contact, chat.contact_id, "no such customer")
    group = await _group(session, contact)
    ids = [c.id for c in group]
    chats = list(
        (
            await session.execute(
                select(Chat, SocialAccount.display_name)
                .join(SocialAccount, SocialAccount.id == Chat.social_account_id)
                .where(Chat.contact_id.in_(ids))
                .order_by(Chat.last_message_at.desc().nulls_last())
            )
        ).all()
    )
    chat_ids = [c.id for c, _ in chats]
    labels = (
        await session.execute(
            select(Label.name, Label.color)
            .join(ChatLabel, ChatLabel.label_id == Label.id)
            .where(ChatLabel.chat_id.in_(chat_ids))
            .distinct()
            .order_by(Label.name)
        )
    ).all()
    notes = (
        await session.execute(
            select(ChatNote, User.display_name, User.email, Chat.channel)
            .join(Chat, Chat.id == ChatNote.chat_id)
            .outerjoin(User, User.id == ChatNote.author_user_id)
            .where(ChatNote.chat_id.in_(chat_ids))
            .order_by(ChatNote.created_at.desc())
            .limit(NOTES_SHOWN)
        )
    ).all()
    by_contact = {c.id: c for c in group}
    return {
        "contact_id": str(contact.id),
        "chat_id": str(chat_id),
        "name": customer_name(contact.channel, contact.display_name, contact.handle, contact.external_id),
        "linked": len(group) > 1,
        "contacts": [
            {
                "id": str(c.id),
                "channel": c.channel,
                "channel_label": channel_name(c.channel),
                "name": customer_name(c.channel, c.display_name, c.handle, c.external_id),
                "handle": handle_of(c),
                "first_seen": _iso(c.created_at),
                "this_one": c.id == contact.id,
            }
            for c in group
        ],
        "first_seen": _iso(min(c.created_at for c in group)),
        "conversation_count": len(chats),
        "labels": [{"name": n, "color": color} for n, color in labels],
        "notes": [
            {
                "body": n.body,
                "author": person_name(name, email) if email else "someone",
                "channel_label": channel_name(channel),
                "created_at": _iso(n.created_at),
            }
            for n, name, email, channel in notes
        ],
        "other_conversations": [
            {
                "id": str(c.id),
                "channel": c.channel,
                "channel_label": channel_name(c.channel),
                "account_name": account,
                "contact_name": customer_name(
                    c.channel,
                    by_contact[c.contact_id].display_name,
                    by_contact[c.contact_id].handle,
                    by_contact[c.contact_id].external_id,
                ),
                "last_message_at": _iso(c.last_message_at),
                "last_message_preview": c.last_message_preview,
                "state": c.state,
            }
            for c, account in chats
            if c.id != chat_id
        ],
    }


async def link_candidates(
    session: AsyncSession, contact_id: uuid.UUID, limit: int = CANDIDATES
) -> list[dict[str, str]]:
    """Contacts the owner may link this one with: not already the same person, most recent first."""
    contact = await get_or_404(session, Contact, contact_id, "no such customer")
    stmt = select(Contact).where(Contact.id != contact.id)
    if contact.person_id is not None:
        stmt = stmt.where(or_(Contact.person_id.is_(None), Contact.person_id != contact.person_id))
    rows = await session.execute(stmt.order_by(Contact.updated_at.desc()).limit(limit))
    return [
        {
            "id": str(c.id),
            "label": f"{_name(c)} ({channel_name(c.channel)})",
        }
        for c in rows.scalars()
    ]


async def link(session: AsyncSession, user: Principal, contact_id: uuid.UUID, other_id: uuid.UUID) -> None:
    """Make two contacts one person (their groups merge); audited. NotFound for an unknown contact."""
    if contact_id == other_id:
        raise Invalid("choose another customer to link with")
    # Both rows locked (in id order: no deadlock with a link the other way round), so two links at
    # once merge into one person instead of each writing its own.
    locked = await session.execute(
        select(Contact).where(Contact.id.in_([contact_id, other_id])).order_by(Contact.id).with_for_update()
    )
    rows = {c.id: c for c in locked.scalars()}
    if contact_id not in rows or other_id not in rows:
        raise NotFound("no such customer")
    a, b = rows[contact_id], rows[other_id]
    if a.person_id is not None and a.person_id == b.person_id:
        return
    person = a.person_id or b.person_id or uuid.uuid4()
    merged = [p for p in (a.person_id, b.person_id) if p is not None]
    stmt = update(Contact).values(person_id=person, updated_at=func.now())
    await session.execute(stmt.where(or_(Contact.id.in_([a.id, b.id]), Contact.person_id.in_(merged))))
    details = {"other": str(b.id), "person_id": str(person)}
    await record(
        session, user.actor(), "contact.linked", target_type="contact", target_id=a.id, details=details
    )


async def unlink(session: AsyncSession, user: Principal, contact_id: uuid.UUID) -> None:
    """Take a contact out of its person (a lone contact left behind is on its own again); audited."""
    contact = await get_or_404(session, Contact, contact_id, "no such customer")
    person = contact.person_id
    if person is None:
        return
    group = select(Contact.id).where(Contact.person_id == person).order_by(Contact.id).with_for_update()
    await session.execute(group)  # the person's rows locked: a link at the same time waits
    await session.execute(update(Contact).where(Contact.id == contact.id).values(person_id=None))
    left = (await session.execute(select(Contact.id).where(Contact.person_id == person))).scalars().all()
    if len(left) == 1:
        await session.execute(update(Contact).where(Contact.id == left[0]).values(person_id=None))
    details = {"person_id": str(person)}
    await record(
        session,
        user.actor(),
        "contact.unlinked",
        target_type="contact",
        target_id=contact.id,
        details=details,
    )


async def fetch_name(deps: InboxDeps, user: Principal, chat_id: uuid.UUID) -> bool:
    """A Messenger/Instagram customer without a name: ask Meta once (the same profile lookup the
    normalizer makes for inbound messages); True when a name was found and saved."""
    if deps.profiles is None:
        return False
    async with deps.registry.session(user.tenant_id) as session:
        chat = await get_or_404(session, Chat, chat_id, "no such conversation")
        contact = await get_or_404(session, Contact, chat.contact_id, "no such customer")
        if contact.channel not in PROFILE_CHANNELS or contact.display_name or contact.profile_fetched_at:
            return False
        token = await read_token(
            session, keyring=deps.keyring, tenant_id=user.tenant_id, account_id=chat.social_account_id
        )
        channel, external_id, contact_id = contact.channel, contact.external_id, contact.id
    try:
        profile = await deps.profiles(channel, external_id, token)
    except (GraphError, httpx.HTTPError, OmniError, ValueError) as exc:
        log.info("profile_unavailable", error=str(exc)[:200])
        if not isinstance(exc, GraphError) or exc.retryable:
            return False  # Meta could not answer now: asked again the next time the panel opens
        profile = {}
    name = str(profile.get("name") or "")[:200].strip() or None
    username = str(profile.get("username") or "")[:100].strip()
    values: dict[str, Any] = {"profile_fetched_at": datetime.now(UTC)}
    shown = name or (f"@{username}" if username else None)
    if shown:
        values["display_name"] = shown
    if username:
        values["handle"] = f"@{username}"
    async with deps.registry.begin(user.tenant_id) as session:
        await session.execute(
            update(Contact).where(Contact.id == contact_id, Contact.display_name.is_(None)).values(**values)
        )
        if shown:  # the conversation's earlier messages show it too, as the normalizer does
            await session.execute(
                update(ChatMessage)
                .where(
                    ChatMessage.chat_id == chat_id,
                    ChatMessage.direction == "inbound",
                    ChatMessage.sender_name.is_(None),
                )
                .values(sender_name=shown)
            )
    return shown is not None
