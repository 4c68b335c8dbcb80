"""A restaurant's database that stops accepting connections while an owner replies: the page tries
once more by itself, then says so in plain words, and the reply stays in the box; once the database
is back, Send works. Real PostgreSQL refusing real connections (``ALLOW_CONNECTIONS false``)."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Any

import psycopg
import pytest
from inbox_support import PASSWORD, SeededTenant, running_inbox, seed
from pipeline import running_pipeline
from psycopg import sql

from omni_common.dburl import libpq_conninfo
from omni_common.settings import Settings

pytestmark = pytest.mark.integration
VIEWPORTS = {"desktop": {"width": 1280, "height": 800}, "phone": {"width": 390, "height": 844}}


@pytest.fixture(scope="module")
def tenant(settings: Settings) -> SeededTenant:
    return seed(settings, f"busy-{uuid.uuid4().hex[:6]}")


@pytest.fixture(scope="module")
def inbox_url(settings: Settings, tenant: SeededTenant) -> Iterator[str]:
    # A short wait for a connection keeps the test quick; the behaviour is the same with the default.
    quick = settings.model_copy(update={"db_acquire_timeout_s": 1.0})
    with running_pipeline(settings), running_inbox(quick, declare=False) as url:
        yield url


def _accepting(settings: Settings, tenant: SeededTenant, allow: bool) -> None:
    """Let the tenant's database accept connections or refuse them all (and end those it has)."""
    with psycopg.connect(libpq_conninfo(settings.database_url, database="postgres"), autocommit=True) as conn:
        conn.execute(
            sql.SQL("ALTER DATABASE {} WITH ALLOW_CONNECTIONS {}").format(
                sql.Identifier(tenant.db_name), sql.SQL("true" if allow else "false")
            )
        )
        if not allow:
            conn.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = %s",
                (tenant.db_name,),
            )


@pytest.mark.parametrize("size", list(VIEWPORTS))
def test_a_refused_reply_is_retried_once_then_explained_and_kept(
    size: str, tenant: SeededTenant, inbox_url: str, settings: Settings, browser: Any
) -> None:
    context = browser.new_context(base_url=inbox_url, viewport=VIEWPORTS[size])
    context.set_default_timeout(20_000)
    page = context.new_page()
    try:
        page.goto("/login")
        page.get_by_label("Restaurant").fill(tenant.slug)
        page.get_by_label("Email").fill(tenant.users["business_owner"])
        page.get_by_label("Password").fill(PASSWORD)
        page.get_by_role("button", name="Sign in").click()
        page.wait_for_url("**/inbox")
        page.goto(f"/inbox?c={tenant.chats['whatsapp']}")
        reply = f"See you at eight {uuid.uuid4().hex[:6]}"
        page.locator("#reply-text").fill(reply)
        answers: list[int] = []
        page.on("response", lambda r: answers.append(r.status) if r.url.endswith("/reply") else None)
        _accepting(settings, tenant, allow=False)
        try:
            page.get_by_role("button", name="Send", exact=True).click()
            status = page.locator("#suggest-status")
            status.filter(has_text="trying again").wait_for()
            status.filter(has_text="Not sent: the inbox is too busy").wait_for()
            assert answers == [503, 503]  # tried once more by itself, then stopped
            assert page.locator("#reply-text").input_value() == reply  # nothing the owner wrote is lost
        finally:
            _accepting(settings, tenant, allow=True)
        page.get_by_role("button", name="Send", exact=True).click()
        page.locator("#messages .msg.outbound", has_text=reply).wait_for()
        assert page.locator("#reply-text").input_value() == ""
        assert answers[-1] == 200
    finally:
        context.close()
