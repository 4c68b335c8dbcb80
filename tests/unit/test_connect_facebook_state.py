"""Continue with Facebook's pure parts: the state (single use, one session, 10 minutes), the dialog URL
and the declined permissions (issue 20)."""

from __future__ import annotations

import asyncio
import uuid
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest

from inbox_api.connect.meta import FacebookLogin, Granted, declined, dialog_url, parse_channels
from inbox_api.connect.store import ConnectStore

TENANT, USER = uuid.uuid4(), uuid.uuid4()


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_a_state_works_once_for_its_session_only() -> None:
    async def go() -> None:
        store = ConnectStore()
        state = await store.issue("sid-a", TENANT, USER, ("facebook",))
        assert await store.take(state, "sid-b") is None  # another session: refused and burnt
        assert await store.take(state, "sid-a") is None
        again = await store.issue("sid-a", TENANT, USER, ("facebook",))
        pending = await store.take(again, "sid-a")
        assert pending is not None
        assert pending.channels == ("facebook",)
        assert await store.take(again, "sid-a") is None  # used

    asyncio.run(go())


def test_a_state_expires_after_ten_minutes() -> None:
    async def go() -> None:
        clock = Clock()
        store = ConnectStore(clock)
        state = await store.issue("sid", TENANT, USER, ("whatsapp",))
        clock.now += 601
        assert await store.take(state, "sid") is None

    asyncio.run(go())


def test_the_choices_stay_with_their_session_and_expire() -> None:
    async def go() -> None:
        clock = Clock()
        store = ConnectStore(clock)
        handle = await store.keep(store.choices("sid", TENANT, "EAA-token", {"pages": [], "numbers": []}, []))
        assert await store.peek(handle, "other") is None
        assert await store.peek(handle, "sid") is not None
        clock.now += 901
        assert await store.peek(handle, "sid") is None

    asyncio.run(go())


def test_the_dialog_url_asks_each_channels_permissions() -> None:
    login = FacebookLogin(
        "app-1", "secret", "https://fb.test/dialog/oauth", "https://inbox.test/", "g", httpx.AsyncClient()
    )
    url = dialog_url(login, "st", parse_channels("whatsapp,bogus"))
    query = parse_qs(urlsplit(url).query)
    assert query["client_id"] == ["app-1"]
    assert query["redirect_uri"] == ["https://inbox.test/connect/facebook/callback"]
    assert query["scope"] == ["whatsapp_business_management,whatsapp_business_messaging,business_management"]
    assert query["state"] == ["st"]
    assert parse_channels("") == ("facebook", "instagram", "whatsapp")


def test_declined_names_the_missing_permissions_per_channel() -> None:
    granted = Granted(["pages_show_list", "pages_messaging", "pages_manage_metadata", "instagram_basic"], {})
    assert declined(("facebook", "instagram"), granted) == {"instagram": ["instagram_manage_messages"]}


def test_the_memory_is_bounded(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("inbox_api.connect.store.MAX_KEPT", 3)

    async def go() -> None:
        store = ConnectStore()
        states = [await store.issue("sid", TENANT, USER, ("facebook",)) for _ in range(5)]
        assert await store.take(states[0], "sid") is None  # the oldest went first
        assert await store.take(states[-1], "sid") is not None

    asyncio.run(go())
