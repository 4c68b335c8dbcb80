"""In-memory state of the sandbox: accounts, contacts, media, faults, recorded requests.

The newer parts of Meta's world live in their own modules and are held here: message templates
(``templates.py``), Messenger/Instagram attachments (``attachments.py``), test people, businesses and
WABAs (``world.py``), OAuth codes and tokens (``grants.py``).
"""

from __future__ import annotations

import secrets
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal

if TYPE_CHECKING:  # these modules build on this one
    from meta_sandbox.attachments import Attachment
    from meta_sandbox.grants import OAuthStore
    from meta_sandbox.templates import Template
    from meta_sandbox.world import World

Channel = Literal["whatsapp", "facebook", "instagram"]
FaultMode = Literal["error", "timeout", "reset", "accept_then_fail_async"]
StatusOrder = Literal["in_order", "reversed", "shuffled"]
WindowFailure = Literal["async", "sync"]


@dataclass
class SandboxConfig:
    """How the sandbox behaves; webhook settings can also be changed at run time (``/_sandbox/config``)."""

    ingress_url: str | None = None  # status/inbound webhooks go to {ingress_url}/webhooks/{channel}
    app_secret: str | None = None  # signs X-Hub-Signature-256
    public_url: str | None = None  # base of media URLs; default: the URL the request came in on
    status_delay_s: float = 0.05  # pause before each status webhook
    status_order: StatusOrder = "in_order"
    duplicate_statuses: bool = False  # deliver every status webhook twice, as Meta may
    emit_statuses: bool = True
    emit_echoes: bool = False  # Messenger/IG message echoes after a send (message_echoes field)
    webhook_attempts: int = 3  # Meta retries failed deliveries; we retry a little
    timeout_fault_s: float = 30.0  # how long a "timeout" fault hangs unless the client gives up first
    app_id: str = "sandbox-app"
    # debug_token also accepts an app access token "{app_id}|{anything}" (Meta: app_id|app_secret).
    # Customer-service window: None = never enforced. When set, a free-form send to a user whose last
    # inbound (simulate/inbound or /_sandbox/window) is older fails like Meta (see windows.py):
    # WhatsApp 131047 (``wa_window_failure``: "async" = 200 then a failed status webhook, "sync" = an
    # error answer), Messenger 10/2018278, Instagram 10/2534022; templates always pass, and the
    # HUMAN_AGENT tag passes up to 7 days when ``human_agent_permission`` is on.
    window_hours: float | None = None
    wa_window_failure: WindowFailure = "async"
    human_agent_permission: bool = False  # Meta grants it after App Review
    app_name: str = "Resevit sandbox"
    # OAuth (Facebook Login): codes live 10 minutes like Meta's; user tokens from a code are
    # short-lived, fb_exchange_token gives ~60 days.
    oauth_code_ttl_s: float = 600.0
    short_token_ttl_s: int = 2 * 3600
    long_token_ttl_s: int = 60 * 86400
    # "Valid OAuth Redirect URIs" of the app dashboard; None accepts any http(s) URI.
    oauth_redirect_uris: list[str] | None = None
    # When True, webhooks go out only for objects (Page, IG account, WABA) our app is subscribed to,
    # so a dropped subscription (Meta unsubscribes after an hour of failures) is felt.
    require_subscription: bool = False


@dataclass
class Account:
    """A business account the sandbox knows (WA phone number, Page, IG account) and its token."""

    channel: Channel
    account_id: str
    token: str
    display_name: str
    token_expires_at: int | None = None  # unix seconds; None = never expires
    waba_id: str | None = None
    display_phone_number: str | None = None
    username: str | None = None
    scopes: list[str] = field(default_factory=list)
    revoked: bool = False  # invalidated (password change, app removed): 190/460 like Meta
    data_access_expires_at: int | None = None  # unix seconds; None = 90 days from now
    # WhatsApp phone numbers (GET /{waba-id}/phone_numbers, POST /{id}/register):
    quality_rating: str = "GREEN"
    code_verification_status: str = "VERIFIED"
    name_status: str = "APPROVED"
    registered: bool = True  # sends from a number that is not registered fail with 133010
    pin: str | None = None  # two-step verification PIN set by /register
    # Facebook Login links: a Page's Instagram professional account, and back.
    instagram_id: str | None = None
    page_id: str | None = None

    @property
    def expired(self) -> bool:
        """True once the token's expiry has passed."""
        return self.token_expires_at is not None and self.token_expires_at <= time.time()


@dataclass
class Contact:
    """A Messenger/IG user whose profile can be read."""

    channel: Channel
    user_id: str
    name: str
    account_id: str | None = None
    username: str | None = None


@dataclass
class Media:
    """Bytes behind a media id (seeded, or uploaded with ``POST /{phone-number-id}/media``)."""

    media_id: str
    content: bytes
    mime_type: str
    sha256: str
    account_id: str | None = None
    filename: str | None = None


@dataclass
class Fault:
    """An injected failure for the next ``count`` matching Graph requests."""

    fault_id: str
    error_code: int
    count: int = 1
    mode: FaultMode = "error"
    http_status: int | None = None
    error_subcode: int | None = None
    message: str | None = None
    account_id: str | None = None
    recipient: str | None = None
    method: str | None = None
    regain_minutes: int = 1  # estimated_time_to_regain_access on throttling faults
    headers: dict[str, str] = field(default_factory=dict)
    # True: it hits only WhatsApp read receipts / typing indicators; False: only other requests (a
    # fault meant for a send is never used up by a receipt the inbox sent meanwhile).
    signals: bool = False
    hits: int = 0

    def matches(
        self, *, method: str, account_id: str | None, recipient: str | None, signal: bool = False
    ) -> bool:
        """True when this fault applies to the request and has uses left."""
        if self.hits >= self.count or self.signals != signal:
            return False
        if self.method is not None and self.method.upper() != method:
            return False
        if self.account_id is not None and self.account_id != account_id:
            return False
        return self.recipient is None or _digits_or_id(self.recipient) == _digits_or_id(recipient)


def _digits_or_id(value: str | None) -> str | None:
    return value.removeprefix("+") if value else value


@dataclass
class SandboxState:
    """Everything the sandbox remembers; lives in the server's event loop, so no locks are needed."""

    config: SandboxConfig
    accounts: dict[tuple[str, str], Account] = field(default_factory=dict)
    contacts: dict[str, Contact] = field(default_factory=dict)
    media: dict[str, Media] = field(default_factory=dict)
    faults: list[Fault] = field(default_factory=list)
    requests: list[dict[str, Any]] = field(default_factory=list)
    sent: dict[str, dict[str, Any]] = field(default_factory=dict)
    webhooks: list[dict[str, Any]] = field(default_factory=list)
    # WhatsApp read receipts and typing indicators received, oldest first (``GET /_sandbox/signals``)
    signals: list[dict[str, Any]] = field(default_factory=list)
    last_inbound: dict[tuple[str, str], float] = field(default_factory=dict)  # (account, user) -> unix
    # object id (Page, IG account, WABA) -> subscribed_fields of our app (WABAs: [])
    subscriptions: dict[str, list[str]] = field(default_factory=dict)
    templates: dict[str, Template] = field(default_factory=dict)  # by template id
    attachments: dict[str, Attachment] = field(default_factory=dict)  # by attachment id
    world: World = field(init=False)  # test people, businesses, WABAs
    oauth: OAuthStore = field(init=False)  # dialog codes, authorizations, issued tokens

    def __post_init__(self) -> None:
        from meta_sandbox.grants import OAuthStore  # imported here: both modules build on this one
        from meta_sandbox.world import World

        self.world = World()
        self.oauth = OAuthStore()

    def outside_window(self, account_id: str, user: str) -> bool:
        """True when the window is enforced and the user has not written within it."""
        hours = self.config.window_hours
        if hours is None:
            return False
        last = self.last_inbound.get((account_id, user.removeprefix("+")))
        return last is None or time.time() - last > hours * 3600

    def account_by_token(self, token: str) -> Account | None:
        """The account a token belongs to (constant-time compare: the sandbox may face a browser)."""
        found = None
        for account in self.accounts.values():
            if secrets.compare_digest(account.token.encode(), token.encode()):
                found = account
        return found

    def account_by_id(self, account_id: str) -> Account | None:
        """The account with this id on any channel."""
        return next((a for a in self.accounts.values() if a.account_id == account_id), None)

    def take_fault(
        self, *, method: str, account_id: str | None, recipient: str | None, signal: bool = False
    ) -> Fault | None:
        """First matching fault, counting one use of it (``signal``: a read receipt / typing)."""
        for fault in self.faults:
            if fault.matches(method=method, account_id=account_id, recipient=recipient, signal=signal):
                fault.hits += 1
                return fault
        return None

    def reset(self) -> None:
        """Forget everything but the configuration."""
        for store in (self.accounts, self.contacts, self.media, self.sent, self.last_inbound):
            store.clear()
        for other in (self.subscriptions, self.templates, self.attachments):
            other.clear()
        self.faults.clear()
        self.requests.clear()
        self.webhooks.clear()
        self.signals.clear()
        self.__post_init__()


def new_id(prefix: str) -> str:
    """Random platform-looking id (``wamid.…``, ``m_…``)."""
    return prefix + secrets.token_urlsafe(24)


def new_numeric_id() -> str:
    """A Graph object id: Meta's are 15-17 digit numbers, sent as strings."""
    return str(10**15 + secrets.randbelow(9 * 10**15))
