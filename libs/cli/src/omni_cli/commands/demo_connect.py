"""``omni demo connect``: the demo owner connects the demo accounts the way an owner does (issue 20).

Why two steps. ``omni demo seed`` runs before any service (``./scripts/run-demo`` seeds, then starts
``omni dev``) and must work offline: its conversations need their accounts, so it writes them with
``connect_account`` — the function the flow's "Connect" ends in — and the Meta sandbox's seeded
per-account tokens. Once the inbox and the sandbox listen, this command walks the real flow over
HTTP as the owner's browser would: ``/connect/facebook/start`` → the sandbox's login dialog (its form
posted, "Continue") → our callback → "Connect" for the Page and its Instagram account, and for
WhatsApp Embedded Signup when ``OMNI_META_ES_CONFIG_ID`` is set (the popup's ``WA_EMBEDDED_SIGNUP``
message relayed as the settings page does), else the number ticked with the rest. Every account then
holds a token the owner granted through the dialog, proven with ``debug_token``, subscribed to the
webhooks — and the WhatsApp number registered with a PIN kept in its encrypted credentials.
"""

from __future__ import annotations

import asyncio
import html
import json
import re
import time
from typing import Any

import httpx
import typer

from omni_cli.commands.demo import ACCOUNTS, OWNER, SLUG, health_demo_again

DEMO_PERSON = "demo-owner-fb"
_HIDDEN = re.compile(r'<input type="hidden" name="(\w+)" value="([^"]*)"')


def sandbox_person() -> dict[str, Any]:
    """The demo owner as the sandbox's login dialog knows them: the demo Page, Instagram and number."""
    wa, fb, ig = ACCOUNTS
    number = {"id": wa["id"], "display_phone_number": "+49 30 1234567", "verified_name": "Demo Bistro"}
    return {
        "user_id": DEMO_PERSON,
        "name": "Demo Owner",
        "pages": [
            {"id": fb["id"], "name": fb["name"], "instagram": {"id": ig["id"], "username": "demobistro"}}
        ],
        "businesses": [
            {
                "id": "500000000000001",
                "name": "Demo Bistro GmbH",
                "wabas": [{"id": wa["waba"], "name": "Demo Bistro", "phone_numbers": [number]}],
            }
        ],
    }


def _fail(why: str) -> typer.Exit:
    typer.echo(f"demo accounts not connected: {why}", err=True)
    return typer.Exit(1)


def _wait(url: str, timeout_s: float) -> None:
    deadline = time.monotonic() + timeout_s
    while True:
        try:
            if httpx.get(url, timeout=2).status_code < 500:
                return
        except httpx.HTTPError:
            pass
        if time.monotonic() > deadline:
            raise _fail(f"{url} did not answer within {timeout_s:.0f} s")
        time.sleep(0.5)


def _local(location: str, inbox: str) -> str:
    """A redirect to the inbox's public address, sent to ``inbox`` (as a reverse proxy would)."""
    url = httpx.URL(location)
    return str(httpx.URL(inbox).copy_with(path=url.path, query=url.query))


def _dialog(
    client: httpx.Client, started: httpx.Response, perms: list[str], **assets: list[str]
) -> httpx.Response:
    """The person continues in the sandbox's login dialog with every permission and ``assets``."""
    asked = dict(httpx.URL(started.headers["location"]).params)
    dialog = str(httpx.URL(started.headers["location"]).copy_with(query=None)) + "/confirm"
    form: dict[str, Any] = {k: v for k, v in asked.items() if k != "scope"} | {
        "scope": asked.get("scope", "")
    }
    form |= {"person": DEMO_PERSON, "perm": perms, "action": "confirm"} | assets
    return client.post(dialog, data=form)


def connect_demo(inbox: str) -> list[str]:
    """Walk the flow for the demo accounts; the outcome lines the inbox showed."""
    wa, fb, ig = ACCOUNTS
    outcomes: list[str] = []
    with httpx.Client(base_url=inbox, timeout=30) as client:
        login = client.post("/api/auth/login", json={"tenant": SLUG, "email": OWNER[0], "password": OWNER[1]})
        login.raise_for_status()
        csrf = login.json()["csrf_token"]
        es = 'id="connect-whatsapp"' in client.get("/settings").text  # the inbox uses Embedded Signup
        channels = "facebook,instagram" if es else "facebook,instagram,whatsapp"
        started = client.get("/connect/facebook/start", params={"channels": channels})
        perms = [s for s in dict(httpx.URL(started.headers["location"]).params)["scope"].split(",")]
        back = _dialog(client, started, perms, page=[fb["id"]], instagram=[ig["id"]], waba=[wa["waba"]])
        chosen = client.get(_local(back.headers["location"], inbox))
        pick = re.search(r'name="pick" value="([^"]+)"', chosen.text)
        if pick is None:
            raise _fail(f"the inbox offered nothing to connect: {chosen.text[:300]}")
        ticked = [f"page:{fb['id']}", f"ig:{ig['id']}"] + ([] if es else [f"wa:{wa['id']}"])
        done = client.post(
            "/connect/facebook/finish", data={"csrf_token": csrf, "pick": pick.group(1), "asset": ticked}
        )
        outcomes += _outcomes(done.text)
        if es:
            outcomes += _embedded_signup(client, inbox, csrf)
    return outcomes


def _embedded_signup(client: httpx.Client, inbox: str, csrf: str) -> list[str]:
    """WhatsApp: the sandbox's Embedded Signup (one number), its session info relayed with the code."""
    wa = ACCOUNTS[0]
    started = client.get("/connect/facebook/start", params={"channels": "whatsapp"})
    perms = ["whatsapp_business_management", "whatsapp_business_messaging", "business_management"]
    finished = _dialog(client, started, perms, phone=[wa["id"]])
    target = re.search(r'id="continue-link" href="([^"]+)"', finished.text)
    info = re.search(r'<pre id="session-info">([^<]+)</pre>', finished.text)
    if target is None or info is None:
        raise _fail(f"the sandbox's Embedded Signup did not finish: {finished.text[:300]}")
    message = json.loads(html.unescape(info.group(1)))
    handed = client.get(_local(html.unescape(target.group(1)), inbox))
    form = {k: html.unescape(v) for k, v in _HIDDEN.findall(handed.text)} | {"csrf_token": csrf}
    data = message.get("data") or {}
    form |= {"event": message.get("event", ""), "waba_id": data.get("waba_id", "")}
    form["phone_number_id"] = data.get("phone_number_id", "")
    return _outcomes(client.post("/connect/facebook/embedded", data=form).text)


def _outcomes(page: str) -> list[str]:
    found = re.findall(
        r'<li class="(?:ok|error)" data-ok="(yes|no)"><strong>([^<]+)</strong>: ([^<]+)</li>', page
    )
    return [
        f"{'ok ' if ok == 'yes' else 'NOT'} {html.unescape(label)}: {html.unescape(detail)}"
        for ok, label, detail in found
    ]


def connect_command(
    inbox: str = typer.Option("", help="The inbox's address (default: http://127.0.0.1:OMNI_INBOX_PORT)."),
    sandbox: str = typer.Option("http://127.0.0.1:8090", help="The Meta sandbox's address."),
    wait: float = typer.Option(0.0, help="Wait up to this many seconds for both to answer."),
    health_demo: bool = typer.Option(True, help="Show the channel-health demo again afterwards."),
) -> None:
    """Connect the demo's Page, Instagram and WhatsApp through "Continue with Facebook" (sandbox)."""
    from omni_common.settings import Settings

    settings = Settings()
    inbox = inbox or f"http://127.0.0.1:{settings.inbox_port}"
    if wait:
        _wait(f"{inbox}/readyz", wait)
        _wait(f"{sandbox}/_sandbox/health", wait)
    lines = connect_demo(inbox)
    for line in lines:
        typer.echo(line)
    if len(lines) < len(ACCOUNTS) or any(line.startswith("NOT") for line in lines):
        raise typer.Exit(1)
    if health_demo:
        asyncio.run(health_demo_again())
