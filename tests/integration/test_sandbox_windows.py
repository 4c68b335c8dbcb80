"""The customer-service window in the Meta sandbox: WhatsApp 131047 (synchronous and asynchronous),
templates outside the window, Messenger/Instagram human-agent tag rules, read receipts and typing."""

from __future__ import annotations

import json
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass

import httpx
import pytest
from sandbox_server import SandboxControl, WebhookReceiver

from meta_sandbox import SandboxConfig

SECRET = "window-test-secret"


@pytest.fixture(scope="module")
def sandbox_config(receiver: tuple[WebhookReceiver, str]) -> SandboxConfig:
    return SandboxConfig(ingress_url=receiver[1], app_secret=SECRET, status_delay_s=0.0, window_hours=24)


@pytest.fixture
async def ctl(http: httpx.AsyncClient, root_url: str) -> AsyncIterator[SandboxControl]:
    control = SandboxControl(http, root_url)
    yield control
    await control.post("/config", {"wa_window_failure": "async", "human_agent_permission": False})


async def _wrote(ctl: SandboxControl, account_id: str, user: str, hours_ago: float) -> None:
    await ctl.post(
        "/window",
        {"account_id": account_id, "user_id": user, "last_inbound_at": time.time() - hours_ago * 3600},
    )


async def _wa_text(ctl: SandboxControl, account_id: str, token: str, to: str) -> httpx.Response:
    body = {"messaging_product": "whatsapp", "to": to, "type": "text", "text": {"body": "late"}}
    return await ctl.http.post(
        f"{ctl.graph_url}/{account_id}/messages", json=body, headers={"Authorization": f"Bearer {token}"}
    )


class TestWhatsApp:
    async def test_inside_the_window_a_text_goes_out(self, ctl: SandboxControl) -> None:
        account_id, token = await ctl.add_account("whatsapp")
        await _wrote(ctl, account_id, "34600000001", hours_ago=23)
        assert (await _wa_text(ctl, account_id, token, "+34600000001")).status_code == 200

    async def test_async_mode_accepts_then_reports_failed_131047(
        self, receiver: tuple[WebhookReceiver, str], ctl: SandboxControl
    ) -> None:
        account_id, token = await ctl.add_account("whatsapp")
        await _wrote(ctl, account_id, "34600000002", hours_ago=25)
        response = await _wa_text(ctl, account_id, token, "34600000002")
        assert response.status_code == 200
        wamid = response.json()["messages"][0]["id"]
        [post] = await receiver[0].await_count(1, contains=wamid)
        status = json.loads(post.body)["entry"][0]["changes"][0]["value"]["statuses"][0]
        assert (status["status"], status["errors"][0]["code"]) == ("failed", 131047)
        assert "24 hours" in status["errors"][0]["error_data"]["details"]

    async def test_sync_mode_refuses_with_131047(self, ctl: SandboxControl) -> None:
        await ctl.post("/config", {"wa_window_failure": "sync"})
        account_id, token = await ctl.add_account("whatsapp")
        response = await _wa_text(ctl, account_id, token, "34600000003")  # never wrote
        assert response.status_code == 400
        error = response.json()["error"]
        assert error["code"] == 131047
        assert error["error_data"]["messaging_product"] == "whatsapp"
        assert not [s for s in (await ctl.get("/sent")).values() if s["account_id"] == account_id]

    async def test_a_template_goes_out_whatever_the_window(self, ctl: SandboxControl) -> None:
        await ctl.post("/config", {"wa_window_failure": "sync"})
        account_id, token = await ctl.add_account("whatsapp")
        await ctl.post("/templates/samples", {"waba_id": f"waba-{account_id}"})
        body = {
            "messaging_product": "whatsapp",
            "to": "34600000004",
            "type": "template",
            "template": {
                "name": "menu_pdf",
                "language": {"code": "en_US"},
                "components": [
                    {
                        "type": "header",
                        "parameters": [{"type": "document", "document": {"link": "https://x.test/m.pdf"}}],
                    },
                    {"type": "body", "parameters": [{"type": "text", "text": "Ana"}]},
                ],
            },
        }
        response = await ctl.http.post(
            f"{ctl.graph_url}/{account_id}/messages", json=body, headers={"Authorization": f"Bearer {token}"}
        )
        assert response.status_code == 200, response.text

    async def test_a_simulated_inbound_opens_the_window(self, ctl: SandboxControl) -> None:
        await ctl.post("/config", {"wa_window_failure": "sync"})
        account_id, token = await ctl.add_account("whatsapp")
        await ctl.post(
            "/simulate/inbound",
            {"channel": "whatsapp", "account_id": account_id, "from": "34600000005", "text": "hi"},
        )
        assert (await _wa_text(ctl, account_id, token, "34600000005")).status_code == 200

    async def test_read_receipt_with_typing_indicator(self, ctl: SandboxControl) -> None:
        account_id, token = await ctl.add_account("whatsapp")
        url, auth = f"{ctl.graph_url}/{account_id}/messages", {"Authorization": f"Bearer {token}"}
        body = {
            "messaging_product": "whatsapp",
            "status": "read",
            "message_id": "wamid.IN",
            "typing_indicator": {"type": "text"},
        }
        assert (await ctl.http.post(url, json=body, headers=auth)).json() == {"success": True}
        wrong = await ctl.http.post(url, json={**body, "typing_indicator": {"type": "audio"}}, headers=auth)
        assert wrong.json()["error"]["code"] == 100


@dataclass
class Chat:
    """A Page or Instagram account and a customer who last wrote some hours ago."""

    ctl: SandboxControl
    account_id: str
    token: str

    async def reply(self, **extra: str) -> httpx.Response:
        body = {
            "recipient": {"id": "U1"},
            "messaging_type": "RESPONSE",
            "message": {"text": "hello"},
            **extra,
        }
        url = f"{self.ctl.graph_url}/{self.account_id}/messages"
        return await self.ctl.http.post(url, json=body, params={"access_token": self.token})


async def _chat(ctl: SandboxControl, channel: str, hours_ago: float) -> Chat:
    account_id, token = await ctl.add_account(channel)
    await _wrote(ctl, account_id, "U1", hours_ago)
    return Chat(ctl, account_id, token)


HUMAN_AGENT = {"messaging_type": "MESSAGE_TAG", "tag": "HUMAN_AGENT"}


@pytest.mark.parametrize(("channel", "subcode"), [("facebook", 2018278), ("instagram", 2534022)])
class TestHumanAgent:
    async def test_within_24_hours_a_plain_reply_goes_out(
        self, ctl: SandboxControl, channel: str, subcode: int
    ) -> None:
        chat = await _chat(ctl, channel, hours_ago=20)
        assert (await chat.reply()).status_code == 200

    async def test_beyond_24_hours_without_the_tag_is_refused(
        self, ctl: SandboxControl, channel: str, subcode: int
    ) -> None:
        chat = await _chat(ctl, channel, hours_ago=30)
        error = (await chat.reply()).json()["error"]
        assert (error["code"], error["error_subcode"]) == (10, subcode)
        assert "outside of allowed window" in error["message"]

    async def test_the_tag_needs_the_human_agent_permission(
        self, ctl: SandboxControl, channel: str, subcode: int
    ) -> None:
        chat = await _chat(ctl, channel, hours_ago=30)
        error = (await chat.reply(**HUMAN_AGENT)).json()["error"]
        assert (error["code"], error["error_subcode"]) == (10, subcode)
        await ctl.post("/config", {"human_agent_permission": True})
        assert (await chat.reply(**HUMAN_AGENT)).status_code == 200

    async def test_the_tag_ends_after_7_days(self, ctl: SandboxControl, channel: str, subcode: int) -> None:
        await ctl.post("/config", {"human_agent_permission": True})
        chat = await _chat(ctl, channel, hours_ago=7 * 24 + 1)
        error = (await chat.reply(**HUMAN_AGENT)).json()["error"]
        assert (error["code"], error["error_subcode"]) == (10, subcode)

    async def test_another_tag(self, ctl: SandboxControl, channel: str, subcode: int) -> None:
        chat = await _chat(ctl, channel, hours_ago=30)
        response = await chat.reply(messaging_type="MESSAGE_TAG", tag="ACCOUNT_UPDATE")
        if channel == "facebook":
            assert response.status_code == 200  # Messenger's other tags; their content is Meta's policy
        else:
            assert response.json()["error"]["error_subcode"] == subcode  # Instagram knows only HUMAN_AGENT
