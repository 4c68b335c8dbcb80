"""`omni tenant move`: a tenant's database to another server under a steady flow of events, the
inbox reading throughout; killed (-9) at each step and re-run; rolled back; the source dropped.
Checked per tenant: 0 lost, 0 duplicated, 0 misrouted, nothing dead-lettered."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from types import SimpleNamespace
from typing import Any

import httpx
import psycopg
import pytest
from pg_second_server import databases, omni, own_catalog, second_server, whatsapp_text
from pipeline import body_of, connect, running_pipeline, sign, wait_until
from sqlalchemy import text
from testenv import APP_SECRET, drop_databases

from omni_common.broker.connection import connect as broker_connect
from omni_common.broker.dlq import list_dead_letters
from omni_common.db.catalog import Catalog, catalog_engine
from omni_common.db.service_registry import registry_for
from omni_common.settings import Settings
from omni_common.tenancy.move import Mover

pytestmark = pytest.mark.integration

SLUGS = ("mv-a", "mv-b", "mv-c")
KILL_SCRIPT = """
import asyncio, os, signal, sys
from omni_common.db.catalog import Catalog, catalog_engine
from omni_common.tenancy.move import Mover
url, slug, to, kill_at = sys.argv[1:5]
def on_step(step):
    if step == kill_at:
        os.kill(os.getpid(), signal.SIGKILL)
async def main():
    engine = catalog_engine(url)
    await Mover(Catalog(engine), url, settle_s=0.3, on_step=on_step).move(slug, to)
asyncio.run(main())
"""


class Flow:
    """Posts signed webhooks for some tenants; remembers what went to whom."""

    def __init__(self, env: SimpleNamespace) -> None:
        self.env = env
        self.sent: dict[str, set[str]] = {slug: set() for slug in SLUGS}
        self.http = httpx.Client(base_url=env.pipe.ingress_url, timeout=10)
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def post(self, slug: str) -> None:
        wamid = f"wamid.mv.{slug}.{uuid.uuid4().hex[:12]}"
        body = body_of(whatsapp_text(self.env.accounts[slug], wamid, f"hello {wamid}"))
        headers = {"X-Hub-Signature-256": sign(body, APP_SECRET), "Content-Type": "application/json"}
        assert self.http.post("/webhooks/whatsapp", content=body, headers=headers).status_code == 200
        self.sent[slug].add(wamid)

    def steady(self, slugs: tuple[str, ...], every_s: float = 0.02) -> None:
        def run() -> None:
            n = 0
            while not self._stop.is_set():
                self.post(slugs[n % len(slugs)])
                n += 1
                time.sleep(every_s)

        self._thread = threading.Thread(target=run, daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(10)

    def stored(self, slug: str) -> list[str]:
        """External ids in the tenant's database on the server the catalog names now."""
        with psycopg.connect(self.env.settings.database_url) as conn:
            row = conn.execute(
                "SELECT t.db_name, s.url FROM tenants t JOIN db_servers s ON s.name = t.server"
                " WHERE t.slug = %s",
                (slug,),
            ).fetchone()
        assert row is not None
        base = row[1] or "postgresql://postgres@127.0.0.1:5432"
        with psycopg.connect(f"{base}/{row[0]}") as conn:
            return [r[0] for r in conn.execute("SELECT external_message_id FROM chat_messages")]

    def check(self, slug: str, timeout: float = 30) -> None:
        """Every message sent to ``slug`` is in its database exactly once, and nothing else."""
        wait_until(lambda: len(self.stored(slug)) >= len(self.sent[slug]), timeout=timeout, what=slug)
        got = self.stored(slug)
        assert len(got) == len(set(got)), f"{slug}: duplicated"
        assert set(got) == self.sent[slug], f"{slug}: lost or misrouted"


def _server_of(env: SimpleNamespace, slug: str) -> str:
    with psycopg.connect(env.settings.database_url) as conn:
        row = conn.execute("SELECT server FROM tenants WHERE slug = %s", (slug,)).fetchone()
    assert row is not None
    return str(row[0])


def _all_dead_letters(env: SimpleNamespace) -> list[Any]:
    async def go() -> list[Any]:
        conn = await broker_connect(env.settings.rabbitmq_url, name="test-move-dlq")
        try:
            return list(await list_dead_letters(conn, env.pipe.topology))
        finally:
            await conn.close()

    return asyncio.run(go())


def _dead_letters(env: SimpleNamespace) -> list[Any]:
    """Dead letters made since this module started (the vhost is the xdist worker's: a module that
    ran before on it may have left its own on purpose, e.g. a turned-off number's)."""
    return [d for d in _all_dead_letters(env) if d.id not in env.dead_before]


@pytest.fixture(scope="module")
def env(settings: Settings, namespace: str) -> Iterator[SimpleNamespace]:
    mine = own_catalog(settings, f"{namespace}_mv")
    with second_server() as second:
        assert omni(mine, "migrate")[0] == 0
        code, out = omni(mine, "db-server", "add", "second", second, "--no-password")
        assert code == 0, out
        accounts = {slug: str(7 + i) + str(uuid.uuid4().int)[:14] for i, slug in enumerate(SLUGS)}
        for slug in SLUGS:
            code, out = omni(
                mine,
                *("tenant", "create", slug, "--name", slug, "--owner-email", f"o@{slug}.example"),
                *("--owner-password", "owner-pass-1", "--server", "main"),
            )
            assert code == 0, out

        async def connect_all() -> None:
            engine = catalog_engine(mine.database_url)
            try:
                for slug, account in accounts.items():
                    tenant = await Catalog(engine).get_tenant_by_slug(slug)
                    assert tenant is not None
                    await connect(mine, tenant.id, "whatsapp", account)
            finally:
                await engine.dispose()

        asyncio.run(connect_all())
        with running_pipeline(mine) as pipe:
            env = SimpleNamespace(settings=mine, second=second, accounts=accounts, pipe=pipe)
            env.dead_before = {d.id for d in _all_dead_letters(env)}
            yield env
    drop_databases(settings.database_url.rsplit("/", 1)[0] + "/postgres", f"{namespace}_mv")


def test_move_under_a_steady_flow_with_the_inbox_reading(env: SimpleNamespace) -> None:
    flow = Flow(env)
    reads = {"ok": 0, "failed": 0}
    seen_b: dict[str, int] = {}
    stop_reading = threading.Event()

    def inbox_reader() -> None:  # as the inbox reads: registry_for(name="inbox")
        async def go() -> None:
            engine = catalog_engine(env.settings.database_url)
            registry = registry_for(env.settings, Catalog(engine), name="inbox")
            tenant = await Catalog(engine).get_tenant_by_slug("mv-a")
            assert tenant is not None
            try:
                while not stop_reading.is_set():
                    for attempt in (1, 2):  # the page retries once, as the inbox's does
                        try:
                            async with registry.session(tenant.id) as session:
                                await session.scalar(text("SELECT count(*) FROM chat_messages"))
                            reads["ok"] += 1
                            break
                        except Exception:
                            if attempt == 2:
                                reads["failed"] += 1
                    await asyncio.sleep(0.05)
            finally:
                await registry.close()
                await engine.dispose()

        asyncio.run(go())

    reader = threading.Thread(target=inbox_reader, daemon=True)
    reader.start()
    flow.steady(("mv-a", "mv-b"))
    time.sleep(1.0)

    def on_step(step: str) -> None:
        if step in ("frozen", "verified"):
            seen_b[step] = len(flow.stored("mv-b"))

    async def move() -> str:
        engine = catalog_engine(env.settings.database_url)
        try:
            state = await Mover(
                Catalog(engine), env.settings.database_url, settle_s=1.0, on_step=on_step
            ).move("mv-a", "second")
            return state.step
        finally:
            await engine.dispose()

    assert asyncio.run(move()) == "done"
    # The flow goes on after the switch too (on a loaded machine it may have sent little during a
    # quick move): the moved tenant's new server takes events as the old one did.
    wait_until(lambda: len(flow.sent["mv-a"]) > 50, timeout=60, what="50 webhooks to mv-a")
    time.sleep(1.0)
    flow.stop()
    stop_reading.set()
    reader.join(10)

    assert _server_of(env, "mv-a") == "second"
    for slug in ("mv-a", "mv-b"):
        flow.check(slug)
    assert len(flow.sent["mv-a"]) > 50
    assert seen_b["verified"] > seen_b["frozen"], "the other tenant's events must flow during the hold"
    assert reads["failed"] == 0
    assert reads["ok"] > 20
    assert _dead_letters(env) == []
    # The source stays, read-only, until --drop-source.
    with psycopg.connect(env.settings.database_url) as conn:
        db_name = conn.execute("SELECT db_name FROM tenants WHERE slug = 'mv-a'").fetchone()[0]  # type: ignore[index]
        assert conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (db_name,)).fetchone()
    assert db_name in databases(env.second, db_name)


def test_killed_at_each_step_a_rerun_finishes_and_nothing_is_lost(env: SimpleNamespace) -> None:
    flow = Flow(env)
    target = "second"
    for kill_at in ("hold", "frozen", "copied", "verified", "switched"):
        for _ in range(5):
            flow.post("mv-c")
        killed = subprocess.run(
            [sys.executable, "-c", KILL_SCRIPT, env.settings.database_url, "mv-c", target, kill_at],
            capture_output=True,
            timeout=60,
            env={**os.environ, "OMNI_LOG_LEVEL": "WARNING"},
        )
        assert killed.returncode == -9, killed.stderr.decode()[-2000:]
        for _ in range(5):
            flow.post("mv-c")  # held now (or already flowing, after the switch)
        code, out = omni(env.settings, "tenant", "move", "mv-c", "--to", target, "--settle-seconds", "0.3")
        assert code == 0, out
        assert _server_of(env, "mv-c") == target
        flow.check("mv-c")
        target = "main" if target == "second" else "second"
    assert _dead_letters(env) == []


def test_abort_before_the_switch_and_drop_source(env: SimpleNamespace) -> None:
    flow = Flow(env)
    before = _server_of(env, "mv-b")
    killed = subprocess.run(
        [sys.executable, "-c", KILL_SCRIPT, env.settings.database_url, "mv-b", "second", "copied"],
        capture_output=True,
        timeout=60,
    )
    assert killed.returncode == -9, killed.stderr.decode()[-2000:]
    flow.post("mv-b")
    code, out = omni(env.settings, "tenant", "move", "mv-b", "--to", "main")
    assert code != 0
    assert "under way" in out
    code, out = omni(env.settings, "tenant", "move", "mv-b", "--abort")
    assert code == 0, out
    assert _server_of(env, "mv-b") == before
    with psycopg.connect(env.settings.database_url) as conn:
        db_name = str(conn.execute("SELECT db_name FROM tenants WHERE slug = 'mv-b'").fetchone()[0])  # type: ignore[index]
    assert db_name not in databases(env.second, db_name)  # the partial copy went
    flow.post("mv-b")  # the source takes writes again
    wait_until(lambda: set(flow.stored("mv-b")) >= flow.sent["mv-b"], timeout=30, what="mv-b after abort")

    code, out = omni(
        env.settings, "tenant", "move", "mv-b", "--to", "second", "--drop-source", "--settle-seconds", "0.3"
    )
    assert code == 0, out
    assert "old database dropped" in out
    with psycopg.connect(env.settings.database_url) as conn:
        assert conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (db_name,)).fetchone() is None
        assert conn.execute(
            "SELECT count(*) FROM tenant_moves m JOIN tenants t ON t.id = m.tenant_id WHERE t.slug = 'mv-b'"
        ).fetchone() == (0,)
    flow.post("mv-b")
    wait_until(lambda: set(flow.stored("mv-b")) >= flow.sent["mv-b"], timeout=30, what="mv-b on second")
