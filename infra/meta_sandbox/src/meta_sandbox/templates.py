"""WhatsApp message templates per WABA: the list endpoint, seeding, and status-change webhooks.

``GET /{waba-id}/message_templates`` answers like Meta's template management API: every template
with the default fields (``name``, ``parameter_format``, ``components``, ``language``, ``status``,
``category``, ``id``) or only the ``fields`` asked for (plus ``id``), ``limit`` per page (25 by
default), filters ``status``, ``name``, ``language``, ``category``, and cursor pagination
(``paging.cursors.before/after``, ``paging.next`` while more follow).
https://developers.facebook.com/docs/whatsapp/business-management-api/message-templates ,
https://developers.facebook.com/docs/graph-api/results (cursor pagination)

A status change made with ``POST /_sandbox/templates/{id}/status`` emits the signed
``message_template_status_update`` webhook (``event``, ``message_template_id`` as a number,
``message_template_name``, ``message_template_language``, ``reason``, ``message_template_category``,
``disable_info`` when disabled).
https://developers.facebook.com/documentation/business-messaging/whatsapp/webhooks/reference/message_template_status_update
"""

from __future__ import annotations

import base64
import binascii
import re
import time
from dataclasses import dataclass, field
from typing import Any, Literal
from urllib.parse import urlencode

from fastapi import Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field, field_validator

from meta_sandbox.access import can_see_waba, identify
from meta_sandbox.errors import MetaError
from meta_sandbox.graph import check_version, not_found, record, sandbox_state
from meta_sandbox.state import SandboxState, new_numeric_id

TemplateStatus = Literal[
    "APPROVED", "PENDING", "REJECTED", "PAUSED", "DISABLED", "IN_APPEAL", "PENDING_DELETION", "ARCHIVED"
]
PLACEHOLDER = re.compile(r"\{\{\s*([A-Za-z0-9_]+)\s*\}\}")
DEFAULT_FIELDS = ("name", "parameter_format", "components", "language", "status", "category", "id")
_KNOWN_FIELDS = frozenset({*DEFAULT_FIELDS, "rejected_reason", "quality_score", "sub_category"})
_DEFAULT_LIMIT = 25
_HEADER_FORMATS = frozenset({"TEXT", "IMAGE", "VIDEO", "DOCUMENT", "LOCATION"})
_BUTTON_TYPES = frozenset({"QUICK_REPLY", "URL", "PHONE_NUMBER", "COPY_CODE"})


@dataclass
class Template:
    """One template in one language (Meta keeps each language as its own template object)."""

    template_id: str
    waba_id: str
    name: str
    language: str
    category: str
    status: str
    components: list[dict[str, Any]]
    parameter_format: str = "POSITIONAL"
    reason: str | None = None  # why it was rejected, paused or disabled
    created_at: float = field(default_factory=time.time)

    def component(self, kind: str) -> dict[str, Any] | None:
        """The HEADER / BODY / FOOTER / BUTTONS component, if the template has one."""
        return next((c for c in self.components if c.get("type") == kind), None)

    def public(self, fields: list[str] | None = None) -> dict[str, Any]:
        """The template as the list endpoint shows it."""
        full: dict[str, Any] = {
            "name": self.name,
            "parameter_format": self.parameter_format,
            "components": self.components,
            "language": self.language,
            "status": self.status,
            "category": self.category,
            "rejected_reason": self.reason if self.status == "REJECTED" else "NONE",
            "quality_score": {"score": "GREEN" if self.status == "APPROVED" else "UNKNOWN"},
            "id": self.template_id,
        }
        wanted = fields or list(DEFAULT_FIELDS)
        picked = {f: full[f] for f in wanted if f != "id"}
        return {**picked, "id": self.template_id}


def placeholders(text: str) -> list[str]:
    """Distinct ``{{…}}`` names in order of first use (``1``, ``2`` or ``first_name``)."""
    seen: list[str] = []
    for name in PLACEHOLDER.findall(text or ""):
        if name not in seen:
            seen.append(name)
    return seen


class TemplateIn(BaseModel):
    """A template to seed (``POST /_sandbox/templates``, ``templates`` in ``--seed`` or a WABA)."""

    model_config = ConfigDict(extra="forbid")

    waba_id: str
    name: str = Field(pattern=r"^[a-z0-9_]{1,512}$")
    language: str = "en_US"
    category: Literal["UTILITY", "MARKETING", "AUTHENTICATION"] = "UTILITY"
    status: TemplateStatus = "APPROVED"
    parameter_format: Literal["POSITIONAL", "NAMED"] = "POSITIONAL"
    components: list[dict[str, Any]]
    id: str | None = None
    reason: str | None = None

    @field_validator("components")
    @classmethod
    def _components(cls, components: list[dict[str, Any]]) -> list[dict[str, Any]]:
        kinds = [c.get("type") for c in components]
        if kinds.count("BODY") != 1:
            raise ValueError("a template has exactly one BODY component")
        for component in components:
            kind = component.get("type")
            if kind not in ("HEADER", "BODY", "FOOTER", "BUTTONS"):
                raise ValueError(f"unknown component type {kind!r}")
            if kind == "HEADER" and component.get("format") not in _HEADER_FORMATS:
                raise ValueError(f"HEADER format must be one of {sorted(_HEADER_FORMATS)}")
            for button in component.get("buttons", []) if kind == "BUTTONS" else []:
                if button.get("type") not in _BUTTON_TYPES:
                    raise ValueError(f"button type must be one of {sorted(_BUTTON_TYPES)}")
        return components


def add_template(state: SandboxState, body: TemplateIn) -> Template:
    """Store (or replace, by name and language in the WABA) a template."""
    for known in list(state.templates.values()):
        if (known.waba_id, known.name, known.language) == (body.waba_id, body.name, body.language):
            del state.templates[known.template_id]
    template = Template(
        template_id=body.id or new_numeric_id(),
        waba_id=body.waba_id,
        name=body.name,
        language=body.language,
        category=body.category,
        status=body.status,
        components=body.components,
        parameter_format=body.parameter_format,
        reason=body.reason,
    )
    state.templates[template.template_id] = template
    return template


def find_template(state: SandboxState, waba_id: str, name: str, language: str) -> Template | None:
    """The template with this name in this language in the WABA."""
    return next(
        (t for t in state.templates.values() if (t.waba_id, t.name, t.language) == (waba_id, name, language)),
        None,
    )


def status_update_payload(template: Template, event: str, reason: str | None) -> dict[str, Any]:
    """The ``message_template_status_update`` webhook Meta sends to the WABA's subscribed apps."""
    now = int(time.time())
    template_id: int | str = (
        int(template.template_id) if template.template_id.isdigit() else template.template_id
    )
    value: dict[str, Any] = {
        "event": event,
        "message_template_id": template_id,
        "message_template_name": template.name,
        "message_template_language": template.language,
        "reason": reason or "NONE",
        "message_template_category": template.category,
    }
    if event == "DISABLED":
        value["disable_info"] = {"disable_date": now}
    change = {"value": value, "field": "message_template_status_update"}
    return {
        "object": "whatsapp_business_account",
        "entry": [{"id": template.waba_id, "time": now, "changes": [change]}],
    }


def _cursor(template_id: str) -> str:
    return base64.urlsafe_b64encode(f"tpl:{template_id}".encode()).decode().rstrip("=")


def _uncursor(cursor: str) -> str:
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
    except (binascii.Error, UnicodeDecodeError, ValueError):
        raw = ""
    if not raw.startswith("tpl:"):
        raise MetaError(100, message="(#100) The cursor is not valid")
    return raw[4:]


def _filtered(state: SandboxState, waba_id: str, query: dict[str, str]) -> list[Template]:
    items = [t for t in state.templates.values() if t.waba_id == waba_id]
    items.sort(key=lambda t: (t.created_at, t.template_id))
    statuses = {s.strip().upper() for s in query.get("status", "").split(",") if s.strip()}
    if statuses:
        items = [t for t in items if t.status in statuses]
    if query.get("name"):
        items = [t for t in items if query["name"].lower() in t.name]
    if query.get("language"):
        items = [t for t in items if t.language == query["language"]]
    if query.get("category"):
        items = [t for t in items if t.category == query["category"].upper()]
    return items


def _page(items: list[Template], query: dict[str, str]) -> tuple[list[Template], bool, bool]:
    """One page and whether items exist after / before it."""
    try:
        limit = int(query.get("limit", _DEFAULT_LIMIT))
    except ValueError as exc:
        raise MetaError(100, message="(#100) Param limit must be a number") from exc
    limit = max(1, min(limit, 1000))
    ids = [t.template_id for t in items]
    if query.get("after"):
        anchor = _uncursor(query["after"])
        start = ids.index(anchor) + 1 if anchor in ids else len(ids)
        end = start + limit
    elif query.get("before"):
        anchor = _uncursor(query["before"])
        end = ids.index(anchor) if anchor in ids else 0
        start = max(0, end - limit)
    else:
        start, end = 0, limit
    return items[start:end], end < len(items), start > 0


async def list_templates(ver: str, object_id: str, request: Request) -> JSONResponse:
    """``GET /{ver}/{waba-id}/message_templates``."""
    entry = await record(request)
    check_version(ver)
    caller = identify(request)
    if not can_see_waba(caller, object_id):
        raise not_found(object_id)
    query = dict(request.query_params)
    fields = [f for f in query.get("fields", "").split(",") if f]
    unknown = [f for f in fields if f not in _KNOWN_FIELDS]
    if unknown:
        raise MetaError(
            100,
            message=f"(#100) Tried accessing nonexisting field ({unknown[0]}) on node type "
            "(WhatsAppBusinessHSM)",
        )
    page, more_after, more_before = _page(_filtered(sandbox_state(request), object_id, query), query)
    body: dict[str, Any] = {"data": [t.public(fields or None) for t in page]}
    if page:
        paging: dict[str, Any] = {
            "cursors": {"before": _cursor(page[0].template_id), "after": _cursor(page[-1].template_id)}
        }
        base = {k: v for k, v in query.items() if k not in ("after", "before")}
        if more_after:
            paging["next"] = _url(request, {**base, "after": paging["cursors"]["after"]})
        if more_before:
            paging["previous"] = _url(request, {**base, "before": paging["cursors"]["before"]})
        body["paging"] = paging
    entry["response_status"] = 200
    return JSONResponse(body)


def _url(request: Request, query: dict[str, str]) -> str:
    """The same edge with another query (Meta's ``paging.next``: an absolute URL to GET as is)."""
    return str(request.url.replace(query=urlencode(query)))
