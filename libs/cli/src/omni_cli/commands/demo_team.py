"""The team-inbox part of ``omni demo seed``: labels, quick replies, a note, an assigned, a snoozed, a
pending and a resolved conversation, a reply the customer reacted to, and the audit entries those
actions leave (written once; re-runs add none)."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

LABELS = (
    ("Reservation", "#0969da"),
    ("Complaint", "#d1242f"),
    ("Catering", "#8250df"),
    ("Allergy", "#bf8700"),
)
QUICK_REPLIES = (
    ("hours", "We are open Tuesday to Sunday, 12:00-23:00 (kitchen until 22:00); closed on Mondays."),
    ("booking", "Happy to book you in! How many people, and what time would you like?"),
    ("vegan", "Yes! Our Vegan Lasagne and Chickpea Curry are both vegan; the curry is also gluten-free."),
    ("parking", "There is a public car park 200 m away on Linienstraße."),
)
# Demo customers by their platform id (see demo._deliveries).
LENA, SAM, MARTA, JULES = "4915112345678", "447700900123", "6100000000000001", "1780000000000001"
NOTE = "Asked for 4 tonight. Terrace is full: offer a table inside, and mention the allergy menu."
# The manager's answer to Lena (Meta's id, as the sandbox would give it); Lena reacts to it with 👍.
REPLY_ID = "wamid.demo-reply-0001"
REPLY = "Yes! A table for 4 inside at 20:00 is yours. See you tonight!"


async def seed_team(
    session: AsyncSession, *, tenant_id: uuid.UUID, owner_email: str, manager_email: str
) -> None:
    from omni_common.db.tenant_models import Chat, ChatLabel, ChatNote, Contact, Label, QuickReply, User
    from omni_common.tenancy.audit import Actor, record

    users = {u.email: u for u in (await session.execute(select(User))).scalars()}
    owner, manager = users[owner_email], users[manager_email]
    by_owner = Actor(owner.id, owner.email)
    by_manager = Actor(manager.id, manager.email)
    rows = await session.execute(select(Contact.external_id, Chat).join(Chat, Chat.contact_id == Contact.id))
    chats: dict[str, Any] = {ext: chat for ext, chat in rows}
    lena = chats[LENA]
    first_run = (
        await session.execute(select(ChatNote.id).where(ChatNote.chat_id == lena.id))
    ).first() is None

    labels: dict[str, Any] = {}
    for name, color in LABELS:
        created = await session.execute(
            insert(Label).values(name=name, color=color).on_conflict_do_nothing().returning(Label.id)
        )
        if (new := created.scalar()) is not None:
            await record(
                session,
                by_owner,
                "label.created",
                target_type="label",
                target_id=new,
                details={"name": name, "color": color},
            )
        labels[name] = (await session.execute(select(Label).where(Label.name == name))).scalar_one()
    for shortcut, body in QUICK_REPLIES:
        created = await session.execute(
            insert(QuickReply)
            .values(shortcut=shortcut, body=body, updated_by=owner.id)
            .on_conflict_do_nothing()
            .returning(QuickReply.id)
        )
        if (new := created.scalar()) is not None:
            await record(
                session,
                by_owner,
                "quick_reply.created",
                target_type="quick_reply",
                target_id=new,
                details={"shortcut": shortcut, "body": body[:200]},
            )

    for ext, label in ((LENA, "Reservation"), (LENA, "Allergy"), (MARTA, "Catering")):
        await session.execute(
            insert(ChatLabel)
            .values(chat_id=chats[ext].id, label_id=labels[label].id, added_by=manager.id)
            .on_conflict_do_nothing()
        )
    # Sam's question waits until tomorrow morning; re-runs push the snooze forward again.
    tomorrow = (datetime.now(UTC) + timedelta(days=1)).replace(hour=9, minute=0, second=0, microsecond=0)
    chats[SAM].state, chats[SAM].snoozed_until = "snoozed", tomorrow
    chats[JULES].state, chats[JULES].snoozed_until = "resolved", None
    # Marta was asked for the date of her event: waiting on her answer.
    chats[MARTA].state, chats[MARTA].snoozed_until = "pending", None
    lena.assignee_user_id = manager.id
    await _seed_reply(session, tenant_id, lena, manager, by_manager)
    if not first_run:
        return
    note = ChatNote(chat_id=lena.id, author_user_id=manager.id, body=NOTE)
    session.add(note)
    await session.flush()
    for ext, label in ((LENA, "Reservation"), (LENA, "Allergy"), (MARTA, "Catering")):
        await record(
            session,
            by_manager,
            "conversation.label_added",
            target_type="conversation",
            target_id=chats[ext].id,
            details={"label_id": str(labels[label].id), "label": label},
        )
    await record(
        session,
        by_owner,
        "conversation.assigned",
        target_type="conversation",
        target_id=lena.id,
        details={"from": None, "to": str(manager.id)},
    )
    await record(
        session,
        by_manager,
        "note.added",
        target_type="conversation",
        target_id=lena.id,
        details={"note_id": str(note.id), "length": len(NOTE)},
    )
    await record(
        session,
        by_manager,
        "conversation.state_changed",
        target_type="conversation",
        target_id=chats[SAM].id,
        details={"from": "open", "to": "snoozed", "snoozed_until": tomorrow.isoformat()},
    )
    await record(
        session,
        by_owner,
        "conversation.state_changed",
        target_type="conversation",
        target_id=chats[JULES].id,
        details={"from": "open", "to": "resolved", "snoozed_until": None},
    )
    await record(
        session,
        by_manager,
        "conversation.state_changed",
        target_type="conversation",
        target_id=chats[MARTA].id,
        details={"from": "open", "to": "pending", "snoozed_until": None},
    )


async def _seed_reply(
    session: AsyncSession, tenant_id: uuid.UUID, lena: Any, manager: Any, actor: Any
) -> None:
    """The manager's reply to Lena as the sender leaves it once Meta reported it read (written once)."""
    from omni_common.db.tenant_models import ChatMessage
    from omni_common.tenancy.audit import record

    if await session.scalar(select(ChatMessage.id).where(ChatMessage.external_message_id == REPLY_ID)):
        return
    at = (lena.last_inbound_at or datetime.now(UTC)) + timedelta(minutes=4)
    reply = ChatMessage(
        tenant_id=tenant_id,
        chat_id=lena.id,
        channel="whatsapp",
        external_message_id=REPLY_ID,
        direction="outbound",
        sender_name=manager.display_name or manager.email,
        kind="text",
        text=REPLY,
        status="read",
        status_at=at + timedelta(minutes=1),
        sent_by_user_id=manager.id,
        platform_timestamp=at,
        created_at=at,
    )
    session.add(reply)
    await session.flush()
    if lena.last_message_at is None or lena.last_message_at < at:
        lena.last_message_at, lena.last_message_preview = at, REPLY
    await record(
        session,
        actor,
        "reply.sent",
        target_type="conversation",
        target_id=lena.id,
        details={"message_id": str(reply.id), "preview": REPLY[:80], "length": len(REPLY)},
    )
