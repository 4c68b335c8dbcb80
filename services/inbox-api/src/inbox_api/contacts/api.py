"""JSON routes of the customer beside a conversation: the panel's data, linking and unlinking."""

from __future__ import annotations

import uuid
from typing import Any

from fastapi import APIRouter, Response

from inbox_api.auth.dependencies import CurrentUser, Deps
from inbox_api.contacts.models import LinkIn
from inbox_api.contacts.service import fetch_name, link, panel, unlink

router = APIRouter(tags=["contacts"])


@router.get("/api/conversations/{chat_id}/customer", responses={404: {}})
async def customer(chat_id: uuid.UUID, user: CurrentUser, deps: Deps) -> dict[str, Any]:
    """The conversation's customer: name, handles per channel, first seen, number of conversations,
    labels, notes, and their other conversations (contacts linked as the same person)."""
    await fetch_name(deps, user, chat_id)
    async with deps.registry.session(user.tenant_id) as session:
        return await panel(session, chat_id)


@router.post("/api/contacts/{contact_id}/link", status_code=204, responses={404: {}, 422: {}})
async def link_contacts(contact_id: uuid.UUID, body: LinkIn, user: CurrentUser, deps: Deps) -> Response:
    """``{"other_contact_id"}``: the two contacts are one person (audited ``contact.linked``)."""
    async with deps.registry.begin(user.tenant_id) as session:
        await link(session, user, contact_id, body.other_contact_id)
    return Response(status_code=204)


@router.delete("/api/contacts/{contact_id}/link", status_code=204, responses={404: {}})
async def unlink_contact(contact_id: uuid.UUID, user: CurrentUser, deps: Deps) -> Response:
    """The contact is on its own again (audited ``contact.unlinked``)."""
    async with deps.registry.begin(user.tenant_id) as session:
        await unlink(session, user, contact_id)
    return Response(status_code=204)
