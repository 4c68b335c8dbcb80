"""What a connect flow does with the person's token, against the Meta sandbox over a real socket:
Pages with page tokens, Instagram links, businesses, WABAs and numbers, registration, subscriptions,
and the sandbox's commands that revoke a permission or drop a subscription."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from sandbox_server import SandboxControl, WebhookReceiver, redirect_query

from meta_sandbox import SandboxConfig

SECRET = "connect-app-secret"
APP_TOKEN = f"sandbox-app|{SECRET}"
CALLBACK = "https://inbox.test/connect/facebook/callback"
ALL_PERMS = [
    "pages_show_list",
    "pages_messaging",
    "pages_manage_metadata",
    "instagram_basic",
    "instagram_manage_messages",
    "whatsapp_business_management",
    "whatsapp_business_messaging",
    "business_management",
]
MESSENGER_FIELDS = (
    "messages,messaging_postbacks,message_deliveries,message_reads,message_echoes,message_reactions"
)


@pytest.fixture(scope="module")
def sandbox_config(receiver: tuple[WebhookReceiver, str]) -> SandboxConfig:
    return SandboxConfig(app_secret=SECRET, ingress_url=receiver[1], status_delay_s=0.0)


async def _login(
    ctl: SandboxControl,
    person: dict[str, Any],
    perms: list[str] = ALL_PERMS,
    *,
    long_lived: bool = True,
    **picked: Any,
) -> str:
    """The whole flow: dialog (everything ticked unless ``picked`` says), code, (long-lived) token."""
    picked.setdefault("page", [p["id"] for p in person["pages"]])
    picked.setdefault("instagram", [p["instagram_id"] for p in person["pages"] if p["instagram_id"]])
    picked.setdefault("waba", [w["id"] for w in person["wabas"]])
    response = await ctl.consent(
        person=person["user_id"], redirect_uri=CALLBACK, scope=",".join(ALL_PERMS), perms=perms, **picked
    )
    params = {"client_id": "sandbox-app", "client_secret": SECRET, "redirect_uri": CALLBACK}
    code = redirect_query(response)["code"]
    token = (
        await ctl.http.get(f"{ctl.graph_url}/oauth/access_token", params={**params, "code": code})
    ).json()
    if not long_lived:
        return token["access_token"]
    params = {**params, "grant_type": "fb_exchange_token", "fb_exchange_token": token["access_token"]}
    return (await ctl.http.get(f"{ctl.graph_url}/oauth/access_token", params=params)).json()["access_token"]


async def _get(ctl: SandboxControl, path: str, token: str, **params: str) -> httpx.Response:
    return await ctl.http.get(
        f"{ctl.graph_url}/{path}", params=params, headers={"Authorization": f"Bearer {token}"}
    )


async def _debug(ctl: SandboxControl, token: str) -> dict[str, Any]:
    response = await ctl.http.get(
        f"{ctl.graph_url}/debug_token", params={"input_token": token, "access_token": APP_TOKEN}
    )
    return response.json()["data"]


def _code(response: httpx.Response) -> tuple[int, int | None]:
    error = response.json()["error"]
    return error["code"], error.get("error_subcode")


class TestPages:
    async def test_me_accounts_lists_granted_pages_with_page_tokens_that_never_expire(
        self, ctl: SandboxControl
    ) -> None:
        person = await ctl.add_person()
        linked, plain = person["pages"]
        token = await _login(ctl, person, page=[linked["id"]])  # the second Page is not shared
        response = await _get(
            ctl, "me/accounts", token, fields="id,name,access_token,tasks,instagram_business_account"
        )
        [page] = response.json()["data"]
        assert (page["id"], page["name"]) == (linked["id"], "Trattoria Olga")
        assert page["instagram_business_account"] == {"id": linked["instagram_id"]}
        assert "MESSAGING" in page["tasks"]
        data = await _debug(ctl, page["access_token"])
        assert (data["type"], data["profile_id"], data["expires_at"], data["is_valid"]) == (
            "PAGE",
            linked["id"],
            0,
            True,
        )
        me = await _get(ctl, "me", page["access_token"], fields="id,name")
        assert me.json() == {"id": linked["id"], "name": "Trattoria Olga"}
        assert plain["id"] not in response.text

    async def test_page_token_from_a_short_lived_user_token_ends_with_it(self, ctl: SandboxControl) -> None:
        person = await ctl.add_person()
        token = await _login(ctl, person, long_lived=False)
        [page, _] = (await _get(ctl, "me/accounts", token)).json()["data"]
        assert (await _debug(ctl, page["access_token"]))["expires_at"] == (await _debug(ctl, token))[
            "expires_at"
        ]

    async def test_page_node_shows_its_instagram_account_and_a_foreign_page_only_its_public_fields(
        self, ctl: SandboxControl
    ) -> None:
        person, stranger = await ctl.add_person(), await ctl.add_person()
        token = await _login(ctl, person)
        own = await _get(ctl, person["pages"][0]["id"], token, fields="instagram_business_account,name")
        assert own.json()["instagram_business_account"] == {"id": person["pages"][0]["instagram_id"]}
        foreign_id = stranger["pages"][0]["id"]
        foreign = await _get(ctl, foreign_id, token, fields="name,access_token,instagram_business_account")
        assert foreign.json() == {"name": "Trattoria Olga", "id": foreign_id}  # readable, not granted
        data = await _debug(ctl, token)
        assert all(foreign_id not in g.get("target_ids", []) for g in data["granular_scopes"])

    async def test_page_token_sends_for_its_page_and_linked_instagram_only(self, ctl: SandboxControl) -> None:
        person = await ctl.add_person()
        token = await _login(ctl, person)
        pages = (await _get(ctl, "me/accounts", token)).json()["data"]
        page_token = pages[0]["access_token"]
        ig = person["pages"][0]["instagram_id"]
        for target in ("me", ig):
            body = {"recipient": {"id": "PSID-9"}, "messaging_type": "RESPONSE", "message": {"text": "hi"}}
            sent = await ctl.http.post(
                f"{ctl.graph_url}/{target}/messages", json=body, params={"access_token": page_token}
            )
            assert sent.status_code == 200, sent.text
        other_page = person["pages"][1]["id"]
        body = {"recipient": {"id": "PSID-9"}, "messaging_type": "RESPONSE", "message": {"text": "hi"}}
        refused = await ctl.http.post(
            f"{ctl.graph_url}/{other_page}/messages", json=body, params={"access_token": page_token}
        )
        assert _code(refused) == (100, 33)
        with_user_token = await ctl.http.post(
            f"{ctl.graph_url}/{pages[0]['id']}/messages", json=body, params={"access_token": token}
        )
        assert _code(with_user_token)[0] == 210  # a Page sends with its page token


class TestWhatsAppAccounts:
    async def test_businesses_wabas_and_numbers(self, ctl: SandboxControl) -> None:
        person = await ctl.add_person()
        token = await _login(ctl, person)
        [business] = (await _get(ctl, "me/businesses", token)).json()["data"]
        assert business == {"name": "Olga SL", "id": person["businesses"][0]}
        [waba] = (await _get(ctl, f"{business['id']}/owned_whatsapp_business_accounts", token)).json()["data"]
        assert (waba["id"], waba["name"]) == (person["wabas"][0]["id"], "Trattoria WhatsApp")
        fields = "id,display_phone_number,verified_name,quality_rating,code_verification_status,name_status"
        numbers = (await _get(ctl, f"{waba['id']}/phone_numbers", token, fields=fields)).json()["data"]
        assert numbers[0] == {
            "id": person["wabas"][0]["phone_number_ids"][0],
            "display_phone_number": "+34 600 000 001",
            "verified_name": "Trattoria",
            "quality_rating": "GREEN",
            "code_verification_status": "VERIFIED",
            "name_status": "APPROVED",
        }
        assert numbers[1]["name_status"] == "PENDING_REVIEW"
        client = await _get(ctl, f"{business['id']}/client_whatsapp_business_accounts", token)
        assert client.json()["data"] == []

    async def test_a_waba_not_shared_is_invisible(self, ctl: SandboxControl) -> None:
        person = await ctl.add_person()
        token = await _login(ctl, person, waba=[])
        waba = person["wabas"][0]["id"]
        assert _code(await _get(ctl, f"{waba}/phone_numbers", token)) == (100, 33)
        assert _code(await _get(ctl, f"{waba}/message_templates", token)) == (100, 33)

    async def test_register_then_send_from_the_new_number(self, ctl: SandboxControl) -> None:
        person = await ctl.add_person()
        token = await _login(ctl, person)
        number = person["wabas"][0]["phone_number_ids"][1]  # seeded unregistered
        url, auth = f"{ctl.graph_url}/{number}", {"Authorization": f"Bearer {token}"}
        text = {
            "messaging_product": "whatsapp",
            "to": "34600999000",
            "type": "text",
            "text": {"body": "hola"},
        }
        before = await ctl.http.post(f"{url}/messages", json=text, headers=auth)
        assert _code(before)[0] == 133010
        short_pin = await ctl.http.post(
            f"{url}/register", json={"messaging_product": "whatsapp", "pin": "12345"}, headers=auth
        )
        assert _code(short_pin)[0] == 100
        ok = await ctl.http.post(
            f"{url}/register", json={"messaging_product": "whatsapp", "pin": "123456"}, headers=auth
        )
        assert ok.json() == {"success": True}
        other_pin = await ctl.http.post(
            f"{url}/register", json={"messaging_product": "whatsapp", "pin": "654321"}, headers=auth
        )
        assert _code(other_pin)[0] == 133005
        after = await ctl.http.post(f"{url}/messages", json=text, headers=auth)
        assert after.status_code == 200, after.text
        fields = (await _get(ctl, number, token, fields="status,platform_type")).json()
        assert (fields["status"], fields["platform_type"]) == ("CONNECTED", "CLOUD_API")


class TestSubscriptions:
    async def test_page_subscription_round_trip_with_a_page_token(self, ctl: SandboxControl) -> None:
        person = await ctl.add_person()
        token = await _login(ctl, person)
        page = (await _get(ctl, "me/accounts", token)).json()["data"][0]
        url, auth = (
            f"{ctl.graph_url}/{page['id']}/subscribed_apps",
            {"Authorization": f"Bearer {page['access_token']}"},
        )
        user_token = await ctl.http.post(
            url, params={"subscribed_fields": "messages"}, headers={"Authorization": f"Bearer {token}"}
        )
        assert _code(user_token)[0] == 210  # a page token is required
        assert _code(await ctl.http.post(url, headers=auth))[0] == 100  # subscribed_fields is required
        assert _code(await ctl.http.post(url, params={"subscribed_fields": "gossip"}, headers=auth))[0] == 100
        created = await ctl.http.post(url, params={"subscribed_fields": MESSENGER_FIELDS}, headers=auth)
        assert created.json() == {"success": True}
        [app] = (await ctl.http.get(url, headers=auth)).json()["data"]
        assert (app["id"], app["subscribed_fields"]) == ("sandbox-app", MESSENGER_FIELDS.split(","))
        assert (await ctl.http.delete(url, headers=auth)).json() == {"success": True}
        assert (await ctl.http.get(url, headers=auth)).json() == {"data": []}

    async def test_declined_pages_manage_metadata_cannot_subscribe(self, ctl: SandboxControl) -> None:
        person = await ctl.add_person()
        token = await _login(ctl, person, [p for p in ALL_PERMS if p != "pages_manage_metadata"])
        page = (await _get(ctl, "me/accounts", token)).json()["data"][0]
        url = f"{ctl.graph_url}/{page['id']}/subscribed_apps"
        response = await ctl.http.post(
            url, params={"subscribed_fields": "messages", "access_token": page["access_token"]}
        )
        assert _code(response)[0] == 200

    async def test_waba_subscription_round_trip_and_drop(self, ctl: SandboxControl) -> None:
        person = await ctl.add_person()
        token = await _login(ctl, person)
        waba = person["wabas"][0]["id"]
        url, auth = f"{ctl.graph_url}/{waba}/subscribed_apps", {"Authorization": f"Bearer {token}"}
        assert (await ctl.http.post(url, headers=auth)).json() == {"success": True}
        [app] = (await ctl.http.get(url, headers=auth)).json()["data"]
        assert app["whatsapp_business_api_data"]["id"] == "sandbox-app"
        await ctl.http.delete(f"{ctl.root}/_sandbox/subscriptions/{waba}")  # Meta gave up on us
        assert (await ctl.http.get(url, headers=auth)).json() == {"data": []}

    async def test_with_subscriptions_required_a_dropped_page_gets_no_webhooks(
        self, receiver: tuple[WebhookReceiver, str], ctl: SandboxControl
    ) -> None:
        page_id, token = await ctl.add_account("facebook")
        await ctl.post("/config", {"require_subscription": True})
        try:
            url = f"{ctl.graph_url}/{page_id}/subscribed_apps"
            await ctl.http.post(url, params={"subscribed_fields": "messages", "access_token": token})
            inbound = {"channel": "facebook", "account_id": page_id, "from": "PSID-W", "text": "hi"}
            assert (await ctl.post("/simulate/inbound", inbound))["status_code"] == 200
            await ctl.http.delete(f"{ctl.root}/_sandbox/subscriptions/{page_id}")
            dropped = await ctl.post("/simulate/inbound", {**inbound, "text": "anyone?"})
            assert dropped["status_code"] is None
            webhooks = [w for w in await ctl.get("/webhooks") if w["payload"]["entry"][0]["id"] == page_id]
            assert webhooks[-1]["skipped"] == "not subscribed"
        finally:
            await ctl.post("/config", {"require_subscription": False})


class TestRevocation:
    async def test_revoking_a_permission_stops_sends_and_shows_in_debug_token(
        self, ctl: SandboxControl
    ) -> None:
        person = await ctl.add_person()
        token = await _login(ctl, person)
        page = (await _get(ctl, "me/accounts", token)).json()["data"][0]
        body = {"recipient": {"id": "PSID-R"}, "messaging_type": "RESPONSE", "message": {"text": "hi"}}
        send_url = f"{ctl.graph_url}/{page['id']}/messages"
        assert (
            await ctl.http.post(send_url, json=body, params={"access_token": page["access_token"]})
        ).status_code == 200
        await ctl.post("/oauth/revoke", {"user_id": person["user_id"], "scope": "pages_messaging"})
        refused = await ctl.http.post(send_url, json=body, params={"access_token": page["access_token"]})
        assert _code(refused)[0] == 200
        assert "pages_messaging" not in (await _debug(ctl, page["access_token"]))["scopes"]

    async def test_revoking_one_target_keeps_the_others(self, ctl: SandboxControl) -> None:
        person = await ctl.add_person()
        token = await _login(ctl, person)
        first, second = (p["id"] for p in person["pages"])
        await ctl.post(
            "/oauth/revoke", {"user_id": person["user_id"], "scope": "pages_show_list", "target_id": first}
        )
        listed = [p["id"] for p in (await _get(ctl, "me/accounts", token)).json()["data"]]
        assert listed == [second]
