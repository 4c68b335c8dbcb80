"""Composition root of account-monitor: the only place that reads settings and opens connections."""

from __future__ import annotations

import asyncio
import contextlib
import time
import uuid
from collections import Counter as Tally
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

import httpx
import structlog
from fastapi import FastAPI
from prometheus_client import Counter, Gauge

from account_monitor.check import Inspect, MonitorDeps, run_once
from account_monitor.lock import LeaderLock
from account_monitor.renew import Refresh
from account_monitor.subscriptions import SubscriptionCheck
from account_monitor.templates import sync_templates
from omni_common import runtime
from omni_common.broker.connection import install_signal_handlers
from omni_common.crypto import KeyRing
from omni_common.db.catalog import Catalog, catalog_engine
from omni_common.db.privileges import refuse_superuser
from omni_common.db.service_registry import registry_for
from omni_common.graph import GraphClient
from omni_common.graph.lifecycle import Exchanged, exchange_token
from omni_common.graph.transport import graph_http
from omni_common.http_common import add_health_routes, health_server
from omni_common.logging import configure_logging
from omni_common.settings import Settings
from omni_common.tenancy.token_expiry import TokenCheck

SERVICE = "account-monitor"
log = structlog.get_logger(__name__)

CHECKS = Counter("omni_account_monitor_checks_total", "Token checks by outcome", ["outcome"])
LAST_PASS = Gauge("omni_account_monitor_last_pass_timestamp", "Unix time of the last finished pass")
LEADER = Gauge("omni_account_monitor_leader", "1 while this replica holds the monitor lock")


@dataclass
class MonitorState:
    """What readiness needs to know: is this replica the leader, and when did it last finish a pass."""

    leader: bool = False
    last_pass_at: float | None = None
    started_at: float = field(default_factory=time.time)

    def ready(self, interval_s: float) -> bool:
        # A standby replica is ready (it waits for the lock); the leader must have passed recently.
        if not self.leader:
            return True
        return time.time() - (self.last_pass_at or self.started_at) < 3 * interval_s


def graph_inspector(graph: GraphClient, app_token: str | None) -> Inspect:
    """token -> TokenCheck through ``debug_token`` (with the app token when configured)."""

    async def inspect(token: str) -> TokenCheck:
        info = await graph.debug_token(token, app_token=app_token)
        return TokenCheck(
            is_valid=info.is_valid,
            expires_at=info.expires_at,
            error_code=info.error_code,
            error_message=info.error_message,
            kind=info.kind,
        )

    return inspect


def graph_refresher(graph: GraphClient, settings: Settings) -> Refresh | None:
    """token -> a renewed long-lived user token (``fb_exchange_token``); None without app credentials."""
    secrets = settings.app_secret_list()
    app_id = settings.meta_app_id
    if not app_id or not secrets:
        return None
    secret = secrets[0].decode()  # the first of OMNI_META_APP_SECRETS, as the code exchange uses

    async def refresh(token: str) -> Exchanged:
        return await exchange_token(graph, token, app_id=app_id, app_secret=secret, now=datetime.now(UTC))

    return refresh


def subscription_check(graph: GraphClient, settings: Settings) -> SubscriptionCheck | None:
    """The subscription re-check, when our app id is known and the check is on."""
    every = timedelta(hours=settings.account_monitor_subscription_check_hours)
    if not settings.meta_app_id or every <= timedelta(0):
        return None
    return SubscriptionCheck(graph, settings.meta_app_id, every)


async def run_monitor(
    settings: Settings,
    *,
    stop: asyncio.Event,
    passes: asyncio.Queue[Tally[str]] | None = None,
    state: MonitorState | None = None,
    only_tenants: list[uuid.UUID] | None = None,
) -> None:
    """Run passes every ``account_monitor_interval_s`` while holding the lock, until ``stop`` is set.

    Test seams: ``passes`` receives the outcome counter of each finished pass; ``only_tenants``
    limits the passes to these tenants (a shared test catalog holds other tests' tenants).
    """
    engine = catalog_engine(settings.database_url)
    catalog = Catalog(engine)
    registry = registry_for(settings, catalog, name="monitor")
    lock = LeaderLock(settings.database_url)
    http = graph_http(timeout=httpx.Timeout(settings.account_monitor_graph_timeout_s, connect=5.0))
    graph = GraphClient(http, settings.graph_api_url)
    keyring = KeyRing.from_strings(settings.encryption_key_list())
    template_interval = timedelta(hours=settings.account_monitor_template_sync_hours)
    deps = MonitorDeps(
        begin=registry.begin,
        keyring=keyring,
        inspect=graph_inspector(graph, settings.debug_token_credential()),
        warn_days=settings.account_monitor_warn_days,
        clock=lambda: datetime.now(UTC),
        refresh=graph_refresher(graph, settings),
        subscriptions=subscription_check(graph, settings),
    )

    async def tenants() -> list[uuid.UUID]:
        active = [t.id for t in await catalog.list_tenants(statuses=["active"])]
        return active if only_tenants is None else [t for t in active if t in only_tenants]

    state = state or MonitorState()
    try:
        while not stop.is_set():
            state.leader = await lock.acquire()
            LEADER.set(1 if state.leader else 0)
            if state.leader:
                try:
                    outcomes = await run_once(deps, tenants)
                except Exception:  # catalog unreachable and the like: the next pass tries again
                    log.exception("token_monitor_pass_failed")
                    outcomes = Tally({"pass_error": 1})
                if template_interval > timedelta(0):
                    try:
                        outcomes += await sync_templates(
                            registry.begin, graph, keyring, tenants, interval=template_interval
                        )
                    except Exception:  # the catalog unreachable: the next pass tries again
                        log.exception("templates_sync_pass_failed")
                for name, count in outcomes.items():
                    CHECKS.labels(name).inc(count)
                state.last_pass_at = time.time()
                LAST_PASS.set(state.last_pass_at)
                if passes is not None:
                    passes.put_nowait(outcomes)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), settings.account_monitor_interval_s)
    finally:
        await lock.release()
        await http.aclose()
        await registry.close()
        await engine.dispose()


def health_app(state: MonitorState, interval_s: float) -> FastAPI:
    """``/healthz``, ``/readyz`` (a standby, or a leader with a recent pass) and ``/metrics``."""
    app = FastAPI(docs_url=None, redoc_url=None, openapi_url=None)
    add_health_routes(app, lambda: state.ready(interval_s))
    return app


async def _serve(settings: Settings) -> None:
    stop = asyncio.Event()
    install_signal_handlers(stop)
    state = MonitorState()
    server = None
    task = None
    if settings.health_port:
        app = health_app(state, settings.account_monitor_interval_s)
        server = health_server(app, settings.host, settings.health_port)
        task = asyncio.create_task(server.serve())
    try:
        await run_monitor(settings, stop=stop, state=state)
    finally:
        if server is not None and task is not None:
            server.should_exit = True
            await task


def main() -> None:
    """Check tokens every interval until SIGTERM."""
    settings = Settings()
    configure_logging(service=SERVICE, json=settings.log_json, level=settings.log_level)
    # Its own database role, never a superuser, in production (db/privileges.py).
    refuse_superuser(SERVICE, settings.database_url, settings.env)
    log.info(
        "account_monitor_starting",
        interval_s=settings.account_monitor_interval_s,
        warn_days=settings.account_monitor_warn_days,
        subscription_check_hours=settings.account_monitor_subscription_check_hours,
        renews_tokens=bool(settings.meta_app_id and settings.app_secret_list()),
    )
    runtime.run(_serve(settings))
