"""The Jinja2 templates of every page and fragment (server-rendered; htmx swaps the fragments)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from fastapi import Request
from fastapi.responses import HTMLResponse
from fastapi.templating import Jinja2Templates

from inbox_api.auth.roles import may
from inbox_api.conversations.models import SNOOZE_CHOICES, STATE_LABELS
from inbox_api.display.present import day_of, stamp_of, time_of, zone_for
from inbox_api.web.links import link_host, safe_link
from omni_common.domain.channels import CHANNEL_NAMES
from omni_common.media.outbound import client_rules
from omni_common.wa_templates.model import language_name

templates = Jinja2Templates(directory=Path(__file__).parent.parent / "templates")
templates.env.globals.update(
    CHANNEL_NAMES=CHANNEL_NAMES,
    STATE_LABELS=STATE_LABELS,
    SNOOZE_CHOICES=SNOOZE_CHOICES,
    FILE_RULES=client_rules,  # the composer's limits per channel (_composer_attach.html)
    LANGUAGE_NAME=language_name,  # a template's language in words (_message_extras.html)
    CAN=may,  # whether the user's role may do something (auth/roles): owner-only controls hidden
)
# Dates in the restaurant's (or the browser's) time zone: Today, Yesterday, a weekday, the date.
# Outside links (customer payloads, Meta, templates): https only, shown with their host.
templates.env.filters.update(safe_link=safe_link, link_host=link_host)
templates.env.globals.update(ZONE=zone_for, DAY_OF=day_of, TIME_OF=time_of, STAMP_OF=stamp_of)


def render(request: Request, name: str, context: dict[str, Any], status_code: int = 200) -> HTMLResponse:
    return templates.TemplateResponse(request, name, context, status_code=status_code)
