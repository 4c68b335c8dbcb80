"""A photo kept on S3 shows in real headless Chromium (1280x800 and 390x844): the page asks the inbox,
the inbox redirects to a signed link on the storage (moto's S3 server on 127.0.0.1), the picture
loads from there, and the page's CSP allows it without a console error."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from inbox_support import PASSWORD, SeededTenant, seed
from playwright.sync_api import expect
from s3_support import BUCKET, moto_s3, receive_image, s3_stack
from sample_files import png
from templates_support import Stack

from omni_common.settings import Settings

pytestmark = pytest.mark.integration
TIMEOUT_MS = 20_000
VIEWPORTS = [{"width": 1280, "height": 800}, {"width": 390, "height": 844}]


@pytest.fixture(scope="module")
def s3_endpoint() -> Iterator[str]:
    with moto_s3() as endpoint:
        yield endpoint


@pytest.fixture(scope="module")
def stack(settings: Settings, s3_endpoint: str) -> Iterator[Stack]:
    tenant = seed(settings, f"s3b-{uuid.uuid4().hex[:6]}")
    with s3_stack(settings, tenant, s3_endpoint) as s:
        yield s


@pytest.fixture(params=VIEWPORTS, ids=lambda v: f"{v['width']}x{v['height']}")
def page(request: pytest.FixtureRequest, stack: Stack, browser: Any) -> Iterator[Any]:
    context = browser.new_context(base_url=stack.inbox, viewport=request.param)
    context.set_default_timeout(TIMEOUT_MS)
    page = context.new_page()
    errors: list[str] = []
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    yield page
    context.close()
    assert not errors, errors  # no CSP refusal, no broken image


def sign_in(page: Any, tenant: SeededTenant) -> None:
    page.goto("/login")
    page.get_by_label("Restaurant").fill(tenant.slug)
    page.get_by_label("Email").fill(tenant.users["manager"])
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url("**/inbox")


def test_a_customer_photo_loads_from_the_storage_through_a_signed_link(
    page: Any, stack: Stack, s3_endpoint: str
) -> None:
    row = receive_image(stack, png(40, 30, (30, 140, 90)))
    from_storage: list[int] = []
    page.on(
        "response",
        lambda r: from_storage.append(r.status) if r.url.startswith(f"{s3_endpoint}/{BUCKET}/") else None,
    )
    sign_in(page, stack.tenant)
    page.goto(f"/inbox?c={row['chat_id']}")
    photo = page.locator(f"img[src='/api/media/{row['id']}']")
    expect(photo).to_be_visible()
    expect(photo).to_have_js_property("naturalWidth", 40)  # decoded: the bytes arrived
    # Straight from the storage, not through the inbox (once per render of the message list).
    assert from_storage
    assert set(from_storage) == {200}
