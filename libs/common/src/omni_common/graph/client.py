"""Async Graph API client: sends replies and makes the few reads the inbox needs.

The token always travels in ``Authorization: Bearer``, never in the URL (URLs end up in access logs),
with one exception: ``debug_token`` takes the token under inspection as the ``input_token`` query
parameter because Meta offers no other way; the caller's own credentials still go in the header.
"""

from __future__ import annotations

from json import dumps as json_dumps
from typing import Any
from urllib.parse import quote

import aiohttp
import httpx
import structlog

from omni_common.domain.channels import Channel
from omni_common.graph.answers import (
    AccountInfo,
    MediaInfo,
    SendResult,
    TokenInfo,
    account_info,
    json_object,
    media_info,
    message_id,
    token_info,
)
from omni_common.graph.errors import ErrorClass, GraphError, parse_error_body
from omni_common.graph.payloads import (
    ATTACHMENT_TYPES,
    MediaContent,
    TemplateContent,
    build_send_payload,
)
from omni_common.graph.transport import surely_not_sent
from omni_common.graph.usage import Usage, parse_usage
from omni_common.media.download import MediaTooLarge, read_capped

log = structlog.get_logger(__name__)

_ACCOUNT_FIELDS: dict[str, str] = {
    "whatsapp": "display_phone_number,verified_name",
    "facebook": "name",
    "instagram": "username,name",
}
_PROFILE_FIELDS: dict[str, str] = {"facebook": "name,first_name,last_name", "instagram": "name,username"}

# Pages of templates fetched per sync at most (Meta's list pages hold up to 100 with ``limit``).
TEMPLATE_PAGE_SIZE = 100
MAX_TEMPLATE_PAGES = 50
# An error answer is read this far at most (Graph's error objects are a few hundred bytes).
_ERROR_BODY_BYTES = 64 * 1024

# Errors of the HTTP layer (httpx's, or aiohttp's when one escapes the transport's mapping).
_TRANSPORT_ERRORS = (httpx.TransportError, aiohttp.ClientError, TimeoutError)


class GraphClient:
    """Thin async client over Meta's Graph API; every failure surfaces as a classified ``GraphError``."""

    def __init__(self, http: httpx.AsyncClient, base_url: str) -> None:
        self._http = http
        self._base = base_url.rstrip("/")

    async def send_message(
        self,
        channel: Channel,
        account_id: str,
        token: str,
        *,
        to: str,
        text: str,
        reply_to_external_id: str | None = None,
        kind: str = "text",
        template: TemplateContent | None = None,
        media: MediaContent | None = None,
        tag: str | None = None,
    ) -> SendResult:
        """Send a reply, reaction, template or file; raises ``PayloadError`` before calling,
        ``GraphError`` after."""
        suffix, body = build_send_payload(
            channel,
            to=to,
            text=text,
            reply_to_external_id=reply_to_external_id,
            kind=kind,
            template=template,
            media=media,
            tag=tag,
        )
        data, usage = await self._call("POST", f"{_seg(account_id)}/{suffix}", token, json=body)
        sent_id = message_id(channel, data)
        if not sent_id:
            # A 2xx without an id: Meta may well have sent it, so never treat it as a plain failure.
            raise GraphError(
                "send answered without a message id",
                raw=data,
                usage=usage,
                error_class=ErrorClass.AMBIGUOUS,
                request_sent=None,
            )
        log.info("graph.sent", channel=channel, account_id=account_id, external_message_id=sent_id)
        return SendResult(external_message_id=sent_id, raw=data, usage=usage)

    async def send_signal(self, phone_number_id: str, token: str, *, message_id: str, typing: bool) -> None:
        """WhatsApp: mark the customer's message read, and show "typing…" when ``typing`` (Meta's
        typing indicator always marks read too; it lasts 25 s or until our next message)."""
        body: dict[str, Any] = {"messaging_product": "whatsapp", "status": "read", "message_id": message_id}
        if typing:
            body["typing_indicator"] = {"type": "text"}
        await self._call("POST", f"{_seg(phone_number_id)}/messages", token, json=body)

    async def upload_media(
        self, phone_number_id: str, token: str, *, data: bytes, mime_type: str, filename: str
    ) -> str:
        """WhatsApp: upload a file (``POST /{phone-number-id}/media``, multipart); Meta's media id.

        The id stays usable for 30 days. An upload is not a message: repeating one only leaves an
        unused copy on Meta, so callers may retry any failure that is not a refusal of the file.
        """
        form = {"messaging_product": "whatsapp", "type": mime_type}
        files = {"file": (filename, data, mime_type)}
        answer, _ = await self._call("POST", f"{_seg(phone_number_id)}/media", token, form=form, files=files)
        media_id = answer.get("id")
        if not isinstance(media_id, str | int) or not str(media_id):
            raise GraphError(
                "upload answered without a media id", raw=answer, error_class=ErrorClass.TRANSIENT
            )
        return str(media_id)

    async def upload_attachment(
        self, account_id: str, token: str, *, kind: str, data: bytes, mime_type: str, filename: str
    ) -> str:
        """Messenger/Instagram: the Attachment Upload API (``/{id}/message_attachments`` with the bytes
        as ``filedata``); the reusable ``attachment_id``."""
        message = {
            "attachment": {"type": ATTACHMENT_TYPES.get(kind, "file"), "payload": {"is_reusable": True}}
        }
        form = {"message": json_dumps(message)}
        files = {"filedata": (filename, data, mime_type)}
        answer, _ = await self._call(
            "POST", f"{_seg(account_id)}/message_attachments", token, form=form, files=files
        )
        attachment_id = answer.get("attachment_id")
        if not isinstance(attachment_id, str | int) or not str(attachment_id):
            raise GraphError(
                "upload answered without an attachment id", raw=answer, error_class=ErrorClass.TRANSIENT
            )
        return str(attachment_id)

    async def list_templates(
        self, waba_id: str, token: str, *, page_size: int = TEMPLATE_PAGE_SIZE
    ) -> list[dict[str, Any]]:
        """Every message template of a WABA (``GET /{waba-id}/message_templates``, all pages: one
        request per ``page_size`` templates, against Meta's 5,000 management requests/h per WABA)."""
        fields = "id,name,language,status,category,components,parameter_format,rejected_reason"
        params: dict[str, str] = {"fields": fields, "limit": str(page_size)}
        url = f"{self._base}/{_seg(waba_id)}/message_templates"
        found: list[dict[str, Any]] = []
        for _ in range(MAX_TEMPLATE_PAGES):
            data, _usage = await self._call_url("GET", url, token, params=params)
            page = data.get("data")
            if isinstance(page, list):
                found.extend(t for t in page if isinstance(t, dict))
            paging = json_object(data.get("paging"))
            nxt = paging.get("next")
            after = json_object(paging.get("cursors")).get("after")
            if not isinstance(nxt, str) or not nxt:
                return found
            # Follow Meta's cursor on our own base URL (the next link's host is Meta's, which is
            # not where a sandbox or a proxy in front of it is reached).
            if not isinstance(after, str) or not after:
                return found
            params = {"fields": fields, "limit": str(page_size), "after": after}
        log.warning("graph.templates_truncated", waba_id=waba_id, pages=MAX_TEMPLATE_PAGES)
        return found

    async def get_account(self, channel: Channel, account_id: str, token: str) -> AccountInfo:
        """Cheap read that proves the token works and gives the account's display name."""
        data, _ = await self._call(
            "GET", _seg(account_id), token, params={"fields": _ACCOUNT_FIELDS[channel]}
        )
        return account_info(channel, account_id, data)

    async def get_media(self, media_id: str, token: str) -> MediaInfo:
        """Resolve a WhatsApp media id to its short-lived download URL."""
        data, _ = await self._call("GET", _seg(media_id), token)
        return media_info(data)

    async def download(self, url: str, token: str, *, max_bytes: int) -> bytes:
        """Download media bytes from a URL given by ``get_media`` (needs the bearer token).

        Streamed: MediaTooLarge as soon as the body passes ``max_bytes``. The caller checks the URL's
        host first (the token goes wherever this is pointed); redirects are not followed.
        """
        headers = {"Authorization": f"Bearer {token}"}
        try:
            async with self._http.stream("GET", url, headers=headers, follow_redirects=False) as response:
                if response.is_error:
                    # The error body is read capped too, then parsed as Graph's error object.
                    try:
                        body = await read_capped(response, _ERROR_BODY_BYTES)
                    except MediaTooLarge:
                        body = b""
                    raise _error_from_response(
                        httpx.Response(response.status_code, headers=response.headers, content=body)
                    )
                if response.is_redirect:
                    raise GraphError(
                        f"media URL answered a redirect (HTTP {response.status_code})",
                        http_status=response.status_code,
                        error_class=ErrorClass.PERMANENT,
                    )
                return await read_capped(response, max_bytes)
        except _TRANSPORT_ERRORS as exc:
            raise _transport_error(exc, "GET") from exc

    async def debug_token(self, token: str, *, app_token: str | None = None) -> TokenInfo:
        """Inspect ``token`` (validity, expiry, scopes).

        Authenticates with ``app_token`` (the app access token ``app_id|app_secret``) when given, else
        with the token itself; the app token can inspect a token that no longer works on its own.
        """
        # input_token in the query is Meta's only documented form; see the module docstring.
        data, _ = await self._call("GET", "debug_token", app_token or token, params={"input_token": token})
        return token_info(data)

    async def get_me_id(self, token: str) -> str | None:
        """``GET /me``'s id: the Page itself for a Page token, the person for a user token."""
        data, _ = await self._call("GET", "me", token, params={"fields": "id"})
        me = data.get("id")
        return str(me) if isinstance(me, str | int) else None

    async def get_user_profile(self, channel: Channel, user_id: str, token: str) -> dict[str, Any]:
        """Public profile of a Messenger PSID or Instagram IGSID (name, username when granted)."""
        if channel not in _PROFILE_FIELDS:
            raise ValueError(f"no profile lookup for {channel}")
        data, _ = await self._call("GET", _seg(user_id), token, params={"fields": _PROFILE_FIELDS[channel]})
        return data

    async def request_json(
        self, method: str, path: str, token: str | None, *, params: dict[str, str] | None = None
    ) -> dict[str, Any]:
        """One Graph call answering a JSON object (``graph.lifecycle``); ``token`` None: no bearer
        (the call authenticates with its parameters, as ``oauth/access_token`` does)."""
        data, _ = await self._call(method, path, token, params=params)
        return data

    async def _call(
        self,
        method: str,
        path: str,
        token: str | None,
        *,
        params: dict[str, str] | None = None,
        json: dict[str, Any] | None = None,
        form: dict[str, str] | None = None,
        files: dict[str, tuple[str, bytes, str]] | None = None,
    ) -> tuple[dict[str, Any], Usage]:
        return await self._call_url(
            method, f"{self._base}/{path}", token, params=params, json=json, form=form, files=files
        )

    async def _call_url(
        self,
        method: str,
        url: str,
        token: str | None,
        *,
        params: dict[str, str] | None = None,
        json: dict[str, Any] | None = None,
        form: dict[str, str] | None = None,
        files: dict[str, tuple[str, bytes, str]] | None = None,
    ) -> tuple[dict[str, Any], Usage]:
        response = await self._send(method, url, token, params=params, json=json, form=form, files=files)
        usage = parse_usage(response.headers)
        if response.is_error:
            raise _error_from_response(response, usage)
        try:
            data = response.json()
        except ValueError:
            data = None
        if not isinstance(data, dict):
            raise GraphError(
                "Graph answered with a body that is not a JSON object",
                http_status=response.status_code,
                usage=usage,
                # For a POST the action may have happened; a GET can simply be repeated.
                error_class=ErrorClass.AMBIGUOUS if method == "POST" else ErrorClass.TRANSIENT,
                request_sent=True,
            )
        return data, usage

    async def _send(
        self,
        method: str,
        url: str,
        token: str | None,
        *,
        params: dict[str, str] | None = None,
        json: dict[str, Any] | None = None,
        form: dict[str, str] | None = None,
        files: dict[str, tuple[str, bytes, str]] | None = None,
    ) -> httpx.Response:
        headers = {"Authorization": f"Bearer {token}"} if token is not None else {}
        try:
            return await self._http.request(
                method, url, params=params, json=json, data=form, files=files, headers=headers
            )
        except _TRANSPORT_ERRORS as exc:
            raise _transport_error(exc, method) from exc


def _transport_error(exc: BaseException, method: str) -> GraphError:
    if surely_not_sent(exc):
        # Never left this machine (or refused before any byte): a retry cannot duplicate.
        return GraphError(
            f"could not reach Graph API: {type(exc).__name__}",
            type=type(exc).__name__,
            error_class=ErrorClass.TRANSIENT,
            request_sent=False,
        )
    # Read timeout, reset, peer closed mid-answer: Meta may have acted on a POST.
    # Meta has no idempotency key, so the sender must reconcile (echo / status webhook).
    return GraphError(
        f"no complete answer from Graph API: {type(exc).__name__}",
        type=type(exc).__name__,
        error_class=ErrorClass.AMBIGUOUS if method == "POST" else ErrorClass.TRANSIENT,
        request_sent=None,
    )


def _error_from_response(response: httpx.Response, usage: Usage | None = None) -> GraphError:
    try:
        body: Any = response.json()
    except ValueError:
        body = None
    fields = parse_error_body(body)
    error = GraphError(
        fields.get("message") or f"HTTP {response.status_code}",
        code=fields.get("code"),
        subcode=fields.get("subcode"),
        type=fields.get("type"),
        fbtrace_id=fields.get("fbtrace_id"),
        http_status=response.status_code,
        is_transient=fields.get("is_transient"),
        details=fields.get("details"),
        raw=body if isinstance(body, dict) else {},
        usage=usage if usage is not None else parse_usage(response.headers),
    )
    log.warning(
        "graph.error",
        error_class=error.error_class.value,
        code=error.code,
        subcode=error.subcode,
        http_status=error.http_status,
        fbtrace_id=error.fbtrace_id,
    )
    return error


def _seg(value: str) -> str:
    """One path segment: ids come from tenants' data, so they must not smuggle in a path."""
    return quote(value, safe="")
