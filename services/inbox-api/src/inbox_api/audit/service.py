"""Reading the audit trail (entries are written by each domain, in the transaction of the change)."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from inbox_api.audit.words import Names, describe
from omni_common.db.tenant_models import AuditEntry, Chat, Contact, SocialAccount, User
from omni_common.domain.channels import channel_name
from omni_common.domain.people import customer_name, name_from_email, person_name

# The audit page's filter: (action prefix, words).
AUDIT_GROUPS = (
    ("", "Everything"),
    ("reply.", "Replies sent"),
    ("suggestion.", "AI suggestions used"),
    ("conversation.", "Conversations (state, assignment, labels)"),
    ("note.", "Notes"),
    ("quick_reply.", "Quick replies"),
    ("label.", "Labels"),
    ("assistant.", "AI settings"),
    ("account.", "Accounts"),
    ("contact.", "Customers linked or unlinked"),
    ("user.", "Team: names, roles, access, sign-ins"),
)


def entry_view(e: AuditEntry) -> dict[str, Any]:
    return {
        "id": e.id,
        "at": e.at.isoformat(),
        "actor_user_id": str(e.actor_user_id) if e.actor_user_id else None,
        "actor_email": e.actor_email,
        "action": e.action,
        "target_type": e.target_type,
        "target_id": e.target_id,
        "details": e.details,
    }


def _escape_like(term: str) -> str:
    return term.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


async def list_audit(
    session: AsyncSession,
    *,
    action: str | None = None,
    target_id: str | None = None,
    since: datetime | None = None,
    before_id: int | None = None,
    limit: int = 100,
) -> dict[str, Any]:
    """A page of entries, newest first; ``action`` matches a prefix ("conversation." or an exact name)."""
    stmt = select(AuditEntry)
    if action:
        stmt = stmt.where(AuditEntry.action.like(_escape_like(action) + "%"))
    if target_id:
        stmt = stmt.where(AuditEntry.target_id == target_id)
    if since is not None:
        stmt = stmt.where(AuditEntry.at >= since)
    if before_id is not None:
        stmt = stmt.where(AuditEntry.id < before_id)
    rows = list((await session.execute(stmt.order_by(AuditEntry.id.desc()).limit(limit + 1))).scalars())
    more = len(rows) > limit
    rows = rows[:limit]
    items = [entry_view(e) for e in rows]
    names = await names_for(session, items)
    for item in items:
        item["actor_name"] = names.users.get(item["actor_user_id"] or "") or (
            name_from_email(item["actor_email"]) if item["actor_email"] else "The system"
        )
        item["summary"] = describe(item, names)
    return {"items": items, "next_before": rows[-1].id if more and rows else None}


async def names_for(session: AsyncSession, items: list[dict[str, Any]]) -> Names:
    """The names a page of entries mentions: users (actors, assignees), the customers of
    conversations, accounts and contacts; one query each."""
    user_ids: set[str] = set()
    by_type: dict[str, set[str]] = {"conversation": set(), "social_account": set(), "contact": set()}
    for e in items:
        d = e["details"] if isinstance(e["details"], dict) else {}
        user_ids.update(str(v) for v in (e["actor_user_id"], d.get("from"), d.get("to")) if _is_uuid(v))
        if e["target_type"] in by_type and _is_uuid(e["target_id"]):
            by_type[e["target_type"]].add(str(e["target_id"]))
        if e["target_type"] == "contact" and _is_uuid(d.get("other")):
            by_type["contact"].add(str(d["other"]))
    names = Names()
    if user_ids:
        rows = await session.execute(
            select(User.id, User.display_name, User.email).where(User.id.in_(user_ids))
        )
        names.users.update({str(r.id): person_name(r.display_name, r.email) for r in rows})
    if by_type["conversation"]:
        rows = await session.execute(
            select(Chat.id, Chat.channel, Contact.display_name, Contact.handle, Contact.external_id)
            .join(Contact, Contact.id == Chat.contact_id)
            .where(Chat.id.in_(by_type["conversation"]))
        )
        for r in rows:
            who = customer_name(r.channel, r.display_name, r.handle, r.external_id)
            names.conversations[str(r.id)] = f"{who} ({channel_name(r.channel)})"
    if by_type["contact"]:
        rows = await session.execute(
            select(
                Contact.id, Contact.channel, Contact.display_name, Contact.handle, Contact.external_id
            ).where(Contact.id.in_(by_type["contact"]))
        )
        for r in rows:
            who = customer_name(r.channel, r.display_name, r.handle, r.external_id)
            names.contacts[str(r.id)] = f"{who} ({channel_name(r.channel)})"
    if by_type["social_account"]:
        rows = await session.execute(
            select(SocialAccount.id, SocialAccount.platform, SocialAccount.display_name).where(
                SocialAccount.id.in_(by_type["social_account"])
            )
        )
        for r in rows:
            label = f"“{r.display_name}”" if r.display_name else "account"
            names.accounts[str(r.id)] = f"the {channel_name(r.platform)} {label}"
    return names


def _is_uuid(value: Any) -> bool:
    try:
        uuid.UUID(str(value))
    except ValueError:
        return False
    return value is not None
