"""Configuration, read from the environment (``OMNI_*``) and an optional ``.env`` file.

One convention: every setting of every service is a field of :class:`Settings`, a service's own
ones named after it (``normalizer_*``, ``outbound_*``, ``account_monitor_*``), so each is read from
``OMNI_<FIELD>`` (``OMNI_OUTBOUND_REDIS_URL``). Only the composition roots (each service's
``main.py`` and the CLI) build a :class:`Settings`, once at start-up; library code receives the
values it needs as arguments. Nothing is read at import time.
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from omni_common.tenancy.token_expiry import DEFAULT_WARN_DAYS


def _split_csv(value: str) -> list[str]:
    return [part.strip() for part in value.strip("[] ").split(",") if part.strip()]


def _csv_field(value: object) -> object:
    """A list setting given as ``"a,b"`` in the environment; other values go to pydantic as they are."""
    return _split_csv(value) if isinstance(value, str) else value


class Settings(BaseSettings):
    """Every setting of every service; defaults suit a developer's machine."""

    model_config = SettingsConfigDict(env_prefix="OMNI_", env_file=".env", extra="ignore")

    database_url: str = "postgresql://postgres@127.0.0.1:5432/omni"
    rabbitmq_url: str = "amqp://guest:guest@127.0.0.1:5672/"
    # Workers' /metrics read queue depths from RabbitMQ's management API here (credentials in the URL
    # or those of rabbitmq_url); unset: http://<broker host>:15672; "" turns the queue gauges off.
    rabbitmq_management_url: str | None = None
    # Each service declares the whole topology at start-up (a developer's machine, tests). false: it
    # runs as a least-privilege broker user and only checks that its queues exist (`omni broker
    # setup` declares them; docs/security.md "Broker permissions").
    broker_declare_topology: bool = True
    encryption_keys: SecretStr = SecretStr("")
    meta_app_secrets: SecretStr = SecretStr("")
    meta_verify_token: SecretStr = SecretStr("")
    graph_api_url: str = "https://graph.facebook.com/v21.0"
    # The account-monitor's debug_token calls authenticate as the app: OMNI_META_APP_TOKEN
    # ("APP_ID|APP_SECRET" or an app access token), else OMNI_META_APP_ID with the first app secret;
    # with neither, each token inspects itself (then an expired token can only answer "190").
    meta_app_id: str | None = None
    meta_app_token: SecretStr = SecretStr("")
    # "Continue with Facebook" (inbox-api connect/): Meta's login dialog, and the inbox's public
    # address (the redirect URI registered in the Meta app is OMNI_PUBLIC_URL + /connect/facebook/callback).
    meta_oauth_dialog_url: str = "https://www.facebook.com/v21.0/dialog/oauth"
    # WhatsApp Embedded Signup: the Login for Business configuration id (Meta app > Facebook Login for
    # Business > Configurations, "WhatsApp Embedded Signup"); unset: WhatsApp joins the plain login.
    meta_es_config_id: str | None = None
    public_url: str = "http://127.0.0.1:8000"
    # "development" (`omni dev`, the demo, tests) or "production"; only development may switch off
    # the ownership proof of connected accounts (verify_accounts).
    env: Literal["development", "production"] = "production"
    # Prove a token's holder owns the account before it is connected (domain.ownership: debug_token
    # with meta_app_id); false only with env=development (account_check_bypassed refuses otherwise).
    verify_accounts: bool = True
    # The session cookie's Secure flag: unset means on, except in development (plain http on a laptop).
    # It follows this setting, never the bind address: a TLS-terminating proxy in front binds to 0.0.0.0.
    cookie_secure: bool | None = None
    # Our own reverse proxies / load balancers (addresses or networks): only their X-Forwarded-For is
    # believed for the client's address (login throttling, the audit trail).
    trusted_proxies: Annotated[list[str], NoDecode] = []
    # State shared by inbox replicas (login throttling); unset: each replica counts alone.
    redis_url: str | None = None
    redis_prefix: str = "omni:"
    openai_base_url: str | None = None
    openai_api_key: SecretStr | None = None
    openai_model: str | None = None
    # Default AI limits of every tenant (the operator overrides them per tenant: `omni ai limits`):
    # suggestions per minute, all staff and actions together; model tokens per UTC day.
    ai_suggestions_per_minute: int = Field(default=30, ge=1)
    ai_tokens_per_day: int = Field(default=200_000, ge=0)
    ingress_port: int = 8080
    inbox_port: int = 8000
    # Web Push alerts: the VAPID ``sub`` claim (how a push service reaches the operator) and the push
    # services' hosts a browser's subscription may point at (inbox_api/push/endpoints.py).
    push_subject: str = "mailto:alerts@resevit.invalid"
    # Chrome/Edge/Opera (FCM), Firefox (autopush), Windows (WNS), Safari (Apple).
    push_endpoint_hosts: Annotated[list[str], NoDecode] = Field(
        default_factory=lambda: [
            "fcm.googleapis.com",
            "push.services.mozilla.com",
            "notify.windows.com",
            "push.apple.com",
        ]
    )
    # Workers (router, normalizer, sender, suggester) serve /healthz, /readyz, /metrics here; 0 = off.
    health_port: int = 0
    host: str = "127.0.0.1"

    # Tenant databases: each process holds at most this many connections to one database server,
    # shared by all its tenants there; unset, each service uses its own default
    # (``omni_common.db.budget.DEFAULT_CONNECTIONS``), which together fit PostgreSQL's default 100.
    db_connections_per_server: int | None = Field(default=None, ge=1)
    # At most this many of those connections per tenant; unset: the service's default (the
    # normalizer 2, the others no cap below the server's budget). With more tenants than the budget
    # holds, a busy tenant taking many connections makes the others reconnect (issue 21's bench).
    db_connections_per_tenant: int | None = Field(default=None, ge=1)
    # How long a request or a message waits for a tenant connection (a free one in the budget, or a
    # server that accepts connections again) before it is refused: 503 / retried later. Unset: 5 s
    # for the inbox, 30 s for workers (``omni_common.db.budget.default_acquire_timeout_s``).
    db_acquire_timeout_s: float | None = Field(default=None, gt=0)
    # Evicted tenant engines kept without connections (~0.1-0.5 MiB each) so a returning tenant
    # reconnects instead of rebuilding its engine; no effect on the connection budget.
    tenant_engine_idle_cache: int = Field(default=1000, ge=0)

    # Broker: growing delays (ms) of the delayed-retry queues; one attempt per entry.
    # NoDecode: read as "1000,5000" (split below), not as JSON.
    retry_delays_ms: Annotated[list[int], NoDecode] = Field(
        default_factory=lambda: [1_000, 5_000, 30_000, 120_000, 600_000]
    )
    delivery_limit: int = Field(default=10, ge=1)
    # Deliveries a consumer holds unacked. The inbound workers need room: at 200 the normalizer's
    # queue kept 200-600 events waiting at a rate it keeps up with (webhook -> row p50 1.7 s at 245
    # events/s; 59 ms with 1,000, bench run --rate 200). The sender caps it (SENDER_MAX_PREFETCH).
    prefetch: int = Field(default=1000, ge=1)
    # Normalizer: events of one tenant that arrive within ``normalizer_batch_ms`` (at most
    # ``normalizer_batch_size``, and never more than the prefetch) are written in one transaction.
    normalizer_batch_size: int = Field(default=100, ge=1)
    normalizer_batch_ms: int = Field(default=50, ge=0)
    # Router: the routed events of one incoming message go out as one message per tenant and channel
    # (a RoutedEventBatch), at most ``router_batch_max_events`` events / ``router_batch_max_bytes``
    # of body each (larger packs are split). 1 = one message per event, as before batches.
    # Normalizers must read batches before routers send them (docs/runbook.md).
    router_batch_max_events: int = Field(default=100, ge=1)
    router_batch_max_bytes: int = Field(default=512 * 1024, ge=1024)
    # Tenant shards of normalizer.events (0: one queue with competing consumers). Every service of a
    # deployment must be given the same value: each declares the topology (docs/architecture.md).
    normalizer_shards: int = Field(default=0, ge=0, le=1024)
    # Tenant shards of outbound.commands, the same way (each sender replica then holds warm
    # connections to its shards' tenants only); the same value everywhere too.
    outbound_shards: int = Field(default=0, ge=0, le=1024)
    # This replica's name for shard ownership (a pod name); empty: host and process id.
    worker_id: str = ""

    max_body_bytes: int = 4 * 1024 * 1024
    # Ingress: webhooks arriving within ``ingress_share_ms`` of each other (at most
    # ``ingress_share_max_bodies``, until their bodies reach ``ingress_share_max_bytes``) share one
    # broker message and one confirm; each is still answered only once that message is confirmed.
    # 0 = one message per webhook. Routers must understand shared messages before an ingress sends them.
    # 2 ms: the ingress's CPU per webhook 0.46 -> 0.12 ms with the bare route (docs/performance.md).
    ingress_share_ms: float = Field(default=2, ge=0, le=50)
    ingress_share_max_bodies: int = Field(default=64, ge=1)
    ingress_share_max_bytes: int = Field(default=1024 * 1024, ge=1)
    # The webhook POST route: a bare ASGI handler in front of FastAPI ("asgi"), or a FastAPI route.
    ingress_route: Literal["asgi", "fastapi"] = "asgi"
    log_json: bool | None = None  # None: JSON when stderr is not a terminal
    log_level: str = "INFO"
    # Media (downloaded and sent): a path / file:// URL (local disk, the inbox serves the bytes) or
    # s3://bucket/prefix?endpoint=URL&public_endpoint=URL&region=R&url_seconds=N (the inbox redirects
    # to signed links; credentials from the AWS_* variables or an IAM role). omni_common.media.storage
    media_storage: str = "var/media"
    # Media is fetched only from these host suffixes: Meta's CDNs. Messenger/Instagram attachment URLs
    # elsewhere stay links (a payload can never make us request an internal address); a WhatsApp URL
    # from Graph elsewhere is refused (it would carry the account's token), e.g. lookaside.fbsbx.com.
    media_hosts: Annotated[list[str], NoDecode] = Field(
        default_factory=lambda: [
            "fbcdn.net",
            "fbsbx.com",
            "cdninstagram.com",
            "facebook.com",
            "instagram.com",
        ]
    )

    # outbound-sender (OMNI_OUTBOUND_*).
    # Messages per second per WhatsApp number; None: the sender's default (outbound_sender.policy).
    outbound_whatsapp_rate: float | None = None
    outbound_account_rates: str = ""  # per-account overrides: "ID=RATE[/BURST],..."
    outbound_max_pace_wait_s: float = 10.0
    outbound_in_flight_grace_s: float = 60.0
    outbound_graph_timeout_s: float = 30.0
    outbound_outbox_sweep_interval_s: float = 15.0
    outbound_outbox_grace_s: float = 10.0
    # Shared pacing across replicas (e.g. redis://127.0.0.1:6379/0); unset: each replica paces alone,
    # which is only right with one replica (or rates divided by the replica count).
    outbound_redis_url: str | None = None
    outbound_redis_prefix: str = "omni:pace:"  # key prefix of the shared pacer (one per deployment)
    # Keep-alive connections to the Graph API: at least the sends in flight (prefetch), or requests
    # queue for a connection and reach Meta bunched.
    outbound_http_connections: int = 200
    outbound_http_keepalive_s: float = 2.0  # under the usual 5 s server keep-alive timeouts
    outbound_token_cache_s: float = 60.0  # how long a decrypted token is reused (0: decrypt per send)
    outbound_uvloop: bool = True  # False: asyncio's own loop (a way back, should uvloop misbehave)

    # account-monitor (OMNI_ACCOUNT_MONITOR_*).
    account_monitor_interval_s: float = Field(default=3600.0, gt=0)  # between passes (and lock attempts)
    account_monitor_warn_days: int = Field(default=DEFAULT_WARN_DAYS, ge=1)  # warn this many days ahead
    account_monitor_graph_timeout_s: float = 15.0
    # WhatsApp templates are fetched again when older than this (0: the monitor never syncs them).
    account_monitor_template_sync_hours: float = Field(default=6.0, ge=0)
    # Each account's webhook subscription (GET subscribed_apps) is re-checked when older than this;
    # Meta drops a Page's after an hour of failed deliveries (0: never checked).
    account_monitor_subscription_check_hours: float = Field(default=1.0, ge=0)

    @field_validator("media_hosts", "push_endpoint_hosts", "trusted_proxies", mode="before")
    @classmethod
    def _parse_hosts(cls, value: object) -> object:
        return _csv_field(value)

    @field_validator("retry_delays_ms", mode="before")
    @classmethod
    def _parse_delays(cls, value: object) -> object:
        return [int(v) for v in _split_csv(value)] if isinstance(value, str) else value

    def secure_cookies(self) -> bool:
        """Whether session cookies carry Secure (OMNI_COOKIE_SECURE, else on outside development)."""
        return self.cookie_secure if self.cookie_secure is not None else self.env != "development"

    def account_check_bypassed(self) -> bool:
        """True when accounts connect unproven (development only); ValueError in production."""
        if self.verify_accounts:
            return False
        if self.env != "development":
            raise ValueError(
                "OMNI_VERIFY_ACCOUNTS=false is allowed only with OMNI_ENV=development: in production "
                "every connected account must be proven to be its owner's (docs/security.md)"
            )
        return True

    def encryption_key_list(self) -> list[str]:
        """The key ring, newest first."""
        return _split_csv(self.encryption_keys.get_secret_value())

    def debug_token_credential(self) -> str | None:
        """The app access token for ``debug_token`` (see ``meta_app_token``), or None."""
        token = self.meta_app_token.get_secret_value()
        if token:
            return token
        secrets = self.app_secret_list()
        if self.meta_app_id and secrets:
            return f"{self.meta_app_id}|{secrets[0].decode()}"
        return None

    def app_secret_list(self) -> list[bytes]:
        """App secrets accepted for ``X-Hub-Signature-256`` (several during a rotation)."""
        return [s.encode() for s in _split_csv(self.meta_app_secrets.get_secret_value())]
