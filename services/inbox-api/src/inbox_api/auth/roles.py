"""Who may do what in the inbox: the role matrix (capability × role) and every route's capability.

The one home of the decision. It is enforced where the caller is recognised: every JSON route, page
and form finds its caller through ``auth/dependencies`` (``api_principal`` or ``page_user``), which
looks the route up in ``ROUTES`` and refuses a role its capability does not list. A route missing
from ``ROUTES`` is refused to everyone (fail closed), and ``tests/integration/test_role_matrix.py``
walks the app and fails for it, so a new route cannot ship without a decision. Roles other than
owner and manager never get this far: ``principal_of`` refuses them the whole inbox (403).

docs/security.md ("Who can do what") shows this table in words; keep the two together.
"""

from __future__ import annotations

from enum import StrEnum

from inbox_api.auth.models import Principal

OWNER = "business_owner"
MANAGER = "manager"


class Capability(StrEnum):
    PUBLIC = "public"  # no session: sign-in, health, the app's files, the API docs (development)
    OWN_ACCOUNT = "own_account"  # one's own name, password, sessions, sign-out and alerts
    ANSWER = "answer"  # read and answer, assign, close, snooze, label, notes, AI drafts, customers
    SHARED_LISTS = "shared_lists"  # create, edit and delete labels and quick replies
    SEE_SETTINGS = "see_settings"  # see accounts, health and settings; fetch templates again
    CONNECT_ACCOUNTS = "connect_accounts"  # connect, reconnect, tokens, enable/disable, human agent
    AI_SETTINGS = "ai_settings"  # the AI assistant's settings and knowledge
    RESTAURANT_SETTINGS = "restaurant_settings"  # time zone, what customers see (ticks, "typing…")
    TEAM = "team"  # other members: roles, access, their sessions
    AUDIT = "audit"  # the audit trail


BOTH = frozenset({OWNER, MANAGER})
OWNER_ONLY = frozenset({OWNER})
# Which inbox roles hold each capability (PUBLIC needs no session, so no role is asked).
MATRIX: dict[Capability, frozenset[str]] = {
    Capability.PUBLIC: BOTH,
    Capability.OWN_ACCOUNT: BOTH,
    Capability.ANSWER: BOTH,
    Capability.SHARED_LISTS: BOTH,
    Capability.SEE_SETTINGS: BOTH,
    Capability.CONNECT_ACCOUNTS: OWNER_ONLY,
    Capability.AI_SETTINGS: OWNER_ONLY,
    Capability.RESTAURANT_SETTINGS: OWNER_ONLY,
    Capability.TEAM: OWNER_ONLY,
    Capability.AUDIT: OWNER_ONLY,
}
# What a refused caller could not do, for "only the owner can …".
WHAT: dict[Capability, str] = {
    Capability.CONNECT_ACCOUNTS: "connect accounts, replace tokens or turn accounts on and off",
    Capability.AI_SETTINGS: "change the AI settings",
    Capability.RESTAURANT_SETTINGS: "change the restaurant's settings",
    Capability.TEAM: "manage the team",
    Capability.AUDIT: "see the audit trail",
}

_P, _O, _A = Capability.PUBLIC, Capability.OWN_ACCOUNT, Capability.ANSWER
_L, _S, _C = Capability.SHARED_LISTS, Capability.SEE_SETTINGS, Capability.CONNECT_ACCOUNTS
_AI, _R, _T = Capability.AI_SETTINGS, Capability.RESTAURANT_SETTINGS, Capability.TEAM
# (method, path template) -> capability: every route of the app, JSON API first, then the pages.
ROUTES: dict[tuple[str, str], Capability] = {
    # no session
    ("GET", "/healthz"): _P,
    ("GET", "/readyz"): _P,
    ("GET", "/metrics"): _P,
    ("GET", "/openapi.json"): _P,
    ("GET", "/docs"): _P,
    ("GET", "/docs/oauth2-redirect"): _P,
    ("GET", "/redoc"): _P,
    ("POST", "/api/auth/login"): _P,
    ("GET", "/"): _P,
    ("GET", "/login"): _P,
    ("POST", "/login"): _P,
    ("GET", "/sw.js"): _P,
    ("GET", "/manifest.webmanifest"): _P,
    ("GET", "/static"): _P,
    # oneself
    ("POST", "/api/auth/logout"): _O,
    ("POST", "/api/auth/sign-out-everywhere"): _O,
    ("PUT", "/api/auth/me/password"): _O,
    ("GET", "/api/auth/me"): _O,
    ("PUT", "/api/auth/me/name"): _O,
    ("GET", "/api/auth/sessions"): _O,
    ("GET", "/api/push/key"): _O,
    ("POST", "/api/push/subscriptions"): _O,
    ("DELETE", "/api/push/subscriptions"): _O,
    ("POST", "/logout"): _O,
    ("POST", "/settings/me"): _O,
    ("GET", "/settings/team"): _O,  # one's own sessions and password; the members only for the owner
    ("POST", "/settings/sign-out-everywhere"): _O,
    ("POST", "/settings/password"): _O,
    # conversations
    ("GET", "/api/conversations"): _A,
    ("POST", "/api/conversations"): _A,
    ("GET", "/api/conversations/{chat_id}"): _A,
    ("PATCH", "/api/conversations/{chat_id}"): _A,
    ("POST", "/api/conversations/{chat_id}/read"): _A,
    ("GET", "/api/conversations/{chat_id}/messages"): _A,
    ("POST", "/api/conversations/{chat_id}/messages"): _A,
    ("POST", "/api/conversations/{chat_id}/messages/{message_id}/retry"): _A,
    ("POST", "/api/conversations/{chat_id}/messages/{message_id}/reactions"): _A,
    ("GET", "/api/media/{message_id}"): _A,
    ("GET", "/api/notifications"): _A,
    ("POST", "/api/notifications/{notification_id}/read"): _A,
    ("GET", "/api/events"): _A,
    ("POST", "/api/conversations/{chat_id}/suggestions"): _A,
    ("GET", "/api/conversations/{chat_id}/assistant"): _A,
    ("GET", "/api/users"): _A,
    ("GET", "/api/labels"): _A,
    ("PUT", "/api/conversations/{chat_id}/labels/{label_id}"): _A,
    ("DELETE", "/api/conversations/{chat_id}/labels/{label_id}"): _A,
    ("GET", "/api/quick-replies"): _A,
    ("GET", "/api/conversations/{chat_id}/notes"): _A,
    ("POST", "/api/conversations/{chat_id}/notes"): _A,
    ("GET", "/api/templates"): _A,
    ("POST", "/api/conversations/{chat_id}/seen"): _A,
    ("POST", "/api/conversations/{chat_id}/typing"): _A,
    ("GET", "/api/conversations/{chat_id}/customer"): _A,
    ("POST", "/api/contacts/{contact_id}/link"): _A,
    ("DELETE", "/api/contacts/{contact_id}/link"): _A,
    ("GET", "/inbox"): _A,
    ("GET", "/ui/banner"): _A,
    ("GET", "/ui/conversations"): _A,
    ("GET", "/ui/conversations/{chat_id}"): _A,
    ("GET", "/ui/conversations/{chat_id}/tools"): _A,
    ("POST", "/ui/conversations/{chat_id}/state"): _A,
    ("POST", "/ui/conversations/{chat_id}/assignee"): _A,
    ("GET", "/ui/conversations/{chat_id}/messages"): _A,
    ("POST", "/ui/conversations/{chat_id}/reply"): _A,
    ("POST", "/ui/conversations/{chat_id}/messages/{message_id}/reactions"): _A,
    ("POST", "/ui/conversations/{chat_id}/notes"): _A,
    ("POST", "/ui/conversations/{chat_id}/labels"): _A,
    ("GET", "/ui/conversations/{chat_id}/templates"): _A,
    ("GET", "/ui/templates"): _A,
    ("GET", "/conversations/new"): _A,
    ("GET", "/ui/conversations/{chat_id}/customer"): _A,
    ("POST", "/ui/conversations/{chat_id}/customer/link"): _A,
    ("POST", "/ui/conversations/{chat_id}/customer/unlink"): _A,
    # labels and quick replies: the team's shared lists
    ("POST", "/api/labels"): _L,
    ("PATCH", "/api/labels/{label_id}"): _L,
    ("DELETE", "/api/labels/{label_id}"): _L,
    ("POST", "/api/quick-replies"): _L,
    ("PATCH", "/api/quick-replies/{qr_id}"): _L,
    ("DELETE", "/api/quick-replies/{qr_id}"): _L,
    ("POST", "/settings/labels"): _L,
    ("POST", "/settings/labels/{label_id}"): _L,
    ("POST", "/settings/quick-replies"): _L,
    ("POST", "/settings/quick-replies/{qr_id}"): _L,
    # settings seen (changes below are the owner's)
    ("GET", "/api/social-accounts"): _S,
    ("GET", "/api/channel-health"): _S,
    ("GET", "/api/social-accounts/{account_id}/health"): _S,
    ("POST", "/api/templates/sync"): _S,
    ("GET", "/api/assistant"): _S,
    ("GET", "/api/assistant/suggestions"): _S,
    ("GET", "/api/settings/signals"): _S,
    ("GET", "/settings"): _S,
    ("GET", "/settings/inbox"): _S,
    ("GET", "/ui/channel-health"): _S,
    ("GET", "/ui/settings/time-zone"): _S,
    ("GET", "/ui/settings/signals"): _S,
    # the owner's
    ("POST", "/api/social-accounts"): _C,
    ("PATCH", "/api/social-accounts/{account_id}"): _C,
    ("POST", "/api/social-accounts/{account_id}/test"): _C,  # the accounts' controls, with the rest
    ("POST", "/settings/accounts"): _C,
    ("POST", "/settings/accounts/{account_id}"): _C,
    ("GET", "/connect/facebook/start"): _C,
    ("GET", "/connect/facebook/callback"): _C,
    ("POST", "/connect/facebook/finish"): _C,
    ("POST", "/connect/facebook/embedded"): _C,
    ("PUT", "/api/assistant"): _AI,
    ("GET", "/settings/assistant"): _AI,
    ("POST", "/settings/assistant"): _AI,
    ("PUT", "/api/settings/signals"): _R,
    ("POST", "/settings/inbox/signals"): _R,
    ("POST", "/settings/time-zone"): _R,
    ("GET", "/api/team/members"): _T,
    ("PUT", "/api/team/members/{member_id}/role"): _T,
    ("POST", "/api/team/members/{member_id}/deactivate"): _T,
    ("POST", "/api/team/members/{member_id}/reactivate"): _T,
    ("POST", "/api/team/members/{member_id}/sign-out"): _T,
    ("POST", "/settings/team/{member_id}/role"): _T,
    ("POST", "/settings/team/{member_id}/active"): _T,
    ("POST", "/settings/team/{member_id}/sign-out"): _T,
    ("GET", "/api/audit"): Capability.AUDIT,
    ("GET", "/audit"): Capability.AUDIT,
}


def decision(method: str, path: str) -> Capability | None:
    """The capability a route needs; None when the route has no decision (then nobody may use it)."""
    return ROUTES.get(("GET" if method == "HEAD" else method, path))


def may(user: Principal, capability: Capability | str) -> bool:
    """Whether the caller's role holds the capability (pages show or hide a control with it: the
    templates' ``CAN(user, "team")``)."""
    return user.role in MATRIX[Capability(capability)]


def refusal(user: Principal, capability: Capability | None) -> str | None:
    """Why the caller may not use a route of this capability, in plain words; None when they may."""
    if capability is None:
        return "this part of the inbox is not open to anyone yet"
    if may(user, capability):
        return None
    return f"only the owner can {WHAT.get(capability, 'do this')}"
