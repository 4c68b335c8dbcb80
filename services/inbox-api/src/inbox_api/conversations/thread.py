"""The open conversation as the page shows it: the conversation, and its messages and notes by time."""

from __future__ import annotations

import uuid
from typing import Any

from inbox_api.auth.models import Principal
from inbox_api.conversations.service import get_conversation
from inbox_api.deps import InboxDeps
from inbox_api.display.service import restaurant_zone
from inbox_api.messages.service import chat_messages
from inbox_api.notes.service import list_notes, merge_timeline


async def thread_view(deps: InboxDeps, user: Principal, chat_id: uuid.UUID) -> dict[str, Any]:
    """The conversation and its history; NotFound when the tenant has no such chat.

    Side-effect free (it serves GETs): the page marks the conversation read with a POST (app.js).
    """
    messages = await chat_messages(deps, user, chat_id)
    async with deps.registry.session(user.tenant_id) as session:
        chat = await get_conversation(session, chat_id, viewer=user.user_id)
        notes = await list_notes(session, chat_id)
        zone = await restaurant_zone(session)
    return {"chat": chat, "messages": merge_timeline(messages, notes), "zone": zone}
