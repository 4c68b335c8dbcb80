"""Team and sign-ins in real Chromium (issue 23, item 1), at 1280×800 and 390×844: the owner changes a
manager's role and the manager's open inbox leaves for the login page by itself; "Sign out everywhere";
a password change refused in words, then done, then the new password signs in."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Any
from urllib.parse import urlparse

import psycopg
import pytest
from inbox_support import PASSWORD, SeededTenant, running_inbox, seed
from playwright.sync_api import Error as PlaywrightError
from playwright.sync_api import expect

from omni_common.dburl import libpq_conninfo
from omni_common.settings import Settings

pytestmark = pytest.mark.integration
TIMEOUT_MS = 15_000
SIZES = {"desktop": {"width": 1280, "height": 800}, "phone": {"width": 390, "height": 844}}


@pytest.fixture(scope="module")
def tenant(settings: Settings) -> SeededTenant:
    return seed(settings, f"team-{uuid.uuid4().hex[:6]}")


@pytest.fixture(scope="module")
def inbox_url(settings: Settings, tenant: SeededTenant) -> Iterator[str]:
    with running_inbox(settings, declare=True, session_recheck_s=0.5) as url:
        yield url


def execute(settings: Settings, tenant: SeededTenant, sql: str, params: tuple[Any, ...] = ()) -> None:
    with psycopg.connect(
        libpq_conninfo(settings.database_url, database=tenant.db_name), autocommit=True
    ) as c:
        c.execute(sql, params)


def new_page(browser: Any, inbox_url: str, size: str) -> Any:
    context = browser.new_context(base_url=inbox_url, viewport=SIZES[size])
    context.set_default_timeout(TIMEOUT_MS)
    page = context.new_page()
    page.errors = []
    page.on("pageerror", lambda e: page.errors.append(str(e)))
    return page


def sign_in(page: Any, tenant: SeededTenant, role: str, password: str = PASSWORD) -> None:
    page.goto("/login")
    page.get_by_label("Restaurant").fill(tenant.slug)
    page.get_by_label("Email").fill(tenant.users[role])
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url("**/inbox")


@pytest.mark.parametrize("size", list(SIZES))
def test_a_role_change_sends_the_member_out_at_once(
    tenant: SeededTenant, inbox_url: str, browser: Any, settings: Settings, size: str
) -> None:
    owner, manager = new_page(browser, inbox_url, size), new_page(browser, inbox_url, size)
    execute(
        settings,
        tenant,
        "UPDATE user_sessions SET ended_at = now() WHERE user_id = (SELECT id FROM users WHERE email = %s)",
        (tenant.users["manager"],),
    )
    try:
        sign_in(manager, tenant, "manager")
        manager.locator("body[data-events='ready']").wait_for()
        sign_in(owner, tenant, "business_owner")
        owner.get_by_role("link", name="Settings", exact=True).click()
        owner.get_by_role("link", name="Team and sign-ins", exact=False).click()
        owner.wait_for_url("**/settings/team")
        row = owner.locator("tr", has_text=tenant.users["manager"])
        expect(row).to_contain_text("1 open session")
        row.get_by_label("Role of").select_option("staff")
        row.get_by_role("button", name="Save role").click()
        expect(owner.locator("p.ok[role=status]")).to_contain_text("is now staff; their sessions ended")
        # The manager did nothing: their open inbox heard the stream close and left by itself.
        manager.wait_for_url("**/login?signed_out=changed")
        expect(manager.locator("p.ok[role=status]")).to_have_text("Your access changed; sign in again.")
        box = owner.locator("table.team-table").bounding_box()
        assert box is not None
        assert box["x"] >= 0
        assert owner.errors == []
        assert manager.errors == []
    finally:
        execute(
            settings, tenant, "UPDATE users SET role = 'manager' WHERE email = %s", (tenant.users["manager"],)
        )
        owner.context.close()
        manager.context.close()


def test_sign_out_everywhere_and_a_password_change(
    tenant: SeededTenant, inbox_url: str, browser: Any, settings: Settings
) -> None:
    laptop, phone = new_page(browser, inbox_url, "desktop"), new_page(browser, inbox_url, "phone")
    new_password = "kitchen-door-42"
    execute(  # the manager's sessions of earlier tests end: this test counts its own two
        settings,
        tenant,
        "UPDATE user_sessions SET ended_at = now() WHERE user_id = (SELECT id FROM users WHERE email = %s)",
        (tenant.users["manager"],),
    )
    try:
        sign_in(laptop, tenant, "manager")
        sign_in(phone, tenant, "manager")
        phone.goto("/settings/team")
        sessions = phone.get_by_role("list", name="Where you are signed in").locator("li")
        expect(sessions).to_have_count(2)
        expect(sessions.filter(has_text="this device")).to_have_count(1)
        expect(sessions.first).to_contain_text("Chrom")  # the browser named, not an id
        phone.get_by_role("button", name="Sign out everywhere").click()
        phone.wait_for_url("**/login?signed_out=everywhere")
        # Either its open inbox heard the stream close and left by itself (…/login?signed_out=changed),
        # which may cut this navigation short, or this navigation is sent to the login page: signed
        # out either way.
        try:
            laptop.goto("/inbox")
        except PlaywrightError as exc:
            if "interrupted by another navigation" not in str(exc):
                raise
        laptop.wait_for_url(lambda url: urlparse(url).path == "/login")

        sign_in(laptop, tenant, "manager")
        laptop.goto("/settings/team")
        laptop.get_by_label("Current password").fill("not my password")
        laptop.get_by_label("New password").fill(new_password)
        laptop.get_by_role("button", name="Change password").click()
        expect(laptop.locator("p.error[role=alert]")).to_have_text(
            "Password not changed: the current password is not right."
        )
        laptop.get_by_label("Current password").fill(PASSWORD)
        laptop.get_by_label("New password").fill(new_password)
        laptop.get_by_role("button", name="Change password").click()
        laptop.wait_for_url("**/login?signed_out=password")
        sign_in(laptop, tenant, "manager", new_password)
        assert laptop.errors == []
        assert phone.errors == []
    finally:
        # Back to the seeded password (the cheap test hash of PASSWORD), for the other tests.
        with psycopg.connect(
            libpq_conninfo(settings.database_url, database=tenant.db_name), autocommit=True
        ) as conn:
            owner_hash = conn.execute(
                "SELECT password_hash FROM users WHERE email = %s", (tenant.users["business_owner"],)
            ).fetchone()
            assert owner_hash is not None
            conn.execute(
                "UPDATE users SET password_hash = %s WHERE email = %s",
                (owner_hash[0], tenant.users["manager"]),
            )
        laptop.context.close()
        phone.context.close()
