"""The tenant's copy of its WABAs' templates (``wa_templates``) and when each WABA was last fetched.

Meta is the truth: a sync replaces a WABA's rows with Meta's list (templates Meta no longer lists are
removed), a status webhook updates one row at once (the normalizer's own SQL). Every function runs in
the caller's transaction.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import delete, select, tuple_, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from omni_common.db.tenant_models import Notification, SocialAccount, WaTemplate, WaTemplateSync
from omni_common.domain.reauth import Notice
from omni_common.wa_templates.model import STATUS_WORDS, TemplateDef, language_name
from omni_common.wa_templates.notices import SEND_KIND, TEMPLATE_KIND, reason_words


def template_def(row: WaTemplate) -> TemplateDef:
    return TemplateDef(
        name=row.name,
        language=row.language,
        category=row.category,
        status=row.status,
        components=list(row.components or []),
        parameter_format=row.parameter_format,
        reason=row.reason,
        external_id=row.external_id,
    )


def template_dict(row: WaTemplate, account_id: str) -> dict[str, Any]:
    """A template as ``GET /api/templates`` shows it (``account_id``: the connected number asked for)."""
    definition = template_def(row)
    header = definition.component("HEADER")
    return {
        "id": str(row.id),
        "account_id": account_id,
        "name": row.name,
        "language": row.language,
        "language_name": language_name(row.language),
        "category": row.category,
        "status": row.status,
        "status_words": STATUS_WORDS.get(row.status, row.status.lower()),
        "components": row.components,
        "parameter_format": row.parameter_format,
        "reason": reason_words(row.reason),
        "fields": definition.fields(),
        # The parts as the customer reads them, for the picker's preview.
        "header_format": definition.header_format,
        "header_text": header.get("text") if definition.header_format == "TEXT" else None,
        "body_text": definition.component("BODY").get("text"),
        "footer_text": definition.component("FOOTER").get("text"),
        "buttons": [{"type": b.get("type"), "text": b.get("text")} for b in definition.buttons],
        "synced_at": row.synced_at.isoformat() if row.synced_at else None,
    }


async def find_template(session: AsyncSession, waba_id: str, name: str, language: str) -> TemplateDef | None:
    """The template with this name in this language of the WABA, as last synced."""
    row = (
        await session.execute(
            select(WaTemplate).where(
                WaTemplate.waba_id == waba_id, WaTemplate.name == name, WaTemplate.language == language
            )
        )
    ).scalar_one_or_none()
    return template_def(row) if row is not None else None


async def templates_of(
    session: AsyncSession, waba_ids: Sequence[str], statuses: Sequence[str] | None = None
) -> list[WaTemplate]:
    """The templates of these WABAs (optionally only with these statuses), by name and language."""
    stmt = select(WaTemplate).where(WaTemplate.waba_id.in_(list(waba_ids)))
    if statuses:
        stmt = stmt.where(WaTemplate.status.in_([s.upper() for s in statuses]))
    return list((await session.execute(stmt.order_by(WaTemplate.name, WaTemplate.language))).scalars())


async def whatsapp_accounts(session: AsyncSession) -> list[SocialAccount]:
    """The tenant's WhatsApp numbers that name their WABA (the ones whose templates can be synced)."""
    return list(
        (
            await session.execute(
                select(SocialAccount)
                .where(SocialAccount.platform == "whatsapp", SocialAccount.waba_id.is_not(None))
                .order_by(SocialAccount.created_at)
            )
        ).scalars()
    )


async def replace_templates(
    session: AsyncSession, waba_id: str, templates: Sequence[TemplateDef], now: datetime
) -> int:
    """Make the WABA's rows Meta's list: upsert each (by name and language), drop the others."""
    keep: list[tuple[str, str]] = []
    for t in templates:
        values = {
            "waba_id": waba_id,
            "external_id": t.external_id,
            "name": t.name,
            "language": t.language,
            "category": t.category,
            "status": t.status,
            "parameter_format": t.parameter_format,
            "components": t.components,
            "reason": t.reason,
            "synced_at": now,
            "updated_at": now,
        }
        stmt = insert(WaTemplate).values(**values)
        await session.execute(
            stmt.on_conflict_do_update(
                index_elements=[WaTemplate.waba_id, WaTemplate.name, WaTemplate.language],
                set_={k: v for k, v in values.items() if k not in ("waba_id", "name", "language")},
            )
        )
        keep.append((t.name, t.language))
    gone = delete(WaTemplate).where(WaTemplate.waba_id == waba_id)
    if keep:
        gone = gone.where(tuple_(WaTemplate.name, WaTemplate.language).not_in(keep))
    await session.execute(gone)
    return len(keep)


async def claim_sync(
    session: AsyncSession, waba_id: str, now: datetime, *, min_interval: timedelta, running_for: timedelta
) -> bool:
    """Start a sync of the WABA unless one finished within ``min_interval`` or one started within
    ``running_for`` has not finished (so on-demand refreshes and the schedule cannot pile up
    requests against Meta's 5,000 an hour per WABA). True: the caller syncs now."""
    stmt = insert(WaTemplateSync).values(waba_id=waba_id).on_conflict_do_nothing()
    await session.execute(stmt)
    row = (
        await session.execute(
            select(WaTemplateSync).where(WaTemplateSync.waba_id == waba_id).with_for_update()
        )
    ).scalar_one()
    running = row.started_at is not None and (row.finished_at is None or row.finished_at < row.started_at)
    if running and row.started_at is not None and now - row.started_at < running_for:
        return False
    if row.finished_at is not None and not running and now - row.finished_at < min_interval:
        return False
    row.started_at = now
    return True


async def finish_sync(
    session: AsyncSession, waba_id: str, now: datetime, *, count: int, error: str | None
) -> None:
    """Record how a sync ended (``error``: why it did not, in plain words)."""
    row = await session.get(WaTemplateSync, waba_id)
    if row is None:
        row = WaTemplateSync(waba_id=waba_id)
        session.add(row)
    row.finished_at = now
    row.error = error
    if error is None:
        row.template_count = count
    await session.flush()


async def sync_state(session: AsyncSession, waba_ids: Sequence[str]) -> dict[str, WaTemplateSync]:
    """The sync bookkeeping of these WABAs."""
    rows = (
        await session.execute(select(WaTemplateSync).where(WaTemplateSync.waba_id.in_(list(waba_ids))))
    ).scalars()
    return {r.waba_id: r for r in rows}


async def statuses_of(session: AsyncSession, waba_id: str) -> dict[tuple[str, str], str]:
    """(name, language) -> status of the WABA's templates as stored now."""
    rows = await session.execute(
        select(WaTemplate.name, WaTemplate.language, WaTemplate.status).where(WaTemplate.waba_id == waba_id)
    )
    return {(name, language): status for name, language, status in rows}


async def add_notice(
    session: AsyncSession, notice: Notice, social_account_id: uuid.UUID | None
) -> uuid.UUID | None:
    """Tell the owner, once: no second open notice of the same kind for the same template and status.

    Returns the new notification's id (None when an open one already says it)."""
    template, language = notice.data.get("template"), notice.data.get("language")
    open_ones = (
        await session.execute(
            select(Notification.data).where(
                Notification.kind == notice.kind, Notification.resolved_at.is_(None)
            )
        )
    ).scalars()
    for data in open_ones:
        data = data or {}
        if (data.get("template"), data.get("language")) == (template, language) and data.get(
            "status"
        ) == notice.data.get("status"):
            return None
    row = Notification(
        kind=notice.kind,
        severity=notice.severity,
        title=notice.title,
        body=notice.body,
        social_account_id=social_account_id,
        data=notice.data,
    )
    session.add(row)
    await session.flush()
    return row.id


async def resolve_notices(session: AsyncSession, name: str, language: str, now: datetime) -> None:
    """The template works again (approved): its open notices are resolved."""
    await session.execute(
        update(Notification)
        .where(
            Notification.kind.in_((TEMPLATE_KIND, SEND_KIND)),
            Notification.resolved_at.is_(None),
            Notification.data["template"].astext == name,
            Notification.data["language"].astext == language,
        )
        .values(resolved_at=now)
    )
