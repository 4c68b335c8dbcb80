"""JSON routes the open conversation's page calls: "seen" and "typing" (WhatsApp customers)."""

from __future__ import annotations

import uuid

from fastapi import APIRouter

from inbox_api.auth.dependencies import CurrentUser, Deps
from inbox_api.signals.service import queue_signal

router = APIRouter(tags=["signals"])


@router.post("/api/conversations/{chat_id}/seen", responses={404: {}})
async def seen(chat_id: uuid.UUID, user: CurrentUser, deps: Deps) -> dict[str, bool]:
    """The owner has the conversation in front of them: mark the customer's last message read on
    WhatsApp (once per message, when the restaurant allows it). ``queued`` says whether one went."""
    return {"queued": await queue_signal(deps, user, chat_id, "read")}


@router.post("/api/conversations/{chat_id}/typing", responses={404: {}})
async def typing(chat_id: uuid.UUID, user: CurrentUser, deps: Deps) -> dict[str, bool]:
    """The owner is writing a reply: show "typing…" to the WhatsApp customer (for up to 25 s)."""
    return {"queued": await queue_signal(deps, user, chat_id, "typing")}
