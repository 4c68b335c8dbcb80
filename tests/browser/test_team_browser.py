"""The team inbox in real headless Chromium: "/" quick replies, notes, resolve/assign/label, title badge,
the audit page. The outbound-sender runs against the Meta sandbox, so "a note never reaches Meta" is
checked in the sandbox's own log of Graph requests."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import httpx
import psycopg
import pytest
from health_support import graph_requests, sandbox_with_sender
from inbox_support import PASSWORD, SeededTenant, running_inbox, seed
from pipeline import unique_digits, wait_until
from playwright.sync_api import expect
from psycopg.rows import dict_row

from omni_common.broker.topology import build_topology
from omni_common.dburl import libpq_conninfo
from omni_common.settings import Settings

pytestmark = pytest.mark.integration
TIMEOUT_MS = 15_000


@pytest.fixture(scope="module")
def tenant(settings: Settings) -> SeededTenant:
    return seed(settings, f"team-{uuid.uuid4().hex[:6]}")


@pytest.fixture(scope="module")
def meta(settings: Settings, tenant: SeededTenant) -> Iterator[str]:
    """The sandbox and the real sender (whose worker declares this module's topology)."""
    topology = build_topology(
        retry_delays_ms=settings.retry_delays_ms, delivery_limit=settings.delivery_limit
    )
    with sandbox_with_sender(settings, topology, tenant) as root:
        yield root


@pytest.fixture(scope="module")
def inbox_url(settings: Settings, tenant: SeededTenant, meta: str) -> Iterator[str]:
    with running_inbox(settings, declare=False) as url:
        yield url


@pytest.fixture(scope="module")
def api(inbox_url: str, tenant: SeededTenant) -> Iterator[httpx.Client]:
    """The owner's API client, for setting things up the way the settings page would."""
    with httpx.Client(base_url=inbox_url, timeout=15) as client:
        body = {"tenant": tenant.slug, "email": tenant.users["business_owner"], "password": PASSWORD}
        token = client.post("/api/auth/login", json=body).json()["access_token"]
        client.cookies.clear()
        client.headers["Authorization"] = f"Bearer {token}"
        yield client


@pytest.fixture
def page(inbox_url: str, browser: Any) -> Iterator[Any]:
    context = browser.new_context(base_url=inbox_url, viewport={"width": 1280, "height": 800})
    context.set_default_timeout(TIMEOUT_MS)
    page = context.new_page()
    yield page
    context.close()


def sign_in(page: Any, tenant: SeededTenant, role: str = "business_owner") -> None:
    page.goto("/login")
    page.get_by_label("Restaurant").fill(tenant.slug)
    page.get_by_label("Email").fill(tenant.users[role])
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url("**/inbox")


def open_chat(page: Any, chat_id: uuid.UUID) -> None:
    page.locator(f"a.conv[data-chat='{chat_id}']").click()
    page.locator("#thread-tools .tools-row").first.wait_for()


def query(
    settings: Settings, tenant: SeededTenant, sql: str, params: tuple[Any, ...] = ()
) -> list[dict[str, Any]]:
    with psycopg.connect(
        libpq_conninfo(settings.database_url, database=tenant.db_name), row_factory=dict_row
    ) as conn:
        cur = conn.execute(sql, params)
        return cur.fetchall() if cur.description else []


def test_title_badge_counts_my_unread_conversations(
    page: Any, settings: Settings, tenant: SeededTenant, api: httpx.Client
) -> None:
    sign_in(page, tenant, "manager")  # the manager has opened nothing yet: 3 unread conversations
    expect(page).to_have_title("(3) Inbox · Resevit")
    open_chat(page, tenant.chats["whatsapp"])
    expect(page).to_have_title("(2) Inbox · Resevit")
    open_chat(page, tenant.chats["facebook"])
    open_chat(page, tenant.chats["instagram"])
    expect(page).to_have_title("Inbox · Resevit")
    page.locator("body[data-events=ready]").wait_for(state="attached")
    # A customer writes in a conversation the manager is not looking at; a live event refreshes
    # the list, and the title follows without a reload.
    query(
        settings,
        tenant,
        "INSERT INTO chat_messages (tenant_id, chat_id, channel, external_message_id, direction, kind, text, "
        "status) VALUES (%s, %s, 'whatsapp', %s, 'inbound', 'text', 'Still there?', 'received')",
        (tenant.id, tenant.chats["whatsapp"], f"ext-{uuid.uuid4().hex}"),
    )
    api.post(f"/api/conversations/{tenant.chats['whatsapp']}/notes", json={"body": "ping"})
    expect(page).to_have_title("(1) Inbox · Resevit")


def test_slash_opens_quick_replies_and_enter_inserts_one(
    page: Any, settings: Settings, tenant: SeededTenant, api: httpx.Client
) -> None:
    for shortcut, body in (("hours", "We are open Tue-Sun 12-23."), ("vegan", "Yes: lasagne and curry.")):
        assert api.post("/api/quick-replies", json={"shortcut": shortcut, "body": body}).status_code == 201
    sign_in(page, tenant)
    open_chat(page, tenant.chats["whatsapp"])
    box = page.locator("#reply-text")
    box.click()
    box.press_sequentially("Hi! /")
    options = page.locator("#qr-list [role=option]")
    options.first.wait_for()
    assert options.count() == 2
    assert box.get_attribute("aria-expanded") == "true"
    box.press_sequentially("ve")
    expect(options).to_have_count(1)
    assert options.first.get_attribute("data-shortcut") == "vegan"
    box.press("Backspace")
    box.press("Backspace")
    expect(options).to_have_count(2)
    box.press("ArrowDown")
    assert page.locator("#qr-list [aria-selected=true]").get_attribute("data-shortcut") == "vegan"
    box.press("ArrowUp")
    box.press("Enter")  # inserts the selected answer; does not send
    assert box.input_value() == "Hi! We are open Tue-Sun 12-23."
    assert page.locator("#qr-list").is_hidden()
    box.press_sequentially(" /ho")
    page.locator("#qr-list [role=option]").first.wait_for()
    box.press("Escape")
    assert page.locator("#qr-list").is_hidden()
    assert box.input_value() == "Hi! We are open Tue-Sun 12-23. /ho"
    outbound = query(settings, tenant, "SELECT count(*) AS n FROM chat_messages WHERE direction = 'outbound'")
    assert outbound[0]["n"] == 0


def test_a_note_is_posted_from_the_composer_shown_apart_and_never_reaches_meta(
    page: Any, settings: Settings, tenant: SeededTenant, meta: str
) -> None:
    sign_in(page, tenant)
    open_chat(page, tenant.chats["facebook"])
    page.get_by_role("button", name="Note", exact=True).click()
    assert page.locator("#reply-form").is_hidden()
    text = f"Regular guest, prefers the terrace {uuid.uuid4().hex[:4]}"
    page.get_by_label("Private note", exact=True).fill(text)
    page.get_by_label("Private note", exact=True).press("Enter")
    note = page.locator("#messages .msg.note", has_text=text)
    note.wait_for()
    assert "Private note" in note.inner_text()
    assert note.locator(".note-bubble").count() == 1
    assert page.get_by_label("Private note", exact=True).input_value() == ""
    background = note.locator(".bubble").evaluate("e => getComputedStyle(e).backgroundColor")
    message = page.locator("#messages .msg.inbound .bubble").first
    assert background != message.evaluate("e => getComputedStyle(e).backgroundColor")
    assert query(settings, tenant, "SELECT body FROM chat_notes WHERE body = %s", (text,))
    assert not query(settings, tenant, "SELECT 1 FROM chat_messages WHERE text = %s", (text,))
    assert not query(settings, tenant, "SELECT 1 FROM outbox WHERE payload::text LIKE %s", (f"%{text}%",))

    # A reply written after the note reaching the sandbox shows the sender has worked past the note.
    page.get_by_role("button", name="Message", exact=True).click()
    reply = f"See you tonight {uuid.uuid4().hex[:4]}"
    page.locator("#reply-text").fill(reply)
    page.get_by_role("button", name="Send").click()
    wait_until(
        lambda: any(reply in r["body"] for r in graph_requests(meta)), what="the reply reaching the sandbox"
    )
    logged = graph_requests(meta)
    assert not [r for r in logged if text in r["body"] or "terrace" in r["url"]]


def test_resolve_assign_and_label_from_the_page(
    page: Any, settings: Settings, tenant: SeededTenant, api: httpx.Client
) -> None:
    label = api.post("/api/labels", json={"name": "Allergy", "color": "#d1242f"}).json()
    chat = tenant.chats["instagram"]
    sign_in(page, tenant)
    open_chat(page, chat)
    tools = page.locator("#thread-tools")
    tools.get_by_label("Snooze for").select_option("1440")
    tools.get_by_role("button", name="Snooze").click()
    tools.locator("#state-badge[data-state=snoozed]").wait_for()
    snoozed = query(
        settings, tenant, "SELECT state, snoozed_until - now() AS left FROM chats WHERE id = %s", (chat,)
    )
    assert snoozed[0]["state"] == "snoozed"
    assert timedelta(hours=23) < snoozed[0]["left"] <= timedelta(days=1)
    tools.get_by_role("button", name="Resolve").click()
    tools.locator("#state-badge[data-state=resolved]").wait_for()
    assert query(settings, tenant, "SELECT state FROM chats WHERE id = %s", (chat,))[0]["state"] == "resolved"

    owner = query(
        settings, tenant, "SELECT id FROM users WHERE email = %s", (tenant.users["business_owner"],)
    )
    before = tools.get_by_label("Assigned to").element_handle()
    tools.get_by_label("Assigned to").select_option(str(owner[0]["id"]))
    # The answer re-renders the tools: act on the new ones, not on a fragment about to be replaced.
    page.wait_for_function("el => !el.isConnected", arg=before)
    wait_until(
        lambda: (
            query(settings, tenant, "SELECT assignee_user_id FROM chats WHERE id = %s", (chat,))[0][
                "assignee_user_id"
            ]
            == owner[0]["id"]
        ),
        what="the assignment saved",
    )

    # Live refreshes (SSE) re-render the tools at any moment; a change made on a fragment being
    # replaced is never sent, so pick the label again until it is saved, as a person would.
    def labelled() -> bool:
        return bool(query(settings, tenant, "SELECT 1 FROM chat_labels WHERE chat_id = %s", (chat,)))

    for _ in range(5):
        select = tools.get_by_label("Add a label")
        if select.count():
            select.select_option(label["id"])
        try:
            wait_until(labelled, timeout=3, what="the label saved")
            break
        except AssertionError:
            continue
    wait_until(labelled, timeout=3, what="the label saved")
    chip = tools.locator(f".chip[data-label='{label['id']}']")
    chip.wait_for()
    expect(chip).to_have_css("background-color", "rgb(209, 36, 47)")  # painted despite the strict CSP

    # The list: a resolved conversation leaves the default (open) view; "Mine" + "Resolved" finds it.
    page.get_by_label("State", exact=True).select_option("resolved")
    page.get_by_label("Whose conversations").select_option("me")
    row = page.locator(f"#conv-list a.conv[data-chat='{chat}']")
    row.locator(f".chip[data-label='{label['id']}']").wait_for()
    expect(page.locator("#conv-list a.conv")).to_have_count(1)
    assert "Resolved" in row.inner_text()
    page.get_by_label("Label", exact=True).select_option(label["id"])
    page.get_by_label("Whose conversations").select_option("unassigned")
    page.locator("#conv-list .empty").wait_for()

    tools.get_by_role("button", name="Remove label Allergy").click()
    chip.wait_for(state="detached")
    actions = [r["action"] for r in query(settings, tenant, "SELECT action FROM audit_log ORDER BY id")]
    for action in (
        "conversation.state_changed",
        "conversation.assigned",
        "conversation.label_added",
        "conversation.label_removed",
    ):
        assert action in actions


def test_owner_sees_the_audit_page_and_a_manager_is_refused(
    page: Any, settings: Settings, tenant: SeededTenant, api: httpx.Client
) -> None:
    # What the trail must show, done through the API: replies from AI drafts, account changes and
    # the assistant's settings. (A draft comes from the ai-suggester; its row is written directly.)
    chat = tenant.chats["whatsapp"]
    drafts = [
        query(
            settings,
            tenant,
            "INSERT INTO suggestions (chat_id, source, text) "
            "VALUES (%s, 'local', 'See you at 8!') RETURNING id",
            (chat,),
        )[0]["id"]
        for _ in range(2)
    ]
    for text, draft in (("See you at 8!", drafts[0]), ("See you at 8:30!", drafts[1])):
        sent = api.post(
            f"/api/conversations/{chat}/messages", json={"text": text, "suggestion_id": str(draft)}
        )
        assert sent.status_code == 202, sent.text
    made = api.post(
        "/api/social-accounts",
        json={"channel": "facebook", "external_account_id": unique_digits(), "token": "EAAaudit-token"},
    )
    assert made.status_code == 201, made.text
    for change in ({"display_name": "Events page"}, {"enabled": False}):
        assert api.patch(f"/api/social-accounts/{made.json()['id']}", json=change).status_code == 200
    assistant = api.get("/api/assistant").json()
    assistant["enabled"] = not assistant["enabled"]
    assert api.put("/api/assistant", json=assistant).status_code == 200

    sign_in(page, tenant)
    page.get_by_role("link", name="Audit").click()
    page.locator("table.audit tr[data-action='quick_reply.created']").first.wait_for()
    shown = set(page.locator("table.audit tbody tr").evaluate_all("rs => rs.map(r => r.dataset.action)"))
    for action in (
        "reply.sent",
        "suggestion.used",
        "suggestion.edited",
        "account.connected",
        "account.renamed",
        "account.disabled",
        "assistant.updated",
        "label.created",
        "note.added",
    ):
        assert action in shown, action
    page.get_by_label("Show").select_option("note.")
    page.get_by_role("button", name="Filter").click()
    page.wait_for_url("**/audit?action=note.*")
    assert set(page.locator("table.audit tbody tr").evaluate_all("rs => rs.map(r => r.dataset.action)")) == {
        "note.added"
    }
    page.context.clear_cookies()
    sign_in(page, tenant, "manager")
    assert page.get_by_role("link", name="Audit").count() == 0
    response = page.goto("/audit")
    assert response.status == 403
    assert "Only the owner" in page.locator("[role=alert]").inner_text()


def test_quick_replies_and_labels_are_edited_in_settings(page: Any, tenant: SeededTenant) -> None:
    sign_in(page, tenant, "manager")
    page.goto("/settings")
    page.get_by_role("link", name="Quick replies and labels").click()
    page.get_by_label("Shortcut (lowercase").fill("parking")
    page.locator("#new-qr-body").fill("Car park 200 m away.")
    page.get_by_role("button", name="Add quick reply").click()
    page.locator("p.ok[role=status]", has_text="/parking saved").wait_for()
    row = page.locator("tr[data-shortcut=parking]")
    row.locator("textarea").fill("Car park on Linienstraße.")
    row.get_by_role("button", name="Save").click()
    page.locator("p.ok[role=status]", has_text="Quick reply saved").wait_for()
    assert page.locator("tr[data-shortcut=parking] textarea").input_value() == "Car park on Linienstraße."
    page.locator("#new-qr-shortcut").fill("Not valid!")
    page.locator("#new-qr-body").fill("x")
    page.get_by_role("button", name="Add quick reply").click()
    page.locator("p.error[role=alert]", has_text="shortcut").wait_for()
    page.locator("#new-label-name").fill("Catering")
    page.get_by_role("button", name="Add label").click()
    page.locator("tr[data-label-name=Catering]").wait_for()
    page.locator("tr[data-label-name=Catering]").get_by_role("button", name="Delete").click()
    page.locator("p.ok[role=status]", has_text="Label deleted").wait_for()
    assert page.locator("tr[data-label-name=Catering]").count() == 0
