"""Composition root of inbox-api: the only place that reads settings and opens connections."""

from __future__ import annotations

import hashlib
import secrets
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import httpx
import structlog
import uvicorn
from argon2 import PasswordHasher
from redis.asyncio import Redis

from inbox_api.adapters import EventHub, SuggestionClient
from inbox_api.app import create_app
from inbox_api.auth.client_ip import parse_networks
from inbox_api.auth.sessions import TokenSigner
from inbox_api.auth.throttle import Counters, LoginThrottle, MemoryCounters, RedisCounters
from inbox_api.connect.meta import FacebookLogin
from inbox_api.connect.store import ConnectStore, Kept, RedisKept
from inbox_api.deps import InboxDeps
from inbox_api.live.service import announce
from inbox_api.push.sender import PushNotifier
from inbox_api.wa_templates.syncer import TemplateSyncer
from omni_common import runtime
from omni_common.broker.connection import connect
from omni_common.broker.publisher import Publisher
from omni_common.broker.topology import declare_topology, require_declared, topology_for
from omni_common.crypto import KeyRing
from omni_common.db.catalog import Catalog, catalog_engine
from omni_common.db.privileges import refuse_superuser
from omni_common.db.service_registry import registry_for
from omni_common.domain.channels import is_channel
from omni_common.graph import GraphClient
from omni_common.graph.transport import graph_http
from omni_common.logging import configure_logging
from omni_common.media.storage import storage_from_url
from omni_common.settings import Settings
from omni_common.startup_checks import refuse_unsafe_settings
from omni_common.tenancy.accounts import verify_credentials
from omni_common.wa_templates.sync import SyncOutcome

log = structlog.get_logger(__name__)


def session_secret(settings: Settings) -> bytes:
    """Session-signing secret derived from the newest encryption key (same on every replica)."""
    keys = settings.encryption_key_list()
    if not keys:
        # Local runs without keys still work; sessions then end when the process restarts.
        log.warning("session_secret_ephemeral", reason="OMNI_ENCRYPTION_KEYS is not set")
        return secrets.token_bytes(32)
    return hashlib.sha256(b"omni inbox session secret|" + keys[0].encode()).digest()


def facebook_login(
    settings: Settings, http: httpx.AsyncClient, kept: Kept | None = None
) -> FacebookLogin | None:
    """ "Continue with Facebook" needs the Meta app's id and a secret (the first one exchanges codes);
    ``kept``: where logins in progress wait (Redis for several replicas, else this process)."""
    secrets_ = settings.app_secret_list()
    if not settings.meta_app_id or not secrets_:
        return None
    return FacebookLogin(
        app_id=settings.meta_app_id,
        app_secret=secrets_[0].decode(),
        dialog_url=settings.meta_oauth_dialog_url,
        public_url=settings.public_url,
        graph_url=settings.graph_api_url,
        http=http,
        es_config_id=settings.meta_es_config_id or None,
        store=ConnectStore(kept=kept),
    )


def login_counters(settings: Settings, redis: Redis | None) -> Counters:
    return RedisCounters(redis, settings.redis_prefix + "login:") if redis is not None else MemoryCounters()


def serves_api_docs(settings: Settings) -> bool:
    """``/docs`` and ``/openapi.json`` in development only."""
    return settings.env == "development"


@asynccontextmanager
async def open_deps(
    settings: Settings,
    *,
    declare: bool | None = None,
    hasher: PasswordHasher | None = None,
    heartbeat_s: float = 15.0,
    session_recheck_s: float = 30.0,
    login_throttle: LoginThrottle | None = None,
    suggest_timeout_s: float = 20.0,
) -> AsyncIterator[InboxDeps]:
    """Open the catalog, tenant engines and broker connection the app needs; close them after.

    ``declare``: declare the topology first (None: ``OMNI_BROKER_DECLARE_TOPOLOGY``). With that setting
    false the inbox runs as a least-privilege user: it checks that the exchanges it uses exist and
    declares only its own exclusive live-event queue.
    """
    least_privilege = not settings.broker_declare_topology
    if declare is None:
        declare = settings.broker_declare_topology
    engine = catalog_engine(settings.database_url)
    catalog = Catalog(engine)
    registry = registry_for(settings, catalog, name="inbox")
    topology = topology_for(settings)
    connection = await connect(settings.rabbitmq_url, name="inbox-api")
    # Shared by replicas: the login throttle's counters (none configured: this replica counts alone).
    redis = Redis.from_url(settings.redis_url, socket_timeout=2) if settings.redis_url else None
    try:
        if declare:
            async with connection.channel() as channel:
                await declare_topology(channel, topology)
        elif least_privilege:
            exchanges = [topology.events_exchange, topology.notifications_exchange]
            await require_declared(connection, exchanges=exchanges)
        publisher = Publisher(connection)
        await publisher.start()
        hub = EventHub(
            exchange=topology.notifications_exchange,
            publisher=publisher,
            declare_exchange=not least_privilege,
        )
        await hub.start(connection)
        suggester = SuggestionClient(
            connection, exchange=topology.events_exchange, timeout_s=suggest_timeout_s
        )
        http = graph_http(timeout=httpx.Timeout(15.0, connect=5.0))
        graph = GraphClient(http, settings.graph_api_url)

        async def verify(channel: str, account_id: str, token: str, waba_id: str | None) -> str:
            info = await verify_credentials(
                graph,
                channel=channel,
                external_account_id=account_id,
                token=token,
                app_id=settings.meta_app_id,
                waba_id=waba_id,
                app_token=settings.debug_token_credential(),
            )
            return info.display_name

        async def profiles(channel: str, user_id: str, token: str) -> dict[str, Any]:
            if not is_channel(channel):
                raise ValueError(f"no such channel: {channel}")
            return await graph.get_user_profile(channel, user_id, token)

        keyring = KeyRing.from_strings(settings.encryption_key_list())
        syncer = TemplateSyncer(registry.begin, graph, keyring)
        push = PushNotifier(registry, keyring, settings.push_subject)
        await push.start()
        hub.on_event = push.offer
        try:
            deps = InboxDeps(
                catalog=catalog,
                registry=registry,
                keyring=keyring,
                storage=storage_from_url(settings.media_storage),
                publisher=publisher,
                hub=hub,
                signer=TokenSigner(session_secret(settings)),
                hasher=hasher or PasswordHasher(),
                login_throttle=login_throttle or LoginThrottle(login_counters(settings, redis)),
                trusted_proxies=parse_networks(settings.trusted_proxies),
                ready=lambda: not connection.is_closed,
                cookie_secure=settings.secure_cookies(),
                hsts=settings.public_url.startswith("https://"),
                heartbeat_s=heartbeat_s,
                session_recheck_s=session_recheck_s,
                suggester=suggester,
                verify=None if settings.account_check_bypassed() else verify,
                templates=syncer,
                profiles=profiles,
                push=push,
                push_endpoint_hosts=tuple(settings.push_endpoint_hosts),
                facebook=facebook_login(
                    settings,
                    http,
                    RedisKept(redis, keyring, settings.redis_prefix + "connect:")
                    if redis is not None
                    else None,
                ),
            )

            async def synced(tenant_id: uuid.UUID, outcomes: list[SyncOutcome]) -> None:
                # Open pickers reload their list when they hear this.
                data = {"kind": "templates_synced", "synced": sum(o.state == "synced" for o in outcomes)}
                await announce(deps, tenant_id, "notification", None, data)

            syncer.on_done = synced
            yield deps
        finally:
            await syncer.close()
            await push.close()
            await http.aclose()
            await suggester.close()
            await hub.close()
            await publisher.close()
    finally:
        if redis is not None:
            await redis.aclose()
        await connection.close()
        await registry.close()
        await engine.dispose()


async def serve(settings: Settings) -> None:
    """Serve the inbox until SIGTERM/SIGINT."""
    app = create_app(lambda: open_deps(settings), api_docs=serves_api_docs(settings))
    config = uvicorn.Config(
        app,
        host=settings.host,
        port=settings.inbox_port,
        log_level="warning",
        timeout_graceful_shutdown=5,
        log_config=None,  # uvicorn's loggers go through ours (omni_common.logging), redaction included
        # The client's address is decided once, by OMNI_TRUSTED_PROXIES (auth/client_ip.py); uvicorn's
        # own X-Forwarded-For handling would believe any local peer and rewrite it before we look.
        proxy_headers=False,
    )
    await uvicorn.Server(config).serve()


def check_account_proof(settings: Settings) -> None:
    """Start-up: refuse production without the ownership proof; say loudly when it is off or blind."""
    try:
        bypassed = settings.account_check_bypassed()
    except ValueError as exc:
        log.critical("account_check_refused", reason=str(exc))
        raise SystemExit(f"inbox-api: {exc}") from exc
    if bypassed:
        log.warning(
            "ACCOUNT_OWNERSHIP_NOT_CHECKED",
            reason="OMNI_VERIFY_ACCOUNTS=false (development): any token connects any account id",
        )
    elif not settings.meta_app_id:
        log.warning(
            "account_check_without_app_id",
            reason="OMNI_META_APP_ID is not set: every account connect will be refused",
        )


def main() -> None:
    """Serve the inbox on ``OMNI_INBOX_PORT``."""
    settings = Settings()
    configure_logging(service="inbox-api", json=settings.log_json, level=settings.log_level)
    refuse_unsafe_settings("inbox-api", settings)
    # Its own database role, never a superuser, in production (db/privileges.py).
    refuse_superuser("inbox-api", settings.database_url, settings.env)
    check_account_proof(settings)
    runtime.run(serve(settings))
