"""The sandbox's login dialog walked in Chromium (Debian's, through Playwright): pick a person, leave a
Page out, decline a permission, continue, and land on the app's redirect with a code and the state."""

from __future__ import annotations

import shutil
import threading
from collections.abc import Iterator

import httpx
import pytest
from fastapi import FastAPI, Request
from fastapi.responses import HTMLResponse
from sandbox_server import sandbox, serve

from meta_sandbox import SandboxConfig

SECRET = "dialog-browser-secret"
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update"]
PERMS = "pages_show_list,pages_messaging,pages_manage_metadata,instagram_basic,instagram_manage_messages"


class Landing:
    """The app's redirect URI: remembers what the dialog sent back."""

    def __init__(self) -> None:
        self.queries: list[dict[str, str]] = []
        self._lock = threading.Lock()

    def app(self) -> FastAPI:
        app = FastAPI()

        @app.get("/callback")
        async def callback(request: Request) -> HTMLResponse:
            with self._lock:
                self.queries.append(dict(request.query_params))
            return HTMLResponse("<h1 id='landed'>Back in the app</h1>")

        return app


@pytest.fixture
def landing() -> Iterator[tuple[Landing, str]]:
    landing = Landing()
    with serve(landing.app()) as url:
        yield landing, f"{url}/callback"


def test_a_person_ticks_declines_and_lands_on_the_redirect_with_a_code(landing: tuple[Landing, str]) -> None:
    from playwright.sync_api import sync_playwright

    executable = shutil.which("chromium")
    if executable is None:
        pytest.fail("Debian's chromium is not installed (apt-get install -y chromium)")
    receiver, callback = landing
    with sandbox(SandboxConfig(app_secret=SECRET)) as root, httpx.Client(base_url=root, timeout=10) as ctl:
        people = [
            ctl.post("/_sandbox/people", json=_person(prefix)).raise_for_status().json()
            for prefix in ("1", "2")
        ]
        olga = people[1]
        params = {"client_id": "sandbox-app", "redirect_uri": callback, "state": "st-42", "scope": PERMS}
        dialog_url = str(httpx.URL(f"{root}/v21.0/dialog/oauth", params=params))
        with sync_playwright() as pw:
            browser = pw.chromium.launch(executable_path=executable, args=ARGS, headless=True)
            try:
                page = browser.new_page(viewport={"width": 1280, "height": 800})
                page.goto(dialog_url)
                page.get_by_label("Olga Owner 2").check()
                page.locator("#continue").click()
                page.get_by_label("Olga's Bakery").uncheck()  # this Page stays out
                page.get_by_label("Manage and access Instagram Direct messages").uncheck()  # declined
                assert page.locator("#perm-pages_messaging").is_checked()
                page.locator("#confirm").click()
                page.locator("#landed").wait_for()
                landed = httpx.URL(page.url)
            finally:
                browser.close()
        assert str(landed.copy_with(query=None)) == callback
        assert landed.params["state"] == "st-42"
        assert receiver.queries == [dict(landed.params)]
        token = ctl.get(
            "/v21.0/oauth/access_token",
            params={
                "client_id": "sandbox-app",
                "client_secret": SECRET,
                "redirect_uri": callback,
                "code": landed.params["code"],
            },
        ).json()["access_token"]
        data = ctl.get(
            "/v21.0/debug_token", params={"input_token": token, "access_token": f"sandbox-app|{SECRET}"}
        ).json()["data"]
    assert data["user_id"] == olga["user_id"]
    assert "instagram_manage_messages" not in data["scopes"]
    assert {"scope": "pages_messaging", "target_ids": [olga["pages"][0]["id"]]} in data["granular_scopes"]


def _person(prefix: str) -> dict[str, object]:
    return {
        "user_id": f"77{prefix}",
        "name": f"Olga Owner {prefix}",
        "pages": [
            {
                "id": f"78{prefix}",
                "name": "Trattoria Olga",
                "instagram": {"id": f"79{prefix}", "username": "trattoria"},
            },
            {"id": f"80{prefix}", "name": "Olga's Bakery"},
        ],
    }
