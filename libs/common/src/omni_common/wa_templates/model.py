"""WhatsApp message templates as Meta defines them, and filling one in (pure, no I/O).

A template (``GET /{waba-id}/message_templates``) has components: an optional HEADER (TEXT with at
most one ``{{1}}``, or IMAGE / VIDEO / DOCUMENT / LOCATION media), one BODY with ``{{1}}``, ``{{2}}``…
(or named ``{{first_name}}`` when ``parameter_format`` is NAMED), an optional FOOTER and BUTTONS
(QUICK_REPLY, URL — static, or with a ``{{1}}`` suffix —, PHONE_NUMBER, COPY_CODE).
https://developers.facebook.com/docs/whatsapp/business-management-api/message-templates

``prepare`` checks the values an owner typed against the template **before anything is queued**
(a missing or over-long value is refused with the field named, ``TemplateInvalid``), then builds the
send's ``components`` in Meta's shape and the text the customer will read.
https://developers.facebook.com/docs/whatsapp/cloud-api/guides/send-message-templates
Limits: a header's text 60 characters, the filled body 1,024; a value may not hold new lines, tabs
or more than four spaces in a row (Meta's error 132018).
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from omni_common.errors import OmniError

PLACEHOLDER = re.compile(r"\{\{\s*([A-Za-z0-9_]+)\s*\}\}")
MEDIA_FORMATS = ("IMAGE", "VIDEO", "DOCUMENT")
HEADER_MAX = 60
BODY_MAX = 1024
VALUE_MAX = 1024
BUTTON_VALUE_MAX = 2000
_SPACES = re.compile(r" {5,}")

STATUS_WORDS = {
    "APPROVED": "approved",
    "PENDING": "waiting for Meta's review",
    "REJECTED": "rejected by Meta",
    "PAUSED": "paused by Meta because customers reported or ignored it",
    "DISABLED": "disabled by Meta",
    "FLAGGED": "flagged by Meta for low quality",
    "IN_APPEAL": "under appeal",
    "PENDING_DELETION": "being deleted",
    "ARCHIVED": "archived",
}
# Meta's rejection reasons (``rejected_reason`` / the webhook's ``reason``) in plain words.
REASON_WORDS = {
    "ABUSIVE_CONTENT": "Meta found the content abusive",
    "INVALID_FORMAT": "the format is not valid (placeholders, length or characters)",
    "INCORRECT_CATEGORY": "the category does not match the content",
    "TAG_CONTENT_MISMATCH": "the content does not match the category or language",
    "SCAM": "Meta considered it a possible scam",
    "PROMOTIONAL": "it reads as marketing in a utility template",
    "LOW_QUALITY": "customers reported or blocked it",
}


class TemplateInvalid(OmniError):
    """A template send that cannot be queued; ``field`` names what to fix (``template.parameters.body.2``)."""

    reason = "invalid_template"

    def __init__(self, message: str, field: str) -> None:
        super().__init__(message)
        self.field = field


def placeholders(text: str | None) -> list[str]:
    """Distinct ``{{…}}`` names in order of first use (``1``, ``2`` or ``first_name``)."""
    seen: list[str] = []
    for name in PLACEHOLDER.findall(text or ""):
        if name not in seen:
            seen.append(name)
    return seen


def fill(text: str, values: Mapping[str, str]) -> str:
    """``text`` with each ``{{name}}`` replaced by its value (unknown ones left as they are)."""
    return PLACEHOLDER.sub(lambda m: values.get(m.group(1).strip(), m.group(0)), text)


@dataclass(frozen=True)
class TemplateDef:
    """One template in one language, as Meta lists it."""

    name: str
    language: str
    category: str
    status: str
    components: list[dict[str, Any]]
    parameter_format: str = "POSITIONAL"
    reason: str | None = None
    external_id: str | None = None

    def component(self, kind: str) -> dict[str, Any]:
        """The HEADER / BODY / FOOTER / BUTTONS component ({} when the template has none)."""
        return next((c for c in self.components if str(c.get("type", "")).upper() == kind), {})

    @property
    def header_format(self) -> str | None:
        header = self.component("HEADER")
        return str(header.get("format", "TEXT")).upper() if header else None

    @property
    def buttons(self) -> list[dict[str, Any]]:
        found = self.component("BUTTONS").get("buttons")
        return [b for b in found if isinstance(b, dict)] if isinstance(found, list) else []

    @property
    def named(self) -> bool:
        return self.parameter_format.upper() == "NAMED"

    def fields(self) -> dict[str, Any]:
        """What an owner fills in: header values or media, body values, button values."""
        header_format = self.header_format
        return {
            "header": placeholders(self.component("HEADER").get("text"))
            if header_format == "TEXT"
            else ([header_format] if header_format in MEDIA_FORMATS else []),
            "body": placeholders(self.component("BODY").get("text")),
            "buttons": [
                {"index": i, "type": b.get("type"), "text": b.get("text"), "needs_value": _url_param(b)}
                for i, b in enumerate(self.buttons)
            ],
        }


def parse_template(data: Mapping[str, Any]) -> TemplateDef | None:
    """A template from Meta's list answer (None when it lacks a name, language or body)."""
    name, language = data.get("name"), data.get("language")
    components = data.get("components")
    if not isinstance(name, str) or not isinstance(language, str) or not isinstance(components, list):
        return None
    comps = [c for c in components if isinstance(c, dict)]
    if not any(str(c.get("type", "")).upper() == "BODY" for c in comps):
        return None
    reason = data.get("rejected_reason")
    return TemplateDef(
        name=name,
        language=language,
        category=str(data.get("category") or "UTILITY"),
        status=str(data.get("status") or "PENDING").upper(),
        components=comps,
        parameter_format=str(data.get("parameter_format") or "POSITIONAL").upper(),
        reason=str(reason) if isinstance(reason, str) and reason not in ("", "NONE") else None,
        external_id=str(data["id"]) if data.get("id") is not None else None,
    )


def _url_param(button: Mapping[str, Any]) -> bool:
    return str(button.get("type", "")).upper() == "URL" and bool(placeholders(str(button.get("url", ""))))


@dataclass(frozen=True)
class PreparedTemplate:
    """A template send ready to queue: Meta's ``components``, the stored parameters and the text."""

    name: str
    language: str
    components: list[dict[str, Any]]
    parameters: dict[str, Any]
    rendered: str
    header: dict[str, Any] | None = None  # a media header: {"format", "link" | "id"}
    buttons: list[dict[str, Any]] = field(default_factory=list)  # labels, as the customer sees them

    def stored(self) -> dict[str, Any]:
        """The message row's ``template`` document (what the history and the sender read)."""
        return {
            "name": self.name,
            "language": self.language,
            "parameters": self.parameters,
            "components": self.components,
            "header": self.header,
            "buttons": self.buttons,
        }


def _clean(value: Any, where: str, label: str, limit: int) -> str:
    if value is None or (isinstance(value, str) and not value.strip()):
        raise TemplateInvalid(f"the value for {label} is missing", where)
    if not isinstance(value, str | int | float) or isinstance(value, bool):
        raise TemplateInvalid(f"the value for {label} must be text", where)
    text = str(value).strip()
    if "\n" in text or "\t" in text or "\r" in text:
        raise TemplateInvalid(f"the value for {label} must be one line (no line breaks or tabs)", where)
    if _SPACES.search(text):
        raise TemplateInvalid(f"the value for {label} may not hold more than four spaces in a row", where)
    if len(text) > limit:
        raise TemplateInvalid(f"the value for {label} is {len(text)} characters; at most {limit}", where)
    return text


def _values(
    names: list[str], given: Any, section: str, named: bool
) -> tuple[dict[str, str], list[str] | dict[str, str]]:
    """The value of each placeholder of a section, from a list (in order) or a name -> value map."""
    base = f"template.parameters.{section}"
    if given is None:
        given = []
    if isinstance(given, Mapping):
        raw = {str(k): v for k, v in given.items()}
    elif isinstance(given, Sequence) and not isinstance(given, str):
        if len(given) > len(names):
            raise TemplateInvalid(
                f"the {section} has {len(names)} value(s) to fill, {len(given)} were given",
                f"{base}.{len(names) + 1}" if names else base,
            )
        raw = dict(zip(names, given, strict=False))
    else:
        raise TemplateInvalid(f"the {section} values must be a list", base)
    unknown = [k for k in raw if k not in names]
    if unknown:
        raise TemplateInvalid(f"the {section} has no {{{{{unknown[0]}}}}}", f"{base}.{unknown[0]}")
    values = {n: _clean(raw.get(n), f"{base}.{n}", f"{{{{{n}}}}} in the {section}", VALUE_MAX) for n in names}
    stored: list[str] | dict[str, str] = dict(values) if named else [values[n] for n in names]
    return values, stored


def _text_params(values: dict[str, str], named: bool) -> list[dict[str, Any]]:
    params: list[dict[str, Any]] = []
    for name, value in values.items():
        param: dict[str, Any] = {"type": "text", "text": value}
        if named:
            param["parameter_name"] = name
        params.append(param)
    return params


def _media_header(fmt: str, given: Any) -> dict[str, Any]:
    where = "template.parameters.header"
    item = given[0] if isinstance(given, Sequence) and not isinstance(given, str) and given else given
    if isinstance(item, Mapping):
        ref = {k: str(item[k]) for k in ("link", "id") if item.get(k)}
    elif isinstance(item, str) and item.strip():
        ref = {"link": item.strip()}
    else:
        raise TemplateInvalid(f"this template starts with a {fmt.lower()}: give its link (https://…)", where)
    link = ref.get("link")
    if link is not None and (not link.startswith(("https://", "http://")) or len(link) > 2000 or " " in link):
        raise TemplateInvalid(f"the {fmt.lower()} link must be a web address starting with https://", where)
    if not ref:
        raise TemplateInvalid(f"this template starts with a {fmt.lower()}: give its link", where)
    return ref


def _buttons(template: TemplateDef, given: Any) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """Meta's button components and the stored values, from a list by index or [{index, value}]."""
    base = "template.parameters.buttons"
    buttons = template.buttons
    by_index: dict[int, Any] = {}
    if given is None:
        given = []
    if not isinstance(given, Sequence) or isinstance(given, str):
        raise TemplateInvalid("the button values must be a list", base)
    for position, item in enumerate(given):
        if isinstance(item, Mapping) and "index" in item:
            try:
                index = int(item["index"])
            except (TypeError, ValueError) as exc:
                raise TemplateInvalid("a button's index must be a number", f"{base}.{position}") from exc
            by_index[index] = item.get("value")
        else:
            by_index[position] = item
    components: list[dict[str, Any]] = []
    stored: list[dict[str, Any]] = []
    for index in sorted(by_index):
        if index < 0 or index >= len(buttons):
            if by_index[index] in (None, ""):
                continue
            raise TemplateInvalid(f"the template has no button {index + 1}", f"{base}.{index}")
    for index, button in enumerate(buttons):
        kind = str(button.get("type", "")).upper()
        value = by_index.get(index)
        label = f"the button “{button.get('text', index + 1)}”"
        if kind == "URL" and _url_param(button):
            text = _clean(value, f"{base}.{index}", label, BUTTON_VALUE_MAX)
            param = {"type": "text", "text": text}
            components.append(
                {"type": "button", "sub_type": "url", "index": str(index), "parameters": [param]}
            )
            stored.append({"index": index, "value": text})
        elif kind == "QUICK_REPLY" and value not in (None, ""):
            payload = _clean(value, f"{base}.{index}", label, VALUE_MAX)
            param = {"type": "payload", "payload": payload}
            components.append(
                {"type": "button", "sub_type": "quick_reply", "index": str(index), "parameters": [param]}
            )
            stored.append({"index": index, "value": payload})
        elif value not in (None, ""):
            raise TemplateInvalid(f"{label} takes no value", f"{base}.{index}")
    return components, stored


def prepare(template: TemplateDef, parameters: Mapping[str, Any] | None) -> PreparedTemplate:
    """Check the owner's values against ``template`` and build the send; ``TemplateInvalid`` names
    the field to fix."""
    if template.status != "APPROVED":
        words = STATUS_WORDS.get(template.status, template.status.lower())
        raise TemplateInvalid(
            f"the template “{template.name}” ({template.language}) is {words}: only approved "
            "templates can be sent",
            "template.name",
        )
    params = parameters or {}
    if not isinstance(params, Mapping):
        raise TemplateInvalid("the parameters must be an object", "template.parameters")
    unknown = [k for k in params if k not in ("header", "body", "buttons")]
    if unknown:
        raise TemplateInvalid(
            f"unknown part {unknown[0]!r}: use header, body or buttons", "template.parameters"
        )
    components: list[dict[str, Any]] = []
    stored: dict[str, Any] = {}
    header_text = ""
    header_media: dict[str, Any] | None = None
    fmt = template.header_format
    header = template.component("HEADER")
    if fmt == "TEXT":
        names = placeholders(header.get("text"))
        values, kept = _values(names, params.get("header"), "header", template.named)
        header_text = fill(str(header.get("text", "")), values)
        if len(header_text) > HEADER_MAX:
            raise TemplateInvalid(
                f"the filled header is {len(header_text)} characters; WhatsApp allows {HEADER_MAX}",
                "template.parameters.header",
            )
        if values:
            components.append({"type": "header", "parameters": _text_params(values, template.named)})
            stored["header"] = kept
    elif fmt in MEDIA_FORMATS:
        ref = _media_header(fmt, params.get("header"))
        kind = fmt.lower()
        components.append({"type": "header", "parameters": [{"type": kind, kind: ref}]})
        header_media = {"format": fmt, **ref}
        stored["header"] = [ref]
    elif params.get("header"):
        raise TemplateInvalid("this template has no header to fill", "template.parameters.header")
    body = str(template.component("BODY").get("text", ""))
    values, kept = _values(placeholders(body), params.get("body"), "body", template.named)
    body_text = fill(body, values)
    if len(body_text) > BODY_MAX:
        raise TemplateInvalid(
            f"the filled message is {len(body_text)} characters; WhatsApp allows {BODY_MAX}",
            "template.parameters.body",
        )
    if values:
        components.append({"type": "body", "parameters": _text_params(values, template.named)})
        stored["body"] = kept
    button_components, button_values = _buttons(template, params.get("buttons"))
    components.extend(button_components)
    if button_values:
        stored["buttons"] = button_values
    footer = str(template.component("FOOTER").get("text", "") or "")
    rendered = "\n".join(part for part in (header_text, body_text, footer) if part)
    labels = [
        {"type": str(b.get("type", "")).upper(), "text": str(b.get("text", ""))} for b in template.buttons
    ]
    return PreparedTemplate(
        name=template.name,
        language=template.language,
        components=components,
        parameters=stored,
        rendered=rendered,
        header=header_media,
        buttons=labels,
    )


_LANGUAGES = {
    "en": "English", "es": "Spanish", "de": "German", "fr": "French", "it": "Italian", "pt": "Portuguese",
    "nl": "Dutch", "tr": "Turkish", "ca": "Catalan", "pl": "Polish", "ar": "Arabic", "el": "Greek",
}  # fmt: skip
_REGIONS = {
    "US": "US", "GB": "UK", "ES": "Spain", "MX": "Mexico", "AR": "Argentina", "BR": "Brazil",
    "PT": "Portugal", "DE": "Germany", "AT": "Austria", "CH": "Switzerland", "FR": "France",
}  # fmt: skip


def language_name(code: str | None) -> str:
    """A template language as an owner reads it (``es_ES``: "Spanish (Spain)"); unknown codes unchanged."""
    if not code:
        return ""
    language, _, region = code.replace("-", "_").partition("_")
    name = _LANGUAGES.get(language.lower())
    if name is None:
        return code
    return f"{name} ({_REGIONS.get(region.upper(), region)})" if region else name


def language_rank(template_language: str, customer_language: str | None) -> int:
    """0 for the customer's exact language, 1 for the same language elsewhere, 2 for the rest."""
    if not customer_language:
        return 2
    mine = template_language.replace("-", "_").lower()
    theirs = customer_language.replace("-", "_").lower()
    if mine == theirs:
        return 0
    return 1 if mine.split("_")[0] == theirs.split("_")[0] else 2
