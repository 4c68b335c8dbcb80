"""outbound-sender against real RabbitMQ, PostgreSQL and the Meta sandbox over a real socket.

One prefixed outbound-only topology for the whole module (broker hygiene), one sender thread, one sandbox.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import secrets
import subprocess
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest
import structlog
from outbound_support import (
    Db,
    add_chat,
    add_inbound,
    connect,
    direct_deps,
    message,
    publish_reply,
    queue_reply,
    tenant_db,
)
from pipeline import await_until, running_sender
from prometheus_client import REGISTRY
from sandbox_server import SandboxControl, sandbox
from sqlalchemy import select

from omni_common.broker.connection import connect as amqp_connect
from omni_common.broker.outcomes import Retry
from omni_common.broker.publisher import Publisher
from omni_common.broker.topology import Topology, build_topology
from omni_common.contracts import SendReply, notifications_in
from omni_common.contracts.routing import OUTBOUND_COMMANDS
from omni_common.crypto import KeyRing
from omni_common.db.tenant_models import Notification, Outbox, SocialAccount
from omni_common.dburl import libpq_conninfo
from omni_common.graph import GraphClient
from omni_common.outbound.replies import QueuedReply
from omni_common.outbound.replies import publish_reply as publish_reply_after_commit
from omni_common.settings import Settings
from omni_common.tenancy.accounts import set_account_enabled
from outbound_sender.deps import SenderDeps
from outbound_sender.handler import OUTCOME_UNKNOWN, OUTCOME_UNKNOWN_REASON, handle_send
from outbound_sender.pacing import Checks, MemoryPacer, Paced, Rate
from outbound_sender.policy import account_key
from outbound_sender.store import SessionSendStore

pytestmark = pytest.mark.integration

RETRY_DELAYS_MS = [100, 200, 300]
STORM_RATE = 5.0  # msg/s for the storm account, so pacing is measurable
STORM_ACCOUNT = f"{secrets.randbelow(10**12):012d}"
TOKENS: list[str] = []  # every token this module used: none may be in logs or a pg_dump


@pytest.fixture(scope="module")
def root_url() -> Iterator[str]:
    with sandbox() as url:
        yield url


@pytest.fixture(scope="module")
def topology() -> Topology:
    return build_topology(
        retry_delays_ms=RETRY_DELAYS_MS,
        delivery_limit=5,
        prefix=f"obt{secrets.token_hex(3)}.",
        only_stages=(OUTBOUND_COMMANDS,),
    )


@pytest.fixture(scope="module")
def sender_settings(settings: Settings, root_url: str) -> Settings:
    return settings.model_copy(update={"graph_api_url": f"{root_url}/v21.0"})


@pytest.fixture(scope="module")
async def db(settings: Settings) -> AsyncIterator[Db]:
    async with tenant_db(settings, "outbound") as d:
        yield d


@pytest.fixture(scope="module")
def sender(sender_settings: Settings, topology: Topology, db: Db) -> Iterator[None]:
    cfg = sender_settings.model_copy(
        update={
            "outbound_account_rates": f"{STORM_ACCOUNT}={STORM_RATE}",
            "outbound_in_flight_grace_s": 0.3,
            "outbound_outbox_sweep_interval_s": 0.3,
            "outbound_outbox_grace_s": 1.0,
            "outbound_graph_timeout_s": 5.0,
        }
    )
    with running_sender(cfg, topology):
        yield


@pytest.fixture(scope="module")
async def publisher(settings: Settings, sender: None) -> AsyncIterator[Publisher]:
    conn = await amqp_connect(settings.rabbitmq_url, name="outbound-test")
    pub = Publisher(conn)
    await pub.start()
    yield pub
    await pub.close()
    await conn.close()


@pytest.fixture
async def ctl(root_url: str) -> AsyncIterator[SandboxControl]:
    async with httpx.AsyncClient(timeout=10.0) as http:
        yield SandboxControl(http, root_url)


async def _account(ctl: SandboxControl, db: Db, channel: str, **extra: Any) -> tuple[str, str, uuid.UUID]:
    account_id, token = await ctl.add_account(channel, **extra)
    TOKENS.append(token)
    return account_id, token, await connect(db, channel, account_id, token)


async def _wait_status(db: Db, mid: uuid.UUID, *statuses: str, timeout: float = 15.0) -> Any:
    async def check() -> Any:
        row = await message(db, mid)
        return row if row.status in statuses else None

    return await await_until(check, timeout=timeout, what=f"message {mid} to be {statuses}")


async def _logged_sent(logs: _Logs, mid: uuid.UUID) -> list[dict[str, Any]]:
    """The reply_sent lines of ``mid``; the status commits before the sender logs it, so wait."""

    async def check() -> list[dict[str, Any]] | None:
        return logs.events("reply_sent", chat_message_id=str(mid)) or None

    return await await_until(check, timeout=5.0, what=f"the reply_sent log line of {mid}")


async def _posts(ctl: SandboxControl, account_id: str) -> list[dict[str, Any]]:
    return [r for r in await ctl.requests(f"/{account_id}/messages") if r["method"] == "POST"]


@pytest.mark.parametrize("channel", ["whatsapp", "facebook", "instagram"])
async def test_reply_goes_out_in_the_documented_shape_threaded(
    channel: str, ctl: SandboxControl, db: Db, publisher: Publisher, topology: Topology
) -> None:
    account_id, token, social_id = await _account(ctl, db, channel)
    customer = "34600111222" if channel == "whatsapp" else str(secrets.randbelow(10**15))
    chat = await add_chat(db, social_id, channel, customer)
    quoted_ext = f"wamid.{secrets.token_hex(8)}" if channel == "whatsapp" else f"m_{secrets.token_hex(8)}"
    quoted = await add_inbound(db, chat, channel, quoted_ext)
    mid = await queue_reply(db, chat, channel, "Sí, a las 21:00 ✔", reply_to=quoted)

    await publish_reply(publisher, topology, db, mid, channel)
    row = await _wait_status(db, mid, "sent")

    [request] = await _posts(ctl, account_id)
    expected = {
        "whatsapp": {
            "messaging_product": "whatsapp",
            "recipient_type": "individual",
            "to": "+34600111222",
            "type": "text",
            "text": {"preview_url": False, "body": "Sí, a las 21:00 ✔"},
            "context": {"message_id": quoted_ext},
        },
        "facebook": {
            "recipient": {"id": customer},
            "messaging_type": "RESPONSE",
            "message": {"text": "Sí, a las 21:00 ✔", "reply_to": {"mid": quoted_ext}},
        },
        # Outbound threading is undocumented for Instagram: not sent (see graph/payloads.py).
        "instagram": {"recipient": {"id": customer}, "message": {"text": "Sí, a las 21:00 ✔"}},
    }[channel]
    assert request["path"] == f"/v21.0/{account_id}/messages"
    assert request["json"] == expected
    assert request["headers"]["authorization"] == f"Bearer {token}"
    assert token not in request["url"]
    sent = await ctl.get("/sent")
    assert row.external_message_id in sent
    assert row.send_attempted_at is not None
    assert row.error_code is None
    async with db.registry.session(db.tenant_id) as session:
        account = await session.get(SocialAccount, social_id)
        assert account is not None
        assert account.last_send_at is not None


async def test_rate_limit_storm_is_retried_paced_and_ends_sent(
    ctl: SandboxControl, db: Db, publisher: Publisher, topology: Topology
) -> None:
    account_id, _token, social_id = await _account(ctl, db, "whatsapp", account_id=STORM_ACCOUNT)
    await ctl.add_fault(130429, match={"account_id": account_id}, count=3, regain_minutes=0)
    mids = []
    for i in range(6):
        chat = await add_chat(db, social_id, "whatsapp", f"3460020000{i}")
        mids.append(await queue_reply(db, chat, "whatsapp", f"reply {i}"))
    await asyncio.gather(*(publish_reply(publisher, topology, db, m, "whatsapp") for m in mids))

    for m in mids:
        await _wait_status(db, m, "sent", timeout=20)
    posts = await _posts(ctl, account_id)
    assert len(posts) == 6 + 3  # every throttled attempt was retried once more
    times = sorted(p["time"] for p in posts)
    interval = 1 / STORM_RATE
    # Paced: no run of requests faster than the account's budget. The arrival times carry the
    # scheduling jitter of a busy machine (one late request shortens the next gap), so every span
    # is checked against the budget with a small jitter allowance instead of each gap alone. Seen on
    # a machine at load 15 on 2 cores: one request 0.29 s late, so the allowance covers 0.25 s.
    jitter = 0.25
    for i, j in itertools.combinations(range(len(times)), 2):
        assert times[j] - times[i] >= (j - i) * interval - jitter, (i, j, times)


async def test_permanent_error_ends_failed_with_the_reason(
    ctl: SandboxControl, db: Db, publisher: Publisher, topology: Topology
) -> None:
    account_id, _token, social_id = await _account(ctl, db, "whatsapp")
    await ctl.add_fault(131026, match={"account_id": account_id})
    chat = await add_chat(db, social_id, "whatsapp", "34600300000")
    mid = await queue_reply(db, chat, "whatsapp", "hola")
    await publish_reply(publisher, topology, db, mid, "whatsapp")
    row = await _wait_status(db, mid, "failed")
    assert row.error_code == "131026"
    assert row.error_message == "the customer cannot receive messages"
    assert len(await _posts(ctl, account_id)) == 1
    failed = {"channel": "whatsapp", "outcome": "failed", "code": "131026"}
    assert (REGISTRY.get_sample_value("omni_sends_total", failed) or 0) >= 1


async def test_retries_spent_end_failed_never_stuck_queued(
    ctl: SandboxControl, db: Db, publisher: Publisher, topology: Topology
) -> None:
    account_id, _token, social_id = await _account(ctl, db, "facebook")
    await ctl.add_fault(2, match={"account_id": account_id}, count=50)
    chat = await add_chat(db, social_id, "facebook", "7700000001")
    mid = await queue_reply(db, chat, "facebook", "hola")
    await publish_reply(publisher, topology, db, mid, "facebook")
    row = await _wait_status(db, mid, "failed")
    assert row.error_code == "2"
    assert "gave up after 4 attempts" in row.error_message
    assert len(await _posts(ctl, account_id)) == len(RETRY_DELAYS_MS) + 1


async def test_connection_dropped_mid_answer_fails_as_may_have_been_delivered_not_resent(
    ctl: SandboxControl, db: Db, publisher: Publisher, topology: Topology
) -> None:
    account_id, _token, social_id = await _account(ctl, db, "whatsapp")
    await ctl.add_fault(1, match={"account_id": account_id}, mode="reset")
    chat = await add_chat(db, social_id, "whatsapp", "34600400000")
    mid = await queue_reply(db, chat, "whatsapp", "hola")
    await publish_reply(publisher, topology, db, mid, "whatsapp")
    row = await _wait_status(db, mid, "failed")
    assert row.error_code == OUTCOME_UNKNOWN
    assert row.error_message == OUTCOME_UNKNOWN_REASON
    assert row.error_message.startswith("may have been delivered")
    assert len(await _posts(ctl, account_id)) == 1


async def test_outside_window_and_disabled_account_are_refused_before_any_call(
    ctl: SandboxControl, db: Db, publisher: Publisher, topology: Topology
) -> None:
    account_id, _token, social_id = await _account(ctl, db, "instagram")
    old_chat = await add_chat(db, social_id, "instagram", "1790000001", inbound_hours_ago=25)
    late = await queue_reply(db, old_chat, "instagram", "hola")
    await publish_reply(publisher, topology, db, late, "instagram")
    row = await _wait_status(db, late, "failed")
    assert row.error_code == "outside_window"
    assert "24-hour" in row.error_message

    fresh_chat = await add_chat(db, social_id, "instagram", "1790000002")
    async with db.registry.begin(db.tenant_id) as session:
        await set_account_enabled(
            session,
            catalog=db.catalog,
            tenant_id=db.tenant_id,
            channel="instagram",
            external_account_id=account_id,
            enabled=False,
        )
    blocked = await queue_reply(db, fresh_chat, "instagram", "hola")
    await publish_reply(publisher, topology, db, blocked, "instagram")
    row = await _wait_status(db, blocked, "failed")
    assert row.error_code == "account_disabled"
    assert "disabled" in row.error_message
    assert await _posts(ctl, account_id) == []


async def test_unreadable_credentials_fail_the_message_without_a_call(
    ctl: SandboxControl, db: Db, publisher: Publisher, topology: Topology
) -> None:
    account_id, _token, social_id = await _account(ctl, db, "whatsapp")
    async with db.registry.begin(db.tenant_id) as session:  # e.g. its key was dropped from the ring
        account = await session.get(SocialAccount, social_id)
        assert account is not None
        account.credentials = "v1:gone:AAAA"
    chat = await add_chat(db, social_id, "whatsapp", "34600800000")
    mid = await queue_reply(db, chat, "whatsapp", "hola")
    await publish_reply(publisher, topology, db, mid, "whatsapp")
    row = await _wait_status(db, mid, "failed")
    assert row.error_code == "credentials_unreadable"
    assert await _posts(ctl, account_id) == []


class _Capture(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(f"{record.getMessage()} {record.args!r} {record.__dict__!r}")


class _Logs:
    """Live view of what was logged: structlog event dicts and stdlib records."""

    def __init__(self, events: list[Any], handler: _Capture) -> None:
        self._events = events
        self._handler = handler

    def lines(self) -> list[str]:
        return [repr(e) for e in self._events] + list(self._handler.lines)

    def events(self, name: str, **fields: Any) -> list[dict[str, Any]]:
        """structlog events called ``name`` whose fields include ``fields``."""
        return [
            e
            for e in list(self._events)
            if e.get("event") == name and all(e.get(k) == v for k, v in fields.items())
        ]


@pytest.fixture
def captured_logs() -> Iterator[_Logs]:
    """Everything logged through structlog (any thread) and stdlib logging while the test runs."""
    handler = _Capture()
    root = logging.getLogger()
    old_level = root.level
    root.addHandler(handler)
    root.setLevel(logging.DEBUG)
    try:
        with structlog.testing.capture_logs() as events:
            yield _Logs(events, handler)
    finally:
        root.removeHandler(handler)
        root.setLevel(old_level)


async def test_expired_token_flags_the_account_fails_pending_and_notifies_owner(
    ctl: SandboxControl,
    db: Db,
    publisher: Publisher,
    topology: Topology,
    settings: Settings,
    captured_logs: _Logs,
) -> None:
    account_id, token, social_id = await _account(ctl, db, "whatsapp", token_expires_at=int(time.time()) - 60)
    conn = await amqp_connect(settings.rabbitmq_url, name="outbound-test-notes")
    try:
        channel = await conn.channel()
        notes = await channel.declare_queue(exclusive=True, auto_delete=True)  # classic, gone with us
        await notes.bind(topology.notifications_exchange)
        chat = await add_chat(db, social_id, "whatsapp", "34600500000")
        first = await queue_reply(db, chat, "whatsapp", "uno")
        pending = await queue_reply(db, chat, "whatsapp", "dos")  # queued, command not yet consumed
        await publish_reply(publisher, topology, db, first, "whatsapp")

        row = await _wait_status(db, first, "failed")
        assert row.error_code == "190"
        assert "reconnect" in row.error_message
        other = await message(db, pending)
        assert other.status == "failed"
        assert "reconnect" in (other.error_message or "")
        await publish_reply(publisher, topology, db, pending, "whatsapp")  # its command: a no-op now

        async with db.registry.session(db.tenant_id) as session:
            account = await session.get(SocialAccount, social_id, populate_existing=True)
            assert account is not None
            assert account.status == "needs_reauth"
            assert account.last_error_code == "190"
            assert "expired" in (account.last_error_message or "")
            assert account.last_error_at is not None
            notes_rows = (
                (
                    await session.execute(
                        select(Notification).where(Notification.social_account_id == social_id)
                    )
                )
                .scalars()
                .all()
            )
        assert [n.kind for n in notes_rows] == ["token_expired"]
        assert "omni account connect" in notes_rows[0].data["fix"]

        async def owner_event() -> bool:
            while (msg := await notes.get(no_ack=True, fail=False)) is not None:
                # One event or a tenant batch of them (the sender's fan-out coalesces).
                for _key, event in notifications_in(msg.body, msg.message_id):
                    if event.kind == "notification" and event.data.get("kind") == "token_expired":
                        return True
            return False

        await await_until(owner_event, what="the owner's notification event")
        assert len(await _posts(ctl, account_id)) == 1  # the pending one never reached Meta
    finally:
        await conn.close()
    lines = captured_logs.lines()
    assert any("account_needs_reauth" in line for line in lines)
    assert all(token not in line for line in lines)


async def test_crash_after_meta_accepted_does_not_send_twice(
    ctl: SandboxControl, db: Db, publisher: Publisher, topology: Topology, sender_settings: Settings
) -> None:
    account_id, _token, social_id = await _account(ctl, db, "whatsapp")
    chat = await add_chat(db, social_id, "whatsapp", "34600600000")
    mid = await queue_reply(db, chat, "whatsapp", "solo una vez")

    class Crash(BaseException):
        """The process dies between Meta's 200 and our commit of 'sent'."""

    async def die() -> None:
        raise Crash

    notes: list[Any] = []

    async def notify(event: Any) -> None:
        notes.append(event)

    deps = SenderDeps(
        store=SessionSendStore(db.registry.begin),
        graph=GraphClient(ctl.http, ctl.graph_url),
        keyring=KeyRing.from_strings(sender_settings.encryption_key_list()),
        pacer=MemoryPacer(),
        notify=notify,
        retry_delays=len(RETRY_DELAYS_MS),
        after_accept=die,
    )
    command = SendReply(tenant_id=db.tenant_id, message_id=mid, channel="whatsapp")
    with pytest.raises(Crash):
        await handle_send(deps, command, attempt=1, correlation_id="crash-test")
    assert (await message(db, mid)).status == "sending"  # the attempt was recorded before the call
    assert len(await _posts(ctl, account_id)) == 1

    # The broker redelivers the unacked command to a (restarted) sender.
    await publish_reply(publisher, topology, db, mid, "whatsapp")
    row = await _wait_status(db, mid, "failed")
    assert (row.error_code, row.error_message) == (OUTCOME_UNKNOWN, OUTCOME_UNKNOWN_REASON)
    assert len(await _posts(ctl, account_id)) == 1


def _direct_deps(ctl: SandboxControl, db: Db, settings: Settings, pacer: Any, **extra: Any) -> SenderDeps:
    return direct_deps(ctl, db, settings, pacer, retry_delays=len(RETRY_DELAYS_MS), **extra)


async def test_account_slot_is_taken_after_the_claim_right_before_the_call(
    ctl: SandboxControl, db: Db, sender_settings: Settings
) -> None:
    account_id, _token, social_id = await _account(ctl, db, "whatsapp")
    chat = await add_chat(db, social_id, "whatsapp", "34600610000")
    mid = await queue_reply(db, chat, "whatsapp", "a su hora")
    seen: list[tuple[str, str | None, int]] = []  # key, message status, Graph POSTs so far

    class Watching(MemoryPacer):
        async def acquire_all(self, checks: Checks, max_wait_s: float) -> Paced:
            for key, _ in checks:
                seen.append((key, (await message(db, mid)).status, len(await _posts(ctl, account_id))))
            return await super().acquire_all(checks, max_wait_s)

    deps = _direct_deps(ctl, db, sender_settings, Watching())
    command = SendReply(tenant_id=db.tenant_id, message_id=mid, channel="whatsapp")
    await handle_send(deps, command, attempt=1, correlation_id="pace-order")

    # The account, then the customer; both after 'sending' is committed and before the call, so a
    # slow claim can no longer bunch requests that left the account's pacer evenly.
    assert seen[0][0] == account_key("whatsapp", account_id)
    assert [k.split(":")[0] for k, _, _ in seen] == ["acct", "pair"]
    assert all(status == "sending" and posts == 0 for _, status, posts in seen)
    assert (await message(db, mid)).status == "sent"


async def test_a_pacing_wait_beyond_the_bound_puts_the_reply_back_to_queued(
    ctl: SandboxControl, db: Db, sender_settings: Settings
) -> None:
    account_id, _token, social_id = await _account(ctl, db, "whatsapp")
    chat = await add_chat(db, social_id, "whatsapp", "34600620000")
    mid = await queue_reply(db, chat, "whatsapp", "luego")
    pacer = MemoryPacer()
    await pacer.hold(account_key("whatsapp", account_id), 60.0, Rate(80.0, burst=2))  # Meta: wait 60 s
    deps = _direct_deps(ctl, db, sender_settings, pacer, max_pace_wait_s=0.2)
    command = SendReply(tenant_id=db.tenant_id, message_id=mid, channel="whatsapp")

    with pytest.raises(Retry):  # deferred through the retry queue, not held in the process
        await handle_send(deps, command, attempt=1, correlation_id="pace-defer")
    assert (await message(db, mid)).status == "queued"  # claimed, no call, so released again

    await handle_send(deps, command, attempt=len(RETRY_DELAYS_MS) + 1, correlation_id="pace-last")
    row = await message(db, mid)
    assert (row.status, row.error_code) == ("failed", "rate_limited")
    assert await _posts(ctl, account_id) == []


async def test_the_same_command_twice_at_once_sends_once(
    ctl: SandboxControl, db: Db, sender_settings: Settings
) -> None:
    account_id, _token, social_id = await _account(ctl, db, "whatsapp")
    chat = await add_chat(db, social_id, "whatsapp", "34600630000")
    mid = await queue_reply(db, chat, "whatsapp", "una sola vez")
    deps = _direct_deps(ctl, db, sender_settings, MemoryPacer())
    command = SendReply(tenant_id=db.tenant_id, message_id=mid, channel="whatsapp")

    # Both claims may land in the same grouped statement: only one of them may own the message.
    outcomes = await asyncio.gather(
        *(handle_send(deps, command, attempt=1, correlation_id=f"dup-{i}") for i in range(2)),
        return_exceptions=True,
    )
    assert sum(o is None for o in outcomes) >= 1
    assert all(o is None or isinstance(o, Retry) for o in outcomes)  # the other: "in progress"
    assert (await message(db, mid)).status == "sent"
    assert len(await _posts(ctl, account_id)) == 1


async def test_outbox_rows_missed_by_the_inbox_are_relayed(
    ctl: SandboxControl, db: Db, sender: None, captured_logs: _Logs
) -> None:
    _account_id, _token, social_id = await _account(ctl, db, "facebook")
    chat = await add_chat(db, social_id, "facebook", "7700000002")
    mid = await queue_reply(db, chat, "facebook", "llegó por el outbox", outbox_age_s=30)
    await _wait_status(db, mid, "sent")
    # The relayed command carries the reply's correlation id, and the sender logs under it.
    [sent] = await _logged_sent(captured_logs, mid)
    assert sent["correlation_id"] == f"reply:{mid}"

    async def stamped() -> bool:
        async with db.registry.session(db.tenant_id) as session:
            row = (await session.execute(select(Outbox).where(Outbox.message_id == mid))).scalar_one()
            return row.published_at is not None

    await await_until(stamped, what="outbox row stamped")


async def test_cli_connect_verifies_the_token_with_the_graph_api(
    ctl: SandboxControl, db: Db, sender_settings: Settings
) -> None:
    from typer.testing import CliRunner

    from omni_cli.main import app

    account_id, token = await ctl.add_account("facebook", display_name="Trattoria Centro")
    TOKENS.append(token)
    tenant = await db.catalog.get_tenant(db.tenant_id)
    assert tenant is not None
    env = {
        "OMNI_DATABASE_URL": sender_settings.database_url,
        "OMNI_ENCRYPTION_KEYS": sender_settings.encryption_keys.get_secret_value(),
        "OMNI_GRAPH_API_URL": sender_settings.graph_api_url,
        # The ownership proof compares debug_token's app_id with ours; --no-verify needs development.
        "OMNI_META_APP_ID": "sandbox-app",
        "OMNI_ENV": "development",
    }

    def run(*args: str) -> Any:
        return CliRunner().invoke(app, ["account", "connect", tenant.slug, "facebook", *args], env=env)

    refused = await asyncio.to_thread(run, "--page-id", account_id, "--token", "EAAwrong-token-123456")
    assert refused.exit_code == 1
    assert "Meta refused the facebook credentials" in refused.output
    assert "code 190" in refused.output
    assert "EAAwrong-token-123456" not in refused.output

    ok = await asyncio.to_thread(run, "--page-id", account_id, "--token", token)
    assert ok.exit_code == 0, ok.output
    async with db.registry.session(db.tenant_id) as session:
        row = (
            await session.execute(
                select(SocialAccount).where(SocialAccount.external_account_id == account_id)
            )
        ).scalar_one()
        assert row.display_name == "Trattoria Centro"
        assert row.status == "active"

    unchecked = await asyncio.to_thread(
        run, "--page-id", "999000111", "--token", "EAAnot-checked-123456", "--no-verify"
    )
    assert unchecked.exit_code == 0, unchecked.output
    TOKENS.append("EAAnot-checked-123456")


async def test_tokens_never_logged_nor_stored_in_plain_text(
    ctl: SandboxControl, db: Db, publisher: Publisher, topology: Topology, captured_logs: _Logs
) -> None:
    account_id, token, social_id = await _account(ctl, db, "facebook")
    await ctl.add_fault(100, match={"account_id": account_id})
    chat = await add_chat(db, social_id, "facebook", "7700000003")
    bad = await queue_reply(db, chat, "facebook", "falla")
    good = await queue_reply(db, chat, "facebook", "sale")
    await publish_reply(publisher, topology, db, bad, "facebook")
    await _wait_status(db, bad, "failed")
    await publish_reply(publisher, topology, db, good, "facebook")
    await _wait_status(db, good, "sent")
    lines = captured_logs.lines()
    assert any("reply_sent" in line for line in lines)  # the capture did see the send run
    assert token in TOKENS  # plus every other token this process used

    dump = subprocess.run(
        ["pg_dump", "--data-only", "--dbname", libpq_conninfo(db.settings.database_url, database=db.db_name)],
        check=True,
        capture_output=True,
        timeout=60,
    ).stdout.decode()
    assert "social_accounts" in dump
    for t in TOKENS:
        assert t not in dump
        assert t[8:] not in dump  # not even most of it
    for line in lines:
        assert token not in line


async def test_the_inbox_publish_carries_the_replys_correlation_id_to_the_sender(
    ctl: SandboxControl, db: Db, settings: Settings, topology: Topology, sender: None, captured_logs: _Logs
) -> None:
    _account_id, _token, social_id = await _account(ctl, db, "whatsapp")
    chat = await add_chat(db, social_id, "whatsapp", "34600640000")
    mid = await queue_reply(db, chat, "whatsapp", "con correlación", outbox_age_s=0)
    async with db.registry.session(db.tenant_id) as session:
        outbox_id = (await session.execute(select(Outbox.id).where(Outbox.message_id == mid))).scalar_one()
    command = SendReply(tenant_id=db.tenant_id, message_id=mid, channel="whatsapp")
    queued = QueuedReply(
        message_id=mid,
        chat_id=chat,
        tenant_id=db.tenant_id,
        channel="whatsapp",
        outbox_id=outbox_id,
        command=command,
        text="con correlación",
        sender_name="staff",
        reply_to_message_id=None,
        created_at=datetime.now(UTC),
    )
    conn = await amqp_connect(settings.rabbitmq_url, name="outbound-test-inbox-publish")
    try:
        inbox_publisher = Publisher(conn, exchange=topology.events_exchange)
        await inbox_publisher.start()
        assert await publish_reply_after_commit(inbox_publisher, db.registry.begin, queued)
        await inbox_publisher.close()
    finally:
        await conn.close()
    await _wait_status(db, mid, "sent")
    [sent] = await _logged_sent(captured_logs, mid)
    assert sent["correlation_id"] == f"reply:{mid}"
    assert sent["tenant_id"] == str(db.tenant_id)


async def test_a_late_acceptance_settles_a_may_have_been_delivered_reply_as_sent(
    ctl: SandboxControl, db: Db, sender_settings: Settings
) -> None:
    account_id, _token, social_id = await _account(ctl, db, "whatsapp")
    chat = await add_chat(db, social_id, "whatsapp", "34600640000")
    mid = await queue_reply(db, chat, "whatsapp", "tarde pero llega")
    command = SendReply(tenant_id=db.tenant_id, message_id=mid, channel="whatsapp")
    meanwhile: list[tuple[str | None, str | None]] = []

    async def redelivered_while_with_meta() -> None:
        # The broker redelivered the command while this call was with Meta; the copy (last attempt)
        # cannot tell what happened and ends it "may have been delivered" without calling Meta.
        copy = _direct_deps(ctl, db, sender_settings, MemoryPacer())
        await handle_send(copy, command, attempt=len(RETRY_DELAYS_MS) + 1, correlation_id="late-copy")
        row = await message(db, mid)
        meanwhile.append((row.status, row.error_code))

    deps = _direct_deps(ctl, db, sender_settings, MemoryPacer(), after_accept=redelivered_while_with_meta)
    await handle_send(deps, command, attempt=1, correlation_id="late-first")

    assert meanwhile == [("failed", OUTCOME_UNKNOWN)]
    row = await message(db, mid)  # Meta's acceptance, when it comes, is the truth
    assert (row.status, row.error_code, row.error_message) == ("sent", None, None)
    assert row.external_message_id
    assert len(await _posts(ctl, account_id)) == 1
