"""Periodic rounds over every tenant (outbox sweep, token monitor) stop at a full or down database and
say so once, instead of making every tenant wait for it in turn."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta
from typing import Any

from structlog.testing import capture_logs

from account_monitor.check import MonitorDeps, run_once
from omni_common.crypto import KeyRing, generate_key
from omni_common.errors import DatabaseUnavailable
from omni_common.tenancy.token_expiry import TokenCheck
from outbound_sender.sweeper import sweep_once

TENANTS = [uuid.uuid4() for _ in range(5)]


class UnavailableDatabase:
    """Our ``begin`` collaborator, for a server that refuses every connection: counts the attempts."""

    def __init__(self) -> None:
        self.attempts = 0

    @asynccontextmanager
    async def begin(self, _tenant_id: uuid.UUID) -> AsyncIterator[Any]:
        self.attempts += 1
        raise DatabaseUnavailable("the database server refused connections: too many clients")
        yield  # pragma: no cover


async def _tenants() -> list[uuid.UUID]:
    return TENANTS


async def test_the_outbox_sweep_stops_its_round_and_says_so_once() -> None:
    db = UnavailableDatabase()

    async def publish(*_args: object) -> None:
        raise AssertionError("nothing to publish")

    with capture_logs() as logs:
        assert await sweep_once(db.begin, publish, _tenants, older_than=timedelta(seconds=10)) == 0
    assert db.attempts == 1
    assert [e["event"] for e in logs] == ["outbox_sweep_skipped"]
    assert logs[0]["tenants_left"] == len(TENANTS)


async def test_the_token_monitor_stops_its_pass_and_says_so_once() -> None:
    db = UnavailableDatabase()

    async def inspect(_token: str) -> TokenCheck:
        raise AssertionError("no token can be read")

    deps = MonitorDeps(
        begin=db.begin,
        keyring=KeyRing.from_strings([generate_key()]),
        inspect=inspect,
        warn_days=7,
        clock=lambda: datetime.now(UTC),
    )
    with capture_logs() as logs:
        outcomes = await run_once(deps, _tenants)
    assert db.attempts == 1
    assert outcomes["skipped"] == len(TENANTS)
    assert [e["event"] for e in logs if e["log_level"] != "info"] == ["token_monitor_pass_skipped"]
