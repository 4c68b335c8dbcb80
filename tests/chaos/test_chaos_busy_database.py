"""A busy database never costs an owner's reply (issue 17): 50 restaurants' owners post a burst of
replies through the inbox while another client holds half of the PostgreSQL server's connections.

The services run as processes with their DEFAULT connection budgets, on a private PostgreSQL cluster
with `max_connections = 100` (the machine's default) so filling it disturbs nobody else; the Meta
sandbox accepts the sends. Every request is answered 202 or 503 (with Retry-After) — never a 500,
never left unanswered; every 202 is sent exactly once; none ends "may have been delivered".
"""

from __future__ import annotations

import asyncio
import dataclasses
import secrets
import time
from collections import Counter
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import httpx
import psycopg
import pytest
from chaos_stack import Stack, chaos_stack
from pipeline import wait_until
from sandbox_server import sandbox

from meta_sandbox import SandboxConfig
from omni_common.dburl import libpq_conninfo
from omni_common.testing.pgcluster import private_cluster

pytestmark = [pytest.mark.integration, pytest.mark.chaos, pytest.mark.timeout(900)]

TENANTS = 50
HOGGED = 50  # connections another client holds, one per tenant database
REPLIES = 1_200
RATE = 48.0  # replies per second, as the owners posted them in the report
CHATS_PER_TENANT = 8  # customers per restaurant (per-customer pacing spreads sends over them)


@pytest.fixture(scope="module")
def sandbox_url() -> Iterator[str]:
    with sandbox(SandboxConfig(emit_statuses=False)) as url:
        yield url


@pytest.fixture(scope="module")
def stack(
    services, namespace: str, tmp_path_factory: pytest.TempPathFactory, sandbox_url: str
) -> Iterator[Stack]:
    with private_cluster(max_connections=100) as admin:
        own = dataclasses.replace(services, pg_admin_url=admin)
        with chaos_stack(
            own,
            namespace,
            tmp_path_factory.mktemp("chaos-busy"),
            label="chb",
            tenants=TENANTS,
            processes={"inbox-api": 1, "outbound-sender": 1},
            OMNI_GRAPH_API_URL=f"{sandbox_url}/v21.0",
            OMNI_VERIFY_ACCOUNTS="false",
            OMNI_ENV="development",
        ) as made:
            yield made


def _chats(stack: Stack) -> dict[str, list[str]]:
    """Customers who wrote an hour ago (window open), on each tenant's WhatsApp account."""
    chats: dict[str, list[str]] = {}
    for tenant in stack.tenants:
        with psycopg.connect(libpq_conninfo(stack.pg_url, database=tenant.db_name)) as conn:
            account = conn.execute("SELECT id FROM social_accounts WHERE platform = 'whatsapp'").fetchone()
            assert account is not None
            ids = []
            for n in range(CHATS_PER_TENANT):
                contact = conn.execute(
                    "INSERT INTO contacts (social_account_id, channel, external_id) "
                    "VALUES (%s, 'whatsapp', %s) RETURNING id",
                    (account[0], f"4915{secrets.randbelow(10**9):09d}{n}"),
                ).fetchone()
                assert contact is not None
                chat = conn.execute(
                    "INSERT INTO chats (social_account_id, contact_id, channel, last_inbound_at) "
                    "VALUES (%s, %s, 'whatsapp', %s) RETURNING id",
                    (account[0], contact[0], datetime.now(UTC) - timedelta(hours=1)),
                ).fetchone()
                assert chat is not None
                ids.append(str(chat[0]))
            chats[tenant.slug] = ids
    return chats


def _hog(stack: Stack) -> list[psycopg.Connection[object]]:
    """Another application: a reader keeping one connection per tenant database."""
    return [
        psycopg.connect(libpq_conninfo(stack.pg_url, database=t.db_name), autocommit=True)
        for t in stack.tenants[:HOGGED]
    ]


async def _burst(stack: Stack, chats: dict[str, list[str]]) -> list[tuple[int, str | None, str]]:
    """Sign every owner in, then post REPLIES replies at RATE per second; (status, Retry-After, text)."""
    base = f"http://127.0.0.1:{stack.fleet.procs['inbox-api'].port}"
    async with httpx.AsyncClient(base_url=base, timeout=60) as http:
        tokens = {}
        for tenant in stack.tenants:
            login = await http.post(
                "/api/auth/login",
                json={"tenant": tenant.slug, "email": f"o@{tenant.slug}.test", "password": "owner-pass-1"},
            )
            login.raise_for_status()
            tokens[tenant.slug] = login.json()["access_token"]

        async def post(n: int) -> tuple[int, str | None, str]:
            tenant = stack.tenants[n % TENANTS]
            chat = chats[tenant.slug][(n // TENANTS) % CHATS_PER_TENANT]
            text = f"burst {n}: see you at eight"
            try:
                answer = await http.post(
                    f"/api/conversations/{chat}/messages",
                    json={"text": text},
                    headers={"Authorization": f"Bearer {tokens[tenant.slug]}"},
                )
            except httpx.TimeoutException:
                return 0, None, text  # no answer at all: the worst outcome
            return answer.status_code, answer.headers.get("Retry-After"), text

        started = time.monotonic()
        tasks = []
        for n in range(REPLIES):
            await asyncio.sleep(max(0.0, started + n / RATE - time.monotonic()))
            tasks.append(asyncio.create_task(post(n)))
        return list(await asyncio.gather(*tasks))


def _outbound(stack: Stack) -> list[dict[str, object]]:
    rows: list[dict[str, object]] = []
    for tenant in stack.tenants:
        with psycopg.connect(libpq_conninfo(stack.pg_url, database=tenant.db_name)) as conn:
            cur = conn.execute(
                "SELECT text, status, error_code, external_message_id FROM chat_messages"
                " WHERE direction = 'outbound'"
            )
            rows += [dict(zip(("text", "status", "error_code", "wamid"), r, strict=True)) for r in cur]
    return rows


def test_a_burst_of_replies_against_a_half_full_server_answers_202_or_503_and_loses_nothing(
    stack: Stack, sandbox_url: str
) -> None:
    ctl = httpx.Client(base_url=f"{sandbox_url}/_sandbox", timeout=10)
    for tenant in stack.tenants:
        account = tenant.accounts["whatsapp"]
        body = {
            "channel": "whatsapp",
            "account_id": account,
            "token": f"token-{account}",
            "display_name": tenant.slug,
            "waba_id": f"9{account}",
        }
        ctl.post("/accounts", json=body).raise_for_status()
    chats = _chats(stack)
    hog = _hog(stack)
    try:
        answers = asyncio.run(_burst(stack, chats))
    finally:
        for conn in hog:
            conn.close()
    codes = Counter(code for code, _, _ in answers)
    print(f"\nanswers: {dict(codes)}")
    assert set(codes) <= {202, 503}, codes  # never a 500, never no answer
    assert all(after for code, after, _ in answers if code == 503)  # 503s say when to retry
    accepted = {text for code, _, text in answers if code == 202}
    assert accepted  # the server had room for most of them

    def settled() -> list[dict[str, object]]:
        rows = _outbound(stack)
        waiting = [r for r in rows if r["status"] in ("queued", "sending")]
        return rows if len(rows) >= len(accepted) and not waiting else []

    rows = wait_until(settled, timeout=420, interval=1.0, what="every accepted reply sent")
    by_text = Counter(str(r["text"]) for r in rows)
    assert {t for t in by_text} == accepted  # a 503 left nothing behind, a 202 kept its reply
    assert max(by_text.values()) == 1
    statuses = Counter((r["status"], r["error_code"]) for r in rows)
    assert statuses == Counter({("sent", None): len(accepted)}), statuses  # none "outcome unknown"
    recorded = ctl.get("/requests", params={"path_contains": "/messages"}).json()
    sends = [r for r in recorded if r["method"] == "POST"]
    assert len(sends) == len(accepted)  # each exactly once at Meta
    print(f"burst: {len(accepted)} sent once each, {codes.get(503, 0)} refused with 503 and Retry-After")
