"""The demo restaurant's WhatsApp templates: approved ones to send (text, named values, a photo and a
document header, buttons) and ones that cannot be sent (rejected, paused), in the sandbox and in the
tenant's database alike (same Meta ids, so the sandbox's status webhooks name them)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from omni_common.wa_templates.model import parse_template
from omni_common.wa_templates.store import finish_sync, replace_templates

TEMPLATES: list[dict[str, Any]] = [
    {
        "id": "900000000000001",
        "name": "booking_confirmation",
        "language": "en_US",
        "category": "UTILITY",
        "status": "APPROVED",
        "components": [
            {"type": "HEADER", "format": "TEXT", "text": "Booking confirmed, {{1}}"},
            {"type": "BODY", "text": "Hi {{1}}, your table for {{2}} on {{3}} at {{4}} is confirmed."},
            {"type": "FOOTER", "text": "Reply to change your booking"},
            {
                "type": "BUTTONS",
                "buttons": [
                    {"type": "QUICK_REPLY", "text": "See you there"},
                    {"type": "QUICK_REPLY", "text": "Cancel booking"},
                ],
            },
        ],
    },
    {
        "id": "900000000000002",
        "name": "reserva_confirmada",
        "language": "es_ES",
        "category": "UTILITY",
        "status": "APPROVED",
        "parameter_format": "NAMED",
        "components": [
            {
                "type": "BODY",
                "text": "Hola {{nombre}}, tu mesa para {{personas}} está reservada a las {{hora}}.",
            },
            {"type": "BUTTONS", "buttons": [{"type": "QUICK_REPLY", "text": "Allí estaremos"}]},
        ],
    },
    {
        "id": "900000000000003",
        "name": "reservierung_bestaetigt",
        "language": "de",
        "category": "UTILITY",
        "status": "APPROVED",
        "components": [
            {"type": "BODY", "text": "Hallo {{1}}, euer Tisch für {{2}} Personen ist um {{3}} reserviert."},
        ],
    },
    {
        "id": "900000000000004",
        "name": "todays_special",
        "language": "en_US",
        "category": "MARKETING",
        "status": "APPROVED",
        "components": [
            {"type": "HEADER", "format": "IMAGE"},
            {"type": "BODY", "text": "Tonight's special: {{1}}. Shall we keep you a table?"},
            {
                "type": "BUTTONS",
                "buttons": [{"type": "URL", "text": "See the menu", "url": "https://bistro.example/menu"}],
            },
        ],
    },
    {
        "id": "900000000000005",
        "name": "menu_pdf",
        "language": "en_US",
        "category": "UTILITY",
        "status": "APPROVED",
        "components": [
            {"type": "HEADER", "format": "DOCUMENT"},
            {"type": "BODY", "text": "Here is our menu, {{1}}."},
            {"type": "FOOTER", "text": "Demo Bistro"},
        ],
    },
    {
        "id": "900000000000006",
        "name": "summer_promo",
        "language": "en_US",
        "category": "MARKETING",
        "status": "REJECTED",
        "reason": "INVALID_FORMAT",
        "components": [{"type": "BODY", "text": "50% off everything, {{1}}!!!"}],
    },
    {
        "id": "900000000000007",
        "name": "happy_hour",
        "language": "en_US",
        "category": "MARKETING",
        "status": "PAUSED",
        "components": [{"type": "BODY", "text": "Happy hour from {{1}}: two drinks for one."}],
    },
]


def sandbox_templates(waba_id: str) -> list[dict[str, Any]]:
    """``templates`` of the sandbox's ``--seed`` file (``POST /_sandbox/templates`` bodies)."""
    return [{**t, "waba_id": waba_id} for t in TEMPLATES]


async def seed_templates(session: AsyncSession, waba_id: str) -> int:
    """The demo WABA's templates in the tenant's database, as a sync from Meta would leave them."""
    now = datetime.now(UTC)
    listed = [{**t, "rejected_reason": t.get("reason")} for t in TEMPLATES]
    parsed = [p for p in (parse_template(t) for t in listed) if p is not None]
    count = await replace_templates(session, waba_id, parsed, now)
    await finish_sync(session, waba_id, now, count=count, error=None)
    return count
