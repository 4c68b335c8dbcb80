"""WhatsApp templates in the Meta sandbox over a real socket: listing, status webhooks, template sends."""

from __future__ import annotations

import hashlib
import hmac
import json
from typing import Any

import httpx
import pytest
from sandbox_server import SandboxControl, WebhookReceiver

from meta_sandbox import SandboxConfig

SECRET = "templates-test-secret"
JPEG = b"\xff\xd8\xff\xe0\x00\x10JFIF\x00\x01\x01" + b"\x00" * 64


@pytest.fixture(scope="module")
def sandbox_config(receiver: tuple[WebhookReceiver, str]) -> SandboxConfig:
    return SandboxConfig(ingress_url=receiver[1], app_secret=SECRET, status_delay_s=0.0)


async def _number_with_samples(ctl: SandboxControl) -> tuple[str, str, str]:
    """A WhatsApp number whose WABA has the sample templates: (number id, token, WABA id)."""
    account_id, token = await ctl.add_account("whatsapp")
    waba = f"waba-{account_id}"
    await ctl.post("/templates/samples", {"waba_id": waba})
    return account_id, token, waba


async def _send_template(
    http: httpx.AsyncClient, ctl: SandboxControl, account_id: str, token: str, template: dict[str, Any]
) -> httpx.Response:
    body = {"messaging_product": "whatsapp", "to": "+34600111222", "type": "template", "template": template}
    return await http.post(
        f"{ctl.graph_url}/{account_id}/messages", json=body, headers={"Authorization": f"Bearer {token}"}
    )


def _error(response: httpx.Response) -> tuple[int, str]:
    error = response.json()["error"]
    return error["code"], error.get("error_data", {}).get("details", "")


class TestListing:
    async def test_pages_follow_next_to_the_end_with_every_template_once(
        self, ctl: SandboxControl, http: httpx.AsyncClient
    ) -> None:
        _, token, waba = await _number_with_samples(ctl)
        url: str | None = f"{ctl.graph_url}/{waba}/message_templates?limit=3&access_token={token}"
        seen: list[dict[str, Any]] = []
        pages = 0
        while url:
            response = await http.get(url)
            assert response.status_code == 200, response.text
            doc = response.json()
            seen.extend(doc["data"])
            pages += 1
            assert set(doc["paging"]["cursors"]) == {"before", "after"}
            url = doc["paging"].get("next")
        assert pages == 3  # 8 samples, 3 per page
        assert len({t["id"] for t in seen}) == 8
        assert {t["status"] for t in seen} == {"APPROVED", "PENDING", "REJECTED", "PAUSED", "DISABLED"}
        assert set(seen[0]) == {
            "name",
            "parameter_format",
            "components",
            "language",
            "status",
            "category",
            "id",
        }

    async def test_fields_and_status_filter_and_before_cursor(
        self, ctl: SandboxControl, http: httpx.AsyncClient
    ) -> None:
        _, token, waba = await _number_with_samples(ctl)
        auth = {"Authorization": f"Bearer {token}"}
        url = f"{ctl.graph_url}/{waba}/message_templates"
        approved = await http.get(url, params={"fields": "name,status", "status": "APPROVED"}, headers=auth)
        names = [t["name"] for t in approved.json()["data"]]
        assert names == ["booking_confirmation", "booking_reminder", "todays_special", "menu_pdf"]
        assert set(approved.json()["data"][0]) == {"name", "status", "id"}
        first = await http.get(url, params={"limit": "1"}, headers=auth)
        assert "previous" not in first.json()["paging"]
        after_first = first.json()["paging"]["cursors"]["after"]
        second = await http.get(url, params={"limit": "2", "after": after_first}, headers=auth)
        assert [t["name"] for t in second.json()["data"]] == ["booking_reminder", "todays_special"]
        back = await http.get(second.json()["paging"]["previous"], headers=auth)
        assert [t["name"] for t in back.json()["data"]] == ["booking_confirmation"]

    async def test_named_template_shows_its_parameter_format(
        self, ctl: SandboxControl, http: httpx.AsyncClient
    ) -> None:
        _, token, waba = await _number_with_samples(ctl)
        response = await http.get(
            f"{ctl.graph_url}/{waba}/message_templates",
            params={"name": "booking_reminder"},
            headers={"Authorization": f"Bearer {token}"},
        )
        [template] = response.json()["data"]
        assert (template["parameter_format"], template["language"]) == ("NAMED", "es_ES")
        assert "{{first_name}}" in template["components"][0]["text"]

    @pytest.mark.parametrize(
        ("query", "code"), [({"fields": "name,secret"}, 100), ({"after": "not-a-cursor"}, 100)]
    )
    async def test_bad_queries_are_refused(
        self, ctl: SandboxControl, http: httpx.AsyncClient, query: dict[str, str], code: int
    ) -> None:
        _, token, waba = await _number_with_samples(ctl)
        response = await http.get(
            f"{ctl.graph_url}/{waba}/message_templates",
            params=query,
            headers={"Authorization": f"Bearer {token}"},
        )
        assert (response.status_code, response.json()["error"]["code"]) == (400, code)

    async def test_another_wabas_templates_are_not_visible(
        self, ctl: SandboxControl, http: httpx.AsyncClient
    ) -> None:
        _, _, waba = await _number_with_samples(ctl)
        _, stranger = await ctl.add_account("whatsapp")
        response = await http.get(
            f"{ctl.graph_url}/{waba}/message_templates", headers={"Authorization": f"Bearer {stranger}"}
        )
        error = response.json()["error"]
        assert (error["code"], error["error_subcode"]) == (100, 33)


async def test_status_change_sends_the_signed_status_update_webhook(
    receiver: tuple[WebhookReceiver, str], ctl: SandboxControl
) -> None:
    _, _, waba = await _number_with_samples(ctl)
    [template] = [t for t in await ctl.get(f"/templates?waba_id={waba}") if t["name"] == "todays_special"]
    answer = await ctl.post(
        f"/templates/{template['id']}/status", {"status": "PAUSED", "reason": "LOW_QUALITY"}
    )
    assert answer["status_code"] == 200
    [post] = await receiver[0].await_count(1, contains=f'"message_template_id":{template["id"]}')
    expected = "sha256=" + hmac.new(SECRET.encode(), post.body, hashlib.sha256).hexdigest()
    assert hmac.compare_digest(post.headers["x-hub-signature-256"], expected)
    assert post.path == "/webhooks/whatsapp"
    doc = json.loads(post.body)
    assert doc["object"] == "whatsapp_business_account"
    entry = doc["entry"][0]
    assert entry["id"] == waba
    change = entry["changes"][0]
    assert change["field"] == "message_template_status_update"
    assert change["value"] == {
        "event": "PAUSED",
        "message_template_id": int(template["id"]),
        "message_template_name": "todays_special",
        "message_template_language": "en_US",
        "reason": "LOW_QUALITY",
        "message_template_category": "MARKETING",
    }


class TestTemplateSends:
    async def test_positional_template_with_text_header_and_quick_reply_is_sent_and_rendered(
        self, receiver: tuple[WebhookReceiver, str], ctl: SandboxControl, http: httpx.AsyncClient
    ) -> None:
        account_id, token, _ = await _number_with_samples(ctl)
        template = {
            "name": "booking_confirmation",
            "language": {"code": "en_US"},
            "components": [
                {"type": "header", "parameters": [{"type": "text", "text": "Ana"}]},
                {
                    "type": "body",
                    "parameters": [{"type": "text", "text": t} for t in ("Ana", "2", "Friday", "21:00")],
                },
                {
                    "type": "button",
                    "sub_type": "quick_reply",
                    "index": "1",
                    "parameters": [{"type": "payload", "payload": "CANCEL-42"}],
                },
            ],
        }
        response = await _send_template(http, ctl, account_id, token, template)
        assert response.status_code == 200, response.text
        [message] = response.json()["messages"]
        assert message["id"].startswith("wamid.")
        assert message["message_status"] == "accepted"
        sent = (await ctl.get("/sent"))[message["id"]]
        assert sent["type"] == "template"
        assert sent["text"] == (
            "Booking confirmed, Ana\nHi Ana, your table for 2 on Friday at 21:00 is confirmed.\n"
            "Reply to change your booking"
        )
        assert sent["template"]["parameters"]["buttons"] == [
            {"index": 1, "sub_type": "quick_reply", "value": "CANCEL-42"}
        ]
        posts = await receiver[0].await_count(3, contains=message["id"])
        statuses = [
            json.loads(p.body)["entry"][0]["changes"][0]["value"]["statuses"][0]["status"] for p in posts
        ]
        assert statuses == ["sent", "delivered", "read"]

    async def test_named_template_with_url_button_suffix(
        self, ctl: SandboxControl, http: httpx.AsyncClient
    ) -> None:
        account_id, token, _ = await _number_with_samples(ctl)
        template = {
            "name": "booking_reminder",
            "language": {"code": "es_ES"},
            "components": [
                {
                    "type": "body",
                    "parameters": [
                        {"type": "text", "parameter_name": "time", "text": "21:00"},
                        {"type": "text", "parameter_name": "first_name", "text": "Lucía"},
                    ],
                },
                {
                    "type": "button",
                    "sub_type": "url",
                    "index": 0,
                    "parameters": [{"type": "text", "text": "B-7"}],
                },
            ],
        }
        response = await _send_template(http, ctl, account_id, token, template)
        assert response.status_code == 200, response.text
        sent = (await ctl.get("/sent"))[response.json()["messages"][0]["id"]]
        assert sent["text"] == "Hola Lucía, te esperamos hoy a las 21:00."
        assert sent["template"]["parameters"]["body"] == {"time": "21:00", "first_name": "Lucía"}

    async def test_image_header_by_uploaded_media_id(
        self, ctl: SandboxControl, http: httpx.AsyncClient
    ) -> None:
        account_id, token, _ = await _number_with_samples(ctl)
        upload = await http.post(
            f"{ctl.graph_url}/{account_id}/media",
            data={"messaging_product": "whatsapp", "type": "image/jpeg"},
            files={"file": ("special.jpg", JPEG, "image/jpeg")},
            headers={"Authorization": f"Bearer {token}"},
        )
        media_id = upload.json()["id"]
        template = {
            "name": "todays_special",
            "language": {"code": "en_US"},
            "components": [
                {"type": "header", "parameters": [{"type": "image", "image": {"id": media_id}}]},
                {"type": "body", "parameters": [{"type": "text", "text": "truffle risotto"}]},
            ],
        }
        response = await _send_template(http, ctl, account_id, token, template)
        assert response.status_code == 200, response.text
        unknown = {
            **template,
            "components": [
                {"type": "header", "parameters": [{"type": "image", "image": {"id": "999"}}]},
                template["components"][1],
            ],
        }
        refused = await _send_template(http, ctl, account_id, token, unknown)
        code, details = _error(refused)
        assert code == 100
        assert "not a valid whatsapp business account media attachment ID" in details

    @pytest.mark.parametrize(
        ("template", "code", "details"),
        [
            ({"name": "no_such_template", "language": {"code": "en_US"}}, 132001, "does not exist in en_US"),
            (
                {"name": "booking_confirmation", "language": {"code": "fr_FR"}},
                132001,
                "does not exist in fr_FR",
            ),
            ({"name": "welcome_video", "language": {"code": "en_US"}}, 132001, "does not exist"),  # PENDING
            ({"name": "summer_promo", "language": {"code": "en_US"}}, 132001, "does not exist"),  # REJECTED
            ({"name": "happy_hour", "language": {"code": "en_US"}}, 132015, "paused"),
            ({"name": "old_offer", "language": {"code": "en_US"}}, 132016, "disabled"),
            (
                {
                    "name": "menu_pdf",
                    "language": {"code": "en_US"},
                    "components": [{"type": "body", "parameters": []}],
                },
                132012,
                "header: Format mismatch, expected DOCUMENT, received UNKNOWN",
            ),
            (
                {
                    "name": "menu_pdf",
                    "language": {"code": "en_US"},
                    "components": [
                        {
                            "type": "header",
                            "parameters": [{"type": "image", "image": {"link": "https://x.test/a.jpg"}}],
                        },
                        {"type": "body", "parameters": [{"type": "text", "text": "Ana"}]},
                    ],
                },
                132012,
                "expected DOCUMENT, received IMAGE",
            ),
            (
                {
                    "name": "menu_pdf",
                    "language": {"code": "en_US"},
                    "components": [
                        {
                            "type": "header",
                            "parameters": [
                                {"type": "document", "document": {"link": "https://x.test/m.pdf"}}
                            ],
                        },
                        {"type": "body", "parameters": []},
                    ],
                },
                132000,
                "body: number of localizable_params (0) does not match the expected number of params (1)",
            ),
            (
                {
                    "name": "booking_confirmation",
                    "language": {"code": "en_US"},
                    "components": [{"type": "body", "parameters": [{"type": "text", "text": "x"}] * 4}],
                },
                132000,
                "header: number of localizable_params (0) does not match the expected number of params (1)",
            ),
            (
                {
                    "name": "booking_reminder",
                    "language": {"code": "es_ES"},
                    "components": [
                        {
                            "type": "body",
                            "parameters": [{"type": "text", "text": "Ana"}, {"type": "text", "text": "9"}],
                        },
                        {
                            "type": "button",
                            "sub_type": "url",
                            "index": "0",
                            "parameters": [{"type": "text", "text": "1"}],
                        },
                    ],
                },
                132012,
                "parameter_name (None) is missing",
            ),
            (
                {
                    "name": "booking_reminder",
                    "language": {"code": "es_ES"},
                    "components": [
                        {
                            "type": "body",
                            "parameters": [
                                {"type": "text", "parameter_name": "first_name", "text": "Ana"},
                                {"type": "text", "parameter_name": "time", "text": "9"},
                            ],
                        }
                    ],
                },
                132000,
                "button at index 0",
            ),
        ],
    )
    async def test_template_refusals_carry_metas_codes(
        self, ctl: SandboxControl, http: httpx.AsyncClient, template: dict[str, Any], code: int, details: str
    ) -> None:
        account_id, token, _ = await _number_with_samples(ctl)
        response = await _send_template(http, ctl, account_id, token, template)
        assert response.status_code == 400
        got_code, got_details = _error(response)
        assert got_code == code
        assert details in got_details
        assert response.json()["error"]["message"].startswith(f"(#{code})")
        assert not [s for s in (await ctl.get("/sent")).values() if s["account_id"] == account_id]
