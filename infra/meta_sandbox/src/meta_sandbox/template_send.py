"""Checking a ``type: "template"`` send against the WABA's template, with Meta's template error codes.

Request shape (``template.name``, ``template.language.code``, ``components`` of type ``header``,
``body``, ``button`` with ``sub_type`` and ``index``; named parameters carry ``parameter_name``):
https://developers.facebook.com/docs/whatsapp/cloud-api/guides/send-message-templates ,
https://developers.facebook.com/docs/whatsapp/business-management-api/message-templates/utility-templates

Error codes (https://developers.facebook.com/docs/whatsapp/cloud-api/support/error-codes):

- 132001 "Template name does not exist in the translation": no such name in that language, or the
  template is not approved (PENDING, REJECTED, ...);
- 132015 "Template is Paused", 132016 "Template is Disabled";
- 132000 "Number of parameters does not match the expected number of params", per component, with
  the details Meta gives (``body: number of localizable_params (0) does not match the expected number
  of params (1)``);
- 132012 "Parameter format does not match format in the created template" (a media header given the
  wrong type — ``header: Format mismatch, expected IMAGE, received UNKNOWN`` —, a named template sent
  without its ``parameter_name``s, a body parameter that is not text);
- 132005 "Translated text too long" when the filled body passes 1024 characters.

All are synchronous errors: Meta refuses the request before it accepts a message.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from meta_sandbox.errors import MetaError
from meta_sandbox.media import check_media_reference
from meta_sandbox.state import Account, SandboxState
from meta_sandbox.templates import PLACEHOLDER, Template, find_template, placeholders

_BODY_TYPES = frozenset({"text", "currency", "date_time"})
_MEDIA_FORMATS = frozenset({"IMAGE", "VIDEO", "DOCUMENT"})
_MAX_BODY = 1024


@dataclass
class TemplateSend:
    """A valid template send: the template, the values given per component, the text as shown."""

    template: Template
    parameters: dict[str, Any] = field(default_factory=dict)
    rendered: str = ""


def _err(code: int, title: str, details: str) -> MetaError:
    error = MetaError(code, message=f"(#{code}) {title}", whatsapp=True)
    error.body["error"]["error_data"]["details"] = details
    return error


def _count_error(component: str, given: int, expected: int) -> MetaError:
    return _err(
        132000,
        "Number of parameters does not match the expected number of params",
        f"{component}: number of localizable_params ({given}) does not match the expected number of "
        f"params ({expected})",
    )


def _format_error(details: str) -> MetaError:
    return _err(132012, "Parameter format does not match format in the created template", details)


def check_template_send(state: SandboxState, account: Account, template_in: Any) -> TemplateSend:
    """Validate the ``template`` object of a send body; raises ``MetaError`` like Meta."""
    if not isinstance(template_in, dict) or not isinstance(template_in.get("name"), str):
        raise MetaError(100, message="(#100) The parameter template['name'] is required.", whatsapp=True)
    language = template_in.get("language")
    code = language.get("code") if isinstance(language, dict) else None
    if not isinstance(code, str) or not code:
        raise MetaError(
            100, message="(#100) The parameter template['language']['code'] is required.", whatsapp=True
        )
    waba_id = account.waba_id or f"waba-{account.account_id}"
    template = find_template(state, waba_id, template_in["name"], code)
    if template is None or template.status not in ("APPROVED", "PAUSED", "DISABLED"):
        raise _err(
            132001,
            "Template name does not exist in the translation",
            f"template name ({template_in['name']}) does not exist in {code}",
        )
    if template.status == "PAUSED":
        raise _err(132015, "Template is Paused", "Template is paused due to low quality.")
    if template.status == "DISABLED":
        raise _err(132016, "Template is Disabled", "Template has been permanently disabled.")
    given = _components(template_in.get("components", []))
    send = TemplateSend(template)
    header_text = _header(state, account, template, given.get("header"), send)
    body_text = _body(template, given.get("body"), send)
    _buttons(template, given.get("button", {}), send)
    if len(body_text) > _MAX_BODY:
        raise _err(132005, "Translated text too long", f"body: {len(body_text)} characters after filling")
    footer = (template.component("FOOTER") or {}).get("text", "")
    send.rendered = "\n".join(part for part in (header_text, body_text, footer) if part)
    return send


def _components(raw: Any) -> dict[str, Any]:
    """Send components by type; ``button`` components by their index."""
    if not isinstance(raw, list):
        raise MetaError(100, message="(#100) Param template['components'] must be an array", whatsapp=True)
    found: dict[str, Any] = {"button": {}}
    for component in raw:
        kind = component.get("type", "").lower() if isinstance(component, dict) else ""
        params = component.get("parameters", []) if isinstance(component, dict) else None
        if kind not in ("header", "body", "button") or not isinstance(params, list):
            raise MetaError(100, message="(#100) Invalid parameter", whatsapp=True)
        if kind == "button":
            found["button"][str(component.get("index", ""))] = component
        else:
            found[kind] = params
    return found


def _text_value(param: Any, where: str, position: int) -> str:
    if not isinstance(param, dict) or param.get("type") not in _BODY_TYPES:
        received = param.get("type", "UNKNOWN") if isinstance(param, dict) else "UNKNOWN"
        raise _format_error(f"{where}: Format mismatch, expected TEXT, received {str(received).upper()}")
    if param["type"] == "currency":
        return str((param.get("currency") or {}).get("fallback_value", ""))
    if param["type"] == "date_time":
        return str((param.get("date_time") or {}).get("fallback_value", ""))
    text = param.get("text")
    if not isinstance(text, str) or not text.strip():
        raise _err(131008, "Required parameter is missing", f"{where}: parameter {position} text is empty")
    return text


def _fill(template: Template, text: str, params: list[Any], where: str) -> tuple[str, dict[str, str]]:
    """Fill ``{{…}}`` in ``text``; named templates match values by ``parameter_name``."""
    names = placeholders(text)
    if len(params) != len(names):
        raise _count_error(where, len(params), len(names))
    values: dict[str, str] = {}
    for position, (name, param) in enumerate(zip(names, params, strict=True), start=1):
        value = _text_value(param, where, position)
        if template.parameter_format == "NAMED":
            given_name = param.get("parameter_name")
            if given_name not in names:
                raise _format_error(
                    f"{where}: parameter_name ({given_name}) is missing or not in the template"
                )
            values[given_name] = value
        else:
            values[name] = value
    return PLACEHOLDER.sub(lambda m: values.get(m.group(1).strip(), m.group(0)), text), values


def _header(
    state: SandboxState, account: Account, template: Template, params: Any, send: TemplateSend
) -> str:
    header = template.component("HEADER")
    given = params or []
    if header is None:
        if given:
            raise _count_error("header", len(given), 0)
        return ""
    fmt = header.get("format", "TEXT")
    if fmt == "TEXT":
        text, values = _fill(template, header.get("text", ""), given, "header")
        if values:
            send.parameters["header"] = list(values.values())
        return text
    if len(given) != 1:
        if not given and fmt in _MEDIA_FORMATS:
            raise _format_error(f"header: Format mismatch, expected {fmt}, received UNKNOWN")
        raise _count_error("header", len(given), 1)
    param = given[0]
    received = param.get("type", "UNKNOWN") if isinstance(param, dict) else "UNKNOWN"
    if str(received).upper() != fmt:
        raise _format_error(f"header: Format mismatch, expected {fmt}, received {str(received).upper()}")
    if fmt in _MEDIA_FORMATS:
        kind = fmt.lower()
        media = check_media_reference(state, account, kind, param.get(kind), f"header['{kind}']")
        send.parameters["header"] = [media]
    return ""


def _body(template: Template, params: Any, send: TemplateSend) -> str:
    body = template.component("BODY") or {}
    text, values = _fill(template, body.get("text", ""), params or [], "body")
    if values:
        send.parameters["body"] = values if template.parameter_format == "NAMED" else list(values.values())
    return text


def _buttons(template: Template, given: dict[str, Any], send: TemplateSend) -> None:
    buttons = (template.component("BUTTONS") or {}).get("buttons", [])
    for index, button in enumerate(buttons):
        component = given.pop(str(index), None)
        expected = len(placeholders(button.get("url", ""))) if button.get("type") == "URL" else 0
        params = component.get("parameters", []) if component else []
        if button.get("type") == "URL" and len(params) != expected:
            raise _count_error(f"button at index {index}", len(params), expected)
        if component is None:
            continue
        sub_type = str(component.get("sub_type", "")).upper()
        if sub_type != button.get("type"):
            raise _format_error(f"button at index {index}: expected sub_type {button['type'].lower()}")
        kinds = {"QUICK_REPLY": "payload", "URL": "text"}
        for param in params:
            if not isinstance(param, dict) or param.get("type") != kinds.get(button["type"]):
                raise _format_error(f"button at index {index}: Format mismatch")
        if params:
            send.parameters.setdefault("buttons", []).append(
                {"index": index, "sub_type": sub_type.lower(), "value": params[0].get(kinds[button["type"]])}
            )
    if given:  # a button index the template does not have
        raise _count_error(f"button at index {next(iter(given))}", 1, 0)
