"""A restaurant's set of templates covering what Meta's templates can be, for tests and the demo.

Positional (``{{1}}``) and named (``{{first_name}}``) parameters; TEXT, IMAGE, DOCUMENT and VIDEO
headers; footers; QUICK_REPLY, URL (static and with a ``{{1}}`` suffix) and PHONE_NUMBER buttons;
every status (APPROVED, PENDING, REJECTED, PAUSED, DISABLED). Component shapes follow Meta's
template management examples:
https://developers.facebook.com/docs/whatsapp/business-management-api/message-templates
"""

from __future__ import annotations

from typing import Any


def sample_templates(waba_id: str) -> list[dict[str, Any]]:
    """``POST /_sandbox/templates`` bodies for one WABA (ids are generated)."""
    return [
        {
            "waba_id": waba_id,
            "name": "booking_confirmation",
            "language": "en_US",
            "category": "UTILITY",
            "components": [
                {"type": "HEADER", "format": "TEXT", "text": "Booking confirmed, {{1}}"},
                {"type": "BODY", "text": "Hi {{1}}, your table for {{2}} on {{3}} at {{4}} is confirmed."},
                {"type": "FOOTER", "text": "Reply to change your booking"},
                {
                    "type": "BUTTONS",
                    "buttons": [
                        {"type": "QUICK_REPLY", "text": "See you there"},
                        {"type": "QUICK_REPLY", "text": "Cancel booking"},
                        {"type": "PHONE_NUMBER", "text": "Call us", "phone_number": "+34600000000"},
                    ],
                },
            ],
        },
        {
            "waba_id": waba_id,
            "name": "booking_reminder",
            "language": "es_ES",
            "category": "UTILITY",
            "parameter_format": "NAMED",
            "components": [
                {"type": "BODY", "text": "Hola {{first_name}}, te esperamos hoy a las {{time}}."},
                {
                    "type": "BUTTONS",
                    "buttons": [
                        {"type": "URL", "text": "Ver reserva", "url": "https://bistro.example/b/{{1}}"}
                    ],
                },
            ],
        },
        {
            "waba_id": waba_id,
            "name": "todays_special",
            "language": "en_US",
            "category": "MARKETING",
            "components": [
                {"type": "HEADER", "format": "IMAGE"},
                {"type": "BODY", "text": "Tonight's special: {{1}}. Shall we keep you a table?"},
                {
                    "type": "BUTTONS",
                    "buttons": [
                        {"type": "URL", "text": "See the menu", "url": "https://bistro.example/menu"}
                    ],
                },
            ],
        },
        {
            "waba_id": waba_id,
            "name": "menu_pdf",
            "language": "en_US",
            "category": "UTILITY",
            "components": [
                {"type": "HEADER", "format": "DOCUMENT"},
                {"type": "BODY", "text": "Here is our menu, {{1}}."},
                {"type": "FOOTER", "text": "Demo Bistro"},
            ],
        },
        {
            "waba_id": waba_id,
            "name": "welcome_video",
            "language": "en_US",
            "category": "MARKETING",
            "status": "PENDING",
            "components": [
                {"type": "HEADER", "format": "VIDEO"},
                {"type": "BODY", "text": "Welcome to Demo Bistro!"},
            ],
        },
        {
            "waba_id": waba_id,
            "name": "summer_promo",
            "language": "en_US",
            "category": "MARKETING",
            "status": "REJECTED",
            "reason": "INVALID_FORMAT",
            "components": [{"type": "BODY", "text": "50% off everything, {{1}}!!!"}],
        },
        {
            "waba_id": waba_id,
            "name": "happy_hour",
            "language": "en_US",
            "category": "MARKETING",
            "status": "PAUSED",
            "components": [{"type": "BODY", "text": "Happy hour from {{1}}: two drinks for one."}],
        },
        {
            "waba_id": waba_id,
            "name": "old_offer",
            "language": "en_US",
            "category": "MARKETING",
            "status": "DISABLED",
            "components": [{"type": "BODY", "text": "Our old offer."}],
        },
    ]
