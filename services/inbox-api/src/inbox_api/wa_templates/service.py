"""Templates for the inbox: the list of an account (or of every WhatsApp number), in the customer's
language first for a conversation, and syncs started on demand or on first use."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from inbox_api.auth.models import Principal
from inbox_api.deps import InboxDeps
from inbox_api.errors import Invalid, NotFound
from omni_common.db.tenant_models import Chat, Contact, SocialAccount, Suggestion
from omni_common.domain.phones import region_of
from omni_common.wa_templates.model import language_rank
from omni_common.wa_templates.store import sync_state, template_dict, templates_of, whatsapp_accounts
from omni_common.wa_templates.sync import SCHEDULED_INTERVAL

# A customer's country -> the language a template for them is most likely written in (a guess used
# only to order the picker when no message of theirs says better).
REGION_LANGUAGES = {
    "ES": "es", "MX": "es", "AR": "es", "CO": "es", "CL": "es", "PE": "es",
    "DE": "de", "AT": "de", "CH": "de",
    "FR": "fr", "BE": "fr", "LU": "fr",
    "IT": "it", "PT": "pt", "BR": "pt", "NL": "nl", "TR": "tr",
    "GB": "en", "US": "en", "IE": "en", "CA": "en", "AU": "en", "NZ": "en",
}  # fmt: skip


async def _accounts(session: AsyncSession, account_id: uuid.UUID | None) -> list[SocialAccount]:
    if account_id is None:
        return await whatsapp_accounts(session)
    account = await session.get(SocialAccount, account_id)
    if account is None:
        raise NotFound("no such account")
    if account.platform != "whatsapp":
        raise Invalid("message templates exist only for WhatsApp numbers")
    return [account] if account.waba_id else []


async def list_templates(
    session: AsyncSession, account_id: uuid.UUID | None, statuses: list[str] | None = None
) -> list[dict[str, Any]]:
    """The templates of one WhatsApp number (or of all), as Meta last listed them."""
    out: list[dict[str, Any]] = []
    for account in await _accounts(session, account_id):
        assert account.waba_id is not None
        for row in await templates_of(session, [account.waba_id], statuses):
            out.append(template_dict(row, str(account.id)))
    return out


async def stale_accounts(session: AsyncSession, account_id: uuid.UUID | None) -> list[uuid.UUID]:
    """Accounts whose WABA was never synced, or not for longer than the schedule (first use syncs)."""
    accounts = await _accounts(session, account_id)
    state = await sync_state(session, [a.waba_id for a in accounts if a.waba_id])
    now = datetime.now(UTC)
    stale: list[uuid.UUID] = []
    for a in accounts:
        done = state.get(a.waba_id or "")
        if done is None or done.finished_at is None or now - done.finished_at > SCHEDULED_INTERVAL:
            stale.append(a.id)
    return stale


def start_sync(deps: InboxDeps, user: Principal, account_ids: list[uuid.UUID], *, force: bool = True) -> bool:
    """Start syncing these accounts' templates in the background; False when syncs are not set up."""
    if deps.templates is None:
        return False
    interval = timedelta(seconds=20) if force else SCHEDULED_INTERVAL
    deps.templates.start(user.tenant_id, account_ids, min_interval=interval)
    return True


async def sync_now(deps: InboxDeps, user: Principal, account_id: uuid.UUID | None) -> list[uuid.UUID]:
    """Which accounts a refresh syncs (started in the background)."""
    async with deps.registry.session(user.tenant_id) as session:
        accounts = [a.id for a in await _accounts(session, account_id)]
    if not start_sync(deps, user, accounts):
        raise Invalid("template syncing is not set up on this server")
    return accounts


async def customer_language(session: AsyncSession, chat_id: uuid.UUID) -> str | None:
    """The customer's language as far as we know: the last AI suggestion's (told from their own
    messages), else a guess from their phone number's country."""
    language = await session.scalar(
        select(Suggestion.language)
        .where(Suggestion.chat_id == chat_id, Suggestion.language.is_not(None))
        .order_by(Suggestion.requested_at.desc())
        .limit(1)
    )
    if language:
        return str(language)
    external = await session.scalar(
        select(Contact.external_id).join(Chat, Chat.contact_id == Contact.id).where(Chat.id == chat_id)
    )
    region = region_of(str(external)) if external and str(external).isdigit() else None
    return REGION_LANGUAGES.get(region or "")


def picker_order(templates: list[dict[str, Any]], language: str | None) -> list[dict[str, Any]]:
    """Approved first, the customer's language first among them, then by name."""
    return sorted(
        templates,
        key=lambda t: (
            t["status"] != "APPROVED",
            language_rank(t["language"], language),
            t["name"],
            t["language"],
        ),
    )
