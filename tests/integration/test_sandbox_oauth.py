"""The Meta sandbox's login dialog and token endpoints over a real socket: the form, code exchange and
its refusals, long-lived tokens, ``debug_token`` with granular scopes, Embedded Signup."""

from __future__ import annotations

import html
import json
import time
from typing import Any

import httpx
import pytest
from sandbox_server import SandboxControl, redirect_query

from meta_sandbox import SandboxConfig

SECRET = "oauth-app-secret"
APP_TOKEN = f"sandbox-app|{SECRET}"
CALLBACK = "https://inbox.test/connect/facebook/callback"
PAGE_PERMS = [
    "pages_show_list",
    "pages_messaging",
    "pages_manage_metadata",
    "instagram_basic",
    "instagram_manage_messages",
]
WA_PERMS = ["whatsapp_business_management", "whatsapp_business_messaging", "business_management"]


@pytest.fixture(scope="module")
def sandbox_config() -> SandboxConfig:
    return SandboxConfig(app_secret=SECRET)


async def _exchange(
    ctl: SandboxControl, code: str, redirect_uri: str = CALLBACK, **extra: str
) -> httpx.Response:
    params = {
        "client_id": "sandbox-app",
        "client_secret": SECRET,
        "redirect_uri": redirect_uri,
        "code": code,
        **extra,
    }
    return await ctl.http.get(f"{ctl.graph_url}/oauth/access_token", params=params)


async def _code(ctl: SandboxControl, person: dict[str, Any], perms: list[str], **picked: Any) -> str:
    response = await ctl.consent(
        person=person["user_id"], redirect_uri=CALLBACK, scope=",".join(perms), perms=perms, **picked
    )
    return redirect_query(response)["code"]


async def _debug(ctl: SandboxControl, token: str) -> dict[str, Any]:
    response = await ctl.http.get(
        f"{ctl.graph_url}/debug_token", params={"input_token": token, "access_token": APP_TOKEN}
    )
    assert response.status_code == 200, response.text
    return response.json()["data"]


def _between(text: str, start: str, end: str) -> str:
    return text.split(start, 1)[1].split(end, 1)[0]


def _error(response: httpx.Response) -> tuple[int, int | None, str]:
    error = response.json()["error"]
    assert error["type"] == "OAuthException"
    return error["code"], error.get("error_subcode"), error["message"]


class TestDialogPage:
    async def test_the_form_lists_the_persons_assets_and_the_asked_permissions(
        self, ctl: SandboxControl
    ) -> None:
        await ctl.post("/reset", {})
        person = await ctl.add_person()
        params = {
            "client_id": "sandbox-app",
            "redirect_uri": CALLBACK,
            "state": "s1",
            "scope": ",".join(PAGE_PERMS),
            "response_type": "code",
        }
        page = await ctl.http.get(f"{ctl.graph_url}/dialog/oauth", params=params)
        assert page.status_code == 200
        html = page.text
        for page_info in person["pages"]:
            assert f'id="asset-page-{page_info["id"]}"' in html
        assert f'id="asset-ig-{person["pages"][0]["instagram_id"]}"' in html
        for scope in PAGE_PERMS:
            assert f'id="perm-{scope}"' in html
        assert 'id="asset-waba-' not in html  # no WhatsApp permission asked
        assert 'id="confirm"' in html
        assert 'id="cancel"' in html

    async def test_with_several_people_the_dialog_first_asks_who_logs_in(self, ctl: SandboxControl) -> None:
        await ctl.post("/reset", {})
        first, second = await ctl.add_person(), await ctl.add_person()
        params = {
            "client_id": "sandbox-app",
            "redirect_uri": CALLBACK,
            "scope": "whatsapp_business_management",
        }
        choose = await ctl.http.get(f"{ctl.graph_url}/dialog/oauth", params=params)
        assert f'id="person-{first["user_id"]}"' in choose.text
        assert f'id="person-{second["user_id"]}"' in choose.text
        picked = await ctl.http.get(
            f"{ctl.graph_url}/dialog/oauth", params={**params, "person": second["user_id"]}
        )
        assert f'id="asset-waba-{second["wabas"][0]["id"]}"' in picked.text

    @pytest.mark.parametrize(
        ("params", "text"),
        [
            ({"client_id": "someone-else", "redirect_uri": CALLBACK}, "Invalid App ID"),
            ({"client_id": "sandbox-app", "redirect_uri": "/relative"}, "absolute"),
            (
                {"client_id": "sandbox-app", "redirect_uri": CALLBACK, "response_type": "token"},
                "response_type",
            ),
        ],
    )
    async def test_bad_dialog_requests_show_an_error_page_and_never_redirect(
        self, ctl: SandboxControl, params: dict[str, str], text: str
    ) -> None:
        await ctl.add_person()
        page = await ctl.http.get(f"{ctl.graph_url}/dialog/oauth", params=params)
        assert page.status_code == 400
        assert text in page.text

    async def test_redirect_uri_must_be_registered_when_the_app_lists_them(self, ctl: SandboxControl) -> None:
        await ctl.add_person()
        await ctl.post("/config", {"oauth_redirect_uris": [CALLBACK]})
        try:
            params = {
                "client_id": "sandbox-app",
                "redirect_uri": "https://evil.test/cb",
                "scope": "pages_messaging",
            }
            page = await ctl.http.get(f"{ctl.graph_url}/dialog/oauth", params=params)
            assert (page.status_code, "URL blocked" in page.text) == (400, True)
        finally:
            await ctl.post("/config", {"oauth_redirect_uris": None})

    async def test_cancel_redirects_with_access_denied_and_the_state(self, ctl: SandboxControl) -> None:
        person = await ctl.add_person()
        response = await ctl.consent(
            person=person["user_id"], redirect_uri=CALLBACK + "?x=1", perms=[], state="abc", action="cancel"
        )
        query = redirect_query(response)
        assert query == {
            "x": "1",
            "error": "access_denied",
            "error_code": "200",
            "error_description": "Permissions error",
            "error_reason": "user_denied",
            "state": "abc",
        }


class TestCodeExchange:
    async def test_code_gives_a_short_lived_user_token_once(self, ctl: SandboxControl) -> None:
        person = await ctl.add_person()
        code = await _code(ctl, person, PAGE_PERMS, page=[person["pages"][0]["id"]])
        first = await _exchange(ctl, code)
        assert first.status_code == 200, first.text
        body = first.json()
        assert (body["token_type"], body["expires_in"]) == ("bearer", 7200)
        again = await _exchange(ctl, code)
        assert _error(again) == (100, 36009, "This authorization code has been used.")

    async def test_redirect_uri_must_be_the_dialogs(self, ctl: SandboxControl) -> None:
        person = await ctl.add_person()
        code = await _code(ctl, person, PAGE_PERMS)
        response = await _exchange(ctl, code, redirect_uri=CALLBACK + "/other")
        code_, subcode, message = _error(response)
        assert (code_, subcode) == (100, 36008)
        assert "redirect_uri is identical" in message
        assert (await _exchange(ctl, code)).status_code == 200  # a refused exchange does not use it up

    async def test_an_expired_code_is_refused(self, ctl: SandboxControl) -> None:
        person = await ctl.add_person()
        code = await _code(ctl, person, PAGE_PERMS)
        await ctl.post(f"/oauth/codes/{code}/expire", {})
        assert _error(await _exchange(ctl, code))[:2] == (100, 36007)

    async def test_codes_live_ten_minutes(self, ctl: SandboxControl) -> None:
        person = await ctl.add_person()
        await ctl.post("/config", {"oauth_code_ttl_s": 0.2})
        try:
            code = await _code(ctl, person, PAGE_PERMS)
            time.sleep(0.3)
            assert _error(await _exchange(ctl, code))[:2] == (100, 36007)
        finally:
            await ctl.post("/config", {"oauth_code_ttl_s": 600})

    @pytest.mark.parametrize(
        ("extra", "expected"),
        [
            ({"client_secret": "wrong"}, (1, None, "Error validating client secret.")),
            (
                {"client_id": "other-app"},
                (101, None, "Error validating application. Invalid application ID."),
            ),
            ({"code": "AQnot-a-code"}, (100, None, "Invalid verification code format.")),
        ],
    )
    async def test_refusals(self, ctl: SandboxControl, extra: dict[str, str], expected: tuple) -> None:
        person = await ctl.add_person()
        code = extra.pop("code", None) or await _code(ctl, person, PAGE_PERMS)
        response = await _exchange(ctl, code, **extra)
        assert response.status_code == 400
        assert _error(response) == expected

    async def test_fb_exchange_token_gives_a_60_day_token(self, ctl: SandboxControl) -> None:
        person = await ctl.add_person()
        short = (await _exchange(ctl, await _code(ctl, person, PAGE_PERMS))).json()["access_token"]
        params = {
            "grant_type": "fb_exchange_token",
            "client_id": "sandbox-app",
            "client_secret": SECRET,
            "fb_exchange_token": short,
        }
        response = await ctl.http.get(f"{ctl.graph_url}/oauth/access_token", params=params)
        assert response.status_code == 200, response.text
        long_lived = response.json()
        assert long_lived["expires_in"] == 60 * 86400
        assert long_lived["access_token"] != short
        data = await _debug(ctl, long_lived["access_token"])
        assert abs(data["expires_at"] - (time.time() + 60 * 86400)) < 60
        bad = await ctl.http.get(
            f"{ctl.graph_url}/oauth/access_token", params={**params, "fb_exchange_token": "EAAx"}
        )
        assert _error(bad)[:2] == (190, 467)


class TestDebugToken:
    async def test_granular_scopes_name_the_ticked_assets_and_omit_the_declined_permission(
        self, ctl: SandboxControl
    ) -> None:
        person = await ctl.add_person()
        page, ig = person["pages"][0], person["pages"][0]["instagram_id"]
        granted = [p for p in PAGE_PERMS if p != "instagram_manage_messages"]  # declined
        response = await ctl.consent(
            person=person["user_id"],
            redirect_uri=CALLBACK,
            scope=",".join(PAGE_PERMS),
            perms=granted,
            page=[page["id"]],
            instagram=[ig],
            return_scopes="true",
        )
        query = redirect_query(response)
        assert query["denied_scopes"] == "instagram_manage_messages"
        token = (await _exchange(ctl, query["code"])).json()["access_token"]
        data = await _debug(ctl, token)
        assert data["app_id"] == "sandbox-app"
        assert (data["type"], data["is_valid"], data["user_id"]) == ("USER", True, person["user_id"])
        assert data["data_access_expires_at"] > time.time() + 80 * 86400
        assert "instagram_manage_messages" not in data["scopes"]
        assert {"scope": "pages_messaging", "target_ids": [page["id"]]} in data["granular_scopes"]
        assert {"scope": "instagram_basic", "target_ids": [ig]} in data["granular_scopes"]
        assert {"scope": "public_profile"} in data["granular_scopes"]

    async def test_a_token_may_inspect_itself_and_unknown_tokens_are_invalid(
        self, ctl: SandboxControl
    ) -> None:
        person = await ctl.add_person()
        token = (await _exchange(ctl, await _code(ctl, person, PAGE_PERMS))).json()["access_token"]
        itself = await ctl.http.get(
            f"{ctl.graph_url}/debug_token",
            params={"input_token": token},
            headers={"Authorization": f"Bearer {token}"},
        )
        assert itself.json()["data"]["is_valid"] is True
        unknown = await _debug(ctl, "EAAunknown")
        assert (unknown["is_valid"], unknown["error"]["code"]) == (False, 190)

    async def test_expired_and_invalidated_tokens(self, ctl: SandboxControl) -> None:
        person = await ctl.add_person()
        token = (await _exchange(ctl, await _code(ctl, person, PAGE_PERMS))).json()["access_token"]
        await ctl.post("/tokens", {"token": token, "expires_in_s": -1})
        expired = await _debug(ctl, token)
        assert (expired["is_valid"], expired["error"]["subcode"]) == (False, 463)
        me = await ctl.http.get(f"{ctl.graph_url}/me", headers={"Authorization": f"Bearer {token}"})
        assert _error(me)[:2] == (190, 463)
        await ctl.post("/tokens", {"user_id": person["user_id"], "valid": False, "expires_at": 0})
        removed = await _debug(ctl, token)
        assert (removed["is_valid"], removed["error"]["subcode"]) == (False, 460)


class TestEmbeddedSignup:
    async def test_config_id_flow_gives_a_system_user_token_scoped_to_the_chosen_number(
        self, ctl: SandboxControl
    ) -> None:
        person = await ctl.add_person()
        waba = person["wabas"][0]
        phone = waba["phone_number_ids"][1]
        extras = json.dumps({"feature": "whatsapp_embedded_signup", "sessionInfoVersion": "3"})
        page = await ctl.http.get(
            f"{ctl.graph_url}/dialog/oauth",
            params={
                "client_id": "sandbox-app",
                "redirect_uri": CALLBACK,
                "config_id": "cfg-1",
                "extras": extras,
                "person": person["user_id"],
            },
        )
        assert f'id="asset-phone-{phone}"' in page.text
        response = await ctl.consent(
            person=person["user_id"],
            redirect_uri=CALLBACK,
            perms=WA_PERMS,
            config_id="cfg-1",
            extras=extras,
            phone=phone,
        )
        # The finish page posts WA_EMBEDDED_SIGNUP to its opener, then goes on to the redirect.
        assert response.status_code == 200
        message = json.loads(html.unescape(_between(response.text, '<pre id="session-info">', "</pre>")))
        assert message["type"] == "WA_EMBEDDED_SIGNUP"
        assert message["event"] == "FINISH"
        assert message["data"] == {
            "phone_number_id": phone,
            "waba_id": waba["id"],
            "business_id": person["businesses"][0],
        }
        target = html.unescape(_between(response.text, 'id="continue-link" href="', '"'))
        assert target.startswith(CALLBACK + "?")
        code = dict(httpx.URL(target).params)["code"]
        assert (await ctl.get(f"/oauth/codes/{code}"))["session_info"] == message["data"]
        answer = (await _exchange(ctl, code)).json()
        assert "expires_in" not in answer  # business integration system-user tokens do not expire
        data = await _debug(ctl, answer["access_token"])
        assert (data["type"], data["expires_at"]) == ("SYSTEM_USER", 0)
        assert {"scope": "whatsapp_business_management", "target_ids": [waba["id"]]} in data[
            "granular_scopes"
        ]


async def test_a_token_granted_only_some_targets_reads_a_page_it_was_not_granted(
    ctl: SandboxControl,
) -> None:
    person = await ctl.add_person()
    mine = person["pages"][0]["id"]
    theirs, _ = await ctl.add_account("facebook", display_name="Rival Trattoria")
    made = await ctl.post(
        "/oauth/tokens", {"user_id": person["user_id"], "targets": {"pages_messaging": [mine]}}
    )
    token = made["token"]
    read = await ctl.http.get(f"{ctl.graph_url}/{theirs}", params={"fields": "name", "access_token": token})
    assert read.json() == {"name": "Rival Trattoria", "id": theirs}  # public: readable by anyone
    data = await _debug(ctl, token)
    assert (data["app_id"], data["is_valid"], data["scopes"]) == ("sandbox-app", True, ["pages_messaging"])
    assert data["granular_scopes"] == [{"scope": "pages_messaging", "target_ids": [mine]}]

    other = await ctl.post(
        "/oauth/tokens", {"targets": {"pages_messaging": [mine]}, "app_id": "someone-elses-app"}
    )
    assert (await _debug(ctl, other["token"]))["app_id"] == "someone-elses-app"


async def test_a_per_account_token_is_granted_its_own_account(ctl: SandboxControl) -> None:
    page, page_token = await ctl.add_account("facebook")
    number, number_token = await ctl.add_account("whatsapp", waba_id="77001")
    page_data = await _debug(ctl, page_token)
    assert page_data["app_id"] == "sandbox-app"
    assert {"scope": "pages_messaging", "target_ids": [page]} in page_data["granular_scopes"]
    number_data = await _debug(ctl, number_token)
    assert {"scope": "whatsapp_business_messaging", "target_ids": ["77001"]} in number_data["granular_scopes"]
    assert number != "77001"
