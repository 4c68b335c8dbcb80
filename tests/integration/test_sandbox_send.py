"""GraphClient against the Meta sandbox over a real socket: documented shapes, auth, reads."""

from __future__ import annotations

import base64
import hashlib
import time

import httpx
import pytest
from sandbox_server import SandboxControl

from omni_common.graph import ErrorClass, GraphClient, GraphError


async def _only_request(ctl: SandboxControl, account_id: str) -> dict:
    [request] = await ctl.requests(f"/{account_id}/messages")
    return request


def _assert_token_only_in_header(request: dict, token: str) -> None:
    assert request["headers"]["authorization"] == f"Bearer {token}"
    assert request["token_source"] == "header"
    assert token not in request["url"]


class TestReplies:
    async def test_whatsapp_threaded_reply_arrives_in_documented_shape(
        self, ctl: SandboxControl, graph: GraphClient
    ) -> None:
        account_id, token = await ctl.add_account("whatsapp")
        result = await graph.send_message(
            "whatsapp",
            account_id,
            token,
            to="16505551234",
            text="Mesa para 2 ✔",
            reply_to_external_id="wamid.IN1",
        )
        assert result.external_message_id.startswith("wamid.")
        assert result.raw["contacts"] == [{"input": "+16505551234", "wa_id": "16505551234"}]
        request = await _only_request(ctl, account_id)
        assert request["method"] == "POST"
        assert request["path"] == f"/v21.0/{account_id}/messages"
        assert request["json"] == {
            "messaging_product": "whatsapp",
            "recipient_type": "individual",
            "to": "+16505551234",
            "type": "text",
            "text": {"preview_url": False, "body": "Mesa para 2 ✔"},
            "context": {"message_id": "wamid.IN1"},
        }
        _assert_token_only_in_header(request, token)

    async def test_messenger_threaded_reply_arrives_in_documented_shape(
        self, ctl: SandboxControl, graph: GraphClient
    ) -> None:
        page_id, token = await ctl.add_account("facebook")
        result = await graph.send_message(
            "facebook", page_id, token, to="PSID-1", text="Hi", reply_to_external_id="m_in"
        )
        assert result.external_message_id.startswith("m_")
        assert result.raw["recipient_id"] == "PSID-1"
        request = await _only_request(ctl, page_id)
        assert request["json"] == {
            "recipient": {"id": "PSID-1"},
            "messaging_type": "RESPONSE",
            "message": {"text": "Hi", "reply_to": {"mid": "m_in"}},
        }
        _assert_token_only_in_header(request, token)
        sent = await ctl.get("/sent")
        assert sent[result.external_message_id]["reply_to"] == "m_in"

    async def test_instagram_reply_arrives_in_documented_shape(
        self, ctl: SandboxControl, graph: GraphClient
    ) -> None:
        ig_id, token = await ctl.add_account("instagram")
        result = await graph.send_message("instagram", ig_id, token, to="IGSID-1", text="Hola")
        assert result.raw == {"recipient_id": "IGSID-1", "message_id": result.external_message_id}
        request = await _only_request(ctl, ig_id)
        assert request["json"] == {"recipient": {"id": "IGSID-1"}, "message": {"text": "Hola"}}
        _assert_token_only_in_header(request, token)

    async def test_unthreaded_whatsapp_send_has_no_context(
        self, ctl: SandboxControl, graph: GraphClient
    ) -> None:
        account_id, token = await ctl.add_account("whatsapp")
        await graph.send_message("whatsapp", account_id, token, to="+34600000000", text="hola")
        assert "context" not in (await _only_request(ctl, account_id))["json"]


class TestAuth:
    async def test_unknown_token_is_auth_error_190_467(self, ctl: SandboxControl, graph: GraphClient) -> None:
        account_id, _ = await ctl.add_account("whatsapp")
        with pytest.raises(GraphError) as info:
            await graph.send_message("whatsapp", account_id, "EAAwrong", to="1", text="x")
        err = info.value
        assert (err.code, err.subcode, err.http_status) == (190, 467, 401)
        assert err.error_class is ErrorClass.AUTH
        assert err.fbtrace_id

    async def test_expired_token_is_auth_error_190_463(self, ctl: SandboxControl, graph: GraphClient) -> None:
        page_id, token = await ctl.add_account("facebook", token_expires_at=int(time.time()) - 10)
        with pytest.raises(GraphError) as info:
            await graph.send_message("facebook", page_id, token, to="P", text="x")
        assert (info.value.code, info.value.subcode, info.value.error_class) == (190, 463, ErrorClass.AUTH)

    async def test_token_of_another_account_cannot_send_for_it(
        self, ctl: SandboxControl, graph: GraphClient
    ) -> None:
        page_id, _ = await ctl.add_account("facebook")
        _, other_token = await ctl.add_account("facebook")
        with pytest.raises(GraphError) as info:
            await graph.send_message("facebook", page_id, other_token, to="P", text="x")
        assert (info.value.code, info.value.subcode) == (100, 33)

    async def test_messenger_query_token_is_accepted_and_recorded(
        self, ctl: SandboxControl, http: httpx.AsyncClient
    ) -> None:
        page_id, token = await ctl.add_account("facebook")
        body = {"recipient": {"id": "P"}, "messaging_type": "RESPONSE", "message": {"text": "x"}}
        response = await http.post(
            f"{ctl.graph_url}/{page_id}/messages", params={"access_token": token}, json=body
        )
        assert response.status_code == 200
        assert (await _only_request(ctl, page_id))["token_source"] == "query"


class TestValidation:
    @pytest.mark.parametrize(
        "body",
        [
            {"to": "+1555", "type": "text", "text": {"body": "x"}},  # no messaging_product
            {"messaging_product": "whatsapp", "type": "text", "text": {"body": "x"}},  # no to
            {"messaging_product": "whatsapp", "to": "+1555", "type": "text", "text": {}},
            {"messaging_product": "whatsapp", "to": "+1555", "type": "text", "text": {"body": "a" * 4097}},
        ],
    )
    async def test_whatsapp_bad_bodies_get_meta_error_100(
        self, ctl: SandboxControl, http: httpx.AsyncClient, body: dict
    ) -> None:
        account_id, token = await ctl.add_account("whatsapp")
        response = await http.post(
            f"{ctl.graph_url}/{account_id}/messages", json=body, headers={"Authorization": f"Bearer {token}"}
        )
        assert response.status_code == 400
        error = response.json()["error"]
        assert (error["code"], error["type"]) == (100, "OAuthException")
        assert error["fbtrace_id"]
        assert error["error_data"]["messaging_product"] == "whatsapp"

    @pytest.mark.parametrize(
        ("channel", "text"), [("facebook", "a" * 2001), ("instagram", "é" * 501), ("facebook", "")]
    )
    async def test_messaging_bad_bodies_get_meta_error_100(
        self, ctl: SandboxControl, http: httpx.AsyncClient, channel: str, text: str
    ) -> None:
        account_id, token = await ctl.add_account(channel)
        body = {"recipient": {"id": "U"}, "messaging_type": "RESPONSE", "message": {"text": text}}
        response = await http.post(
            f"{ctl.graph_url}/{account_id}/messages", json=body, headers={"Authorization": f"Bearer {token}"}
        )
        assert (response.status_code, response.json()["error"]["code"]) == (400, 100)


class TestReads:
    @pytest.mark.parametrize(
        ("channel", "extra", "expected"),
        [
            ("whatsapp", {"display_name": "Pizza Roma"}, "Pizza Roma"),
            ("facebook", {"display_name": "Pizza Roma Page"}, "Pizza Roma Page"),
            ("instagram", {"username": "pizzaroma"}, "pizzaroma"),
        ],
    )
    async def test_get_account_gives_display_name(
        self, ctl: SandboxControl, graph: GraphClient, channel: str, extra: dict, expected: str
    ) -> None:
        account_id, token = await ctl.add_account(channel, **extra)
        info = await graph.get_account(channel, account_id, token)
        assert info.display_name == expected
        [request] = await ctl.requests(f"/{account_id}")
        assert token not in request["url"]

    async def test_media_is_resolved_and_downloaded_with_bearer(
        self, ctl: SandboxControl, graph: GraphClient
    ) -> None:
        account_id, token = await ctl.add_account("whatsapp")
        content = b"\x89PNG fake image bytes"
        media = await ctl.post(
            "/media",
            {
                "content_base64": base64.b64encode(content).decode(),
                "mime_type": "image/png",
                "account_id": account_id,
            },
        )
        info = await graph.get_media(media["id"], token)
        assert (info.mime_type, info.file_size, info.sha256) == (
            "image/png",
            len(content),
            hashlib.sha256(content).hexdigest(),
        )
        assert await graph.download(info.url, token, max_bytes=len(content)) == content
        [download] = await ctl.requests("/_media/")
        assert download["headers"]["authorization"] == f"Bearer {token}"

    async def test_media_of_another_account_is_not_visible(
        self, ctl: SandboxControl, graph: GraphClient
    ) -> None:
        owner, _ = await ctl.add_account("whatsapp")
        _, stranger_token = await ctl.add_account("whatsapp")
        media = await ctl.post("/media", {"content_base64": "AA==", "account_id": owner})
        with pytest.raises(GraphError) as info:
            await graph.get_media(media["id"], stranger_token)
        assert info.value.code == 100

    async def test_debug_token_reports_validity_and_expiry(
        self, ctl: SandboxControl, graph: GraphClient
    ) -> None:
        _, token = await ctl.add_account("facebook")
        expires = int(time.time()) + 3600
        _, expiring = await ctl.add_account("instagram", token_expires_at=expires)
        _, expired = await ctl.add_account("instagram", token_expires_at=int(time.time()) - 1)
        valid = await graph.debug_token(token)
        assert valid.is_valid
        assert valid.expires_at is None
        assert "pages_messaging" in valid.scopes
        assert (await graph.debug_token(expiring)).expires_at.timestamp() == expires
        assert not (await graph.debug_token(expired)).is_valid

    @pytest.mark.parametrize("channel", ["facebook", "instagram"])
    async def test_user_profile_gives_name(
        self, ctl: SandboxControl, graph: GraphClient, channel: str
    ) -> None:
        account_id, token = await ctl.add_account(channel)
        await ctl.post(
            "/contacts",
            {"channel": channel, "user_id": f"U-{account_id}", "name": "Ana López", "account_id": account_id},
        )
        profile = await graph.get_user_profile(channel, f"U-{account_id}", token)
        assert profile["name"] == "Ana López"
        assert profile["id"] == f"U-{account_id}"


async def test_subscribed_apps_can_be_set_and_listed(ctl: SandboxControl, http: httpx.AsyncClient) -> None:
    account_id, token = await ctl.add_account("whatsapp")
    auth = {"Authorization": f"Bearer {token}"}
    url = f"{ctl.graph_url}/waba-{account_id}/subscribed_apps"  # default WABA id of a sandbox number
    assert (await http.get(url, headers=auth)).json() == {"data": []}
    assert (await http.post(url, headers=auth)).json() == {"success": True}
    [app] = (await http.get(url, headers=auth)).json()["data"]
    assert app["whatsapp_business_api_data"]["id"] == "sandbox-app"  # Meta's shape for a WABA


async def test_whatsapp_mark_as_read_answers_success(ctl: SandboxControl, http: httpx.AsyncClient) -> None:
    account_id, token = await ctl.add_account("whatsapp")
    response = await http.post(
        f"{ctl.graph_url}/{account_id}/messages",
        json={"messaging_product": "whatsapp", "status": "read", "message_id": "wamid.IN"},
        headers={"Authorization": f"Bearer {token}"},
    )
    assert response.json() == {"success": True}
