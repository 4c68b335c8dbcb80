"""Server-rendered pages (Jinja2) and the HTML fragments htmx swaps in; no build step, no CDN."""

from __future__ import annotations

import secrets
import uuid
from pathlib import Path
from typing import Annotated, Any
from urllib.parse import urlencode

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.templating import Jinja2Templates

from inbox_api import accounts as accounts_mod
from inbox_api.auth import (
    AuthProblem,
    Deps,
    LoginFailed,
    Principal,
    RoleRefused,
    TooManyAttempts,
    authenticate,
    client_ip,
    get_deps,
    resolve_principal,
    set_session_cookie,
)
from inbox_api.conversations import ConversationQuery, get_conversation, list_conversations
from inbox_api.deps import InboxDeps
from inbox_api.labels import list_labels
from inbox_api.messages import chat_messages, refusal_status, send_reply
from inbox_api.notes import list_notes, merge_timeline
from inbox_api.queue_view import STATE_LABELS, QueueFilters, page_filters, unread_conversations
from inbox_api.sessions import COOKIE_NAME, CSRF_HEADER
from omni_common.domain.channels import CHANNEL_NAMES, channel_name
from omni_common.errors import AccountConflict
from omni_common.outbound.replies import ChatNotFound, ReplyRefused
from omni_common.tenancy.accounts import CredentialsRefused, list_accounts

templates = Jinja2Templates(directory=Path(__file__).parent / "templates")
templates.env.globals["CHANNEL_NAMES"] = CHANNEL_NAMES
templates.env.globals["STATE_LABELS"] = STATE_LABELS
LOGIN_CSRF_COOKIE = "omni_login_csrf"
router = APIRouter(include_in_schema=False)


class NotSignedIn(Exception):
    """Raised by page dependencies; turned into a redirect to the login page."""


async def page_user(request: Request, deps: Annotated[InboxDeps, Depends(get_deps)]) -> Principal:
    try:
        return await resolve_principal(request, deps)
    except AuthProblem as exc:
        if exc.status == 403:
            raise
        raise NotSignedIn from exc


PageUser = Annotated[Principal, Depends(page_user)]
PageFilters = Annotated[QueueFilters, Depends(page_filters)]


def _require_csrf(deps: InboxDeps, user: Principal, request: Request, form_token: str | None) -> None:
    token = request.headers.get(CSRF_HEADER) or form_token
    if user.via_cookie and not deps.signer.check_csrf(user.sid, token):
        raise AuthProblem(403, "the form expired; reload the page and try again")


async def _common(deps: InboxDeps, user: Principal) -> dict[str, Any]:
    async with deps.registry.session(user.tenant_id) as session:
        notes = await accounts_mod.list_notifications(session, open_only=True)
    return {"user": user, "csrf": deps.signer.csrf_token(user.sid), "notifications": notes}


def render(request: Request, name: str, context: dict[str, Any], status_code: int = 200) -> HTMLResponse:
    return templates.TemplateResponse(request, name, context, status_code=status_code)


@router.get("/")
async def root() -> RedirectResponse:
    return RedirectResponse("/inbox", status_code=303)


@router.get("/login")
async def login_page(request: Request, error: str | None = None) -> HTMLResponse:
    token = secrets.token_urlsafe(24)
    response = render(request, "login.html", {"csrf": token, "error": error, "form": {}})
    # Double-submit token: a cross-site form cannot read this cookie to echo it in the form.
    response.set_cookie(LOGIN_CSRF_COOKIE, token, httponly=True, samesite="strict", max_age=3600)
    return response


@router.post("/login")
async def login_submit(
    request: Request,
    deps: Deps,
    tenant: Annotated[str, Form()],
    email: Annotated[str, Form()],
    password: Annotated[str, Form()],
    csrf_token: Annotated[str, Form()] = "",
) -> Response:
    form = {"tenant": tenant, "email": email}
    expected = request.cookies.get(LOGIN_CSRF_COOKIE, "")
    if not expected or not secrets.compare_digest(expected, csrf_token):
        return render(
            request,
            "login.html",
            {"csrf": expected, "error": "The form expired; try again.", "form": form},
            403,
        )
    try:
        result = await authenticate(
            deps, tenant_slug=tenant, email=email, password=password, client_ip=client_ip(request)
        )
    except (LoginFailed, RoleRefused, TooManyAttempts) as exc:
        status = {LoginFailed: 401, RoleRefused: 403, TooManyAttempts: 429}[type(exc)]
        return render(request, "login.html", {"csrf": expected, "error": str(exc), "form": form}, status)
    response = RedirectResponse("/inbox", status_code=303)
    set_session_cookie(response, result.token, secure=deps.cookie_secure, max_age=deps.signer.ttl_s)
    response.delete_cookie(LOGIN_CSRF_COOKIE)
    return response


@router.post("/logout")
async def logout_submit(
    request: Request, user: PageUser, deps: Deps, csrf_token: Annotated[str, Form()] = ""
) -> RedirectResponse:
    _require_csrf(deps, user, request, csrf_token)
    response = RedirectResponse("/login", status_code=303)
    response.delete_cookie(COOKIE_NAME, path="/")
    return response


async def _list_context(
    deps: InboxDeps, user: Principal, channel: str | None, q: str | None, filters: QueueFilters
) -> dict[str, Any]:
    channel = channel if channel in CHANNEL_NAMES else None
    query = ConversationQuery(
        channel=channel, search=q or None, limit=100, filters=filters, viewer=user.user_id
    )
    async with deps.registry.session(user.tenant_id) as session:
        page = await list_conversations(session, query)
        unread = await unread_conversations(session, user.user_id)
        labels = await list_labels(session)
    return {
        "conversations": page["items"],
        "channel": channel,
        "q": q or "",
        "filters": filters,
        "labels": labels,
        "unread_total": unread,
    }


async def _thread_context(deps: InboxDeps, user: Principal, chat_id: uuid.UUID) -> dict[str, Any] | None:
    msgs = await chat_messages(deps, user, chat_id)
    if msgs is None:
        return None
    async with deps.registry.session(user.tenant_id) as session:
        chat = await get_conversation(session, chat_id, viewer=user.user_id)
        notes = await list_notes(session, chat_id)
    return {"chat": chat, "messages": merge_timeline(msgs, notes)}


@router.get("/inbox")
async def inbox_page(
    request: Request,
    user: PageUser,
    deps: Deps,
    filters: PageFilters,
    c: uuid.UUID | None = None,
    channel: str | None = None,
    q: str | None = None,
) -> HTMLResponse:
    thread = await _thread_context(deps, user, c) if c else None  # first: opening it marks it read
    context = await _common(deps, user) | await _list_context(deps, user, channel, q, filters)
    return render(request, "inbox.html", context | {"thread": thread, "selected": str(c) if c else None})


@router.get("/ui/conversations")
async def conversation_list(
    request: Request,
    user: PageUser,
    deps: Deps,
    filters: PageFilters,
    channel: str | None = None,
    q: str | None = None,
    c: str | None = None,
) -> HTMLResponse:
    context = await _list_context(deps, user, channel, q, filters)
    return render(request, "_conv_list.html", context | {"selected": c})


@router.get("/ui/conversations/{chat_id}")
async def thread_fragment(request: Request, chat_id: uuid.UUID, user: PageUser, deps: Deps) -> HTMLResponse:
    thread = await _thread_context(deps, user, chat_id)
    if thread is None:
        return HTMLResponse("<p role='alert'>No such conversation.</p>", status_code=404)
    return render(request, "_thread.html", {"thread": thread, "csrf": deps.signer.csrf_token(user.sid)})


@router.get("/ui/conversations/{chat_id}/messages")
async def messages_fragment(request: Request, chat_id: uuid.UUID, user: PageUser, deps: Deps) -> HTMLResponse:
    thread = await _thread_context(deps, user, chat_id)
    if thread is None:
        return HTMLResponse("<p role='alert'>No such conversation.</p>", status_code=404)
    return render(request, "_messages.html", {"thread": thread})


@router.post("/ui/conversations/{chat_id}/reply")
async def reply_submit(
    request: Request,
    chat_id: uuid.UUID,
    user: PageUser,
    deps: Deps,
    text: Annotated[str, Form()] = "",
    reply_to: Annotated[str, Form()] = "",
    suggestion_id: Annotated[str, Form()] = "",
    csrf_token: Annotated[str, Form()] = "",
) -> HTMLResponse:
    _require_csrf(deps, user, request, csrf_token)
    error: str | None = None
    status = 200
    try:
        target = uuid.UUID(reply_to) if reply_to else None
        draft = uuid.UUID(suggestion_id) if suggestion_id else None
        await send_reply(deps, user, chat_id, text, target, draft)
    except ChatNotFound:
        return HTMLResponse("<p role='alert'>No such conversation.</p>", status_code=404)
    except ReplyRefused as exc:
        error, status = str(exc), refusal_status(exc)
    except ValueError:
        error, status = "The quoted message is not valid.", 422
    thread = await _thread_context(deps, user, chat_id)
    # htmx swaps only 2xx answers by default: the refusal is shown with a 200 and an alert.
    response = render(request, "_messages.html", {"thread": thread, "error": error})
    response.headers["X-Reply-Status"] = str(status)
    return response


@router.get("/ui/banner")
async def banner_fragment(request: Request, user: PageUser, deps: Deps) -> HTMLResponse:
    return render(request, "_banner.html", await _common(deps, user))


@router.get("/settings")
async def settings_page(
    request: Request, user: PageUser, deps: Deps, msg: str | None = None, err: str | None = None
) -> HTMLResponse:
    async with deps.registry.session(user.tenant_id) as session:
        views = [accounts_mod.account_dict(v) for v in await list_accounts(session)]
        all_notes = await accounts_mod.list_notifications(session, open_only=False)
    context = await _common(deps, user) | {
        "accounts": views,
        "all_notifications": all_notes,
        "msg": msg,
        "err": err,
    }
    return render(request, "settings.html", context)


def _back(msg: str | None = None, err: str | None = None) -> RedirectResponse:
    query = urlencode({k: v for k, v in (("msg", msg), ("err", err)) if v})
    return RedirectResponse(f"/settings?{query}" if query else "/settings", status_code=303)


@router.post("/settings/accounts")
async def connect_submit(
    request: Request,
    user: PageUser,
    deps: Deps,
    channel: Annotated[str, Form()],
    external_account_id: Annotated[str, Form()],
    token: Annotated[str, Form()],
    waba_id: Annotated[str, Form()] = "",
    display_name: Annotated[str, Form()] = "",
    csrf_token: Annotated[str, Form()] = "",
) -> RedirectResponse:
    _require_csrf(deps, user, request, csrf_token)
    try:
        body = accounts_mod.AccountIn(
            channel=channel,  # type: ignore[arg-type]
            external_account_id=external_account_id.strip(),
            token=token.strip(),
            waba_id=waba_id.strip() or None,
            display_name=display_name.strip() or None,
        )
        await accounts_mod.connect(deps, user, body)
    except AccountConflict:
        return _back(err="This account is already connected to another restaurant.")
    except (CredentialsRefused, accounts_mod.MetaUnreachable) as exc:
        return _back(err=f"Not saved: {exc}")
    except ValueError as exc:
        return _back(
            err=str(exc).splitlines()[0][:300]
            if "validation" not in str(exc)
            else "Please check the fields: the token needs at least 8 characters."
        )
    return _back(msg=f"{channel_name(channel)} account connected.")


@router.post("/settings/accounts/{account_id}")
async def change_submit(
    request: Request,
    account_id: uuid.UUID,
    user: PageUser,
    deps: Deps,
    action: Annotated[str, Form()],
    token: Annotated[str, Form()] = "",
    csrf_token: Annotated[str, Form()] = "",
) -> RedirectResponse:
    _require_csrf(deps, user, request, csrf_token)
    if action == "test":
        try:
            result = await accounts_mod.test_connection(deps, user, account_id)
        except accounts_mod.MetaUnreachable as exc:
            return _back(err=str(exc))
        if result is None:
            return _back(err="No such account.")
        if not result["ok"]:
            return _back(err=f"Connection test failed: {result['reason']}")
        return _back(msg=f"Connection works ({result['display_name'] or 'not checked with Meta'}).")
    try:
        if action == "token":
            body = accounts_mod.AccountPatch(token=token.strip())
        else:
            body = accounts_mod.AccountPatch(enabled=action == "enable")
    except ValueError:
        return _back(err="The new token needs at least 8 characters.")
    try:
        view = await accounts_mod.patch(deps, user, account_id, body)
    except (CredentialsRefused, accounts_mod.MetaUnreachable) as exc:
        return _back(err=f"Not saved: {exc}")
    if view is None:
        return _back(err="No such account.")
    done = {"enable": "enabled", "disable": "disabled", "token": "token replaced"}.get(action, "updated")
    return _back(msg=f"Account {view.external_account_id} {done}.")


def install_error_pages(app: Any) -> None:
    """Pages answer with a redirect to the login page or a readable refusal, never raw JSON."""

    @app.exception_handler(NotSignedIn)
    async def not_signed_in(request: Request, _exc: NotSignedIn) -> Response:
        if request.headers.get("HX-Request"):
            return Response(status_code=401, headers={"HX-Redirect": "/login"})
        return RedirectResponse("/login", status_code=303)

    @app.exception_handler(AuthProblem)
    async def refused(request: Request, exc: AuthProblem) -> Response:
        return render(request, "error.html", {"message": exc.detail}, exc.status)
